//! STEP_8 with the real gate, [`AuditGate`]: the audit's verdict on migrated worlds (the
//! migration's own tests in `migrations/tests` judge STEP_8 with a static gate, since the
//! system under test cannot depend on its oracle; this is where the two meet at the crate
//! level). Clean worlds, the Revision A leftovers, runs resumed after a failure at each of the
//! eleven steps and the seed log's history pass it and unlock; a contract trigger enabled for
//! replica sessions only fails it, naming the trigger.

use std::sync::Arc;

use generators::{World, WorldParams};
use invariants::AuditGate;
use migrations::{
    apply_phase_1b, apply_revision_a_m6_partial, gate_failures, lock_state, run_phase_1c, run_step,
    FaultHook, FaultKind, MigrationError, RunOptions, RunOutcome, StepName,
};
use provision::{db, TestDb};
use rstest::rstest;
use sqlx::PgConnection;

/// A world seeded and Phase 1B applied (with the Revision A leftovers when `revision_a`).
async fn after_1b(db: &TestDb, world: &World, revision_a: bool) -> PgConnection {
    let mut conn = db.connect().await.unwrap_or_else(|e| panic!("{e}"));
    generators::seed_world(&mut conn, world)
        .await
        .unwrap_or_else(|e| panic!("seeding: {e}"));
    apply_phase_1b(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("phase 1b: {e}"));
    if revision_a {
        apply_revision_a_m6_partial(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("revision a: {e}"));
    }
    conn
}

fn generated(seed: u64, hours: u32, fills: u64) -> World {
    let params = WorldParams {
        accounts: 2,
        instruments: 3,
        hours,
        target_fills: fills,
    };
    generators::generate_world(seed, &params)
}

fn options(gate: &Arc<AuditGate>, fault: Option<Arc<FaultHook>>) -> RunOptions {
    RunOptions {
        gate: Some(gate.clone()),
        fault,
        ..RunOptions::default()
    }
}

/// A completed run whose verdict reports all twelve checks at 0 and every confirmation
/// holding, with the lock released and the audit kept for the implementation log.
async fn assert_passed(conn: &mut PgConnection, outcome: &RunOutcome, gate: &AuditGate) {
    assert!(outcome.completed() && !outcome.noop, "{outcome:#?}");
    let verdict = outcome.validation.clone().unwrap_or_default();
    assert_eq!(verdict.checks.len(), 12, "{verdict:#?}");
    assert_eq!(
        verdict.confirmations.len(),
        contract::CONFIRMATION_NAMES.len(),
        "{verdict:#?}"
    );
    assert!(gate_failures(&verdict).is_empty(), "{verdict:#?}");
    let audit = gate
        .last_audit()
        .unwrap_or_else(|| panic!("the gate keeps its audit"));
    assert!(
        audit.checks.iter().all(|c| c.violations == Some(0)),
        "{audit:#?}"
    );
    let lock = lock_state(conn).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(lock.as_ref().is_some_and(|l| !l.locked), "{lock:?}");
}

#[rstest]
#[case::fixture_world(generators::fixture_world(), false)]
#[case::generated_seed_7(generated(7, 48, 120), false)]
#[case::generated_seed_20260105(generated(20_260_105, 48, 120), false)]
#[case::revision_a_m6_leftovers(generators::fixture_world(), true)]
#[tokio::test]
async fn clean_worlds_pass_the_audit_gate_and_unlock(
    #[future(awt)] db: TestDb,
    #[case] world: World,
    #[case] revision_a: bool,
) {
    let mut conn = after_1b(&db, &world, revision_a).await;
    let gate = Arc::new(AuditGate::new());
    let outcome = run_phase_1c(&mut conn, &options(&gate, None))
        .await
        .unwrap_or_else(|e| panic!("phase 1c: {e}"));
    assert_passed(&mut conn, &outcome, &gate).await;
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
async fn a_run_resumed_after_a_failed_step_passes_the_audit_gate(
    #[future(awt)] db: TestDb,
    #[case] failing: StepName,
) {
    let mut conn = after_1b(&db, &generated(11, 12, 30), false).await;
    let hook = Arc::new(FaultHook::new().fail_once(
        failing,
        FaultKind::Fail(format!("disk full in {failing} (injected)")),
    ));
    let gate = Arc::new(AuditGate::new());
    let err = run_phase_1c(&mut conn, &options(&gate, Some(hook.clone())))
        .await
        .err()
        .unwrap_or_else(|| panic!("{failing} should have failed"));
    assert_eq!(err.step(), Some(failing), "{err}");
    let outcome = run_phase_1c(&mut conn, &options(&gate, Some(hook)))
        .await
        .unwrap_or_else(|e| panic!("resumed phase 1c: {e}"));
    assert_passed(&mut conn, &outcome, &gate).await;
}

/// The seed log's history (Revision A leftovers, STEP_3 aborting, the compression stage of
/// STEP_7 failing after the cutover committed) resumed twice under the lock: the third run
/// passes the audit gate.
#[rstest]
#[tokio::test]
async fn the_seed_log_history_passes_the_audit_gate_on_its_third_run(#[future(awt)] db: TestDb) {
    let mut conn = after_1b(&db, &generated(11, 12, 30), true).await;
    let hook = Arc::new(FaultHook::seed_log_scenario());
    let gate = Arc::new(AuditGate::new());
    for attempt in 1..=2 {
        let failed = run_phase_1c(&mut conn, &options(&gate, Some(hook.clone()))).await;
        assert!(failed.is_err(), "attempt {attempt} should fail: {failed:?}");
    }
    let outcome = run_phase_1c(&mut conn, &options(&gate, Some(hook)))
        .await
        .unwrap_or_else(|e| panic!("third attempt: {e}"));
    assert_passed(&mut conn, &outcome, &gate).await;
}

/// One oracle: a contract trigger enabled only for replica sessions (it enforces nothing for an
/// ordinary writer) fails STEP_8 through the same confirmation `harness validate` uses, naming
/// the trigger; re-enabled, the resumed run completes.
#[rstest]
#[tokio::test]
async fn step_8_refuses_a_replica_only_contract_trigger(#[future(awt)] db: TestDb) {
    let mut conn = after_1b(&db, &generated(11, 12, 30), false).await;
    let gate = Arc::new(AuditGate::new());
    for step in &StepName::ALL[..9] {
        run_step(&mut conn, *step, &options(&gate, None))
            .await
            .unwrap_or_else(|e| panic!("{step}: {e}"));
    }
    let exec = |sql: &'static str| sqlx::raw_sql(sql);
    exec("ALTER TABLE risk_event ENABLE REPLICA TRIGGER trg_risk_event_append_only")
        .execute(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let err: MigrationError = run_phase_1c(&mut conn, &options(&gate, None))
        .await
        .err()
        .unwrap_or_else(|| panic!("STEP_8 should have refused"));
    assert_eq!(err.step(), Some(StepName::Step8FullValidation), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("triggers: 12 of 13 present and enabled; risk_event.trg_risk_event_append_only: enabled only for replica sessions (ENABLE REPLICA)"),
        "{text}"
    );
    let lock = lock_state(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(lock.as_ref().is_some_and(|l| l.locked), "{lock:?}");
    exec("ALTER TABLE risk_event ENABLE TRIGGER trg_risk_event_append_only")
        .execute(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let outcome = run_phase_1c(&mut conn, &options(&gate, None))
        .await
        .unwrap_or_else(|e| panic!("resumed phase 1c: {e}"));
    assert_passed(&mut conn, &outcome, &gate).await;
}
