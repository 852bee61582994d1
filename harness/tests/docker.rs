//! The `harness` binary on the docker backend against a real engine: the same seed gives the
//! same `fingerprint:` on native, docker and external; `doctor` reports the engine and real
//! timings; a SIGKILLed run's container is removed by its guardian, or (guardian killed too) by
//! the next run's reaper and by `harness reap`; a kept container waits for `harness reap`.
//!
//! Ignored by a plain `cargo test` (they need an engine and an image); `ci/test` runs them
//! after `ci/build-images` with `HARNESS_TSDB_IMAGE=harness-timescaledb:2.19.3-pg15`, and the
//! fingerprint test again on `-pg17`.

use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use harness::provision::docker::LABEL_OWNER;

mod common;
use common::{harness_with as harness, run_small_world};

fn docker(args: &[&str]) -> String {
    let out = Command::new("docker")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("docker {args:?}: {e}"));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The container labelled as owned by process `pid`, if any.
fn container_of(pid: u32) -> Option<String> {
    let lines = docker(&[
        "ps",
        "-a",
        "--no-trunc",
        "--filter",
        &format!("label={LABEL_OWNER}"),
        "--format",
        &format!("{{{{.ID}}}} {{{{.Label \"{LABEL_OWNER}\"}}}}"),
    ]);
    lines.lines().find_map(|l| {
        let (id, stamp) = l.split_once(' ')?;
        (stamp.split_whitespace().next() == Some(&pid.to_string())).then(|| id.to_string())
    })
}

fn exists(id: &str) -> bool {
    !docker(&[
        "ps",
        "-a",
        "-q",
        "--no-trunc",
        "--filter",
        &format!("id={id}"),
    ])
    .is_empty()
}

fn wait_gone(id: &str, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while exists(id) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    !exists(id)
}

fn fingerprint(output: &str) -> String {
    output
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("fingerprint: "))
        .unwrap_or_else(|| panic!("no fingerprint in:\n{output}"))
        .to_string()
}

/// `harness serve --backend docker`, once its database is served: the child and its container.
fn serve_docker() -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_harness"))
        .args(["serve", "--backend", "docker"])
        .env("HARNESS_LOG", "error")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn harness serve: {e}"));
    let stdout = child.stdout.take().unwrap_or_else(|| panic!("stdout"));
    let mut line = String::new();
    std::io::BufReader::new(stdout)
        .read_line(&mut line)
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(line.starts_with("database: postgres://"), "{line}");
    let id = container_of(child.id()).unwrap_or_else(|| panic!("no container of {}", child.id()));
    (child, id)
}

/// SIGKILL `child` and, with `guardian_too`, its container guardian first: what a killed
/// process group with no survivor does.
fn kill(child: &mut Child, guardian_too: bool) {
    if guardian_too {
        for g in children_of(child.id()) {
            let cmd = std::fs::read(format!("/proc/{g}/cmdline")).unwrap_or_default();
            if String::from_utf8_lossy(&cmd).contains("harness-docker-guardian") {
                let killed = Command::new("kill")
                    .args(["-KILL", &g.to_string()])
                    .status()
                    .unwrap_or_else(|e| panic!("kill {g}: {e}"));
                assert!(killed.success(), "kill -KILL {g}");
            }
        }
    }
    child.kill().unwrap_or_else(|e| panic!("{e}"));
    child.wait().unwrap_or_else(|e| panic!("{e}"));
}

fn children_of(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(p) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let stat = std::fs::read_to_string(format!("/proc/{p}/stat")).unwrap_or_default();
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|s| s.parse::<u32>().ok());
        if ppid == Some(pid) {
            out.push(p);
        }
    }
    out
}

#[test]
#[ignore = "needs a Docker engine and a TimescaleDB image (ci/build-images; ci/test runs it)"]
fn the_same_seed_gives_the_same_fingerprint_on_native_docker_and_external() {
    let world = run_small_world("7");
    let with = |backend: &str, extra: &[&str]| {
        let mut args = world.clone();
        args.extend(["--backend", backend]);
        args.extend(extra);
        let (code, out) = harness(&args, &[]);
        assert_eq!(code, Some(0), "{backend}: {out}");
        assert!(out.contains("result: SUCCESS"), "{backend}: {out}");
        fingerprint(&out)
    };
    let native = with("native", &[]);
    let docker = with("docker", &[]);
    let cfg =
        harness::provision::native::NativeConfig::from_env().unwrap_or_else(|e| panic!("{e}"));
    let own =
        harness::provision::native::NativeServer::start(&cfg).unwrap_or_else(|e| panic!("{e}"));
    let url = format!(
        "postgres://postgres@localhost/postgres?host={}&port={}",
        own.socket_dir().display(),
        own.port()
    );
    let external = with("external", &["--database-url", &url]);
    assert_eq!(native, docker, "native and docker");
    assert_eq!(native, external, "native and external");
}

#[test]
#[ignore = "needs a Docker engine and a TimescaleDB image (ci/build-images; ci/test runs it)"]
fn doctor_reports_the_engine_and_real_docker_timings() {
    let (code, out) = harness(&["doctor", "--backend", "docker"], &[]);
    assert_eq!(code, Some(0), "{out}");
    let value = |key: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(&format!("{key}: ")))
            .unwrap_or_else(|| panic!("no {key} in:\n{out}"))
            .to_string()
    };
    assert_eq!(value("backend"), "docker");
    let engine = value("docker");
    assert!(
        engine.starts_with("reachable (engine ") && engine.contains("API "),
        "{engine}"
    );
    for key in ["cold_start_ms", "clone_ms_median"] {
        let v: f64 = value(key)
            .parse()
            .unwrap_or_else(|e| panic!("{key}: {e}:\n{out}"));
        assert!(v > 0.0 && v < 60_000.0, "{key} = {v}");
    }
    assert!(value("data_dir").contains("tmpfs"), "{out}");
    assert!(value("timescaledb").starts_with("2."), "{out}");
}

#[test]
#[ignore = "needs a Docker engine and a TimescaleDB image (ci/build-images; ci/test runs it)"]
fn a_sigkilled_runs_container_is_removed_by_its_guardian_or_the_next_reaper() {
    // the process alone: its guardian sees its stdin close and removes the container
    let (mut child, id) = serve_docker();
    kill(&mut child, false);
    assert!(
        wait_gone(&id, Duration::from_secs(20)),
        "guardian removed {id}"
    );

    // process and guardian: the container stays until the next docker run's reaper
    let (mut child, id) = serve_docker();
    kill(&mut child, true);
    std::thread::sleep(Duration::from_millis(500));
    assert!(exists(&id), "nobody removed {id} yet");
    let (code, out) = harness(&["doctor", "--backend", "docker"], &[]);
    assert_eq!(code, Some(0), "{out}");
    assert!(!exists(&id), "the next run's reaper removed {id}");

    // and `harness reap`
    let (mut child, id) = serve_docker();
    kill(&mut child, true);
    assert!(exists(&id));
    let name = docker(&["inspect", "-f", "{{.Name}}", &id]);
    let name = name.trim_start_matches('/').to_string();
    let (code, out) = harness(&["reap", "--backend", "docker"], &[]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.lines()
            .any(|l| l == format!("removed container: {name}")),
        "{name} reported removed: {out}"
    );
    assert!(!exists(&id), "harness reap removed {name}: {out}");
}

#[test]
#[ignore = "needs a Docker engine and a TimescaleDB image (ci/build-images; ci/test runs it)"]
fn a_kept_container_survives_the_reaper_until_harness_reap() {
    let (code, out) = harness(
        &[
            "run",
            "--fixture",
            "--stop-after",
            "phase-1b",
            "--keep",
            "--backend",
            "docker",
        ],
        &[],
    );
    assert_eq!(code, Some(0), "{out}");
    let db = out
        .lines()
        .find_map(|l| l.strip_prefix("database: "))
        .unwrap_or_else(|| panic!("no database line:\n{out}"));
    // the kept container is the one whose published port the printed URL names
    let kept: Vec<String> = docker(&[
        "ps",
        "-a",
        "--no-trunc",
        "--filter",
        &format!("label={LABEL_OWNER}"),
        "--filter",
        "name=harness-kept-",
        "--format",
        "{{.ID}} {{.Ports}}",
    ])
    .lines()
    .filter_map(|l| {
        let (id, ports) = l.split_once(' ')?;
        let port = ports.split("->").next()?.rsplit(':').next()?;
        db.contains(&format!(":{port}/")).then(|| id.to_string())
    })
    .collect();
    assert_eq!(kept.len(), 1, "the kept container of {db}: {kept:?}\n{out}");
    // a later run's reaper leaves it: a failed run's database is there to be looked at
    let (code, doctor) = harness(&["doctor", "--backend", "docker"], &[]);
    assert_eq!(code, Some(0), "{doctor}");
    assert!(exists(&kept[0]), "the reaper keeps a kept container");
    let (code, reaped) = harness(&["reap", "--backend", "docker"], &[]);
    assert_eq!(code, Some(0), "{reaped}");
    assert!(!exists(&kept[0]), "harness reap removed it: {reaped}");
}
