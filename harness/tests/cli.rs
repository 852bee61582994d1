//! The `harness` binary end to end: replaying a world from its seed and from a replay file
//! gives the same migrated database (same `fingerprint:`); `--format json` keeps stdout to the
//! JSON document.

use std::process::Command;

fn run(args: &[&str]) -> (bool, String) {
    let (code, out) = harness_with(args, &[("HARNESS_BACKEND", "native")]);
    (code == Some(0), out)
}

fn fingerprint(output: &str) -> String {
    let last = output
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty() && !l.contains(" WARN "))
        .unwrap_or_default();
    let fp = last
        .strip_prefix("fingerprint: ")
        .unwrap_or_else(|| panic!("last line is not the fingerprint:\n{output}"));
    assert_eq!(fp.len(), 64, "{fp}");
    fp.to_string()
}

#[test]
fn seed_and_replay_file_reproduce_the_same_database() {
    let params = generators::WorldParams {
        accounts: 2,
        instruments: 2,
        hours: 24,
        target_fills: 40,
    };
    let generated = generators::generate(11, &params).unwrap_or_else(|e| panic!("{e}"));
    let path = std::env::temp_dir().join(format!("harness-cli-replay-{}.json", std::process::id()));
    generators::ReplayFile::from_generated(&generated)
        .save(&path)
        .unwrap_or_else(|e| panic!("{e}"));

    let (ok, by_seed) = run(&run_small_world("11"));
    assert!(ok, "{by_seed}");
    assert!(
        by_seed.starts_with("seed: 11\n"),
        "the seed is printed first:\n{by_seed}"
    );
    assert!(by_seed.contains("result: SUCCESS"), "{by_seed}");
    let path_arg = path.to_string_lossy().into_owned();
    let (ok, by_file) = run(&["run", "--script", &path_arg]);
    assert!(ok, "{by_file}");
    assert_eq!(fingerprint(&by_seed), fingerprint(&by_file));

    let (ok, other) = run(&run_small_world("12"));
    assert!(ok, "{other}");
    assert_ne!(
        fingerprint(&by_seed),
        fingerprint(&other),
        "different seeds, different worlds"
    );
    let _ = std::fs::remove_file(path);
}

#[test]
fn a_bad_replay_file_is_one_clear_line() {
    let path = std::env::temp_dir().join(format!("harness-cli-bad-{}.json", std::process::id()));
    std::fs::write(&path, "{\"seed\": 1}").unwrap_or_else(|e| panic!("{e}"));
    let out = Command::new(env!("CARGO_BIN_EXE_harness"))
        .args(["run", "--script"])
        .arg(&path)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("not {seed, shape, script} JSON") && err.contains("shape"),
        "{err}"
    );
    let _ = std::fs::remove_file(path);
}

#[test]
fn doctor_reports_facts_and_fails_with_the_fixes_when_nothing_can_serve() {
    let (ok, out) = run(&["doctor"]);
    assert!(ok, "{out}");
    for key in [
        "backend: native",
        "postgres: ",
        "timescaledb: ",
        "license: ",
        "data_dir: ",
        "docker: ",
        "cold_start_ms: ",
        "clone_ms_median: ",
    ] {
        assert!(
            out.lines().any(|l| l.starts_with(key)),
            "missing {key:?} in:\n{out}"
        );
    }

    let out = Command::new(env!("CARGO_BIN_EXE_harness"))
        .arg("doctor")
        .env("HARNESS_BACKEND", "auto")
        .env_remove("HARNESS_DATABASE_URL")
        .env("HARNESS_PG_CONFIG", "/nonexistent/pg_config")
        .env("DOCKER_HOST", "unix:///nonexistent/harness-no-docker.sock")
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("backend: none"), "{text}");
    let err = text
        .lines()
        .find(|l| l.starts_with("error: "))
        .unwrap_or_else(|| panic!("no error line in:\n{text}"));
    for fix in [
        "ci/install-timescaledb",
        "Docker engine",
        "HARNESS_DATABASE_URL",
    ] {
        assert!(err.contains(fix), "{fix:?} missing from {err}");
    }
}

#[test]
fn json_format_keeps_stdout_to_the_document() {
    let out = Command::new(env!("CARGO_BIN_EXE_harness"))
        .args(["run", "--fixture", "--format", "json"])
        .env("HARNESS_BACKEND", "native")
        .output()
        .unwrap_or_else(|e| panic!("spawn harness: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let doc: serde_json::Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}):\n{stdout}"));
    assert!(doc.is_object(), "{doc}");
    assert!(stdout.contains("STEP_9_UNLOCK"), "{stdout}");
    assert!(stderr.starts_with("seed: "), "{stderr}");
    assert!(stderr.contains("result: SUCCESS"), "{stderr}");
    // The fixture world's fingerprint, the same as in the markdown format.
    let (ok, md) = run(&["run", "--fixture"]);
    assert!(ok, "{md}");
    assert_eq!(fingerprint(&stderr), fingerprint(&md));
}

/// A private server the test owns: databases `harness run --keep` leaves on it go with it, so
/// no kept server outlives the test.
struct OwnServer {
    server: harness::provision::native::NativeServer,
}

impl OwnServer {
    fn start() -> Self {
        let cfg =
            harness::provision::native::NativeConfig::from_env().unwrap_or_else(|e| panic!("{e}"));
        let server =
            harness::provision::native::NativeServer::start(&cfg).unwrap_or_else(|e| panic!("{e}"));
        Self { server }
    }

    /// The URL of database `db` on it, over its socket.
    fn url(&self, db: &str) -> String {
        format!(
            "postgres://postgres@localhost/{db}?host={}&port={}",
            self.server.socket_dir().display(),
            self.server.port()
        )
    }
}

/// `harness <args>`: (exit code, stdout + stderr).
fn harness(args: &[&str]) -> (Option<i32>, String) {
    harness_with(args, &[])
}

fn harness_with(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_harness"))
        .args(args)
        .env("HARNESS_LOG", "error")
        .envs(env.iter().copied())
        .output()
        .unwrap_or_else(|e| panic!("spawn harness: {e}"));
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

fn kept_database(output: &str) -> String {
    output
        .lines()
        .find_map(|l| l.strip_prefix("database: "))
        .unwrap_or_else(|| panic!("no `database:` line in:\n{output}"))
        .trim()
        .to_string()
}

#[test]
fn stop_after_keeps_the_database_there_and_migrate_finishes_it() {
    let own = OwnServer::start();
    let server_url = own.url("postgres");
    for (point, said, resumed_from) in [
        (
            "seed",
            "stopped after: seed (Phase 1A database, nothing migrated)",
            "phase_1b/001_migration_control.sql",
        ),
        ("phase-1b", "stopped after: phase-1b", "STEP_0_VERIFY_LOCK"),
        (
            "STEP_6_M9_HASH_ADDITIONS",
            "stopped after: STEP_6_M9_HASH_ADDITIONS",
            "STEP_7_M10_CUTOVER",
        ),
    ] {
        let (code, out) = harness(&[
            "run",
            "--fixture",
            "--stop-after",
            point,
            "--keep",
            "--backend",
            "external",
            "--database-url",
            &server_url,
        ]);
        assert_eq!(code, Some(0), "{point}: {out}");
        assert!(out.contains(said), "{point}: {out}");
        let db = kept_database(&out);

        // Not finished: validate says so and fails.
        let (code, out) = harness(&["validate", &db]);
        assert_eq!(code, Some(1), "{point}: validate of a stopped run:\n{out}");
        assert!(out.contains("result: FAIL"), "{point}: {out}");

        let (code, out) = harness(&[
            "migrate",
            &db,
            "--batch-size",
            "7",
            "--lock-timeout-ms",
            "50",
        ]);
        assert_eq!(code, Some(0), "{point}: migrate:\n{out}");
        assert!(out.contains(resumed_from), "{point}: {out}");
        assert!(out.contains("STEP_9_UNLOCK"), "{point}: {out}");
        assert!(out.contains("result: SUCCESS"), "{point}: {out}");
        if point == "STEP_6_M9_HASH_ADDITIONS" {
            assert!(
                out.lines().any(|l| l.contains("STEP_6_M9_HASH_ADDITIONS")
                    && l.contains("SKIPPED (already done)")),
                "the finished steps are not run again:\n{out}"
            );
        }

        let (code, out) = harness(&["validate", &db]);
        assert_eq!(code, Some(0), "{point}: validate after migrate:\n{out}");
        assert!(out.contains("result: PASS"), "{point}: {out}");

        let (code, out) = harness(&["migrate", &db]);
        assert_eq!(code, Some(0), "{point}: {out}");
        assert!(
            out.contains("nothing changed"),
            "{point}: a second migrate:\n{out}"
        );
    }
}

/// `harness run` on a generated world of 24 hours, small enough for a few seconds per run.
fn run_small_world(seed: &str) -> Vec<&str> {
    vec![
        "run",
        "--seed",
        seed,
        "--accounts",
        "2",
        "--instruments",
        "2",
        "--hours",
        "24",
        "--fills",
        "40",
    ]
}

#[test]
fn live_writers_write_through_the_migration_and_log_every_ack() {
    let log =
        std::env::temp_dir().join(format!("harness-cli-writers-{}.jsonl", std::process::id()));
    let log_arg = log.to_string_lossy().into_owned();
    let mut args = run_small_world("5");
    args.extend([
        "--backend",
        "native",
        "--writers",
        "2",
        "--write-rate",
        "200",
        "--live-hours",
        "6",
        "--writer-log",
        &log_arg,
    ]);
    let (code, out) = harness(&args);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("writers: 2 at 200 writes/s, over the last 6 of 24 hours"),
        "{out}"
    );
    assert!(
        out.contains("acknowledged writes: 0 lost, 0 unexpected rows"),
        "{out}"
    );
    assert!(
        out.contains("audit after the writers stopped: PASS"),
        "{out}"
    );
    let summary = out
        .lines()
        .find(|l| l.starts_with("writers: ") && l.contains(" writes ("))
        .unwrap_or_else(|| panic!("no writers summary in:\n{out}"));
    assert!(summary.contains("errors 0, deadlocks 0"), "{summary}");
    let writes: usize = summary
        .strip_prefix("writers: ")
        .and_then(|s| s.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no write count in {summary}"));
    assert!(writes > 0, "{summary}");
    let text = std::fs::read_to_string(&log).unwrap_or_else(|e| panic!("{e}"));
    let acks = text
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap_or_else(|e| panic!("{e}: {l}"))
        })
        .filter(|v| v.get("ack").is_some())
        .count();
    assert_eq!(acks, writes, "one log line per acknowledged write");
    let _ = std::fs::remove_file(&log);

    // Without a rate they write as fast as the database takes them.
    let mut args = run_small_world("5");
    args.extend(["--backend", "native", "--writers", "1", "--live-hours", "3"]);
    let (code, out) = harness(&args);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("writers: 1 at full speed, over the last 3 of 24 hours"),
        "{out}"
    );
    assert!(
        out.contains("acknowledged writes: 0 lost, 0 unexpected rows"),
        "{out}"
    );
}

#[test]
fn bad_flag_values_are_refused_naming_the_flag() {
    let url = "postgres://postgres@localhost/nowhere";
    for (args, says) in [
        (vec!["run", "--writers", "0"], "--writers"),
        (vec!["run", "--writers", "65"], "--writers"),
        (vec!["run", "--writers", "two"], "--writers"),
        (vec!["run", "--write-rate", "5"], "--writers"),
        (vec!["run", "--live-hours", "5"], "--writers"),
        (vec!["run", "--writer-log", "/tmp/x.jsonl"], "--writers"),
        (
            vec!["run", "--writers", "1", "--write-rate", "0"],
            "not a positive number",
        ),
        (
            vec!["run", "--writers", "1", "--write-rate", "-3"],
            "--write-rate",
        ),
        (
            vec!["run", "--writers", "1", "--write-rate", "inf"],
            "not a positive number",
        ),
        (
            vec!["run", "--writers", "1", "--live-hours", "0"],
            "--live-hours",
        ),
        (
            vec!["run", "--stop-after", "STEP_99"],
            "unknown stop point `STEP_99`",
        ),
        (
            vec!["run", "--stop-after", "phase-1c"],
            "expected one of: seed, phase-1b, STEP_0_VERIFY_LOCK",
        ),
        (vec!["migrate", url, "--batch-size", "0"], "--batch-size"),
        (
            vec!["migrate", url, "--lock-timeout-ms", "0"],
            "--lock-timeout-ms",
        ),
        (
            vec!["migrate", url, "--lock-timeout-ms", "60001"],
            "--lock-timeout-ms",
        ),
        (vec!["migrate"], "<URL>"),
    ] {
        let (code, out) = harness(&args);
        assert_eq!(code, Some(2), "{args:?}: {out}");
        assert!(out.contains(says), "{args:?} should say {says:?}:\n{out}");
    }
    // More live hours than the world has: refused before anything is written.
    let mut args = run_small_world("5");
    args.extend(["--backend", "native"]);
    args.extend(["--writers", "1", "--live-hours", "24"]);
    let (code, out) = harness(&args);
    assert_eq!(code, Some(2), "{out}");
    assert!(
        out.contains("the world has 24 hour(s); 24 live hour(s) need at least 25"),
        "{out}"
    );
}

#[test]
fn every_documented_scenario_value_is_accepted() {
    // The README and --help spell them so; the old spelling of Revision A stays accepted.
    for (value, printed) in [
        ("clean", "scenario: clean"),
        ("revision-a-m6", "scenario: revision-a-m6"),
        ("revision-am6", "scenario: revision-a-m6"),
        ("seed-log", "scenario: seed-log"),
    ] {
        let (ok, out) = run(&["run", "--fixture", "--scenario", value]);
        assert!(ok, "--scenario {value}: {out}");
        assert!(out.contains(printed), "--scenario {value}: {out}");
        assert!(out.contains("result: SUCCESS"), "--scenario {value}: {out}");
    }
}

#[test]
fn out_of_range_world_shapes_and_unwritable_outputs_fail_before_any_work() {
    for (args, says) in [
        (vec!["run", "--accounts", "0"], "--accounts"),
        (vec!["run", "--accounts", "100000"], "1..=10000"),
        (vec!["run", "--instruments", "0"], "--instruments"),
        (vec!["run", "--hours", "0"], "--hours"),
        (vec!["run", "--hours", "1"], "2..=2000"),
        (vec!["run", "--hours", "50000"], "2..=2000"),
        (vec!["run", "--fills", "0"], "--fills"),
        (vec!["run", "--fixture", "--seed", "abc"], "--seed"),
    ] {
        let (code, out) = harness(&args);
        assert_eq!(code, Some(2), "{args:?}: {out}");
        assert!(out.contains(says), "{args:?} should say {says:?}:\n{out}");
    }
    let (code, out) = harness_with(
        &["run", "--fixture", "--report", "/nonexistent/dir/x.md"],
        &[("HARNESS_BACKEND", "native")],
    );
    assert_eq!(code, Some(2), "{out}");
    assert!(
        out.contains("cannot write --report /nonexistent/dir/x.md"),
        "{out}"
    );
    assert!(
        !out.contains("STEP_0_VERIFY_LOCK"),
        "no work was done first:\n{out}"
    );
}

#[test]
fn migrate_never_prints_a_password() {
    for url in [
        "postgres://alice@127.0.0.1:1/x?password=SECRET",
        "postgres://alice:SECRET@127.0.0.1:1/x",
    ] {
        let (code, out) = harness(&["migrate", url]);
        assert_eq!(code, Some(2), "{out}");
        assert!(out.contains("cannot connect"), "{out}");
        assert!(!out.contains("SECRET"), "the password leaked: {out}");
    }
}
