//! The `harness` binary end to end: replaying a world from its seed and from a replay file
//! gives the same migrated database (same `fingerprint:`); `--format json` keeps stdout to the
//! JSON document.

use std::process::Command;

mod common;
use common::{harness_with, run_small_world};

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
        (vec!["run", "--hours", "1"], "2..=100000"),
        (vec!["run", "--hours", "200000"], "2..=100000"),
        (
            vec!["run", "--accounts", "1000", "--hours", "50000"],
            "50000000 account-hours, at most 20000000",
        ),
        (
            vec!["run", "--instruments", "10000", "--hours", "100000"],
            "1000000000 instrument-hours, at most 20000000",
        ),
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

#[test]
fn killed_process_leaves_no_server_behind() {
    // `harness serve` owns a server; SIGKILL it and the guardian must stop the server and
    // remove its directory.
    let exe = env!("CARGO_BIN_EXE_harness");
    let mut child = std::process::Command::new(exe)
        .arg("serve")
        .env("HARNESS_BACKEND", "native")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut out, &mut line).unwrap();
    assert!(line.starts_with("database: postgres://"), "{line}");
    let (base, _) = harness::provision::native::base_dir();
    let run_dir = std::fs::read_dir(base.join("harness-pg/run"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            std::fs::read_to_string(p.join("owner"))
                .is_ok_and(|o| o.split_whitespace().next() == Some(&child.id().to_string()))
        })
        .expect("the serve process's run directory");
    child.kill().unwrap();
    child.wait().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while run_dir.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(!run_dir.exists(), "guardian removed {}", run_dir.display());
}

#[test]
fn backend_is_a_value_enum_and_serve_honours_it() {
    for (args, env) in [
        (vec!["serve", "--backend", "bogus"], vec![]),
        (vec!["serve"], vec![("HARNESS_BACKEND", "bogus")]),
        (vec!["run", "--fixture", "--backend", "podman"], vec![]),
    ] {
        let (code, out) = harness_with(&args, &env);
        assert_eq!(code, Some(2), "{args:?} {env:?}: {out}");
        assert!(
            out.contains("possible values: auto, native, docker, external"),
            "{args:?}: {out}"
        );
        assert!(!out.contains("database:"), "no server started: {out}");
    }
    // `serve --backend external` makes its database on the server named by URL, not on a
    // native server of its own.
    let own = OwnServer::start();
    let mut child = Command::new(env!("CARGO_BIN_EXE_harness"))
        .args(["serve", "--backend", "external", "--database-url"])
        .arg(own.url("postgres"))
        .env("HARNESS_LOG", "error")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn harness serve: {e}"));
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap_or_else(|| panic!("stdout")));
    let mut line = String::new();
    std::io::BufRead::read_line(&mut out, &mut line).unwrap_or_else(|e| panic!("{e}"));
    assert!(line.starts_with("database: postgres://"), "{line}");
    let port = own.server.port().to_string();
    assert!(
        line.contains(&port),
        "served on the external server (port {port}): {line}"
    );
    let served = db_name(line.trim());
    assert!(own.databases().contains(&served), "{served} exists there");
    drop(child.stdin.take());
    let status = child.wait().unwrap_or_else(|e| panic!("{e}"));
    assert!(status.success(), "{status}");
    assert!(
        !own.databases().contains(&served),
        "{served} dropped when serve ends"
    );
}

/// `harness run` paused at `point` (HARNESS_FAULT_POINT) on `own`'s server: the child and the
/// backend pid of its migration connection.
// The child is returned to the caller, which waits for it.
#[allow(clippy::zombie_processes)]
fn run_paused_at(own: &OwnServer, point: &str) -> (std::process::Child, i32, Vec<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_harness"))
        .args([
            "run",
            "--seed",
            "3",
            "--accounts",
            "2",
            "--instruments",
            "2",
            "--hours",
            "12",
            "--fills",
            "30",
            "--backend",
            "external",
            "--database-url",
        ])
        .arg(own.url("postgres"))
        .env("HARNESS_LOG", "error")
        .env("HARNESS_FAULT_POINT", point)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn harness run: {e}"));
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap_or_else(|| panic!("stdout")));
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        let n = std::io::BufRead::read_line(&mut out, &mut line).unwrap_or_else(|e| panic!("{e}"));
        if n == 0 {
            let status = child.wait();
            panic!("run ended ({status:?}) before {point}: {lines:#?}");
        }
        lines.push(line.trim_end().to_string());
        if let Some(rest) = line.trim().strip_prefix("fault point reached: ") {
            let pid = rest
                .rsplit_once("backend_pid=")
                .and_then(|(_, p)| p.parse().ok())
                .unwrap_or_else(|| panic!("{line}"));
            // the rest of stdout is read by whoever waits for the child
            child.stdout = Some(out.into_inner());
            return (child, pid, lines);
        }
    }
}

/// The database name of a `postgres://...` URL (its query may hold a socket path).
fn db_name(url: &str) -> String {
    let path = url.split('?').next().unwrap_or_default();
    path.rsplit('/').next().unwrap_or_default().to_string()
}

impl OwnServer {
    /// Names of the harness's non-template databases on this server.
    fn databases(&self) -> Vec<String> {
        self.query(
            "SELECT datname::text FROM pg_database \
              WHERE datname LIKE 'harness\\_%' AND datname NOT LIKE 'harness\\_tmpl\\_%'",
        )
    }

    fn query(&self, sql: &str) -> Vec<String> {
        let url = self.url("postgres");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        rt.block_on(async {
            use sqlx::Connection;
            let mut c = sqlx::PgConnection::connect(&url)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            let rows: Vec<String> = sqlx::query_scalar(sql)
                .fetch_all(&mut c)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
            rows
        })
    }
}

#[test]
fn a_run_whose_connection_dies_in_phase_1b_keeps_its_database_and_prints_the_replay() {
    let own = OwnServer::start();
    let (mut child, pid, _) = run_paused_at(&own, "phase_1b/004_backfill.sql/begin");
    own.query(&format!("SELECT pg_terminate_backend({pid})::text"));
    let mut stdin = child.stdin.take().unwrap_or_else(|| panic!("stdin"));
    std::io::Write::write_all(&mut stdin, b"\n").unwrap_or_else(|e| panic!("{e}"));
    drop(stdin);
    let out = child.wait_with_output().unwrap_or_else(|e| panic!("{e}"));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("Phase 1B"), "says where it failed: {text}");
    assert!(text.contains("result: FAILED"), "{text}");
    assert!(
        text.contains(
            "replay: harness run --seed 3 --accounts 2 --instruments 2 --hours 12 --fills 30"
        ),
        "{text}"
    );
    let name = db_name(&kept_database(&text));
    assert!(own.databases().contains(&name), "{name} kept: {text}");
}

#[test]
fn reap_drops_the_database_a_killed_run_left_on_an_external_server() {
    let own = OwnServer::start();
    let (mut child, _, _) = run_paused_at(&own, "STEP_3_REVISED_M6/begin");
    let before = own.databases();
    assert_eq!(before.len(), 1, "{before:?}");
    child.kill().unwrap_or_else(|e| panic!("{e}"));
    child.wait().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        own.databases(),
        before,
        "SIGKILL leaves the database behind"
    );
    // The dead run's backend goes when it reads the closed socket; reap leaves a database
    // anybody still uses alone, so wait for it.
    let sessions = format!(
        "SELECT pid::text FROM pg_stat_activity WHERE datname = '{}'",
        before[0]
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !own.query(&sessions).is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // A database of the harness's name pattern that nobody stamped is never touched.
    own.query("CREATE DATABASE harness_not_stamped_by_us");
    let url = own.url("postgres");
    let (code, out) = harness(&["reap", "--backend", "external", "--database-url", &url]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains(&format!("dropped: {}", before[0])), "{out}");
    assert!(out.contains("reaped: 1"), "{out}");
    assert!(out.contains("1 unstamped"), "{out}");
    assert_eq!(own.databases(), ["harness_not_stamped_by_us"], "{out}");
    let (code, out) = harness(&["reap", "--backend", "external", "--database-url", &url]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("reaped: 0"),
        "a second reap finds nothing: {out}"
    );
}

#[test]
fn reap_leaves_a_live_runs_database_alone() {
    let own = OwnServer::start();
    let (mut child, _, _) = run_paused_at(&own, "STEP_3_REVISED_M6/begin");
    let url = own.url("postgres");
    let (code, out) = harness(&["reap", "--backend", "external", "--database-url", &url]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("reaped: 0") && out.contains("left: 1 of live runs"),
        "{out}"
    );
    assert_eq!(own.databases().len(), 1);
    child.kill().unwrap_or_else(|e| panic!("{e}"));
    child.wait().unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn no_command_prints_a_password() {
    for url in [
        "postgres://alice@127.0.0.1:1/x?password=SECRET",
        "postgres://alice:SECRET@127.0.0.1:1/x",
    ] {
        for args in [
            vec!["migrate", url],
            vec!["validate", url],
            vec![
                "run",
                "--fixture",
                "--backend",
                "external",
                "--database-url",
                url,
            ],
            vec!["serve", "--backend", "external", "--database-url", url],
            vec!["reap", "--backend", "external", "--database-url", url],
            vec!["doctor", "--backend", "external", "--database-url", url],
        ] {
            let (code, out) = harness(&args);
            assert_ne!(code, Some(0), "{args:?}: {out}");
            assert!(
                out.contains("127.0.0.1:1"),
                "{args:?} names the server: {out}"
            );
            assert!(
                !out.contains("SECRET"),
                "{args:?}: the password leaked: {out}"
            );
        }
    }
}

#[test]
fn a_ten_thousand_hour_world_seeds() {
    // It used to fail in COPY with `numeric field overflow` (deposits compounding).
    let (code, out) = harness(&[
        "run",
        "--seed",
        "1",
        "--accounts",
        "1",
        "--instruments",
        "2",
        "--hours",
        "10000",
        "--fills",
        "200",
        "--stop-after",
        "seed",
    ]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("result: SUCCESS"), "{out}");
}

#[test]
fn statement_logs_are_quiet_by_default_and_there_with_harness_log_debug() {
    let run = |log: Option<&str>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_harness"));
        cmd.args(["run", "--fixture", "--stop-after", "seed"])
            .env_remove("HARNESS_LOG");
        if let Some(level) = log {
            cmd.env("HARNESS_LOG", level);
        }
        let out = cmd
            .output()
            .unwrap_or_else(|e| panic!("spawn harness: {e}"));
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let quiet = run(None);
    assert!(!quiet.contains("sqlx::query"), "default stderr:\n{quiet}");
    let debug = run(Some("debug"));
    assert!(
        debug.contains("sqlx::query"),
        "HARNESS_LOG=debug shows the statements:\n{}",
        &debug[..debug.len().min(2000)]
    );
}

#[test]
fn a_typed_backend_that_cannot_apply_to_a_url_command_is_refused() {
    for (cmd, backend) in [("validate", "native"), ("migrate", "docker")] {
        let (code, out) = harness(&[cmd, "--backend", backend, "postgres://u@127.0.0.1:1/x"]);
        assert_eq!(code, Some(2), "{cmd} --backend {backend}: {out}");
        assert!(
            out.contains(&format!("--backend {backend} does not apply to `{cmd}`")),
            "{out}"
        );
    }
    // exported, it does not get in the way: the URL is still what is tried
    let (code, out) = harness_with(
        &["validate", "postgres://u@127.0.0.1:1/x"],
        &[("HARNESS_BACKEND", "native")],
    );
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("127.0.0.1:1"), "{out}");
    assert!(!out.contains("does not apply"), "{out}");
}

#[test]
fn with_the_json_log_on_stdout_a_fault_point_is_announced_on_stderr() {
    let out = Command::new(env!("CARGO_BIN_EXE_harness"))
        .args(["run", "--fixture", "--format", "json"])
        .env("HARNESS_LOG", "error")
        .env("HARNESS_FAULT_POINT", "STEP_3_REVISED_M6/begin")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("spawn harness: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("fault point reached: STEP_3_REVISED_M6/begin"),
        "{stderr}"
    );
    let doc: Result<serde_json::Value, _> = serde_json::from_str(&stdout);
    assert!(doc.is_ok(), "stdout is the JSON document alone: {stdout}");
}
