//! The `harness` binary end to end: replaying a world from its seed and from a replay file
//! gives the same migrated database (same `fingerprint:`); `--format json` keeps stdout to the
//! JSON document.

use std::process::Command;

fn run(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_harness"))
        .args(args)
        .env("HARNESS_BACKEND", "native")
        .output()
        .unwrap_or_else(|e| panic!("spawn harness: {e}"));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
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

    let (ok, by_seed) = run(&[
        "run",
        "--seed",
        "11",
        "--accounts",
        "2",
        "--instruments",
        "2",
        "--hours",
        "24",
        "--fills",
        "40",
    ]);
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

    let (ok, other) = run(&[
        "run",
        "--seed",
        "12",
        "--accounts",
        "2",
        "--instruments",
        "2",
        "--hours",
        "24",
        "--fills",
        "40",
    ]);
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
