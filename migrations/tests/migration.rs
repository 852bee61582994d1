//! The whole migration (Phase 1A world -> Phase 1B -> Phase 1C Revision B) on real TimescaleDB
//! databases: clean runs on the fixture, generated and hand-made worlds, the no-op rerun, the
//! Revision A scenario, abort and resume, the lock rules, dual write, and bad input.
//!
//! STEP_8's gate is static here (it passes, or answers what a test scripts): these are the
//! runner's tests, and a migration test cannot depend on the oracle. The audit's verdict on
//! the same worlds, resumed runs and a trigger left enabled for replicas only is tested in
//! `invariants/tests/gate.rs`; the whole pipeline under faults and writers in `harness/tests`.
//!
//! Every test gets its own database (`provision::db`); nothing needs an environment variable.

use std::sync::Arc;
use std::time::Instant;

use contract::EVENT_TABLES;
use generators::{World, WorldParams};
use migrations::{
    apply_phase_1a, apply_phase_1b, apply_revision_a_m6_partial, lock_state, run_phase_1c,
    run_step, step_log, FaultHook, FaultKind, GateVerdict, LockState, MigrationError, RunOptions,
    RunOutcome, StaticGate, StepLogRow, StepName, StepStatus, LOCK_REASON, PHASE_1C,
};
use provision::{db, TestDb};
use rstest::rstest;
use sqlx::PgConnection;

// Setup ---------------------------------------------------------------------------------------

/// A connection to `db` with `world` seeded into its Phase 1A tables.
async fn seeded(db: &TestDb, world: &World) -> PgConnection {
    let mut conn = db.connect().await.unwrap_or_else(|e| panic!("{e}"));
    generators::seed_world(&mut conn, world)
        .await
        .unwrap_or_else(|e| panic!("seeding: {e}"));
    conn
}

/// A small generated world (2 accounts, 12 hours) for tests about the runner's rules, where
/// the fixture's week of rows would only cost time.
fn small_world() -> World {
    let params = WorldParams {
        accounts: 2,
        instruments: 2,
        hours: 12,
        target_fills: 30,
    };
    generators::generate_world(11, &params)
}

/// `world` seeded and Phase 1B applied: the database Phase 1C starts from.
async fn after_1b(db: &TestDb, world: &World) -> PgConnection {
    let mut conn = seeded(db, world).await;
    apply_phase_1b(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("phase 1b: {e}"));
    conn
}

/// Phase 1C, which must complete.
async fn run_ok(conn: &mut PgConnection, opts: &RunOptions) -> RunOutcome {
    run_phase_1c(conn, opts).await.unwrap_or_else(|e| {
        panic!(
            "phase 1c: {e}\nvalidation: {:#?}",
            e.outcome().and_then(|o| o.validation.clone())
        )
    })
}

/// Phase 1C, which must fail; returns the error.
async fn run_err(conn: &mut PgConnection, opts: &RunOptions) -> MigrationError {
    match run_phase_1c(conn, opts).await {
        Ok(o) => panic!("phase 1c should have failed, it ran {:#?}", o.steps),
        Err(e) => e,
    }
}

/// A run whose gate passes without querying (for tests about the runner, not the checks).
fn static_gate() -> RunOptions {
    RunOptions {
        gate: Some(Arc::new(StaticGate {
            verdict: GateVerdict::all_pass(),
        })),
        ..RunOptions::default()
    }
}

fn with_fault(hook: &Arc<FaultHook>) -> RunOptions {
    RunOptions {
        fault: Some(hook.clone()),
        ..static_gate()
    }
}

async fn scalar_i64(conn: &mut PgConnection, sql: &str) -> i64 {
    sqlx::query_scalar::<_, i64>(sql)
        .fetch_one(conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

async fn exec(conn: &mut PgConnection, sql: &str) {
    sqlx::raw_sql(sql)
        .execute(conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// Row count of each of the ten event tables under `<table><suffix>`.
async fn event_counts(conn: &mut PgConnection, suffix: &str) -> Vec<(String, i64)> {
    let mut out = Vec::new();
    for t in EVENT_TABLES {
        let name = format!("{t}{suffix}");
        let n = scalar_i64(conn, &format!("SELECT count(*) FROM {name}")).await;
        out.push((t.to_string(), n));
    }
    out
}

/// Public tables whose name matches the LIKE `pattern`.
async fn tables_like(conn: &mut PgConnection, pattern: &str) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT relname::text FROM pg_class
          WHERE relnamespace = 'public'::regnamespace AND relkind IN ('r', 'p') AND relname LIKE $1
          ORDER BY 1",
    )
    .bind(pattern)
    .fetch_all(conn)
    .await
    .unwrap_or_else(|e| panic!("{e}"))
}

async fn lock(conn: &mut PgConnection) -> LockState {
    lock_state(conn)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("no phase_1b_schema lock row"))
}

async fn phase_1c_log(conn: &mut PgConnection) -> Vec<StepLogRow> {
    step_log(conn)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .into_iter()
        .filter(|r| r.phase == PHASE_1C)
        .collect()
}

/// Everything "the lock and the data" means for the bad-input tests: a digest of every row of
/// every public table except the step log (where a refused run may record its refusal), and
/// the list of tables (so a refused run cannot have created any).
async fn snapshot(conn: &mut PgConnection) -> Vec<(String, String)> {
    let tables = tables_like(conn, "%").await;
    let mut out = Vec::new();
    for t in tables.iter().filter(|t| *t != "migration_step_log") {
        let digest: String = sqlx::query_scalar(&format!(
            "SELECT md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '')) FROM {t} t"
        ))
        .fetch_one(&mut *conn)
        .await
        .unwrap_or_else(|e| panic!("{t}: {e}"));
        out.push((t.clone(), digest));
    }
    out
}

fn step_names(outcome: &RunOutcome) -> Vec<&'static str> {
    outcome.steps.iter().map(|s| s.step.as_str()).collect()
}

const ALL_STEP_NAMES: [&str; 11] = [
    "STEP_0_VERIFY_LOCK",
    "STEP_1_CLEANUP_M6",
    "STEP_2_IDENTITY_TABLES",
    "STEP_3_REVISED_M6",
    "STEP_4_REVISED_M7",
    "STEP_5_M8_GUARDRAIL",
    "STEP_6_M9_HASH_ADDITIONS",
    "STEP_7_M10_CUTOVER",
    "STEP_7B_POST_CUTOVER_FINALIZE",
    "STEP_8_FULL_VALIDATION",
    "STEP_9_UNLOCK",
];

/// A completed fresh run: eleven steps in order, all SUCCESS, twelve checks at 0 violations.
fn assert_clean_run(outcome: &RunOutcome) {
    assert!(outcome.completed() && !outcome.noop, "{outcome:#?}");
    assert_eq!(step_names(outcome), ALL_STEP_NAMES);
    for s in &outcome.steps {
        assert_eq!(s.status, StepStatus::Success, "{s:#?}");
        assert!(s.error.is_none(), "{s:#?}");
        assert!(s.ended_at_utc >= s.started_at_utc, "{s:#?}");
    }
    let validation = outcome.validation.clone().unwrap_or_default();
    assert_eq!(validation.checks.len(), 12, "{validation:#?}");
    assert_eq!(
        validation.confirmations.len(),
        contract::CONFIRMATION_NAMES.len(),
        "{validation:#?}"
    );
    assert!(
        migrations::gate_failures(&validation).is_empty(),
        "{validation:#?}"
    );
}

/// The database after a finished migration: lock released after validation, the ten archives
/// holding exactly the Phase 1A rows, the canonical tables holding them too, no `*_v2` left.
async fn assert_migrated(conn: &mut PgConnection, phase_1a_counts: &[(String, i64)]) {
    let l = lock(conn).await;
    assert!(!l.locked, "{l:?}");
    assert_eq!(l.migration_name, "phase_1b_schema");
    assert_eq!(l.lock_reason, LOCK_REASON);
    assert_eq!(l.lock_reason, "Phase 1B deterministic contract migration");
    let unlocked = l
        .unlocked_at_utc
        .unwrap_or_else(|| panic!("unlocked_at_utc not set: {l:?}"));
    assert!(unlocked >= l.locked_at_utc, "{l:?}");

    assert_eq!(
        &event_counts(conn, "_phase1a_archive").await,
        phase_1a_counts
    );
    assert_eq!(&event_counts(conn, "").await, phase_1a_counts);
    assert_eq!(
        tables_like(conn, "%\\_phase1a\\_archive").await.len(),
        EVENT_TABLES.len()
    );
    assert_eq!(tables_like(conn, "%\\_v2").await, Vec::<String>::new());
}

// Clean runs ----------------------------------------------------------------------------------

#[rstest]
#[tokio::test]
async fn fixture_world_migrates_step_by_step_and_releases_the_lock(#[future(awt)] db: TestDb) {
    let mut conn = seeded(&db, &generators::fixture_world()).await;
    let before = event_counts(&mut conn, "").await;
    assert!(before.iter().all(|(_, n)| *n > 0), "{before:?}");

    let t = Instant::now();
    apply_phase_1b(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("phase 1b: {e}"));
    let t_1b = t.elapsed();
    let outcome = run_ok(&mut conn, &static_gate()).await;
    let total = t.elapsed();
    eprintln!(
        "fixture world migration: Phase 1B {t_1b:?}, Phase 1C {:?} (steps {:?}), 1B+1C {total:?}",
        total - t_1b,
        outcome.total_duration()
    );
    for s in &outcome.steps {
        eprintln!("  {:<32} {:>10.1?}", s.step.as_str(), s.duration);
    }

    assert_clean_run(&outcome);
    assert_migrated(&mut conn, &before).await;

    // The step log: one row per Phase 1B script, then this run's eleven steps, each with a
    // start and an end in order, SUCCESS, notes, no error.
    let log = step_log(&mut conn).await.unwrap_or_else(|e| panic!("{e}"));
    let (p1b, p1c): (Vec<_>, Vec<_>) = log.iter().partition(|r| r.phase == "PHASE_1B");
    assert_eq!(p1b.len(), migrations::PHASE_1B_SCRIPTS.len(), "{p1b:#?}");
    assert!(p1b.iter().all(|r| r.status == "SUCCESS"), "{p1b:#?}");
    let names: Vec<&str> = p1c.iter().map(|r| r.step_name.as_str()).collect();
    assert_eq!(names, ALL_STEP_NAMES);
    let mut previous_end = None;
    for r in &p1c {
        assert_eq!(r.phase, PHASE_1C);
        assert_eq!(r.status, "SUCCESS", "{r:#?}");
        assert_eq!(r.run_id, outcome.run_id);
        assert!(r.error_text.is_none(), "{r:#?}");
        assert!(!r.notes.clone().unwrap_or_default().is_empty(), "{r:#?}");
        let end = r
            .ended_at_utc
            .unwrap_or_else(|| panic!("no end time: {r:#?}"));
        assert!(end >= r.started_at_utc, "{r:#?}");
        if let Some(prev) = previous_end {
            assert!(r.started_at_utc >= prev, "steps overlap: {r:#?}");
        }
        previous_end = Some(end);
    }
    let unlock = p1c.last().map(|r| r.notes.clone().unwrap_or_default());
    assert!(
        unlock.unwrap_or_default().contains("after full validation"),
        "STEP_9 says why it may unlock"
    );
}

#[rstest]
#[case::seed_7(7)]
#[case::seed_20260105(20_260_105)]
#[tokio::test]
async fn generated_worlds_migrate(#[future(awt)] db: TestDb, #[case] seed: u64) {
    let params = WorldParams {
        accounts: 2,
        instruments: 3,
        hours: 48,
        target_fills: 120,
    };
    let world = generators::generate_world(seed, &params);
    assert!(!world.order_fill.is_empty(), "seed {seed} made no fills");
    let mut conn = seeded(&db, &world).await;
    let before = event_counts(&mut conn, "").await;
    apply_phase_1b(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("seed {seed}: phase 1b: {e}"));
    let outcome = run_ok(&mut conn, &static_gate()).await;
    assert_clean_run(&outcome);
    assert_migrated(&mut conn, &before).await;
}

#[rstest]
#[tokio::test]
async fn hand_made_world_migrates_and_passes_the_sql_test_scripts(#[future(awt)] db: TestDb) {
    // The SQL-level tests of migrations/tests/sql/ were written against this hand-made world
    // (fixed ids); they assert with RAISE, so each script fails exactly when an expectation does.
    let mut conn = db.connect().await.unwrap_or_else(|e| panic!("{e}"));
    exec(&mut conn, include_str!("sql/fixture_phase_1a.sql")).await;
    let before = event_counts(&mut conn, "").await;
    apply_phase_1b(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("phase 1b: {e}"));
    exec(&mut conn, include_str!("sql/assert_helpers.sql")).await;
    exec(&mut conn, include_str!("sql/dual_write_before_cutover.sql")).await;
    let outcome = run_ok(&mut conn, &static_gate()).await;
    assert_clean_run(&outcome);
    assert_migrated(&mut conn, &before).await;
    exec(&mut conn, include_str!("sql/triggers_after_cutover.sql")).await;
}

#[rstest]
#[tokio::test]
async fn rerun_after_success_is_a_noop_that_says_so_and_writes_nothing(#[future(awt)] db: TestDb) {
    let mut conn = after_1b(&db, &small_world()).await;
    run_ok(&mut conn, &static_gate()).await;
    let log_before = step_log(&mut conn).await.unwrap_or_else(|e| panic!("{e}"));
    let data_before = snapshot(&mut conn).await;

    let again = run_ok(&mut conn, &static_gate()).await;
    assert!(again.noop && again.completed(), "{again:#?}");
    assert!(
        again.steps.is_empty() && again.validation.is_none(),
        "{again:#?}"
    );
    let reason = again.noop_reason.clone().unwrap_or_default();
    assert!(
        reason.contains("already migrated") && reason.contains("nothing to do"),
        "{reason}"
    );
    assert_eq!(
        step_log(&mut conn).await.unwrap_or_else(|e| panic!("{e}")),
        log_before,
        "a no-op rerun writes no step log row"
    );
    assert_eq!(snapshot(&mut conn).await, data_before, "nor anything else");

    // A single step asked for after completion is refused the same way.
    let err = run_step(
        &mut conn,
        StepName::Step7bPostCutoverFinalize,
        &static_gate(),
    )
    .await
    .err();
    assert!(
        matches!(&err, Some(MigrationError::StepNotApplicable { reason, .. }) if reason.contains("already migrated")),
        "{err:?}"
    );
    assert_eq!(
        step_log(&mut conn).await.unwrap_or_else(|e| panic!("{e}")),
        log_before
    );
}

// Revision A, abort and resume ------------------------------------------------------------------

/// Revision A leftovers: (FKs into hypertables, rev_a_m6_* functions, rev_a_m6_* indexes,
/// triggers on order_request_v2 running a rev_a_m6_* function).
async fn revision_a_artifacts(conn: &mut PgConnection) -> (i64, i64, i64, i64) {
    let fks = scalar_i64(
        conn,
        "SELECT count(*) FROM pg_constraint c
          WHERE c.contype = 'f' AND c.confrelid IN (SELECT format('%I.%I', hypertable_schema, hypertable_name)::regclass
                                                     FROM timescaledb_information.hypertables)",
    )
    .await;
    let fns = scalar_i64(
        conn,
        "SELECT count(*) FROM pg_proc WHERE pronamespace = 'public'::regnamespace AND proname LIKE 'rev\\_a\\_m6\\_%'",
    )
    .await;
    let idx = scalar_i64(
        conn,
        "SELECT count(*) FROM pg_class WHERE relkind = 'i' AND relname LIKE 'rev\\_a\\_m6\\_%'",
    )
    .await;
    let trg = scalar_i64(
        conn,
        "SELECT count(*) FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid WHERE p.proname LIKE 'rev\\_a\\_m6\\_%'",
    )
    .await;
    (fks, fns, idx, trg)
}

#[rstest]
#[tokio::test]
async fn revision_a_m6_leftovers_are_normalized_and_the_run_succeeds(#[future(awt)] db: TestDb) {
    let mut conn = after_1b(&db, &generators::fixture_world()).await;
    let before = event_counts(&mut conn, "").await;
    apply_revision_a_m6_partial(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("revision a: {e}"));
    let (fks, fns, idx, trg) = revision_a_artifacts(&mut conn).await;
    assert!(
        fks >= 1 && fns == 2 && idx == 2 && trg == 2,
        "Revision A left its artifacts: {:?}",
        (fks, fns, idx, trg)
    );
    let rev_a = step_log(&mut conn).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(
        rev_a
            .iter()
            .any(|r| r.phase == "PHASE_1C_REVISION_A" && r.status == "FAILED"),
        "{rev_a:#?}"
    );

    let outcome = run_ok(&mut conn, &static_gate()).await;
    assert_clean_run(&outcome);
    let cleanup = &outcome.steps[1];
    assert_eq!(cleanup.step, StepName::Step1CleanupM6);
    assert!(
        cleanup.notes.contains("Partial M6 artifacts normalized"),
        "{}",
        cleanup.notes
    );
    assert_eq!(revision_a_artifacts(&mut conn).await, (0, 0, 0, 0));
    assert_migrated(&mut conn, &before).await;
}

/// STEP_5's guardrail aborts, under the lock and naming the constraint, on the walk-forward FK
/// it exists to forbid (a prediction bound to its feature snapshot by a foreign key into the
/// `feature_snapshot` hypertable; TimescaleDB clones it onto every chunk) and on one written
/// straight against a chunk; with the key gone, the rerun completes.
#[rstest]
#[case::into_the_hypertable(
    "ALTER TABLE model_prediction_v2 ADD CONSTRAINT t_fk_guard FOREIGN KEY (instrument_id, feature_hour_ts)
       REFERENCES feature_snapshot (instrument_id, hour_ts) NOT VALID",
    "-> feature_snapshot"
)]
#[case::into_a_chunk(
    "DO $$ BEGIN EXECUTE format(
       'ALTER TABLE model_prediction_v2 ADD CONSTRAINT t_fk_guard FOREIGN KEY (instrument_id, feature_hour_ts)
          REFERENCES %I.%I (instrument_id, hour_ts) NOT VALID',
       (SELECT chunk_schema FROM timescaledb_information.chunks
         WHERE hypertable_name = 'feature_snapshot' ORDER BY chunk_name LIMIT 1),
       (SELECT chunk_name FROM timescaledb_information.chunks
         WHERE hypertable_name = 'feature_snapshot' ORDER BY chunk_name LIMIT 1)); END $$",
    "-> _timescaledb_internal._hyper_"
)]
#[tokio::test]
async fn step_5_refuses_a_foreign_key_into_a_hypertable_or_chunk(
    #[future(awt)] db: TestDb,
    #[case] fk: &str,
    #[case] target: &str,
) {
    let mut conn = after_1b(&db, &small_world()).await;
    sqlx::raw_sql(fk)
        .execute(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("adding the FK: {e}"));
    let err = run_err(&mut conn, &static_gate()).await;
    let MigrationError::StepFailed { step, message, .. } = &err else {
        panic!("expected a step failure, got {err}");
    };
    assert_eq!(*step, StepName::Step5M8Guardrail, "{err}");
    assert!(
        message.contains("STEP_5_M8_GUARDRAIL:")
            && message.contains("reference a hypertable")
            && message.contains("model_prediction_v2.t_fk_guard")
            && message.contains(target),
        "{message}"
    );
    assert!(lock(&mut conn).await.locked, "the lock stays held");

    sqlx::raw_sql("ALTER TABLE model_prediction_v2 DROP CONSTRAINT t_fk_guard")
        .execute(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("dropping the FK: {e}"));
    let outcome = run_ok(&mut conn, &static_gate()).await;
    assert!(outcome.completed(), "{:#?}", outcome.steps);
}

#[rstest]
#[case::step_0(StepName::Step0VerifyLock)]
#[case::step_1(StepName::Step1CleanupM6)]
#[case::step_2(StepName::Step2IdentityTables)]
#[case::step_3(StepName::Step3RevisedM6)]
#[case::step_4(StepName::Step4RevisedM7)]
#[case::step_5(StepName::Step5M8Guardrail)]
#[case::step_6(StepName::Step6M9HashAdditions)]
#[case::step_7(StepName::Step7M10Cutover)]
#[case::step_7b(StepName::Step7bPostCutoverFinalize)]
#[case::step_8(StepName::Step8FullValidation)]
#[case::step_9(StepName::Step9Unlock)]
#[tokio::test]
async fn a_failing_step_aborts_under_the_lock_and_a_rerun_resumes(
    #[future(awt)] db: TestDb,
    #[case] failing: StepName,
) {
    let mut conn = after_1b(&db, &small_world()).await;
    let before = event_counts(&mut conn, "").await;
    let at = StepName::ALL
        .iter()
        .position(|s| *s == failing)
        .unwrap_or_else(|| panic!("{failing} not in StepName::ALL"));
    let hook = Arc::new(FaultHook::new().fail_once(
        failing,
        FaultKind::Fail(format!("disk full in {failing} (injected)")),
    ));

    let err = run_err(&mut conn, &with_fault(&hook)).await;
    assert!(
        matches!(
            &err,
            MigrationError::StepFailed { step, status: StepStatus::Failed, message, .. }
                if *step == failing && message.contains("disk full in") && message.contains("(injected)")
        ),
        "{err:?}"
    );
    let run1 = err.outcome().unwrap_or_else(|| panic!("no outcome"));
    assert_eq!(step_names(run1), ALL_STEP_NAMES[..=at]);
    assert!(!run1.completed());
    assert!(lock(&mut conn).await.locked, "the lock stays held");
    let log = phase_1c_log(&mut conn).await;
    let names: Vec<&str> = log.iter().map(|r| r.step_name.as_str()).collect();
    assert_eq!(names, ALL_STEP_NAMES[..=at], "later steps not run");
    let failed = &log[at];
    assert_eq!(failed.status, "FAILED");
    assert!(failed.ended_at_utc.is_some());
    assert!(
        failed
            .error_text
            .as_deref()
            .unwrap_or_default()
            .contains(&format!("disk full in {failing} (injected)")),
        "{failed:#?}"
    );
    // The failing step's transaction rolled back: before STEP_7 commits, the *_v2 tables are
    // all still there.
    let v2_left = tables_like(&mut conn, "%\\_v2").await.len();
    let cutover_done = at > 7;
    assert_eq!(v2_left, if cutover_done { 0 } else { EVENT_TABLES.len() });

    // The same hook (its fault fired once) resumes: steps that changed the database before the
    // failure are skipped as done in this lock epoch; STEP_0 and STEP_8 always run.
    let run2 = run_ok(&mut conn, &with_fault(&hook)).await;
    assert!(run2.completed(), "{run2:#?}");
    assert_eq!(step_names(&run2), ALL_STEP_NAMES);
    for (i, s) in run2.steps.iter().enumerate() {
        let expected = if i < at && s.step.changes_database() {
            StepStatus::SkippedAlreadyDone
        } else {
            StepStatus::Success
        };
        assert_eq!(s.status, expected, "{s:#?}");
    }
    assert!(run2
        .validation
        .as_ref()
        .is_some_and(|v| migrations::gate_failures(v).is_empty()));
    assert_eq!(phase_1c_log(&mut conn).await.len(), at + 1 + 11);
    assert_migrated(&mut conn, &before).await;
}

#[rstest]
#[tokio::test]
async fn seed_log_scenario_resumes_twice_under_the_lock(#[future(awt)] db: TestDb) {
    // The seed log's history: Revision A leftovers; STEP_3 aborts on the missing 3-column unique
    // target; the rerun commits the cutover but its compression stage fails; the third run
    // finalizes with STEP_7B, validates and unlocks.
    let mut conn = after_1b(&db, &small_world()).await;
    let before = event_counts(&mut conn, "").await;
    apply_revision_a_m6_partial(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("revision a: {e}"));
    let hook = Arc::new(FaultHook::seed_log_scenario());

    let err = run_err(&mut conn, &with_fault(&hook)).await;
    assert_eq!(err.step(), Some(StepName::Step3RevisedM6));
    assert!(
        err.to_string()
            .contains("no unique constraint matching given keys"),
        "{err}"
    );
    assert!(lock(&mut conn).await.locked);

    let err = run_err(&mut conn, &with_fault(&hook)).await;
    assert!(
        matches!(
            err,
            MigrationError::StepFailed {
                step: StepName::Step7M10Cutover,
                status: StepStatus::FailedPostCommitCompression,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(lock(&mut conn).await.locked);
    // The cutover itself committed.
    assert_eq!(tables_like(&mut conn, "%\\_v2").await, Vec::<String>::new());

    let run3 = run_ok(&mut conn, &with_fault(&hook)).await;
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
    assert!(hook.pending().is_empty());
    let log = phase_1c_log(&mut conn).await;
    assert!(log.iter().any(|r| r.step_name == "STEP_7_M10_CUTOVER"
        && r.status == "FAILED (post-commit compression stage)"
        && r.error_text
            .as_deref()
            .unwrap_or_default()
            .contains("add_compression_policy")));
    assert_migrated(&mut conn, &before).await;
}

#[rstest]
#[tokio::test]
async fn no_unlock_without_a_validation_after_the_last_change(#[future(awt)] db: TestDb) {
    let mut conn = after_1b(&db, &small_world()).await;
    let refused = |e: Option<MigrationError>| {
        let text = e.map(|e| e.to_string()).unwrap_or_default();
        assert!(text.contains("refusing to unlock"), "{text}");
    };

    // Straight after Phase 1B, before anything was validated.
    refused(
        run_step(&mut conn, StepName::Step9Unlock, &static_gate())
            .await
            .err(),
    );
    assert!(lock(&mut conn).await.locked);

    // The gate finds violations: STEP_8 fails, the lock stays, STEP_9 is refused.
    let mut verdict = GateVerdict::all_pass();
    for c in verdict
        .checks
        .iter_mut()
        .filter(|c| c.name == "cluster_cap")
    {
        c.violations = Some(2);
    }
    let failing = StaticGate { verdict };
    let opts = RunOptions {
        gate: Some(Arc::new(failing)),
        ..RunOptions::default()
    };
    let err = run_err(&mut conn, &opts).await;
    assert_eq!(err.step(), Some(StepName::Step8FullValidation));
    assert!(err.to_string().contains("cluster_cap=2"), "{err}");
    assert!(lock(&mut conn).await.locked);
    refused(
        run_step(&mut conn, StepName::Step9Unlock, &static_gate())
            .await
            .err(),
    );

    // A passing validation, then a change (STEP_7B rerun by hand): the validation is void.
    run_step(&mut conn, StepName::Step8FullValidation, &static_gate())
        .await
        .unwrap_or_else(|e| panic!("step 8: {e}"));
    run_step(
        &mut conn,
        StepName::Step7bPostCutoverFinalize,
        &static_gate(),
    )
    .await
    .unwrap_or_else(|e| panic!("7b: {e}"));
    refused(
        run_step(&mut conn, StepName::Step9Unlock, &static_gate())
            .await
            .err(),
    );
    // Pre-cutover steps cannot run once the cutover committed.
    let err = run_step(&mut conn, StepName::Step3RevisedM6, &static_gate())
        .await
        .err();
    assert!(
        matches!(
            err,
            Some(MigrationError::StepNotApplicable {
                step: StepName::Step3RevisedM6,
                ..
            })
        ),
        "{err:?}"
    );
    assert!(lock(&mut conn).await.locked);

    let done = run_ok(&mut conn, &static_gate()).await;
    assert!(done.completed());
    assert!(!lock(&mut conn).await.locked);
}

// Dual write ------------------------------------------------------------------------------------

/// Rows of `<t>` not in `<t>_v2` plus rows of `<t>_v2` not in `<t>`, over the legacy columns.
async fn v2_drift(conn: &mut PgConnection, t: &str) -> i64 {
    let cols: String = sqlx::query_scalar(
        "SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) FROM pg_attribute
          WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped",
    )
    .bind(t)
    .fetch_one(&mut *conn)
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    scalar_i64(
        conn,
        &format!(
            "SELECT (SELECT count(*) FROM (SELECT {cols} FROM {t} EXCEPT SELECT {cols} FROM {t}_v2) a)
                  + (SELECT count(*) FROM (SELECT {cols} FROM {t}_v2 EXCEPT SELECT {cols} FROM {t}) b)"
        ),
    )
    .await
}

/// A copy of the first BUY order under the new id `id`, not yet filled.
fn copy_order(id: i64) -> String {
    format!(
        "INSERT INTO order_request
         SELECT {id}, account_id, signal_id, instrument_id, side, quantity, reference_price, requested_ts,
                risk_hour_ts, 0
           FROM order_request WHERE side = 'BUY' ORDER BY order_id LIMIT 1"
    )
}

#[rstest]
#[tokio::test]
async fn dual_write_mirrors_canonical_writes_into_v2_until_the_cutover(#[future(awt)] db: TestDb) {
    let mut conn = after_1b(&db, &generators::fixture_world()).await;
    for t in EVENT_TABLES {
        assert_eq!(
            v2_drift(&mut conn, t).await,
            0,
            "{t}: backfill equals canonical"
        );
    }
    let before = event_counts(&mut conn, "").await;
    let max_order = scalar_i64(&mut conn, "SELECT max(order_id) FROM order_request").await;

    // INSERT, UPDATE and DELETE on canonical tables reach *_v2 in the same statement.
    exec(&mut conn, &copy_order(max_order + 1)).await; // kept
    exec(&mut conn, &copy_order(max_order + 2)).await; // updated, then deleted
    exec(
        &mut conn,
        &format!(
            "UPDATE order_request SET filled_quantity = 1 WHERE order_id = {}",
            max_order + 2
        ),
    )
    .await;
    let mirrored = scalar_i64(
        &mut conn,
        &format!(
            "SELECT count(*) FROM order_request_v2 WHERE order_id = {} AND filled_quantity = 1",
            max_order + 2
        ),
    )
    .await;
    assert_eq!(mirrored, 1, "UPDATE mirrored");
    exec(
        &mut conn,
        &format!(
            "DELETE FROM order_request WHERE order_id = {}",
            max_order + 2
        ),
    )
    .await;
    // A deposit after the world's last hour (it changes no hourly state).
    exec(
        &mut conn,
        "INSERT INTO cash_ledger (account_id, ledger_seq, entry_ts, entry_type, amount, balance_after)
         SELECT account_id, ledger_seq + 1, (SELECT max(hour_ts) + interval '90 minutes' FROM portfolio_hourly_state),
                'DEPOSIT', 100, balance_after + 100
           FROM cash_ledger ORDER BY account_id, ledger_seq DESC LIMIT 1",
    )
    .await;
    for t in EVENT_TABLES {
        assert_eq!(v2_drift(&mut conn, t).await, 0, "{t}: mirrored");
    }

    // What the contract shape refuses fails the legacy statement too, leaving both sides as
    // they were.
    let fills = snapshot(&mut conn).await;
    let err = sqlx::raw_sql("UPDATE order_fill SET fee = fee + 1")
        .execute(&mut conn)
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("trg_order_fill_append_only"), "{err}");
    assert_eq!(snapshot(&mut conn).await, fills);

    // Stop just before the cutover: the *_v2 tables now carry hash columns and the hash
    // triggers; a canonical write is still mirrored and hashed.
    let hook = Arc::new(FaultHook::new().fail_once(
        StepName::Step7M10Cutover,
        FaultKind::Fail("stop before the cutover".into()),
    ));
    let err = run_err(&mut conn, &with_fault(&hook)).await;
    assert_eq!(err.step(), Some(StepName::Step7M10Cutover));
    exec(&mut conn, &copy_order(max_order + 3)).await;
    let hashed = scalar_i64(
        &mut conn,
        &format!(
            "SELECT count(*) FROM order_request_v2
              WHERE order_id = {} AND length(row_hash) = 64 AND length(parent_signal_hash) = 64
                AND length(risk_state_hash) = 64",
            max_order + 3
        ),
    )
    .await;
    assert_eq!(hashed, 1, "mirrored after STEP_6 with its hashes");

    // Everything written before the cutover is in the canonical tables after it.
    let outcome = run_ok(&mut conn, &with_fault(&hook)).await;
    assert!(outcome.completed());
    let after = event_counts(&mut conn, "").await;
    let expected: Vec<(String, i64)> = before
        .iter()
        .map(|(t, n)| {
            let extra = match t.as_str() {
                "order_request" => 2,
                "cash_ledger" => 1,
                _ => 0,
            };
            (t.clone(), n + extra)
        })
        .collect();
    assert_eq!(after, expected);
    let kept = scalar_i64(
        &mut conn,
        &format!(
            "SELECT count(*) FROM order_request WHERE order_id IN ({}, {})",
            max_order + 1,
            max_order + 3
        ),
    )
    .await;
    assert_eq!(kept, 2);
}

// Bad input -------------------------------------------------------------------------------------

#[rstest]
#[tokio::test]
async fn phase_1c_without_phase_1b_is_refused(#[future(awt)] db: TestDb) {
    let mut conn = seeded(&db, &small_world()).await;
    let before = snapshot(&mut conn).await;
    let err = run_err(&mut conn, &static_gate()).await;
    assert!(matches!(err, MigrationError::Phase1bMissing), "{err:?}");
    assert!(err.to_string().contains("Phase 1B is not applied"), "{err}");
    assert_eq!(
        snapshot(&mut conn).await,
        before,
        "nothing created or changed"
    );
    let err = run_step(&mut conn, StepName::Step9Unlock, &static_gate())
        .await
        .err();
    assert!(
        matches!(err, Some(MigrationError::Phase1bMissing)),
        "{err:?}"
    );
    assert_eq!(snapshot(&mut conn).await, before);
}

fn is_lock_not_held(e: &MigrationError) -> bool {
    matches!(
        e,
        MigrationError::LockNotHeld {
            unlocked_at_utc: Some(_)
        }
    )
}

fn is_lock_row_missing(e: &MigrationError) -> bool {
    matches!(e, MigrationError::LockRowMissing)
}

fn is_archive_name_taken(e: &MigrationError) -> bool {
    matches!(e, MigrationError::ArchiveNameTaken { tables } if tables == &["order_fill_phase1a_archive"])
}

fn is_unrecognised_layout(e: &MigrationError) -> bool {
    matches!(e, MigrationError::UnrecognisedLayout { detail }
        if detail.contains("order_fill_v2") && !detail.contains("risk_event_v2"))
}

#[rstest]
#[case::lock_not_held(
    "UPDATE migration_lock SET locked = FALSE, unlocked_at_utc = now()",
    is_lock_not_held,
    "is not locked"
)]
#[case::lock_row_missing("DELETE FROM migration_lock", is_lock_row_missing, "is missing")]
#[case::foreign_archive_table(
    "CREATE TABLE order_fill_phase1a_archive (note text); INSERT INTO order_fill_phase1a_archive VALUES ('not ours')",
    is_archive_name_taken,
    "order_fill_phase1a_archive"
)]
#[case::a_v2_table_missing(
    "DROP TABLE risk_event_v2",
    is_unrecognised_layout,
    "unrecognised table layout"
)]
#[tokio::test]
async fn bad_state_is_refused_before_anything_changes(
    #[future(awt)] db: TestDb,
    #[case] sabotage: &str,
    #[case] expected: fn(&MigrationError) -> bool,
    #[case] says: &str,
) {
    let mut conn = after_1b(&db, &small_world()).await;
    exec(&mut conn, sabotage).await;
    let before = snapshot(&mut conn).await;
    let log_before = step_log(&mut conn).await.unwrap_or_else(|e| panic!("{e}"));

    let err = run_err(&mut conn, &static_gate()).await;
    assert!(expected(&err), "{err:?}");
    assert!(err.to_string().contains(says), "{err}");
    assert_eq!(err.step(), None, "refused before any step ran: {err:?}");
    assert_eq!(snapshot(&mut conn).await, before, "lock and data untouched");

    // The refusal is recorded as one FAILED STEP_0 row carrying the error, nothing else.
    let log = step_log(&mut conn).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(log[..log_before.len()], log_before[..]);
    let new = &log[log_before.len()..];
    assert_eq!(new.len(), 1, "{new:#?}");
    assert_eq!(new[0].step_name, "STEP_0_VERIFY_LOCK");
    assert_eq!(new[0].status, "FAILED");
    assert_eq!(new[0].error_text.as_deref(), Some(err.to_string().as_str()));

    // A single step is refused too.
    let err = run_step(&mut conn, StepName::Step2IdentityTables, &static_gate())
        .await
        .err();
    assert!(err.as_ref().is_some_and(expected), "{err:?}");
    assert_eq!(snapshot(&mut conn).await, before);
}

#[rstest]
#[tokio::test]
async fn a_second_concurrent_runner_is_refused(#[future(awt)] db: TestDb) {
    let mut conn = after_1b(&db, &small_world()).await;
    // Another session holds the runner's advisory lock (key as in migrations/src/runner.rs), as
    // a running Phase 1C would.
    let mut other = db.connect().await.unwrap_or_else(|e| panic!("{e}"));
    exec(
        &mut other,
        "SELECT pg_advisory_lock(hashtext('migrations.phase_1c_runner'))",
    )
    .await;
    let before = snapshot(&mut conn).await;
    let log_before = step_log(&mut conn).await.unwrap_or_else(|e| panic!("{e}"));

    let impatient = RunOptions {
        runner_wait: std::time::Duration::from_millis(300),
        ..static_gate()
    };
    let holder: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&mut other)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let err = run_err(&mut conn, &impatient).await;
    let MigrationError::ConcurrentRun {
        holder: who,
        waited_ms,
    } = &err
    else {
        panic!("expected ConcurrentRun, got {err:?}");
    };
    assert!(who.contains(&format!("backend pid {holder}")), "{err}");
    assert!(*waited_ms >= 300, "{err}");
    assert_eq!(snapshot(&mut conn).await, before);
    assert_eq!(
        step_log(&mut conn).await.unwrap_or_else(|e| panic!("{e}")),
        log_before
    );

    // Once the other runner is gone, the run goes through.
    exec(&mut other, "SELECT pg_advisory_unlock_all()").await;
    assert!(run_ok(&mut conn, &static_gate()).await.completed());
}

#[tokio::test]
async fn unreachable_server_is_a_typed_error_with_the_password_redacted() {
    let err =
        migrations::connect("postgres://migrator:s3cret-pw@127.0.0.1:1/prod?connect_timeout=2")
            .await
            .err()
            .unwrap_or_else(|| panic!("connected to port 1?"));
    let text = err.to_string();
    assert!(
        matches!(&err, MigrationError::Connect { url, source: sqlx::Error::Io(_) }
            if url == "postgres://migrator:***@127.0.0.1:1/prod?connect_timeout=2"),
        "{err:?}"
    );
    assert!(
        text.starts_with("cannot connect to postgres://migrator:***@127.0.0.1:1/prod"),
        "{text}"
    );
    assert!(!text.contains("s3cret"), "password leaked: {text}");
    assert!(
        !format!("{err:?}").contains("s3cret"),
        "password leaked in Debug: {err:?}"
    );
}

#[rstest]
#[tokio::test]
async fn reapplying_a_phase_is_refused(#[future(awt)] db: TestDb) {
    let mut conn = after_1b(&db, &small_world()).await;
    let before = snapshot(&mut conn).await;
    let log_before = step_log(&mut conn).await.unwrap_or_else(|e| panic!("{e}"));
    let err = apply_phase_1b(&mut conn).await.err();
    assert!(
        matches!(
            err,
            Some(MigrationError::AlreadyApplied { phase: "Phase 1B" })
        ),
        "{err:?}"
    );
    let err = apply_phase_1a(&mut conn).await.err();
    assert!(
        matches!(
            err,
            Some(MigrationError::AlreadyApplied { phase: "Phase 1A" })
        ),
        "{err:?}"
    );
    assert_eq!(snapshot(&mut conn).await, before);
    assert_eq!(
        step_log(&mut conn).await.unwrap_or_else(|e| panic!("{e}")),
        log_before
    );
}

// The validation gate ---------------------------------------------------------------------------

/// Which verdict STEP_8 gets.
#[derive(Debug, Clone, Copy)]
enum Verdict {
    /// No gate at all.
    NoGate,
    /// A gate that reports nothing.
    Empty,
    /// All twelve checks and all confirmations but one check left out.
    OneCheckLeftOut,
    /// Every check, one confirmation left out.
    OneConfirmationLeftOut,
    /// A check reported under a misspelled name instead of its own.
    Misspelled,
}

/// STEP_8 never passes on a verdict that did not look: without a gate, with a gate that reports
/// nothing, one that leaves a check or a confirmation out, or one that misspells a check, STEP_8
/// fails naming what is missing; the lock stays held and STEP_9 never runs.
#[rstest]
#[case::no_gate(Verdict::NoGate, "no validation gate")]
#[case::empty(Verdict::Empty, "no_hypertable_fk=not reported")]
#[case::one_check_left_out(Verdict::OneCheckLeftOut, "long_only=not reported")]
#[case::one_confirmation_left_out(Verdict::OneConfirmationLeftOut, "archive_parity: not reported")]
#[case::misspelled(Verdict::Misspelled, "fee_formulas=not a contract check")]
#[tokio::test]
async fn step_8_never_passes_a_verdict_that_did_not_look(
    #[future(awt)] db: TestDb,
    #[case] verdict: Verdict,
    #[case] expected: &str,
) {
    let mut conn = after_1b(&db, &small_world()).await;
    let mut v = GateVerdict::all_pass();
    match verdict {
        Verdict::NoGate | Verdict::Empty => v = GateVerdict::default(),
        Verdict::OneCheckLeftOut => v.checks.retain(|c| c.name != "long_only"),
        Verdict::OneConfirmationLeftOut => v.confirmations.retain(|c| c.name != "archive_parity"),
        Verdict::Misspelled => {
            for c in v.checks.iter_mut().filter(|c| c.name == "fee_formula") {
                c.name = "fee_formulas".into();
            }
        }
    }
    let opts = match verdict {
        Verdict::NoGate => RunOptions::default(),
        _ => RunOptions {
            gate: Some(Arc::new(StaticGate { verdict: v })),
            ..RunOptions::default()
        },
    };
    let err = run_err(&mut conn, &opts).await;
    assert_eq!(err.step(), Some(StepName::Step8FullValidation), "{err}");
    assert!(err.to_string().contains(expected), "{err}");
    assert!(lock(&mut conn).await.locked, "the lock stays held");
    let log = phase_1c_log(&mut conn).await;
    assert!(
        !log.iter().any(|r| r.step_name == "STEP_9_UNLOCK"),
        "STEP_9 must not run"
    );
    let last = log.last().unwrap_or_else(|| panic!("empty step log"));
    assert_eq!(
        (last.step_name.as_str(), last.status.as_str()),
        ("STEP_8_FULL_VALIDATION", "FAILED")
    );
    // The SQL refuses to unlock by hand too.
    let refusal = run_step(&mut conn, StepName::Step9Unlock, &opts)
        .await
        .err();
    assert!(
        refusal.is_some(),
        "STEP_9 must be refused without a validated STEP_8"
    );
    assert!(lock(&mut conn).await.locked);
    // A real gate then validates and the run completes.
    let done = run_ok(&mut conn, &static_gate()).await;
    assert!(done.completed());
}
