//! Runner tests against a real TimescaleDB server. They need a superuser URL in
//! `MIGRATIONS_TEST_URL` (each test creates and drops its own database there), so they are
//! `#[ignore]`d by default: `MIGRATIONS_TEST_URL=postgres://... cargo test -p migrations -- --ignored`.
//! The lead's `harness::TestDb` fixture supersedes the database plumbing here.

use std::sync::Arc;
use std::time::Instant;

use migrations::{
    apply_phase_1a, apply_phase_1b, apply_revision_a_m6_partial, lock_state, run_phase_1c,
    run_step, step_log, FaultHook, MigrationError, RunOptions, StaticGate, StepName, StepStatus,
};
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, PgConnection};

const FIXTURE: &str = include_str!("sql/fixture_phase_1a.sql");
const ASSERT_HELPERS: &str = include_str!("sql/assert_helpers.sql");
const TRIGGERS_AFTER_CUTOVER: &str = include_str!("sql/triggers_after_cutover.sql");
const DUAL_WRITE: &str = include_str!("sql/dual_write_before_cutover.sql");

fn admin_options() -> PgConnectOptions {
    let url = std::env::var("MIGRATIONS_TEST_URL")
        .unwrap_or_else(|_| panic!("set MIGRATIONS_TEST_URL to run the ignored DB tests"));
    url.parse::<PgConnectOptions>()
        .unwrap_or_else(|e| panic!("bad MIGRATIONS_TEST_URL: {e}"))
}

/// A fresh database with Phase 1A and the hand-made world, and a connection to it.
async fn fresh_db(name: &str) -> PgConnection {
    let admin = admin_options();
    let mut conn = admin
        .connect()
        .await
        .unwrap_or_else(|e| panic!("connect admin: {e}"));
    let db = format!("mig_test_{name}");
    sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
        .execute(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("drop {db}: {e}"));
    sqlx::raw_sql(&format!("CREATE DATABASE {db}"))
        .execute(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("create {db}: {e}"));
    let mut c = admin
        .database(&db)
        .connect()
        .await
        .unwrap_or_else(|e| panic!("connect {db}: {e}"));
    apply_phase_1a(&mut c)
        .await
        .unwrap_or_else(|e| panic!("phase 1a: {e}"));
    sqlx::raw_sql(FIXTURE)
        .execute(&mut c)
        .await
        .unwrap_or_else(|e| panic!("fixture: {e}"));
    c
}

fn static_gate() -> RunOptions {
    RunOptions {
        gate: Some(Arc::new(StaticGate::default())),
        ..RunOptions::default()
    }
}

async fn locked(conn: &mut PgConnection) -> bool {
    lock_state(conn)
        .await
        .ok()
        .flatten()
        .map(|l| l.locked)
        .unwrap_or(false)
}

#[tokio::test]
#[ignore = "needs MIGRATIONS_TEST_URL"]
async fn clean_run_passes_the_twelve_checks_then_reruns_as_noop() {
    let mut c = fresh_db("clean").await;
    let t = Instant::now();
    apply_phase_1b(&mut c)
        .await
        .unwrap_or_else(|e| panic!("phase 1b: {e}"));
    let t1b = t.elapsed();
    let outcome = run_phase_1c(&mut c, &RunOptions::default())
        .await
        .unwrap_or_else(|e| {
            panic!(
                "phase 1c: {e} / validation: {:?}",
                e.outcome().and_then(|o| o.validation.clone())
            )
        });
    let total = t.elapsed();
    println!("phase 1b {t1b:?}, 1b+1c {total:?}");
    assert!(outcome.completed() && !outcome.noop);
    assert_eq!(outcome.steps.len(), 11);
    assert!(
        outcome
            .steps
            .iter()
            .all(|s| s.status == StepStatus::Success),
        "{:#?}",
        outcome.steps
    );
    let validation = outcome.validation.clone().unwrap_or_default();
    assert_eq!(validation.len(), 12);
    assert!(
        validation.iter().all(|o| o.violations == Some(0)),
        "{validation:#?}"
    );
    assert!(!locked(&mut c).await);

    let again = run_phase_1c(&mut c, &RunOptions::default())
        .await
        .unwrap_or_else(|e| panic!("rerun: {e}"));
    assert!(again.noop && again.steps.is_empty());
    assert!(again
        .noop_reason
        .unwrap_or_default()
        .contains("already migrated"));
    let log = step_log(&mut c).await.unwrap_or_default();
    assert_eq!(
        log.iter().filter(|r| r.phase == "PHASE_1C").count(),
        11,
        "no-op rerun wrote nothing"
    );

    // The SQL-level trigger script (13 triggers, reject + accept) passes on the migrated DB.
    sqlx::raw_sql(ASSERT_HELPERS)
        .execute(&mut c)
        .await
        .unwrap_or_else(|e| panic!("helpers: {e}"));
    sqlx::raw_sql(TRIGGERS_AFTER_CUTOVER)
        .execute(&mut c)
        .await
        .unwrap_or_else(|e| panic!("triggers: {e}"));
}

#[tokio::test]
#[ignore = "needs MIGRATIONS_TEST_URL"]
async fn seed_log_scenario_resumes_under_the_lock() {
    let mut c = fresh_db("seed").await;
    apply_phase_1b(&mut c)
        .await
        .unwrap_or_else(|e| panic!("phase 1b: {e}"));
    sqlx::raw_sql(ASSERT_HELPERS)
        .execute(&mut c)
        .await
        .unwrap_or_else(|e| panic!("helpers: {e}"));
    sqlx::raw_sql(DUAL_WRITE)
        .execute(&mut c)
        .await
        .unwrap_or_else(|e| panic!("dual write: {e}"));
    apply_revision_a_m6_partial(&mut c)
        .await
        .unwrap_or_else(|e| panic!("rev a: {e}"));
    let hyper_fks: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND confrelid = 'risk_hourly_state'::regclass",
    )
    .fetch_one(&mut c)
    .await
    .unwrap_or(0);
    assert_eq!(hyper_fks, 1, "Revision A left its FK to the hypertable");

    let opts = RunOptions {
        fault: Some(Arc::new(FaultHook::seed_log_scenario())),
        ..static_gate()
    };
    let err = run_phase_1c(&mut c, &opts)
        .await
        .err()
        .unwrap_or_else(|| panic!("run 1 should fail"));
    assert_eq!(err.step(), Some(StepName::Step3RevisedM6));
    assert!(
        err.to_string()
            .contains("no unique constraint matching given keys"),
        "{err}"
    );
    assert!(locked(&mut c).await);
    let notes1 = &err.outcome().unwrap_or_else(|| panic!("outcome")).steps[1].notes;
    assert!(
        notes1.contains("Partial M6 artifacts normalized"),
        "{notes1}"
    );

    let err = run_phase_1c(&mut c, &opts)
        .await
        .err()
        .unwrap_or_else(|| panic!("run 2 should fail"));
    assert_eq!(err.step(), Some(StepName::Step7M10Cutover));
    assert!(matches!(
        err,
        MigrationError::StepFailed {
            status: StepStatus::FailedPostCommitCompression,
            ..
        }
    ));
    assert!(err.to_string().contains("apache"), "{err}");
    let run2 = err.outcome().unwrap_or_else(|| panic!("outcome"));
    assert_eq!(run2.steps[1].status, StepStatus::SkippedAlreadyDone);
    assert_eq!(run2.steps[3].status, StepStatus::Success);
    assert!(locked(&mut c).await);

    let run3 = run_phase_1c(&mut c, &opts)
        .await
        .unwrap_or_else(|e| panic!("run 3: {e}"));
    let status = |n: StepName| run3.steps.iter().find(|s| s.step == n).map(|s| s.status);
    assert_eq!(
        status(StepName::Step7M10Cutover),
        Some(StepStatus::SkippedAlreadyDone)
    );
    assert_eq!(
        status(StepName::Step7bPostCutoverFinalize),
        Some(StepStatus::Success)
    );
    assert_eq!(status(StepName::Step9Unlock), Some(StepStatus::Success));
    assert!(!locked(&mut c).await);
    let log = step_log(&mut c).await.unwrap_or_default();
    assert!(log
        .iter()
        .any(|r| r.phase == "PHASE_1C_REVISION_A" && r.status == "FAILED"));
    assert!(log.iter().any(|r| r.step_name == "STEP_7_M10_CUTOVER"
        && r.status == "FAILED (post-commit compression stage)"
        && r.error_text
            .as_deref()
            .unwrap_or("")
            .contains("add_compression_policy")));
}

#[tokio::test]
#[ignore = "needs MIGRATIONS_TEST_URL"]
async fn no_unlock_without_validation_even_out_of_order() {
    let mut c = fresh_db("order").await;
    apply_phase_1b(&mut c)
        .await
        .unwrap_or_else(|e| panic!("phase 1b: {e}"));
    let failing = StaticGate {
        outcomes: vec![invariants::CheckOutcome {
            check: "cluster_cap",
            set: invariants::TableSet::CanonicalAfterCutover,
            violations: Some(2),
            sample: Vec::new(),
            rules_checked: Vec::new(),
            rules_not_applicable: Vec::new(),
            elapsed_us: 0,
        }],
    };
    let opts = RunOptions {
        gate: Some(Arc::new(failing)),
        ..RunOptions::default()
    };
    let err = run_phase_1c(&mut c, &opts)
        .await
        .err()
        .unwrap_or_else(|| panic!("gate should fail"));
    assert_eq!(err.step(), Some(StepName::Step8FullValidation));
    assert!(err.to_string().contains("cluster_cap=2"), "{err}");
    assert!(locked(&mut c).await);

    let err = run_step(&mut c, StepName::Step9Unlock, &static_gate())
        .await
        .err();
    assert!(err
        .map(|e| e.to_string())
        .unwrap_or_default()
        .contains("refusing to unlock"));
    assert!(locked(&mut c).await);

    run_step(&mut c, StepName::Step8FullValidation, &static_gate())
        .await
        .unwrap_or_else(|e| panic!("step 8: {e}"));
    // A change after the validation voids it.
    run_step(&mut c, StepName::Step7bPostCutoverFinalize, &static_gate())
        .await
        .unwrap_or_else(|e| panic!("7b: {e}"));
    let err = run_step(&mut c, StepName::Step9Unlock, &static_gate())
        .await
        .err();
    assert!(err
        .map(|e| e.to_string())
        .unwrap_or_default()
        .contains("refusing to unlock"));
    let err = run_step(&mut c, StepName::Step3RevisedM6, &static_gate())
        .await
        .err();
    assert!(matches!(
        err,
        Some(MigrationError::StepNotApplicable { .. })
    ));
    assert!(locked(&mut c).await);

    let done = run_phase_1c(&mut c, &static_gate())
        .await
        .unwrap_or_else(|e| panic!("final run: {e}"));
    assert!(done.completed());
    assert!(!locked(&mut c).await);
}

#[tokio::test]
#[ignore = "needs MIGRATIONS_TEST_URL"]
async fn bad_input_is_refused_with_typed_errors_and_nothing_changes() {
    // No Phase 1B.
    let mut c = fresh_db("bad").await;
    let err = run_phase_1c(&mut c, &static_gate()).await.err();
    assert!(
        matches!(err, Some(MigrationError::Phase1bMissing)),
        "{err:?}"
    );

    apply_phase_1b(&mut c)
        .await
        .unwrap_or_else(|e| panic!("phase 1b: {e}"));
    let before = lock_state(&mut c).await.ok().flatten();

    // A foreign table already named like an archive.
    sqlx::raw_sql("CREATE TABLE order_fill_phase1a_archive (x int)")
        .execute(&mut c)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let err = run_phase_1c(&mut c, &static_gate()).await.err();
    assert!(
        matches!(&err, Some(MigrationError::ArchiveNameTaken { tables }) if tables == &["order_fill_phase1a_archive"]),
        "{err:?}"
    );
    assert!(
        relation_missing(&mut c, "risk_hourly_state_identity").await,
        "nothing ran"
    );
    sqlx::raw_sql("DROP TABLE order_fill_phase1a_archive")
        .execute(&mut c)
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    // Lock not held.
    sqlx::raw_sql("UPDATE migration_lock SET locked = FALSE, unlocked_at_utc = now()")
        .execute(&mut c)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let held_off = lock_state(&mut c).await.ok().flatten();
    let err = run_phase_1c(&mut c, &static_gate()).await.err();
    assert!(
        matches!(err, Some(MigrationError::LockNotHeld { .. })),
        "{err:?}"
    );
    assert_eq!(
        lock_state(&mut c).await.ok().flatten(),
        held_off,
        "lock untouched"
    );

    // Lock row missing.
    sqlx::raw_sql("DELETE FROM migration_lock")
        .execute(&mut c)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let err = run_phase_1c(&mut c, &static_gate()).await.err();
    assert!(
        matches!(err, Some(MigrationError::LockRowMissing)),
        "{err:?}"
    );
    assert!(
        relation_missing(&mut c, "risk_hourly_state_identity").await,
        "nothing ran"
    );
    let fills: i64 = sqlx::query_scalar("SELECT count(*) FROM order_fill_v2")
        .fetch_one(&mut c)
        .await
        .unwrap_or(-1);
    assert_eq!(fills, 6, "data untouched");
    assert!(before.is_some());

    // Re-applying a phase.
    assert!(matches!(
        apply_phase_1b(&mut c).await,
        Err(MigrationError::AlreadyApplied { .. })
    ));
    assert!(matches!(
        apply_phase_1a(&mut c).await,
        Err(MigrationError::AlreadyApplied { .. })
    ));

    // Unreachable server.
    let err = migrations::connect("postgres://nobody:secret@127.0.0.1:1/none?connect_timeout=2")
        .await
        .err();
    let text = err.as_ref().map(|e| e.to_string()).unwrap_or_default();
    assert!(
        matches!(err, Some(MigrationError::Connect { .. })),
        "{text}"
    );
    assert!(!text.contains("secret"), "password redacted: {text}");
    c.close().await.unwrap_or_else(|e| panic!("{e}"));
}

async fn relation_missing(c: &mut PgConnection, name: &str) -> bool {
    sqlx::query_scalar::<_, bool>("SELECT to_regclass($1) IS NULL")
        .bind(name)
        .fetch_one(c)
        .await
        .unwrap_or(false)
}
