//! Faults inside steps. At every fault point of the migration (`migrations::fault_points`:
//! each unit's begin and end, every statement and commit of every stage, the first batch of
//! every batch stage) a real `harness migrate` is stopped there and then
//! (a) killed with SIGKILL, (b) has its backend terminated, or (c) loses its server to a crash
//! (immediate shutdown, then restart with crash recovery). Then:
//! * the lock was never released without a passing validation;
//! * a plain `harness migrate` resumes and finishes;
//! * every fact table holds exactly what an undisturbed run leaves (content fingerprint of
//!   every table but the runner's bookkeeping), and the audit passes;
//! * the attempt that died is in the step log as `INTERRUPTED` (with the time it was found),
//!   no row is left `RUNNING`, and a terminated backend's error names its real cause.
//!
//! The points are split into shards so the cases run on both cores; each shard has its own
//! server (a crash takes every database of its server with it).

use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use harness::provision::native::{NativeConfig, NativeServer};
use harness::provision::Server;
use harness::template::TemplateSpec;
use harness::TestDb;
use sqlx::Connection;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// Small batches: every batch stage of the fixture world takes several.
const BATCH: &str = "400";
/// Shards per action.
const SHARDS: usize = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    /// SIGKILL the harness process.
    Kill,
    /// `pg_terminate_backend` of the migration's connection.
    Terminate,
    /// Immediate shutdown of the server, then a restart.
    Crash,
}

struct Lab {
    native: Arc<NativeServer>,
    server: Arc<dyn Server>,
    template: TemplateSpec,
    baseline: harness::fingerprint::Fingerprint,
}

fn harness_bin() -> &'static str {
    env!("CARGO_BIN_EXE_harness")
}

async fn lab() -> Lab {
    let mut cfg = NativeConfig::from_env().unwrap_or_else(|e| panic!("{e}"));
    // A crash must keep what was committed, as a production server does: test servers commit
    // asynchronously for speed, which an immediate shutdown would turn into lost commits.
    cfg.extra_settings
        .push(("synchronous_commit".into(), "on".into()));
    let native = Arc::new(
        tokio::task::spawn_blocking(move || NativeServer::start(&cfg))
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|e| panic!("{e}")),
    );
    let server: Arc<dyn Server> = native.clone();
    let world = harness::run::fixture_world().unwrap_or_else(|e| panic!("{e}"));
    let key = format!("fixture:{}", world.fingerprint());
    let template = TemplateSpec::phase_1a_with(
        key,
        Arc::new(move |conn| {
            let world = world.clone();
            Box::pin(async move {
                generators::seed_world(conn, &world)
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            })
        }),
    );
    // The undisturbed run every disturbed one must end equal to.
    let db = TestDb::on_server(server.clone(), &template)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let out = migrate(&db.url(), None).await;
    assert!(
        out.status.success(),
        "undisturbed run failed: {}",
        out.stdout
    );
    let baseline = fingerprint(&db).await;
    Lab {
        native,
        server,
        template,
        baseline,
    }
}

async fn fingerprint(db: &TestDb) -> harness::fingerprint::Fingerprint {
    let mut conn = db.connect().await.unwrap_or_else(|e| panic!("{e}"));
    let f = harness::fingerprint::fingerprint_tables(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let _ = conn.close().await;
    f
}

struct Output {
    status: std::process::ExitStatus,
    stdout: String,
}

/// `harness migrate URL` to the end (optionally paused at `point` and resumed at once).
async fn migrate(url: &str, point: Option<&str>) -> Output {
    let mut cmd = tokio::process::Command::new(harness_bin());
    cmd.args(["migrate", url, "--batch-size", BATCH])
        .env("HARNESS_LOG", "error")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(p) = point {
        cmd.env("HARNESS_FAULT_POINT", p);
    }
    let out = cmd.output().await.unwrap_or_else(|e| panic!("{e}"));
    Output {
        status: out.status,
        stdout: format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

/// One case: run to `point`, do `action` there, resume, compare. Returns an error text.
async fn case(lab: &Lab, point: &str, action: Action) -> Result<(), String> {
    let db = TestDb::on_server(lab.server.clone(), &lab.template)
        .await
        .map_err(|e| e.to_string())?;
    let url = db.url();
    let mut child = tokio::process::Command::new(harness_bin())
        .args(["migrate", &url, "--batch-size", BATCH])
        .env("HARNESS_FAULT_POINT", point)
        .env("HARNESS_LOG", "error")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| e.to_string())?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let mut seen = Vec::new();
    let pid: i32 = loop {
        let line = tokio::time::timeout(Duration::from_secs(120), lines.next_line())
            .await
            .map_err(|_| format!("{point}: not reached within 120 s: {seen:?}"))?
            .map_err(|e| e.to_string())?;
        let Some(line) = line else {
            return Err(format!(
                "{point}: the run ended without reaching it: {seen:?}"
            ));
        };
        if let Some(rest) = line.strip_prefix("fault point reached: ") {
            let (name, pid) = rest
                .split_once(" backend_pid=")
                .ok_or_else(|| format!("bad marker {line}"))?;
            if name != point {
                return Err(format!("stopped at {name}, not {point}"));
            }
            break pid.parse().map_err(|_| format!("bad pid in {line}"))?;
        }
        seen.push(line);
    };
    let mut first_output = String::new();
    match action {
        Action::Kill => {
            child.start_kill().map_err(|e| e.to_string())?;
            let _ = child.wait().await;
        }
        Action::Terminate | Action::Crash => {
            if action == Action::Terminate {
                let mut conn = db.connect().await.map_err(|e| e.to_string())?;
                let done: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1)")
                    .bind(pid)
                    .fetch_one(&mut conn)
                    .await
                    .map_err(|e| e.to_string())?;
                let _ = conn.close().await;
                if !done {
                    return Err(format!("{point}: backend {pid} was not terminated"));
                }
            } else {
                let native = lab.native.clone();
                tokio::task::spawn_blocking(move || native.crash_and_restart())
                    .await
                    .map_err(|e| e.to_string())?
                    .map_err(|e| format!("crash and restart: {e}"))?;
            }
            // Let the paused run go on: it meets its dead connection.
            if let Some(mut stdin) = child.stdin.take() {
                let _ = stdin.write_all(b"\n").await;
            }
            let rest = tokio::time::timeout(Duration::from_secs(120), async {
                let mut text = String::new();
                while let Ok(Some(l)) = lines.next_line().await {
                    text.push_str(&l);
                    text.push('\n');
                }
                text
            })
            .await
            .map_err(|_| format!("{point}: the run did not end after {action:?}"))?;
            let _ = child.wait().await;
            first_output = rest;
        }
    }

    // The lock is never released without a passing validation.
    let mut conn = db.connect().await.map_err(|e| e.to_string())?;
    let unlocked: Option<bool> = sqlx::query_scalar(
        "SELECT NOT locked FROM migration_lock WHERE to_regclass('migration_lock') IS NOT NULL",
    )
    .fetch_optional(&mut conn)
    .await
    .ok()
    .flatten();
    if unlocked == Some(true) {
        let validated: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM migration_step_log WHERE step_name = 'STEP_8_FULL_VALIDATION' AND status = 'SUCCESS')
                AND EXISTS (SELECT 1 FROM migration_step_log WHERE step_name = 'STEP_9_UNLOCK' AND status = 'SUCCESS')",
        )
        .fetch_one(&mut conn)
        .await
        .map_err(|e| e.to_string())?;
        if !validated {
            return Err(format!(
                "{point}/{action:?}: the lock is released without a logged validation and unlock"
            ));
        }
    }
    if action == Action::Terminate
        && first_output.contains("result: FAILED")
        && !first_output.contains("terminating connection due to administrator command")
        && !first_output.contains("57P01")
    {
        return Err(format!(
            "{point}: the failure does not name its real cause (the terminated backend): {first_output}"
        ));
    }

    // Resume.
    let resumed = migrate(&url, None).await;
    if !resumed.status.success() {
        return Err(format!(
            "{point}/{action:?}: the resumed migrate failed: {}",
            resumed.stdout
        ));
    }
    let after = fingerprint(&db).await;
    if after.facts() != lab.baseline.facts() {
        return Err(format!(
            "{point}/{action:?}: the data differs from an undisturbed run's: tables {:?}",
            after.differing_tables(&lab.baseline)
        ));
    }
    let (running, interrupted, noted): (i64, i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE status = 'RUNNING'), count(*) FILTER (WHERE status = 'INTERRUPTED'),
                count(*) FILTER (WHERE status = 'INTERRUPTED' AND notes ~ 'INTERRUPTED: found RUNNING by run \\S+ at \\d{4}-\\d{2}-\\d{2}T')
           FROM migration_step_log",
    )
    .fetch_one(&mut conn)
    .await
    .map_err(|e| e.to_string())?;
    // Where no RUNNING row could exist (the first script writes its row in its last
    // transaction; STEP_9 completes its row with the unlock), nothing was interrupted.
    let completed_with_its_work = point.starts_with("phase_1b/001_")
        || point == "STEP_9_UNLOCK/end"
        || point.starts_with("STEP_9_UNLOCK/main/committed");
    let expected = i64::from(!completed_with_its_work);
    if running != 0 || interrupted != expected || noted != interrupted {
        return Err(format!(
            "{point}/{action:?}: step log has {running} RUNNING, {interrupted} INTERRUPTED ({noted} with the time found), expected 0 and {expected}"
        ));
    }
    let audit = invariants::audit(&mut conn, &mut [], invariants::AuditPurpose::Validate, 3)
        .await
        .map_err(|e| e.to_string())?;
    let failures = migrations::gate_failures(&harness::gate::verdict(&audit));
    if !failures.is_empty() {
        return Err(format!("{point}/{action:?}: the audit fails: {failures:?}"));
    }
    let _ = conn.close().await;
    Ok(())
}

async fn shard(action: Action, index: usize) {
    let lab = lab().await;
    let points = migrations::fault_points();
    let mine: Vec<&String> = points
        .iter()
        .enumerate()
        .filter(|(i, _)| i % SHARDS == index)
        .map(|(_, p)| p)
        .collect();
    let started = Instant::now();
    let mut failures = Vec::new();
    for p in &mine {
        if let Err(e) = case(&lab, p, action).await {
            failures.push(e);
        }
    }
    eprintln!(
        "{action:?} shard {index}: {} fault points in {:.1} s, {} failed",
        mine.len(),
        started.elapsed().as_secs_f64(),
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

macro_rules! shards {
    ($($name:ident: $action:expr, $index:expr;)*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                shard($action, $index).await;
            }
        )*
    };
}

shards! {
    sigkill_at_every_fault_point_0: Action::Kill, 0;
    sigkill_at_every_fault_point_1: Action::Kill, 1;
    sigkill_at_every_fault_point_2: Action::Kill, 2;
    sigkill_at_every_fault_point_3: Action::Kill, 3;
    backend_terminated_at_every_fault_point_0: Action::Terminate, 0;
    backend_terminated_at_every_fault_point_1: Action::Terminate, 1;
    backend_terminated_at_every_fault_point_2: Action::Terminate, 2;
    backend_terminated_at_every_fault_point_3: Action::Terminate, 3;
    server_crash_at_every_fault_point_0: Action::Crash, 0;
    server_crash_at_every_fault_point_1: Action::Crash, 1;
    server_crash_at_every_fault_point_2: Action::Crash, 2;
    server_crash_at_every_fault_point_3: Action::Crash, 3;
}

/// The fault points cover every unit, and the shards cover every point exactly once.
#[test]
fn shards_cover_every_fault_point_once() {
    let points = migrations::fault_points();
    let mut covered: Vec<&String> = (0..SHARDS)
        .flat_map(|s| {
            points
                .iter()
                .enumerate()
                .filter(move |(i, _)| i % SHARDS == s)
                .map(|(_, p)| p)
        })
        .collect();
    covered.sort();
    covered.dedup();
    assert_eq!(covered.len(), points.len());
    for unit in migrations::StepName::ALL {
        assert!(
            points.iter().any(|p| p.starts_with(unit.as_str())),
            "{unit}"
        );
    }
    assert!(points.iter().any(|p| p.starts_with("phase_1b/")));
}
