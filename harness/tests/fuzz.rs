//! `harness fuzz` end to end, as a CI job or an engineer types it: a clean run exits 0 with its
//! summary, JSON and JUnit; every planted bug is found (exit 1), shrunk, written out, and its
//! `replay.sh` reproduces it; the corpus is replayed first; the stop file and SIGINT end a run
//! cleanly; every usage error exits 2 and an unreachable server 3.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use harness::fuzz::bugs::BUGS;
use rstest::rstest;

fn harness(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_harness"));
    cmd.arg("fuzz").args(args).env("HARNESS_BACKEND", "native");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap_or_else(|e| panic!("harness fuzz: {e}"))
}

/// `harness fuzz <args>` started in the background, its output captured.
fn spawn(args: &[&str]) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_harness"))
        .arg("fuzz")
        .args(args)
        .env("HARNESS_BACKEND", "native")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("harness fuzz: {e}"))
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A fresh directory under the target dir for one test's outputs.
fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("fuzz-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    dir
}

fn json(path: &Path) -> serde_json::Value {
    let t = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&t).unwrap_or_else(|e| panic!("{}: {e}\n{t}", path.display()))
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

#[test]
fn list_bugs_prints_one_name_and_description_per_line() {
    let o = harness(&["--list-bugs"], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines.len() >= 8, "{out}");
    assert_eq!(lines.len(), BUGS.len());
    for (line, bug) in lines.iter().zip(BUGS) {
        let (name, desc) = line.split_once(' ').unwrap_or_else(|| panic!("{line}"));
        assert_eq!(name, bug.name);
        assert!(name
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_' || c == b'-'));
        assert!(!desc.trim().is_empty(), "{line}");
    }
}

#[rstest]
#[case::unknown_bug(&["--inject-bug", "no-such-bug"], "unknown planted bug `no-such-bug`")]
#[case::bad_shard(&["--shard", "4/4"], "0 <= I < N")]
#[case::bad_duration(&["--duration", "10x"], "unknown unit")]
#[case::zero_cases(&["--cases", "0"], "--cases")]
#[case::duration_and_cases(&["--duration", "1m", "--cases", "3"], "cannot be used with")]
#[case::seed_and_git(&["--seed", "1", "--seed-from-git"], "cannot be used with")]
#[case::bad_seed(&["--seed", "banana", "--cases", "1"], "neither a u64")]
#[case::bad_shape(&["--shape", "huge"], "invalid value 'huge'")]
#[case::too_many_writers(&["--writers", "17"], "--writers")]
#[case::json_unwritable(&["--cases", "1", "--json", "/nonexistent-dir/x.json"], "cannot write --json")]
#[case::junit_unwritable(&["--cases", "1", "--junit", "/nonexistent-dir/x.xml"], "cannot write --junit")]
#[case::replay_missing(&["--replay", "/nonexistent-dir/script.json"], "fuzz script /nonexistent-dir/script.json")]
fn usage_errors_exit_2_naming_the_problem(#[case] args: &[&str], #[case] expected: &str) {
    let o = harness(args, &[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains(expected), "expected {expected:?} in:\n{err}");
    // Nothing ran: no summary on stdout.
    assert!(
        !String::from_utf8_lossy(&o.stdout).contains("summary:"),
        "{}",
        text(&o)
    );
}

#[test]
fn a_server_that_cannot_be_reached_is_an_infrastructure_failure() {
    let o = harness(
        &["--cases", "1", "--seed", "1"],
        &[
            ("HARNESS_BACKEND", "external"),
            (
                "HARNESS_DATABASE_URL",
                "postgres://nobody@127.0.0.1:1/postgres",
            ),
        ],
    );
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
}

#[test]
fn a_clean_run_exits_0_with_its_summary_json_junit_and_a_kill_rate_of_one() {
    let dir = scratch("clean");
    let (j, x) = (dir.join("summary.json"), dir.join("junit.xml"));
    let o = harness(
        &[
            "--cases",
            "4",
            "--jobs",
            "2",
            "--seed",
            "42",
            "--shape",
            "small",
            "--mutate",
            "--artifacts",
            &s(&dir.join("artifacts")),
            "--json",
            &s(&j),
            "--junit",
            &s(&x),
        ],
        &[],
    );
    let t = text(&o);
    assert_eq!(o.status.code(), Some(0), "{t}");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.starts_with("seed: 42 (from --seed)\n"), "{t}");
    for needle in [
        "summary:",
        "cases: 4 generated + 0 corpus",
        "cases/hour",
        "rows/s",
        "world sizes (fills)",
        "coverage:",
        "mutations",
        "failures: none",
        "result: PASS",
    ] {
        assert!(out.contains(needle), "{needle:?} missing:\n{t}");
    }
    let doc = json(&j);
    assert_eq!(doc["cases"], 4, "{doc}");
    assert_eq!(doc["failures"].as_array().map(Vec::len), Some(0), "{doc}");
    assert_eq!(doc["exit_code"], 0);
    assert!(
        doc["cases_per_hour"].as_f64().is_some_and(|v| v > 0.0),
        "{doc}"
    );
    assert!(
        doc["rows_per_second"].as_f64().is_some_and(|v| v > 0.0),
        "{doc}"
    );
    let kills = doc["kill_rate"]
        .as_object()
        .unwrap_or_else(|| panic!("no kill_rate: {doc}"));
    let applied: u64 = kills
        .values()
        .map(|k| k["applied"].as_u64().unwrap_or(0))
        .sum();
    assert!(applied >= 1, "no mutation was applied: {doc}");
    for (check, k) in kills {
        assert_eq!(k["rate"].as_f64(), Some(1.0), "{check}: {k}");
    }
    for c in contract::CHECK_NAMES {
        assert!(
            doc["per_check"][c]["clean_cases"]
                .as_u64()
                .is_some_and(|n| n >= 4),
            "{c}: {doc}"
        );
    }
    let xml = std::fs::read_to_string(&x).unwrap_or_default();
    assert!(xml.starts_with("<?xml"), "{xml}");
    for c in contract::CHECK_NAMES {
        assert!(
            xml.contains(&format!("name=\"check.{c}\"")),
            "{c} missing:\n{xml}"
        );
    }
    assert!(!xml.contains("<failure"), "{xml}");
}

#[rstest]
#[case::backfill_drops_last_hour("backfill-drops-last-hour")]
#[case::hash_numeric_wrong_scale("hash-numeric-wrong-scale")]
#[case::dual_write_ignores_updates("dual-write-ignores-updates")]
#[case::cutover_leaves_table_out("cutover-leaves-table-out")]
#[case::identity_sync_trigger_missing("identity-sync-trigger-missing")]
#[case::ledger_chain_restarts_daily("ledger-chain-restarts-daily")]
#[case::cluster_exposure_previous_hour("cluster-exposure-previous-hour")]
#[case::v2_slippage_cost_low_scale("v2-slippage-cost-low-scale")]
#[case::backfill_skips_executed_trade("backfill-skips-executed-trade")]
fn every_planted_bug_is_found_within_the_default_budget_and_replayed(#[case] name: &str) {
    let bug = harness::fuzz::bugs::bug(name).unwrap_or_else(|| panic!("{name} is not planted"));
    let dir = scratch(name);
    let j = dir.join("summary.json");
    let corpus = dir.join("corpus");
    // The default budget and shape; a short shrink keeps the test quick.
    let o = harness(
        &[
            "--inject-bug",
            name,
            "--seed",
            "7",
            "--shrink-time",
            "5s",
            "--artifacts",
            &s(&dir.join("artifacts")),
            "--corpus",
            &s(&corpus),
            "--json",
            &s(&j),
        ],
        &[],
    );
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{name} not found:\n{t}");
    let doc = json(&j);
    let f = &doc["failures"][0];
    let signature = f["signature"].as_str().unwrap_or_else(|| panic!("{doc}"));
    assert!(
        bug.caught_by.iter().any(|p| signature.starts_with(p)),
        "{name} was found as {signature}, expected one of {:?}\n{t}",
        bug.caught_by
    );
    let art = PathBuf::from(f["artifacts"].as_str().unwrap_or_default());
    for file in [
        "script.json",
        "replay.sh",
        "failure.json",
        "implementation-log.md",
        "implementation-log.json",
    ] {
        assert!(
            art.join(file).is_file(),
            "{file} missing in {}\n{t}",
            art.display()
        );
    }
    assert!(
        art.join("database.sql").is_file() || art.join("database.txt").is_file(),
        "{t}"
    );
    let script = json(&art.join("script.json"));
    assert_eq!(script["bug"], name);
    assert_eq!(script["signature"], signature);
    // The corpus got the shrunk script.
    let in_corpus = std::fs::read_dir(&corpus).map(|d| d.count()).unwrap_or(0);
    assert_eq!(in_corpus, 1, "{t}");
    // replay.sh reproduces it: non-zero, same signature.
    let r = Command::new("sh")
        .arg(art.join("replay.sh"))
        .env("HARNESS", env!("CARGO_BIN_EXE_harness"))
        .env("HARNESS_BACKEND", "native")
        .output()
        .unwrap_or_else(|e| panic!("replay.sh: {e}"));
    let rt = text(&r);
    assert_eq!(r.status.code(), Some(1), "replay did not fail:\n{rt}");
    assert!(rt.contains(&format!("failure: {signature}")), "{rt}");
    assert!(rt.contains(&format!("planted bug: {name}")), "{rt}");
}

#[test]
fn the_corpus_is_replayed_first_and_a_fixed_bug_passes() {
    let dir = scratch("corpus");
    let corpus = dir.join("corpus");
    let o = harness(
        &[
            "--inject-bug",
            "hash-numeric-wrong-scale",
            "--seed",
            "3",
            "--shape",
            "small",
            "--shrink-time",
            "2s",
            "--artifacts",
            &s(&dir.join("a1")),
            "--corpus",
            &s(&corpus),
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    // The script names its bug, so replaying the corpus alone still fails...
    let j = dir.join("again.json");
    let o = harness(
        &[
            "--cases",
            "1",
            "--seed",
            "4",
            "--shape",
            "small",
            "--corpus",
            &s(&corpus),
            "--artifacts",
            &s(&dir.join("a2")),
            "--json",
            &s(&j),
            "--shrink-time",
            "1s",
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let doc = json(&j);
    assert_eq!(doc["corpus_cases"], 1, "{doc}");
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("1 scripts, replayed first"),
        "{}",
        text(&o)
    );
    // ...and once the bug is gone from the script (the fix), the corpus case passes.
    for entry in std::fs::read_dir(&corpus)
        .unwrap_or_else(|e| panic!("{e}"))
        .flatten()
    {
        let mut v = json(&entry.path());
        v["bug"] = serde_json::Value::Null;
        std::fs::write(entry.path(), v.to_string()).unwrap_or_else(|e| panic!("{e}"));
    }
    let o = harness(
        &[
            "--cases",
            "1",
            "--seed",
            "4",
            "--shape",
            "small",
            "--corpus",
            &s(&corpus),
            "--artifacts",
            &s(&dir.join("a3")),
            "--json",
            &s(&j),
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(json(&j)["corpus_cases"], 1);
}

#[test]
fn the_stop_file_and_sigint_end_a_run_cleanly_with_its_summary() {
    let dir = scratch("stop");
    let stop = dir.join("STOP");
    std::fs::write(&stop, "").unwrap_or_else(|e| panic!("{e}"));
    let o = harness(
        &[
            "--duration",
            "10m",
            "--seed",
            "5",
            "--shape",
            "small",
            "--stop-file",
            &s(&stop),
            "--artifacts",
            &s(&dir),
        ],
        &[],
    );
    let t = text(&o);
    assert_eq!(o.status.code(), Some(0), "{t}");
    assert!(t.contains("stopped: stop file"), "{t}");
    assert!(t.contains("summary:"), "{t}");

    let child = spawn(&[
        "--duration",
        "10m",
        "--seed",
        "6",
        "--shape",
        "small",
        "--jobs",
        "1",
        "--artifacts",
        &s(&dir),
    ]);
    std::thread::sleep(std::time::Duration::from_secs(6));
    let pid = child.id().to_string();
    let k = Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(k.success());
    let o = child.wait_with_output().unwrap_or_else(|e| panic!("{e}"));
    let t = text(&o);
    assert_eq!(o.status.code(), Some(0), "{t}");
    assert!(t.contains("stopped: interrupted (SIGINT)"), "{t}");
    assert!(t.contains("result: PASS"), "{t}");
}

#[test]
fn seed_from_git_uses_the_commit_and_shards_split_one_seed_space() {
    let sha = "0123456789abcdef0123456789abcdef01234567";
    let dir = scratch("git");
    let o = harness(
        &[
            "--seed-from-git",
            "--cases",
            "1",
            "--shape",
            "small",
            "--shard",
            "1/3",
            "--artifacts",
            &s(&dir),
        ],
        &[("GITHUB_SHA", sha)],
    );
    let t = text(&o);
    assert_eq!(o.status.code(), Some(0), "{t}");
    let expected = u64::from_str_radix(&sha[..16], 16).unwrap_or(0);
    assert!(
        t.contains(&format!("seed: {expected} (from git commit {sha})")),
        "{t}"
    );
    assert!(t.contains("shard: 1/3"), "{t}");
}

#[test]
fn min_coverage_fails_a_run_that_missed_an_edge() {
    let dir = scratch("coverage");
    let o = harness(
        &[
            "--cases",
            "1",
            "--seed",
            "9",
            "--shape",
            "small",
            "--min-coverage",
            "--artifacts",
            &s(&dir),
        ],
        &[],
    );
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(t.contains("coverage: FAILED, no case reached: "), "{t}");
}

#[test]
fn keep_going_deduplicates_failures_by_signature() {
    let dir = scratch("dedup");
    let j = dir.join("summary.json");
    let o = harness(
        &[
            "--inject-bug",
            "v2-slippage-cost-low-scale",
            "--keep-going",
            "--cases",
            "4",
            "--seed",
            "11",
            "--shape",
            "small",
            "--shrink-time",
            "1s",
            "--artifacts",
            &s(&dir.join("a")),
            "--json",
            &s(&j),
        ],
        &[],
    );
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    let doc = json(&j);
    let failures = doc["failures"].as_array().cloned().unwrap_or_default();
    let failing = doc["failing_cases"].as_u64().unwrap_or(0);
    assert_eq!(doc["cases"], 4, "--keep-going runs the whole budget: {doc}");
    assert!(failing >= 2, "the bug is in every world: {doc}");
    let counted: u64 = failures
        .iter()
        .map(|f| f["count"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(
        counted, failing,
        "every failing case is counted once under its signature: {doc}"
    );
    assert!(
        failures.len() < failing as usize,
        "no deduplication happened: {doc}"
    );
    let dirs = std::fs::read_dir(dir.join("a"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(
        dirs,
        failures.len(),
        "one artifact directory per distinct failure"
    );
}

#[test]
fn writers_run_beside_every_migration_and_lose_nothing() {
    let dir = scratch("writers");
    let j = dir.join("summary.json");
    let o = harness(
        &[
            "--writers",
            "2",
            "--cases",
            "2",
            "--seed",
            "13",
            "--shape",
            "small",
            "--artifacts",
            &s(&dir),
            "--json",
            &s(&j),
        ],
        &[],
    );
    let t = text(&o);
    assert_eq!(o.status.code(), Some(0), "{t}");
    assert!(t.contains("writers: 2"), "{t}");
    let doc = json(&j);
    assert_eq!(doc["writers"], 2);
    assert_eq!(doc["passed"], 2, "{doc}");
}

#[test]
fn a_server_that_dies_mid_run_is_an_infrastructure_failure() {
    let dir = scratch("died");
    let child = spawn(&[
        "--duration",
        "5m",
        "--seed",
        "21",
        "--shape",
        "medium",
        "--jobs",
        "1",
        "--artifacts",
        &s(&dir),
    ]);
    let me = child.id();
    // The run's server: <base>/harness-pg/run/<owner pid>-<n>/data/postmaster.pid.
    let mut postmaster = None;
    for _ in 0..100 {
        std::thread::sleep(std::time::Duration::from_millis(100));
        for base in ["/dev/shm", &std::env::temp_dir().display().to_string()] {
            let run = Path::new(base).join("harness-pg/run");
            for d in std::fs::read_dir(&run).into_iter().flatten().flatten() {
                let name = d.file_name().to_string_lossy().into_owned();
                if name.starts_with(&format!("{me}-")) {
                    if let Ok(pid) = std::fs::read_to_string(d.path().join("data/postmaster.pid")) {
                        postmaster = pid.lines().next().map(str::to_string);
                    }
                }
            }
        }
        if postmaster.is_some() {
            break;
        }
    }
    let pid = postmaster.unwrap_or_else(|| panic!("no server of process {me} found"));
    // Let a case get going, then take the server away.
    std::thread::sleep(std::time::Duration::from_secs(3));
    let k = Command::new("kill")
        .args(["-9", &pid])
        .status()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(k.success());
    let o = child.wait_with_output().unwrap_or_else(|e| panic!("{e}"));
    let t = text(&o);
    assert_eq!(o.status.code(), Some(3), "{t}");
    assert!(t.contains("infrastructure failure"), "{t}");
    assert!(t.contains("result: INFRASTRUCTURE FAILURE"), "{t}");
    // Nothing of the dead server is kept: its directory goes with the run.
    std::thread::sleep(std::time::Duration::from_secs(3));
    for base in ["/dev/shm", &std::env::temp_dir().display().to_string()] {
        let run = Path::new(base).join("harness-pg/run");
        for d in std::fs::read_dir(&run).into_iter().flatten().flatten() {
            let name = d.file_name().to_string_lossy().into_owned();
            assert!(
                !name.starts_with(&format!("{me}-")),
                "the dead server's directory {} was left behind\n{t}",
                d.path().display()
            );
        }
    }
}
