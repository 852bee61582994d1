//! The twelve checks and the structural confirmations against real migrated databases
//! (every check proven able to fail):
//!
//! * a clean world reports 0 on every check on every table set, and `n/a` (`None`, never
//!   `Some(0)`) exactly where the invariants README documents it;
//! * every check corruption of the catalogue (`invariants/corruptions/<check>/<rule>.sql`, at
//!   least one per sub-rule) is
//!   reported by its check under its sub-rule, on every table set where the sub-rule applies:
//!   one database per table set, each corruption applied in a transaction that is rolled back;
//! * disabled / dropped triggers, a `*_v2` table re-created after the cutover and a FK to a
//!   hypertable are reported by the structural confirmations;
//! * a corruption committed before `STEP_8_FULL_VALIDATION` aborts it, naming check and count,
//!   with the lock held.
//!
//! Every test gets its own database (`provision::db`); nothing needs an environment variable.
//! `bulk_world_is_clean_and_timed` can be scaled up with `CHECKS_BULK_ACCOUNTS` /
//! `CHECKS_BULK_HOURS` (50 x 1000 gives ~100k fills) to time the checks on a large world, and
//! prints the plans of the checks named in `CHECKS_EXPLAIN` (comma-separated, or `all`):
//! `CHECKS_BULK_ACCOUNTS=50 CHECKS_BULK_HOURS=1000 CHECKS_EXPLAIN=all cargo test -p invariants
//! --test checks bulk -- --nocapture`.

use std::collections::BTreeSet;
use std::fmt::Display;
use std::time::Instant;

use invariants::corruptions::{json_contains, Corruption, Target};
use invariants::structure::{HypertableFk, Parity, Structure, TriggerStatus};
use invariants::AuditGate;
use invariants::AuditPurpose;
use invariants::{
    check_rules, confirm_structure, explain_check, load_catalog, run_check, run_checks,
    run_checks_within, CheckOutcome, InvariantsError, TableSet, CHECK_NAMES,
};
use migrations::{
    apply_phase_1b, gate_failures, lock_state, run_phase_1c, run_step, step_log, MigrationError,
    RunOptions, StepName, StepStatus, ValidationGate, PHASE_1C,
};
use provision::{db, TestDb};
use rstest::rstest;
use sqlx::{Connection, PgConnection};

// Fixtures and helpers ------------------------------------------------------------------------

/// A hand-written Phase 1A world (two accounts, a HALTED drawdown and back, META components),
/// every derived value computed in plain SQL independent of crate `generators`.
const HAND_WORLD_SQL: &str = include_str!("fixtures/world.sql");

/// A bulk Phase 1A world for timing (`:accounts` accounts, `:hours` hours, ~2 fills per account
/// and hour).
const BULK_WORLD_SQL: &str = include_str!("fixtures/bulk_world.sql");

/// Sample size that keeps every violating row of the fixture worlds, so "the sub-rule was
/// reported" never depends on where the sample is cut.
const SAMPLE_ALL: usize = 1_000_000;

/// The checks that are `n/a` as a whole before STEP_2 / STEP_6 (README "Whole-check n/a").
const NA_CHECKS_BEFORE_HASHES: [&str; 2] = ["identity_bijection", "missing_hash"];

/// Sub-rules of the other checks that are `n/a` before STEP_2 (README "Partial n/a"): hash
/// columns, identity tables and the cluster exposure table do not exist yet.
const NA_RULES_BEFORE_HASHES: [(&str, &[&str]); 3] = [
    ("ledger_continuity", &["prev_hash_mismatch"]),
    (
        "cross_account_isolation",
        &[
            "order_risk_state_account_mismatch",
            "risk_event_state_account_mismatch",
            "cluster_exposure_state_missing",
            "cluster_exposure_state_account_mismatch",
        ],
    ),
    (
        "cluster_cap",
        &[
            "cluster_exposure_mismatch",
            "cluster_cap_value_mismatch",
            "cluster_exposure_missing",
        ],
    ),
];

/// Unwrap with the context a failing test needs.
fn ok<T, E: Display>(result: Result<T, E>, what: impl Display) -> T {
    result.unwrap_or_else(|e| panic!("{what}: {e}"))
}

async fn exec(conn: &mut PgConnection, sql: &str) {
    ok(sqlx::raw_sql(sql).execute(conn).await, sql);
}

/// A connection to `db` with the generators' fixture world seeded into its Phase 1A tables.
async fn seeded_fixture(db: &TestDb) -> PgConnection {
    let mut conn = ok(db.connect().await, "connect");
    ok(
        generators::seed_world(&mut conn, &generators::fixture_world()).await,
        "seeding the fixture world",
    );
    conn
}

/// A connection to `db` with the hand-written SQL world seeded.
async fn seeded_hand_world(db: &TestDb) -> PgConnection {
    let mut conn = ok(db.connect().await, "connect");
    exec(&mut conn, &format!("BEGIN;\n{HAND_WORLD_SQL}\n;COMMIT;")).await;
    conn
}

/// Run options with the audit gate at STEP_8, as `harness run` passes them.
fn audit_options() -> RunOptions {
    RunOptions {
        gate: Some(std::sync::Arc::new(AuditGate::new())),
        ..RunOptions::default()
    }
}

async fn phase_1b(conn: &mut PgConnection) {
    ok(apply_phase_1b(conn).await, "Phase 1B");
}

/// Run Phase 1C steps one by one (`run_step`, default options) from STEP_0 through `last`.
async fn steps_through(conn: &mut PgConnection, last: StepName) {
    for step in StepName::ALL {
        ok(run_step(conn, step, &audit_options()).await, step);
        if step == last {
            return;
        }
    }
}

/// Phase 1C to the end with the real validation gate; it must complete.
async fn phase_1c(conn: &mut PgConnection) {
    let outcome = run_phase_1c(conn, &audit_options())
        .await
        .unwrap_or_else(|e| {
            panic!(
                "Phase 1C: {e}\nvalidation: {:#?}",
                e.outcome().and_then(|o| o.validation.clone())
            )
        });
    assert!(outcome.completed(), "{outcome:#?}");
}

/// The fixture world migrated to the end (lock released): a valid post-cutover database.
async fn migrated_fixture(db: &TestDb) -> PgConnection {
    let mut conn = seeded_fixture(db).await;
    phase_1b(&mut conn).await;
    phase_1c(&mut conn).await;
    conn
}

async fn checks(conn: &mut PgConnection, set: TableSet) -> Vec<CheckOutcome> {
    ok(
        run_checks(conn, set, 10).await,
        format!("run_checks on {set}"),
    )
}

async fn structure(conn: &mut PgConnection) -> Structure {
    ok(confirm_structure(conn).await, "confirm_structure")
}

/// One line per check: `name: count` or `name: n/a`, with the sampled rules of a violation.
fn summary(outcomes: &[CheckOutcome]) -> String {
    outcomes
        .iter()
        .map(|o| match o.violations {
            Some(0) => format!("  {}: 0", o.check),
            Some(n) => format!("  {}: {n} {:?}", o.check, o.sampled_rules()),
            None => format!("  {}: n/a", o.check),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The documented `n/a` of a table set: whole checks, and sub-rules of the other checks.
#[derive(Debug, Clone, Copy)]
enum Applicability {
    /// Before STEP_2 (Phase 1A world; `*_v2` right after Phase 1B): no identity tables, no
    /// hashes, no cluster exposure table.
    BeforeIdentityAndHashes,
    /// After STEP_6 and after the cutover: every sub-rule applies.
    Everything,
}

impl Applicability {
    fn na_checks(self) -> &'static [&'static str] {
        match self {
            Applicability::BeforeIdentityAndHashes => &NA_CHECKS_BEFORE_HASHES,
            Applicability::Everything => &[],
        }
    }

    /// Sub-rules of `check` that must be reported not applicable.
    fn na_rules(self, check: &str) -> Vec<String> {
        if self.na_checks().contains(&check) {
            return check_rules(check).unwrap_or_default();
        }
        match self {
            Applicability::BeforeIdentityAndHashes => NA_RULES_BEFORE_HASHES
                .iter()
                .find(|(c, _)| *c == check)
                .map(|(_, rules)| rules.iter().map(|r| r.to_string()).collect())
                .unwrap_or_default(),
            Applicability::Everything => Vec::new(),
        }
    }
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// A clean database: the twelve checks in report order, each 0 or exactly the documented n/a
/// (`None`, never `Some(0)`), with the documented partial n/a sub-rules and no others.
fn assert_clean(outcomes: &[CheckOutcome], expected: Applicability, what: &str) {
    let names: Vec<&str> = outcomes.iter().map(|o| o.check).collect();
    assert_eq!(
        names, CHECK_NAMES,
        "{what}: the twelve checks, in report order"
    );
    for o in outcomes {
        let declared = check_rules(o.check).unwrap_or_default();
        let na = sorted(expected.na_rules(o.check));
        let applicable = sorted(declared.into_iter().filter(|r| !na.contains(r)).collect());
        if expected.na_checks().contains(&o.check) {
            assert_eq!(
                o.violations,
                None,
                "{what}: {} must be n/a\n{}",
                o.check,
                summary(outcomes)
            );
            assert!(
                o.sample.is_empty() && o.rules_checked.is_empty(),
                "{what}: {o:?}"
            );
        } else {
            assert_eq!(
                o.violations,
                Some(0),
                "{what}: {} must be 0\n{}",
                o.check,
                summary(outcomes)
            );
            assert_eq!(
                sorted(o.rules_checked.clone()),
                applicable,
                "{what}: {} sub-rules checked",
                o.check
            );
        }
        assert_eq!(
            sorted(o.rules_not_applicable.clone()),
            na,
            "{what}: {} sub-rules n/a",
            o.check
        );
    }
}

// Clean worlds --------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy)]
enum CleanWorld {
    /// `generators::fixture_world()`, seeded through COPY.
    GeneratorFixture,
    /// `invariants/tests/fixtures/world.sql`.
    HandWrittenSql,
}

/// A clean world is 0 / n/a on Phase 1A, on `*_v2` after Phase 1B and after STEP_6, and 0 on all
/// twelve after the cutover, where the structure is confirmed and every check has a plan.
#[rstest]
#[case::generator_fixture(CleanWorld::GeneratorFixture)]
#[case::hand_written_sql(CleanWorld::HandWrittenSql)]
#[tokio::test]
async fn clean_world_is_zero_or_documented_na_on_every_table_set(
    #[future(awt)] db: TestDb,
    #[case] world: CleanWorld,
) {
    let mut conn = match world {
        CleanWorld::GeneratorFixture => seeded_fixture(&db).await,
        CleanWorld::HandWrittenSql => seeded_hand_world(&db).await,
    };
    let t = Instant::now();
    let outcomes = checks(&mut conn, TableSet::Phase1a).await;
    eprintln!(
        "{world:?}, Phase 1A ({:?}):\n{}",
        t.elapsed(),
        summary(&outcomes)
    );
    assert_clean(
        &outcomes,
        Applicability::BeforeIdentityAndHashes,
        "Phase 1A",
    );
    let s = structure(&mut conn).await;
    assert_eq!(s.fk_to_hypertable_count, 0);
    assert!(
        s.lock.is_none(),
        "no migration_lock before Phase 1B: {:?}",
        s.lock
    );
    assert!(
        s.identity.iter().all(|i| i.parity == Parity::NotApplicable),
        "{:?}",
        s.identity
    );

    phase_1b(&mut conn).await;
    let outcomes = checks(&mut conn, TableSet::V2BeforeCutover).await;
    eprintln!("{world:?}, *_v2 after Phase 1B:\n{}", summary(&outcomes));
    assert_clean(
        &outcomes,
        Applicability::BeforeIdentityAndHashes,
        "*_v2 after Phase 1B",
    );

    steps_through(&mut conn, StepName::Step6M9HashAdditions).await;
    let outcomes = checks(&mut conn, TableSet::V2BeforeCutover).await;
    eprintln!("{world:?}, *_v2 after STEP_6:\n{}", summary(&outcomes));
    assert_clean(&outcomes, Applicability::Everything, "*_v2 after STEP_6");
    // The Phase 1A tables stay valid under dual write; they never get hashes.
    let outcomes = checks(&mut conn, TableSet::Phase1a).await;
    for o in &outcomes {
        let expected = if o.check == "missing_hash" {
            None
        } else {
            Some(0)
        };
        assert_eq!(
            o.violations,
            expected,
            "Phase 1A tables during the lock: {}\n{}",
            o.check,
            summary(&outcomes)
        );
    }

    phase_1c(&mut conn).await;
    let t = Instant::now();
    let outcomes = checks(&mut conn, TableSet::CanonicalAfterCutover).await;
    eprintln!(
        "{world:?}, after cutover ({:?}):\n{}",
        t.elapsed(),
        summary(&outcomes)
    );
    assert_clean(&outcomes, Applicability::Everything, "after cutover");
    // the *_v2 names are gone: the pre-cutover set cannot be checked any more
    let err = run_checks(&mut conn, TableSet::V2BeforeCutover, 10).await;
    assert!(
        matches!(&err, Err(InvariantsError::TableSetMissing { missing, .. }) if missing.len() == 10),
        "{err:?}"
    );

    let s = structure(&mut conn).await;
    assert!(s.cutover.complete, "{:?}", s.cutover);
    assert_eq!(s.cutover.archives_present.len(), 10);
    assert!(s.triggers_ok, "{:?}", s.triggers);
    assert_eq!(s.triggers.len(), 13);
    assert_eq!(s.fk_to_hypertable_count, 0, "{:?}", s.fk_to_hypertable);
    assert!(
        s.identity.iter().all(|i| i.parity == Parity::Pass),
        "{:?}",
        s.identity
    );
    let lock = s
        .lock
        .unwrap_or_else(|| panic!("no lock row after the migration"));
    assert!(!lock.locked && lock.unlocked_at_utc.is_some(), "{lock:?}");

    for name in CHECK_NAMES {
        let plan = ok(
            explain_check(&mut conn, name, TableSet::CanonicalAfterCutover, false).await,
            format!("explain {name}"),
        );
        assert!(plan.contains("Scan"), "{name}: {plan}");
    }
    assert!(!conn.is_in_transaction());
}

/// An empty Phase 1A database is clean; a missing table set is an error, not zeros;
/// `run_checks` owns its READ ONLY transaction while `run_checks_within` joins the caller's.
#[rstest]
#[tokio::test]
async fn empty_database_missing_table_set_and_transaction_ownership(#[future(awt)] db: TestDb) {
    let mut conn = ok(db.connect().await, "connect");
    let outcomes = checks(&mut conn, TableSet::Phase1a).await;
    assert_clean(
        &outcomes,
        Applicability::BeforeIdentityAndHashes,
        "empty Phase 1A",
    );

    let err = run_checks(&mut conn, TableSet::V2BeforeCutover, 10).await;
    assert!(
        matches!(&err, Err(InvariantsError::TableSetMissing { missing, .. }) if missing.len() == 10),
        "{err:?}"
    );
    assert!(!conn.is_in_transaction());

    let mut tx = ok(conn.begin().await, "BEGIN");
    let err = run_checks(&mut tx, TableSet::Phase1a, 10).await;
    assert!(
        matches!(err, Err(InvariantsError::Session { .. })),
        "{err:?}"
    );
    let err = run_check(&mut tx, "fee_formula", TableSet::Phase1a, 10).await;
    assert!(
        matches!(err, Err(InvariantsError::Session { .. })),
        "{err:?}"
    );
    let err = confirm_structure(&mut tx).await;
    assert!(
        matches!(err, Err(InvariantsError::Structure { .. })),
        "{err:?}"
    );
    let outcomes = ok(
        run_checks_within(&mut tx, TableSet::Phase1a, 10).await,
        "within",
    );
    assert_clean(
        &outcomes,
        Applicability::BeforeIdentityAndHashes,
        "inside a caller's transaction",
    );
    ok(tx.rollback().await, "ROLLBACK");
    // the sweep's own miss detection: a "corruption" that changes nothing is a miss
    let noop = Corruption {
        check: "fee_formula",
        rule: "fee_mismatch",
        variant: None,
        target: Target::Check,
        what: "changes nothing",
        drop_checks: Vec::new(),
        drop_uniques: Vec::new(),
        precondition: None,
        key: None,
        sets: Vec::new(),
        sql: "SELECT 1;",
        file: "test".into(),
    };
    let miss = apply_and_check(&mut conn, &noop, TableSet::Phase1a).await;
    assert!(
        miss.as_deref()
            .is_some_and(|m| m.contains("not reported; fee_formula = 0")),
        "{miss:?}"
    );
    let err = run_check(&mut conn, "no_such_check", TableSet::Phase1a, 10).await;
    assert!(
        matches!(err, Err(InvariantsError::UnknownCheck { .. })),
        "{err:?}"
    );
}

/// A check whose query the server refuses names itself, its file, the failing line and the
/// SQL it ran (here: `fee` made text, so the fee arithmetic no longer type-checks).
#[rstest]
#[tokio::test]
async fn a_failing_check_query_names_the_check_its_file_and_the_sql(#[future(awt)] db: TestDb) {
    let mut conn = ok(db.connect().await, "connect");
    exec(
        &mut conn,
        "ALTER TABLE order_fill ALTER COLUMN fee TYPE text",
    )
    .await;
    let err = match run_check(&mut conn, "fee_formula", TableSet::Phase1a, 10).await {
        Ok(o) => panic!("the check ran on a text fee: {o:?}"),
        Err(e) => e,
    };
    assert!(
        matches!(
            err,
            InvariantsError::Query {
                check: "fee_formula",
                ..
            }
        ),
        "{err:?}"
    );
    let text = err.to_string();
    for needle in [
        "check fee_formula on ",
        "file: invariants/sql/fee_formula.sql",
        "SQL it ran:",
        "FROM order_fill",
        "; at line ",
    ] {
        assert!(text.contains(needle), "{needle:?} in {text}");
    }
    // The line named is the SQL's own line at the server's position: the fee arithmetic.
    let (head, sql) = text
        .split_once("SQL it ran:\n")
        .unwrap_or_else(|| panic!("{text}"));
    let at = head
        .split("; at line ")
        .nth(1)
        .and_then(|r| r.split_once(" of the SQL below: "))
        .unwrap_or_else(|| panic!("{head}"));
    let line: usize = at.0.parse().unwrap_or_else(|e| panic!("{e}: {head}"));
    let shown = at.1.lines().next().unwrap_or_default();
    assert_eq!(
        sql.lines().nth(line - 1).map(str::trim),
        Some(shown),
        "{text}"
    );
    assert!(
        shown.contains("fee"),
        "the failing line is the fee's: {shown}"
    );
}

// Every corruption ----------------------------------------------------------------------------

/// Where a corruption sweep runs: which database state, and which table set it checks.
#[derive(Debug, Clone, Copy)]
enum Stage {
    /// The fixture world seeded: Phase 1A canonical tables.
    Phase1a,
    /// Phase 1B applied: `*_v2` before any Phase 1C step.
    V2AfterPhase1b,
    /// Phase 1C through STEP_6 (M9 hashes): `*_v2` just before the cutover.
    V2AfterStep6,
    /// The whole migration: canonical tables after the cutover.
    AfterCutover,
}

impl Stage {
    fn set(self) -> TableSet {
        match self {
            Stage::Phase1a => TableSet::Phase1a,
            Stage::V2AfterPhase1b | Stage::V2AfterStep6 => TableSet::V2BeforeCutover,
            Stage::AfterCutover => TableSet::CanonicalAfterCutover,
        }
    }

    fn applicability(self) -> Applicability {
        match self {
            Stage::Phase1a | Stage::V2AfterPhase1b => Applicability::BeforeIdentityAndHashes,
            Stage::V2AfterStep6 | Stage::AfterCutover => Applicability::Everything,
        }
    }

    async fn prepare(self, db: &TestDb) -> PgConnection {
        let mut conn = seeded_fixture(db).await;
        match self {
            Stage::Phase1a => {}
            Stage::V2AfterPhase1b => phase_1b(&mut conn).await,
            Stage::V2AfterStep6 => {
                phase_1b(&mut conn).await;
                steps_through(&mut conn, StepName::Step6M9HashAdditions).await;
            }
            Stage::AfterCutover => {
                phase_1b(&mut conn).await;
                phase_1c(&mut conn).await;
            }
        }
        conn
    }
}

/// Corruptions whose precondition the generators' fixture world does not meet, per stage.
/// Empty: the fixture world has every shape a corruption needs.
const EXPECTED_PRECONDITION_SKIPS: [&str; 0] = [];

/// What one sweep did.
#[derive(Debug, Default)]
struct Sweep {
    /// `check/rule` of every corruption applied and checked.
    ran: Vec<String>,
    /// `check/rule` whose sub-rule cannot apply to this table set (`Corruption::applies`).
    not_applicable: Vec<String>,
    /// `check/rule` whose precondition is false on this world.
    precondition_false: Vec<String>,
    /// One line per miss, saying what was expected and what the check reported.
    failures: Vec<String>,
}

/// The check corruptions of the catalogue.
fn corruptions() -> Vec<&'static Corruption> {
    ok(
        invariants::corruptions::check_corruptions(),
        "the corruption catalogue",
    )
}

fn label(c: &Corruption) -> String {
    c.label()
}

/// Apply `c` inside a transaction on `conn`, run the twelve checks in it, roll back.
/// Returns the miss, if the check did not report the sub-rule (or, when the corruption
/// declares the key of the row it breaks, did not name that key in a sampled row of the rule).
async fn apply_and_check(conn: &mut PgConnection, c: &Corruption, set: TableSet) -> Option<String> {
    let head = format!("{set}: {} ({})", label(c), c.what);
    let script = match c.sql_for(set) {
        Ok(s) => s,
        Err(e) => return Some(format!("{head}: corruption does not render: {e}")),
    };
    let mut tx = ok(conn.begin().await, "BEGIN");
    let key = match ok(c.key_for(set), &head) {
        None => None,
        Some(q) => match sqlx::query_scalar::<_, Option<serde_json::Value>>(&q)
            .fetch_one(&mut *tx)
            .await
        {
            Ok(k) => k,
            Err(e) => {
                ok(tx.rollback().await, "ROLLBACK");
                return Some(format!("{head}: key query failed: {e}"));
            }
        },
    };
    let miss = match sqlx::raw_sql(&script).execute(&mut *tx).await {
        Err(e) => Some(format!("{head}: corruption SQL failed: {e}")),
        Ok(_) => match run_checks_within(&mut tx, set, SAMPLE_ALL).await {
            Err(e) => Some(format!(
                "{head}: checks failed to run on the corrupted database: {e}"
            )),
            Ok(outcomes) => {
                let target = outcomes.iter().find(|o| o.check == c.check);
                match target {
                    None => Some(format!("{head}: no outcome for {}", c.check)),
                    Some(o)
                        if o.violations.unwrap_or(0) >= 1 && o.sampled_rule_count(c.rule) >= 1 =>
                    {
                        let named = key.as_ref().is_none_or(|k| {
                            o.sample.iter().any(|row| {
                                row.get("rule").and_then(|r| r.as_str()) == Some(c.rule)
                                    && json_contains(row, k)
                            })
                        });
                        (!named).then(|| {
                            format!(
                                "{head}: reported, but no sampled {} row names the corrupted key {}: {:?}",
                                c.rule,
                                key.clone().unwrap_or_default(),
                                o.sample
                                    .iter()
                                    .filter(|r| r.get("rule").and_then(|x| x.as_str()) == Some(c.rule))
                                    .collect::<Vec<_>>()
                            )
                        })
                    }
                    Some(o) => Some(format!(
                        "{head}: not reported; {} = {} with sub-rules {:?}; other checks:\n{}",
                        c.check,
                        o.violations.map_or("n/a".to_string(), |n| n.to_string()),
                        o.sampled_rules(),
                        summary(&outcomes)
                    )),
                }
            }
        },
    };
    ok(tx.rollback().await, "ROLLBACK of the corruption");
    miss
}

async fn sweep(conn: &mut PgConnection, set: TableSet) -> Sweep {
    let catalog = ok(load_catalog(conn).await, "load_catalog");
    let mut out = Sweep::default();
    for c in corruptions() {
        if !ok(c.applies(set, &catalog), label(c)) {
            out.not_applicable.push(label(c));
            continue;
        }
        let pre = ok(c.precondition_for(set), label(c));
        if let Some(pre) = pre {
            let met: Option<bool> = ok(
                sqlx::query_scalar(&pre).fetch_one(&mut *conn).await,
                format!("precondition of {}", label(c)),
            );
            if met != Some(true) {
                out.precondition_false.push(label(c));
                continue;
            }
        }
        out.ran.push(label(c));
        if let Some(miss) = apply_and_check(conn, c, set).await {
            out.failures.push(miss);
        }
    }
    out
}

/// Every corruption is reported by its check under its sub-rule, on every table set where the
/// sub-rule applies; the database reports 0 before and (rolled back) after; the sub-rules that
/// cannot apply are exactly the documented ones.
#[rstest]
#[case::phase_1a(Stage::Phase1a)]
#[case::v2_after_phase_1b(Stage::V2AfterPhase1b)]
#[case::v2_after_step_6(Stage::V2AfterStep6)]
#[case::after_cutover(Stage::AfterCutover)]
#[tokio::test]
async fn every_corruption_is_reported_under_its_sub_rule(
    #[future(awt)] db: TestDb,
    #[case] stage: Stage,
) {
    let set = stage.set();
    let mut conn = stage.prepare(&db).await;
    assert_clean(
        &checks(&mut conn, set).await,
        stage.applicability(),
        "before the corruptions",
    );

    let t = Instant::now();
    let result = sweep(&mut conn, set).await;
    let elapsed = t.elapsed();
    eprintln!(
        "{stage:?}: {} corruptions ran, {} reported, {} missed, {} n/a, {} precondition false, in {elapsed:?}",
        result.ran.len(),
        result.ran.len() - result.failures.len(),
        result.failures.len(),
        result.not_applicable.len(),
        result.precondition_false.len()
    );
    assert!(
        result.failures.is_empty(),
        "{stage:?}: {} of {} corruptions not reported:\n{}",
        result.failures.len(),
        result.ran.len(),
        result.failures.join("\n")
    );
    assert_eq!(
        result.precondition_false, EXPECTED_PRECONDITION_SKIPS,
        "{stage:?}: preconditions the fixture world does not meet"
    );

    // n/a corruptions are exactly those of the documented n/a sub-rules
    let expected_na: BTreeSet<String> = corruptions()
        .into_iter()
        .filter(|c| {
            stage
                .applicability()
                .na_rules(c.check)
                .iter()
                .any(|r| r == c.rule)
        })
        .map(label)
        .collect();
    let na: BTreeSet<String> = result.not_applicable.iter().cloned().collect();
    assert_eq!(
        na, expected_na,
        "{stage:?}: corruptions whose sub-rule is n/a"
    );
    assert_eq!(
        result.ran.len() + result.not_applicable.len() + result.precondition_false.len(),
        corruptions().len()
    );

    // every rollback really rolled back
    assert_clean(
        &checks(&mut conn, set).await,
        stage.applicability(),
        "after the corruptions",
    );
}

// Every confirmation corruption ------------------------------------------------------------------

/// Apply a confirmation corruption inside a transaction, audit in it (`harness validate`'s
/// rules), roll back. Returns the miss: the confirmation still holds, its detail lacks what the
/// file expects, or it does not name the declared key.
async fn apply_and_audit(conn: &mut PgConnection, c: &Corruption, set: TableSet) -> Option<String> {
    let Target::Confirmation { expect } = c.target else {
        return Some(format!("{} is not a confirmation corruption", label(c)));
    };
    let head = format!("{set}: {} ({})", label(c), c.what);
    let script = ok(c.sql_for(set), &head);
    let mut tx = ok(conn.begin().await, "BEGIN");
    let key: Option<serde_json::Value> = match ok(c.key_for(set), &head) {
        None => None,
        Some(q) => ok(sqlx::query_scalar(&q).fetch_one(&mut *tx).await, &head),
    };
    let miss = match sqlx::raw_sql(&script).execute(&mut *tx).await {
        Err(e) => Some(format!("{head}: corruption SQL failed: {e}")),
        Ok(_) => match invariants::audit_within(&mut tx, AuditPurpose::Validate, 10).await {
            Err(e) => Some(format!("{head}: the audit failed to run: {e}")),
            Ok(audit) => {
                let found = audit.confirmations.iter().find(|x| x.name == c.check);
                match found {
                    None => Some(format!("{head}: no confirmation {}", c.check)),
                    Some(x) if x.passed => {
                        Some(format!("{head}: {} still holds: {}", c.check, x.detail))
                    }
                    Some(x) if !x.detail.contains(expect) => Some(format!(
                        "{head}: {} fails, but its detail lacks `{expect}`: {}",
                        c.check, x.detail
                    )),
                    Some(x) => key.filter(|k| !x.detail.contains(&k.to_string())).map(|k| {
                        format!(
                            "{head}: {} does not name the key {k}: {}",
                            c.check, x.detail
                        )
                    }),
                }
            }
        },
    };
    ok(tx.rollback().await, "ROLLBACK of the corruption");
    miss
}

/// Every confirmation corruption of the catalogue (archive parity, the lock, the triggers, the
/// migration's own state, the cutover, FK legality, identity parity) makes its confirmation
/// fail with the detail it expects and the key it names, on every table set it applies to,
/// while the clean database holds that confirmation before and after.
#[rstest]
#[case::v2_after_step_6(Stage::V2AfterStep6)]
#[case::after_cutover(Stage::AfterCutover)]
#[tokio::test]
async fn every_confirmation_corruption_fails_its_confirmation(
    #[future(awt)] db: TestDb,
    #[case] stage: Stage,
) {
    let set = stage.set();
    let mut conn = stage.prepare(&db).await;
    let clean = ok(
        invariants::audit(&mut conn, &mut [], AuditPurpose::Validate, 10).await,
        "clean audit",
    );
    assert_eq!(clean.table_set, set);
    let catalogue = ok(
        invariants::corruptions::confirmation_corruptions(),
        "the corruption catalogue",
    );
    let mut ran = Vec::new();
    let mut failures = Vec::new();
    for c in catalogue.iter().filter(|c| c.sets.contains(&set)) {
        let holds = clean
            .confirmations
            .iter()
            .find(|x| x.name == c.check)
            .is_some_and(|x| x.passed);
        assert!(
            holds,
            "{}: {} must hold on the clean {set} database: {:?}",
            label(c),
            c.check,
            clean.confirmations
        );
        if let Some(pre) = ok(c.precondition_for(set), label(c)) {
            let met: Option<bool> = ok(
                sqlx::query_scalar(&pre).fetch_one(&mut conn).await,
                label(c),
            );
            assert_eq!(
                met,
                Some(true),
                "{}: the fixture world meets every precondition",
                label(c)
            );
        }
        ran.push(label(c));
        if let Some(miss) = apply_and_audit(&mut conn, c, set).await {
            failures.push(miss);
        }
    }
    eprintln!(
        "{stage:?}: {} confirmation corruptions ran: {ran:?}",
        ran.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let min = match stage {
        Stage::AfterCutover => 15,
        _ => 6,
    };
    assert!(ran.len() >= min, "{stage:?}: only {} ran", ran.len());
    let after = ok(
        invariants::audit(&mut conn, &mut [], AuditPurpose::Validate, 10).await,
        "audit after the rollbacks",
    );
    assert_eq!(
        after.confirmations, clean.confirmations,
        "every rollback rolled back"
    );
}

// Archive parity: the bisection -------------------------------------------------------------------

/// With tiny segments (two in the first pass, leaves of four rows) parity splits its differing
/// segments round after round down to single keys, and names exactly the keys one corruption of
/// each kind touched, with both rows; with the default segments (one pass, then one leaf
/// comparison) it reports the same. One archived prediction deleted (`extra` in the canonical
/// table: inside the archived key range), one changed, one archived that the canonical table
/// lacks (`missing`), and one archived ledger entry changed (the per-account bisection).
#[rstest]
#[tokio::test]
async fn parity_bisects_down_to_the_differing_keys(#[future(awt)] db: TestDb) {
    use invariants::parity::{
        parity_table, table_parity_tuned, DiffKind, ParityDirection, ParityStatus, ParityTuning,
    };
    let mut conn = migrated_fixture(&db).await;
    let (lo, n): (i64, i64) = ok(
        sqlx::query_as("SELECT min(prediction_id), count(*) FROM model_prediction_phase1a_archive")
            .fetch_one(&mut conn)
            .await,
        "prediction ids",
    );
    assert!(
        n > 1000,
        "the fixture has {n} predictions: too few to bisect"
    );
    let (deleted, changed, added) = (lo + 700, lo + 1500, lo + 10_000_000);
    let (account, seq): (i64, i64) = ok(
        sqlx::query_as(
            "SELECT account_id, max(ledger_seq) - 3 FROM cash_ledger_phase1a_archive
              GROUP BY account_id ORDER BY account_id DESC LIMIT 1",
        )
        .fetch_one(&mut conn)
        .await,
        "a ledger entry",
    );
    let mut tx = ok(conn.begin().await, "BEGIN");
    exec(
        &mut tx,
        &format!(
            "SET session_replication_role = replica;
             -- Without STEP_7B's record of the archives, parity falls back to the key rule, the
             -- one that names an archive's lost row (archive_seal_* tests cover the record).
             DELETE FROM migration_cutover_manifest;
             DELETE FROM model_prediction_phase1a_archive WHERE prediction_id = {deleted};
             UPDATE model_prediction_phase1a_archive SET score = score + 1 WHERE prediction_id = {changed};
             INSERT INTO model_prediction_phase1a_archive
             SELECT (jsonb_populate_record(NULL::model_prediction_phase1a_archive,
                       to_jsonb(p) || jsonb_build_object('prediction_id', {added}))).*
               FROM model_prediction_phase1a_archive p WHERE p.prediction_id = {lo};
             UPDATE cash_ledger_phase1a_archive SET balance_after = balance_after + 1
              WHERE account_id = {account} AND ledger_seq = {seq};
             RESET session_replication_role;"
        ),
    )
    .await;
    let catalog = ok(load_catalog(&mut tx).await, "catalog");
    let tiny = ParityTuning {
        first_pass_segments: 2,
        leaf_rows: 4,
        second_key_shift: 6,
    };
    let spec = |t| parity_table(t).unwrap_or_else(|| panic!("no parity table {t}"));
    let dir = ParityDirection::ArchiveToCanonical;
    let mut by_tuning = Vec::new();
    for tuning in [ParityTuning::default(), tiny] {
        let p = ok(
            table_parity_tuned(&mut tx, spec("model_prediction"), dir, &catalog, 10, tuning).await,
            "model_prediction parity",
        );
        assert_eq!(p.status, ParityStatus::Fail);
        assert_eq!((p.missing, p.changed, p.extra), (1, 1, 1), "{p:#?}");
        let keys: Vec<(DiffKind, serde_json::Value)> = p
            .first_differences
            .iter()
            .map(|d| (d.kind, d.key.clone()))
            .collect();
        assert_eq!(
            keys,
            [
                (
                    DiffKind::Extra,
                    serde_json::json!({ "prediction_id": deleted })
                ),
                (
                    DiffKind::Changed,
                    serde_json::json!({ "prediction_id": changed })
                ),
                (
                    DiffKind::Missing,
                    serde_json::json!({ "prediction_id": added })
                ),
            ],
            "{p:#?}"
        );
        let c = &p.first_differences[1];
        let score = |row: &Option<serde_json::Value>| {
            row.as_ref()
                .and_then(|r| r.get("score").cloned())
                .unwrap_or_default()
        };
        assert_ne!(
            score(&c.source_row),
            score(&c.target_row),
            "both versions of the row: {c:?}"
        );
        assert!(
            p.first_differences[0].source_row.is_none()
                && p.first_differences[2].target_row.is_none()
        );

        let l = ok(
            table_parity_tuned(&mut tx, spec("cash_ledger"), dir, &catalog, 10, tuning).await,
            "cash_ledger parity",
        );
        assert_eq!((l.missing, l.changed, l.extra), (0, 1, 0), "{l:#?}");
        assert_eq!(
            l.first_differences[0].key,
            serde_json::json!({ "account_id": account, "ledger_seq": seq })
        );
        by_tuning.push((p.rounds, l.rounds));
    }
    // Default segments: the ledger compares its one differing segment at once; the predictions'
    // key span (stretched by the id 10M above the rest) puts them all in one first-pass segment,
    // which is split until small. Tiny segments bisect both, further.
    assert_eq!(by_tuning[0].1, 0, "{by_tuning:?}");
    assert!(
        by_tuning[1].0 > by_tuning[0].0 && by_tuning[1].1 >= 1,
        "tiny segments must bisect further: rounds {by_tuning:?}"
    );
    ok(tx.rollback().await, "ROLLBACK");
}

/// With STEP_7B's record of the sealed archives, a canonical row written after the cutover
/// passes wherever its key falls (concurrent writers commit keys out of order: a row below the
/// archive's largest key may still be a later write), while any change to an archive itself
/// (a row deleted or edited) breaks the seal and fails parity with both counts. Without the
/// record, the key rule applies and the same low row is `extra`.
#[rstest]
#[tokio::test]
async fn archive_seal_allows_late_writes_anywhere_and_catches_any_archive_change(
    #[future(awt)] db: TestDb,
) {
    use invariants::parity::{parity_table, table_parity, ParityDirection, ParityStatus};
    let mut conn = migrated_fixture(&db).await;
    let mut tx = ok(conn.begin().await, "BEGIN");
    let spec = parity_table("trade_signal").unwrap_or_else(|| panic!("no parity table"));
    let dir = ParityDirection::ArchiveToCanonical;
    let (lo, hi): (i64, i64) = ok(
        sqlx::query_as("SELECT min(signal_id), max(signal_id) FROM trade_signal_phase1a_archive")
            .fetch_one(&mut *tx)
            .await,
        "archived signal ids",
    );
    let late = (lo + hi) / 2;
    // As if signal `late` had been committed just after the cutover by a slower writer: the
    // archive (and its record) never held it, the canonical table does, below the archive's max.
    exec(
        &mut tx,
        &format!(
            "SET LOCAL session_replication_role = replica;
             DELETE FROM trade_signal_phase1a_archive WHERE signal_id = {late};
             UPDATE migration_cutover_manifest m
                SET archived_rows = x.n, archived_hash_sum = x.s
               FROM (SELECT count(*) AS n, coalesce(sum(hash_record_extended(a.*, 0)::numeric), 0) AS s
                       FROM trade_signal_phase1a_archive a) x
              WHERE m.table_name = 'trade_signal';"
        ),
    )
    .await;
    let catalog = ok(load_catalog(&mut tx).await, "catalog");
    let p = ok(
        table_parity(&mut tx, spec, dir, &catalog, 5).await,
        "parity",
    );
    assert_eq!(p.status, ParityStatus::Pass, "{p:#?}");
    assert_eq!(
        (p.missing, p.changed, p.extra, p.written_after),
        (0, 0, 0, 1),
        "{p:#?}"
    );
    assert!(p.sealed.as_ref().is_some_and(|s| s.holds()), "{p:#?}");

    // An archived row deleted afterwards: the archive no longer matches its record, and the key
    // rule names the suspects (canonical-only rows inside the archived range: both).
    exec(
        &mut tx,
        &format!("DELETE FROM trade_signal_phase1a_archive WHERE signal_id = {lo}"),
    )
    .await;
    let p = ok(
        table_parity(&mut tx, spec, dir, &catalog, 5).await,
        "parity",
    );
    assert_eq!(p.status, ParityStatus::Fail, "{p:#?}");
    let seal = p
        .sealed
        .clone()
        .unwrap_or_else(|| panic!("no seal: {p:#?}"));
    assert_eq!(seal.archive_rows + 1, seal.recorded_rows, "{seal:?}");
    assert_eq!((p.extra, p.written_after), (2, 0), "{p:#?}");

    // An archived row edited: `changed`, and the seal is broken by the hash sum alone.
    exec(
        &mut tx,
        &format!(
            "INSERT INTO trade_signal_phase1a_archive
             SELECT (jsonb_populate_record(NULL::trade_signal_phase1a_archive, to_jsonb(s))).*
               FROM trade_signal s WHERE signal_id = {lo};
             UPDATE trade_signal_phase1a_archive SET target_weight = target_weight + 1 WHERE signal_id = {hi};"
        ),
    )
    .await;
    let p = ok(
        table_parity(&mut tx, spec, dir, &catalog, 5).await,
        "parity",
    );
    assert_eq!((p.status, p.changed), (ParityStatus::Fail, 1), "{p:#?}");
    assert!(
        p.sealed
            .as_ref()
            .is_some_and(|s| !s.holds() && s.archive_rows == s.recorded_rows),
        "{p:#?}"
    );

    // Without the record the key rule applies: the late row inside the archived range is extra.
    exec(
        &mut tx,
        &format!(
            "UPDATE trade_signal_phase1a_archive SET target_weight = target_weight - 1 WHERE signal_id = {hi};
             DELETE FROM migration_cutover_manifest WHERE table_name = 'trade_signal';"
        ),
    )
    .await;
    let p = ok(
        table_parity(&mut tx, spec, dir, &catalog, 5).await,
        "parity",
    );
    assert!(p.sealed.is_none());
    assert_eq!((p.status, p.extra), (ParityStatus::Fail, 1), "{p:#?}");
    ok(tx.rollback().await, "ROLLBACK");
}

// Structural confirmations --------------------------------------------------------------------

fn broken_triggers(s: &Structure) -> Vec<(&str, bool, Option<&str>)> {
    s.triggers
        .iter()
        .filter(|t| !(t.present && t.enabled))
        .map(|t: &TriggerStatus| (t.trigger.as_str(), t.present, t.tgenabled.as_deref()))
        .collect()
}

/// A disabled, a dropped and a replica-only trigger are each reported as not present/enabled.
#[rstest]
#[tokio::test]
async fn disabled_dropped_and_replica_only_triggers_are_reported(#[future(awt)] db: TestDb) {
    let mut conn = migrated_fixture(&db).await;
    let s = structure(&mut conn).await;
    assert!(
        s.triggers_ok && broken_triggers(&s).is_empty(),
        "{:?}",
        s.triggers
    );

    exec(
        &mut conn,
        "ALTER TABLE order_fill DISABLE TRIGGER trg_order_fill_append_only",
    )
    .await;
    let s = structure(&mut conn).await;
    assert!(!s.triggers_ok);
    assert_eq!(
        broken_triggers(&s),
        [("trg_order_fill_append_only", true, Some("D"))]
    );

    exec(
        &mut conn,
        "DROP TRIGGER ctrg_cluster_exposure_parent_risk_hash ON cluster_exposure_hourly_state",
    )
    .await;
    exec(
        &mut conn,
        "ALTER TABLE risk_event ENABLE REPLICA TRIGGER trg_risk_event_append_only",
    )
    .await;
    let s = structure(&mut conn).await;
    assert!(!s.triggers_ok);
    assert_eq!(
        broken_triggers(&s),
        [
            ("trg_order_fill_append_only", true, Some("D")),
            ("trg_risk_event_append_only", true, Some("R")),
            ("ctrg_cluster_exposure_parent_risk_hash", false, None),
        ]
    );

    // re-enabled, it counts again
    exec(
        &mut conn,
        "ALTER TABLE order_fill ENABLE TRIGGER trg_order_fill_append_only",
    )
    .await;
    let s = structure(&mut conn).await;
    assert_eq!(broken_triggers(&s).len(), 2, "{:?}", s.triggers);
}

/// A `*_v2` table re-created after the cutover shows in `v2_remaining` and the cutover is no
/// longer complete; the archives are still all there.
#[rstest]
#[tokio::test]
async fn v2_table_recreated_after_cutover_is_reported(#[future(awt)] db: TestDb) {
    let mut conn = migrated_fixture(&db).await;
    assert!(structure(&mut conn).await.cutover.complete);
    exec(
        &mut conn,
        "CREATE TABLE order_fill_v2 (LIKE order_fill INCLUDING ALL)",
    )
    .await;
    let s = structure(&mut conn).await;
    assert_eq!(s.cutover.v2_remaining, ["order_fill_v2"]);
    assert!(!s.cutover.complete);
    assert_eq!(s.cutover.archives_present.len(), 10);
    assert!(s.cutover.archives_missing.is_empty());

    exec(
        &mut conn,
        "ALTER TABLE cash_ledger_phase1a_archive RENAME TO cash_ledger_old",
    )
    .await;
    let s = structure(&mut conn).await;
    assert_eq!(s.cutover.archives_missing, ["cash_ledger_phase1a_archive"]);
    assert_eq!(s.cutover.archives_present.len(), 9);
}

/// A FK to a hypertable, then one to a hypertable's chunk: each listed by FK legality and
/// counted by `no_hypertable_fk` under its sub-rule, the two always agreeing on the count.
#[rstest]
#[tokio::test]
async fn fk_to_a_hypertable_or_its_chunk_is_reported(#[future(awt)] db: TestDb) {
    let mut conn = migrated_fixture(&db).await;
    let after_cutover = TableSet::CanonicalAfterCutover;
    exec(
        &mut conn,
        "ALTER TABLE order_request ADD CONSTRAINT t_fk_risk_state FOREIGN KEY (account_id, risk_hour_ts)
           REFERENCES risk_hourly_state (account_id, hour_ts) NOT VALID",
    )
    .await;
    // TimescaleDB clones a FK to a hypertable onto each of the hypertable's chunks (child
    // constraints with conparentid set): the world has several risk_hourly_state chunks, so
    // counting the clones would give more than one.
    let clones: i64 = ok(
        sqlx::query_scalar(
            "SELECT count(*) FROM pg_constraint
              WHERE conparentid = (SELECT oid FROM pg_constraint WHERE conname = 't_fk_risk_state')",
        )
        .fetch_one(&mut conn)
        .await,
        "clones of the FK",
    );
    assert!(clones >= 1, "the FK has no per-chunk clones to ignore");
    let s = structure(&mut conn).await;
    assert_eq!(
        s.fk_to_hypertable,
        [HypertableFk {
            constraint: "t_fk_risk_state".into(),
            table: "order_request".into(),
            references: "risk_hourly_state".into(),
        }]
    );
    assert_eq!(s.fk_to_hypertable_count, 1);
    let o = ok(
        run_check(&mut conn, "no_hypertable_fk", after_cutover, 10).await,
        "no_hypertable_fk",
    );
    assert_eq!(o.violations, Some(1), "{o:?}");
    assert_eq!(o.sampled_rules(), ["fk_to_hypertable"], "{o:?}");

    exec(
        &mut conn,
        "ALTER TABLE order_request DROP CONSTRAINT t_fk_risk_state",
    )
    .await;
    assert_eq!(structure(&mut conn).await.fk_to_hypertable_count, 0);
    let o = ok(
        run_check(&mut conn, "no_hypertable_fk", after_cutover, 10).await,
        "no_hypertable_fk",
    );
    assert_eq!(o.violations, Some(0), "{o:?}");

    let chunk: String = ok(
        sqlx::query_scalar(
            "SELECT format('%I.%I', chunk_schema, chunk_name) FROM timescaledb_information.chunks
              WHERE hypertable_name = 'portfolio_hourly_state' ORDER BY range_start LIMIT 1",
        )
        .fetch_one(&mut conn)
        .await,
        "a chunk",
    );
    exec(
        &mut conn,
        &format!(
            "ALTER TABLE risk_event ADD CONSTRAINT t_fk_chunk FOREIGN KEY (account_id, hour_ts)
               REFERENCES {chunk} (account_id, hour_ts) NOT VALID"
        ),
    )
    .await;
    let s = structure(&mut conn).await;
    assert_eq!(
        s.fk_to_hypertable,
        [HypertableFk {
            constraint: "t_fk_chunk".into(),
            table: "risk_event".into(),
            references: chunk.clone(),
        }]
    );
    assert_eq!(s.fk_to_hypertable_count, 1);
    let o = ok(
        run_check(&mut conn, "no_hypertable_fk", after_cutover, 10).await,
        "no_hypertable_fk",
    );
    assert_eq!(o.violations, Some(1), "{o:?}");
    assert_eq!(o.sampled_rules(), ["fk_to_chunk"]);
    exec(
        &mut conn,
        "ALTER TABLE risk_event DROP CONSTRAINT t_fk_chunk",
    )
    .await;

    // A FK declared on a hypertable is copied by TimescaleDB onto each of that hypertable's
    // chunks (not as child constraints: conparentid stays 0); the copies are the same FK.
    let copies = format!(
        "ALTER TABLE risk_hourly_state ADD CONSTRAINT t_fk_hyper_chunk FOREIGN KEY (account_id, hour_ts)
           REFERENCES {chunk} (account_id, hour_ts) NOT VALID"
    );
    exec(&mut conn, &copies).await;
    let per_chunk: i64 = ok(
        sqlx::query_scalar(
            "SELECT count(*) FROM pg_constraint WHERE conname LIKE '%t_fk_hyper_chunk'",
        )
        .fetch_one(&mut conn)
        .await,
        "copies of the FK",
    );
    assert!(per_chunk > 1, "the FK was not copied onto chunks");
    let s = structure(&mut conn).await;
    assert_eq!(
        s.fk_to_hypertable,
        [HypertableFk {
            constraint: "t_fk_hyper_chunk".into(),
            table: "risk_hourly_state".into(),
            references: chunk,
        }]
    );
    let o = ok(
        run_check(&mut conn, "no_hypertable_fk", after_cutover, 10).await,
        "no_hypertable_fk",
    );
    assert_eq!(o.violations, Some(1), "{o:?}");
    assert_eq!(o.sampled_rules(), ["fk_to_chunk"]);
}

// Corruption preconditions found by the mutation matrix ----------------------------------------

/// The tiny generated world a precondition regression case needs.
#[derive(Debug, Clone, Copy)]
enum Tiny {
    /// One account, one instrument, every lot sold in full: no open lot.
    AllLotsClosed,
    /// One account, one instrument, an open lot.
    OpenLot,
    /// One account, one instrument, executed trades.
    OneInstrument,
    /// One account, two instruments, executed trades.
    TwoInstruments,
    /// Two accounts with lots, no executed trade.
    TwoAccountsNoTrade,
    /// Two accounts with lots, executed trades.
    TwoAccountsTrades,
}

impl Tiny {
    fn params(self, hours: u32) -> generators::WorldParams {
        let (accounts, instruments) = match self {
            Tiny::TwoInstruments => (1, 2),
            Tiny::TwoAccountsNoTrade | Tiny::TwoAccountsTrades => (2, 1),
            _ => (1, 1),
        };
        generators::WorldParams {
            accounts,
            instruments,
            hours,
            target_fills: 4,
        }
    }

    fn fits(self, w: &generators::World) -> bool {
        let lot_accounts: BTreeSet<i64> = w.position_lot.iter().map(|l| l.account_id).collect();
        let traded = !w.executed_trade.is_empty();
        match self {
            Tiny::AllLotsClosed => {
                traded && w.position_lot.iter().all(|l| l.remaining_qty.is_zero())
            }
            Tiny::OpenLot => w.position_lot.iter().any(|l| !l.remaining_qty.is_zero()),
            Tiny::OneInstrument => traded && w.instrument.len() == 1,
            Tiny::TwoInstruments => traded && w.instrument.len() == 2,
            Tiny::TwoAccountsNoTrade => !traded && lot_accounts.len() == 2,
            Tiny::TwoAccountsTrades => traded && lot_accounts.len() == 2,
        }
    }
}

/// The first generated world (seeds 0.., 2 hours first, as the property test shrank them to)
/// of the shape `tiny` asks for.
fn tiny_world(tiny: Tiny) -> (u64, generators::World) {
    for hours in [2, 3, 4, 6, 8] {
        for seed in 0..200 {
            if let Ok(g) = generators::generate(seed, &tiny.params(hours)) {
                if tiny.fits(&g.simulation.world) {
                    return (seed, g.simulation.world);
                }
            }
        }
    }
    panic!("no small generated world of shape {tiny:?}");
}

/// A tiny generated world, migrated to the end.
async fn migrated_tiny(db: &TestDb, tiny: Tiny) -> PgConnection {
    let (seed, world) = tiny_world(tiny);
    let mut conn = ok(db.connect().await, "connect");
    ok(
        generators::seed_world(&mut conn, &world).await,
        format!("seeding {tiny:?} (seed {seed})"),
    );
    phase_1b(&mut conn).await;
    phase_1c(&mut conn).await;
    conn
}

/// Each precondition the mutation matrix found undeclared (shrunk to 1 account, 1 instrument,
/// 2 hours) is declared: false on a tiny world without the rows the corruption needs (where
/// the script would corrupt nothing, or write NULL into a NOT NULL column), true on one with
/// them, where the corruption is then caught.
#[rstest]
#[case::lot_consumed_no_open_lot("lot_consumed_mismatch", Tiny::AllLotsClosed, false)]
#[case::lot_consumed_open_lot("lot_consumed_mismatch", Tiny::OpenLot, true)]
#[case::open_lots_no_open_lot("open_lots_vs_fills_mismatch", Tiny::AllLotsClosed, false)]
#[case::open_lots_open_lot("open_lots_vs_fills_mismatch", Tiny::OpenLot, true)]
#[case::lot_instrument_one("lot_instrument_mismatch", Tiny::OneInstrument, false)]
#[case::lot_instrument_two("lot_instrument_mismatch", Tiny::TwoInstruments, true)]
#[case::trade_instrument_one("trade_instrument_mismatch", Tiny::OneInstrument, false)]
#[case::trade_instrument_two("trade_instrument_mismatch", Tiny::TwoInstruments, true)]
#[case::fill_order_instrument_one("fill_order_instrument_mismatch", Tiny::OneInstrument, false)]
#[case::fill_order_instrument_two("fill_order_instrument_mismatch", Tiny::TwoInstruments, true)]
#[case::trade_lot_account_no_trade("trade_lot_account_mismatch", Tiny::TwoAccountsNoTrade, false)]
#[case::trade_lot_account_trades("trade_lot_account_mismatch", Tiny::TwoAccountsTrades, true)]
#[case::trade_fill_account_no_trade("trade_fill_account_mismatch", Tiny::TwoAccountsNoTrade, false)]
#[case::trade_fill_account_trades("trade_fill_account_mismatch", Tiny::TwoAccountsTrades, true)]
#[tokio::test]
async fn declared_precondition_matches_the_world(
    #[future(awt)] db: TestDb,
    #[case] rule: &str,
    #[case] tiny: Tiny,
    #[case] holds: bool,
) {
    let set = TableSet::CanonicalAfterCutover;
    let c = corruptions()
        .into_iter()
        .find(|c| c.rule == rule && c.check != "missing_hash")
        .unwrap_or_else(|| panic!("no corruption {rule}"));
    let mut conn = migrated_tiny(&db, tiny).await;
    let pre = ok(c.precondition_for(set), label(c))
        .unwrap_or_else(|| panic!("{}: no declared precondition", label(c)));
    let met: Option<bool> = ok(
        sqlx::query_scalar(&pre).fetch_one(&mut conn).await,
        format!("precondition of {}", label(c)),
    );
    assert_eq!(met, Some(holds), "{} on {tiny:?}", label(c));
    if holds {
        assert_eq!(apply_and_check(&mut conn, c, set).await, None);
    } else {
        // Why it must be declared: the script corrupts nothing here.
        let script = ok(c.sql_for(set), label(c));
        let mut tx = ok(conn.begin().await, "BEGIN");
        let changed = sqlx::raw_sql(&script)
            .execute(&mut *tx)
            .await
            .map(|r| r.rows_affected());
        ok(tx.rollback().await, "ROLLBACK");
        assert!(
            changed.as_ref().map_or(true, |n| *n == 0),
            "{}: {changed:?} rows changed on {tiny:?}",
            label(c)
        );
    }
}

/// The `cluster_cap` outcome inside the caller's transaction.
async fn cap_rules(tx: &mut PgConnection) -> CheckOutcome {
    let outcomes = ok(
        run_checks_within(tx, TableSet::CanonicalAfterCutover, SAMPLE_ALL).await,
        "checks",
    );
    outcomes
        .into_iter()
        .find(|o| o.check == "cluster_cap")
        .unwrap_or_else(|| panic!("no cluster_cap outcome"))
}

/// `cap_exceeded` breaks the cap whatever the first BUY's size: with its quantity cut to
/// 1e-8 units (where "quantity x 1e6" stayed far below the cap) it is still caught.
#[rstest]
#[case::fixture(None)]
#[case::tiny_world(Some(Tiny::OpenLot))]
#[tokio::test]
async fn cap_exceeded_is_caught_after_a_tiny_buy(
    #[future(awt)] db: TestDb,
    #[case] tiny: Option<Tiny>,
) {
    let set = TableSet::CanonicalAfterCutover;
    let mut conn = match tiny {
        Some(t) => migrated_tiny(&db, t).await,
        None => migrated_fixture(&db).await,
    };
    let c = corruption("cluster_cap", "cap_exceeded");
    assert_eq!(ok(c.precondition_for(set), label(c)), None);
    let mut tx = ok(conn.begin().await, "BEGIN");
    exec(
        &mut tx,
        "SET session_replication_role = replica;
         UPDATE order_request SET quantity = 0.00000001, filled_quantity = least(filled_quantity, 0.00000001)
          WHERE order_id = (SELECT min(order_id) FROM order_request WHERE side = 'BUY');
         RESET session_replication_role;",
    )
    .await;
    let before = cap_rules(&mut tx).await;
    assert_eq!(before.sampled_rule_count("cap_exceeded"), 0, "{before:?}");
    exec(&mut tx, &ok(c.sql_for(set), label(c))).await;
    let after = cap_rules(&mut tx).await;
    assert_eq!(after.sampled_rule_count("cap_exceeded"), 1, "{after:?}");
    ok(tx.rollback().await, "ROLLBACK");
}

// The STEP_8 gate -----------------------------------------------------------------------------

fn corruption(check: &str, rule: &str) -> &'static Corruption {
    corruptions()
        .into_iter()
        .find(|c| c.check == check && c.rule == rule)
        .unwrap_or_else(|| panic!("no corruption {check}/{rule}"))
}

/// A corruption committed after STEP_7B (as a bad backfill would) makes the resumed run's
/// STEP_8 fail with every failing check and its count, the lock held and STEP_9 not run.
#[rstest]
#[case::one_check("walk_forward_contamination", "prediction_in_training_window", false)]
#[case::several_checks("fee_formula", "fee_mismatch", false)]
#[case::one_check_parallel_gate(
    "walk_forward_contamination",
    "prediction_in_training_window",
    true
)]
#[case::several_checks_parallel_gate("fee_formula", "fee_mismatch", true)]
#[tokio::test]
async fn step_8_aborts_under_the_lock_on_a_corruption_before_it(
    #[future(awt)] db: TestDb,
    #[case] check: &str,
    #[case] rule: &str,
    #[case] parallel: bool,
) {
    let mut conn = seeded_fixture(&db).await;
    phase_1b(&mut conn).await;
    steps_through(&mut conn, StepName::Step7bPostCutoverFinalize).await;
    assert_clean(
        &checks(&mut conn, TableSet::CanonicalAfterCutover).await,
        Applicability::Everything,
        "before STEP_8",
    );

    let c = corruption(check, rule);
    exec(
        &mut conn,
        &ok(c.sql_for(TableSet::CanonicalAfterCutover), label(c)),
    )
    .await;
    let before = ok(
        invariants::audit(&mut conn, &mut [], AuditPurpose::Gate, 10).await,
        "audit before STEP_8",
    );
    let expected = gate_failures(&invariants::gate::verdict(&before));
    assert!(
        expected.iter().any(|f| f.starts_with(&format!("{check}="))),
        "{check} must fail: {expected:?}"
    );

    let gate = std::sync::Arc::new(match parallel {
        true => AuditGate::with_helper(db.connect_options()),
        false => AuditGate::new(),
    });
    let options = RunOptions {
        gate: Some(gate.clone()),
        ..RunOptions::default()
    };
    let err = match run_phase_1c(&mut conn, &options).await {
        Ok(o) => panic!(
            "STEP_8 must fail on {check}/{rule}; the run completed: {:#?}",
            o.steps
        ),
        Err(e) => e,
    };
    let MigrationError::StepFailed {
        step,
        status,
        message,
        outcome,
        ..
    } = &err
    else {
        panic!("expected a step failure, got {err}");
    };
    assert_eq!(*step, StepName::Step8FullValidation);
    assert_eq!(*status, StepStatus::Failed);
    assert_eq!(
        *message,
        format!(
            "validation failed ({}): {}",
            gate.name(),
            expected.join(", ")
        )
    );
    let verdict = outcome.validation.clone().unwrap_or_default();
    assert!(
        verdict
            .checks
            .iter()
            .any(|c| c.name == check && c.violations.unwrap_or(0) >= 1),
        "{verdict:#?}"
    );
    let audit = gate
        .last_audit()
        .unwrap_or_else(|| panic!("the gate kept no audit"));
    let target = audit.checks.iter().find(|o| o.check == check);
    assert!(
        target.is_some_and(|o| o.violations.unwrap_or(0) >= 1 && o.sampled_rule_count(rule) >= 1),
        "{:#?}",
        audit.checks
    );
    let steps: Vec<(StepName, StepStatus)> =
        outcome.steps.iter().map(|s| (s.step, s.status)).collect();
    let mut want = vec![(StepName::Step0VerifyLock, StepStatus::Success)];
    want.extend(
        StepName::ALL[1..9]
            .iter()
            .map(|s| (*s, StepStatus::SkippedAlreadyDone)),
    );
    want.push((StepName::Step8FullValidation, StepStatus::Failed));
    assert_eq!(steps, want);

    let lock =
        ok(lock_state(&mut conn).await, "lock_state").unwrap_or_else(|| panic!("no lock row"));
    assert!(lock.locked && lock.unlocked_at_utc.is_none(), "{lock:?}");
    let log = ok(step_log(&mut conn).await, "step_log");
    let last = log
        .iter()
        .rev()
        .find(|r| r.phase == PHASE_1C)
        .unwrap_or_else(|| panic!("empty step log"));
    assert_eq!(
        (last.step_name.as_str(), last.status.as_str()),
        ("STEP_8_FULL_VALIDATION", "FAILED")
    );
    assert_eq!(last.error_text.as_deref(), Some(message.as_str()));
    assert!(
        !log.iter().any(|r| r.step_name == "STEP_9_UNLOCK"),
        "STEP_9 must not run"
    );
}

// Parallel checks ------------------------------------------------------------------------------

/// What two runs must agree on (everything but the time taken).
fn verdicts(outcomes: &[CheckOutcome]) -> Vec<String> {
    outcomes
        .iter()
        .map(|o| {
            format!(
                "{} {:?} {:?} {:?} {:?}",
                o.check, o.violations, o.sample, o.rules_checked, o.rules_not_applicable
            )
        })
        .collect()
}

/// Over one exported snapshot, the checks spread over two or three connections report exactly
/// what one connection reports (violations, samples, rules), in the same order, on a database
/// with violations of several checks committed; a helper on another database or inside a
/// transaction is refused with a message saying so, and every connection stays usable.
#[rstest]
#[tokio::test]
async fn parallel_checks_report_what_serial_checks_report(#[future(awt)] db: TestDb) {
    let mut conn = migrated_fixture(&db).await;
    let set = TableSet::CanonicalAfterCutover;
    for (check, rule) in [
        ("fee_formula", "fee_mismatch"),
        (
            "walk_forward_contamination",
            "prediction_in_training_window",
        ),
        ("ledger_continuity", "ledger_seq_gap"),
    ] {
        let c = corruption(check, rule);
        exec(&mut conn, &ok(c.sql_for(set), label(c))).await;
    }
    let serial = checks(&mut conn, set).await;
    let failing: Vec<&str> = serial
        .iter()
        .filter(|o| o.violations.unwrap_or(0) > 0)
        .map(|o| o.check)
        .collect();
    for check in [
        "fee_formula",
        "walk_forward_contamination",
        "ledger_continuity",
    ] {
        assert!(failing.contains(&check), "{check} must fail: {failing:?}");
    }
    for helpers in [1, 2] {
        let mut pool = Vec::new();
        for _ in 0..helpers {
            pool.push(ok(db.connect().await, "helper connection"));
        }
        let parallel = ok(
            invariants::run_checks_parallel(&mut conn, &mut pool, set, 10).await,
            format!("run_checks_parallel with {helpers} helpers"),
        );
        assert_eq!(verdicts(&parallel), verdicts(&serial), "{helpers} helpers");
        assert!(
            !conn.is_in_transaction() && pool.iter().all(|h| !h.is_in_transaction()),
            "every transaction closed"
        );
    }

    let other = ok(TestDb::new().await, "a second database");
    let mut foreign = vec![ok(other.connect().await, "connect to the second database")];
    let err = match invariants::run_checks_parallel(&mut conn, &mut foreign, set, 10).await {
        Ok(_) => panic!("a helper on another database must be refused"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("same database"), "{err}");

    let mut busy = ok(db.connect().await, "helper connection");
    // Leave the helper inside an open transaction (forgetting the guard skips its rollback).
    std::mem::forget(ok(busy.begin().await, "BEGIN on the helper"));
    let mut busy = vec![busy];
    let err = match invariants::run_checks_parallel(&mut conn, &mut busy, set, 10).await {
        Ok(_) => panic!("a helper inside a transaction must be refused"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("already in a transaction"), "{err}");

    // The main connection is usable after both refusals.
    assert_eq!(verdicts(&checks(&mut conn, set).await), verdicts(&serial));
}

/// The gate's helper connection only buys speed: when it cannot connect, STEP_8 runs the twelve
/// checks on the migration's connection and the run completes.
#[rstest]
#[tokio::test]
async fn step_8_runs_on_one_connection_when_the_helper_cannot_connect(#[future(awt)] db: TestDb) {
    let mut conn = seeded_fixture(&db).await;
    phase_1b(&mut conn).await;
    let unreachable = sqlx::postgres::PgConnectOptions::new_without_pgpass()
        .host("127.0.0.1")
        .port(1)
        .username("postgres")
        .database("none");
    let gate = std::sync::Arc::new(AuditGate::with_helper(unreachable));
    let options = RunOptions {
        gate: Some(gate.clone()),
        ..RunOptions::default()
    };
    let outcome = ok(run_phase_1c(&mut conn, &options).await, "Phase 1C");
    assert!(outcome.completed(), "{outcome:#?}");
    let validation = outcome.validation.unwrap_or_default();
    assert_eq!(validation.checks.len(), CHECK_NAMES.len());
    assert!(gate_failures(&validation).is_empty(), "{validation:#?}");
    let audit = gate
        .last_audit()
        .unwrap_or_else(|| panic!("the gate kept no audit"));
    assert!(
        audit.checks.iter().all(|o| o.violations == Some(0)),
        "{}",
        summary(&audit.checks)
    );
}

// Timing on a bulk world ----------------------------------------------------------------------

fn env_size(name: &str, default: u32) -> u32 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The bulk SQL world is clean on Phase 1A and after the whole migration; prints each set's
/// check times (and plans on request, see the file's header). Small by default.
#[rstest]
#[tokio::test]
async fn bulk_world_is_clean_and_timed(#[future(awt)] db: TestDb) {
    let (accounts, hours) = (
        env_size("CHECKS_BULK_ACCOUNTS", 4),
        env_size("CHECKS_BULK_HOURS", 48),
    );
    let mut conn = ok(db.connect().await, "connect");
    let sql = BULK_WORLD_SQL
        .replace(":accounts", &accounts.to_string())
        .replace(":hours", &hours.to_string());
    let t = Instant::now();
    exec(&mut conn, &format!("BEGIN;\n{sql}\n;COMMIT;")).await;
    let fills: i64 = ok(
        sqlx::query_scalar("SELECT count(*) FROM order_fill")
            .fetch_one(&mut conn)
            .await,
        "count",
    );
    assert!(fills > 0, "the bulk world has fills");
    eprintln!(
        "bulk world: {accounts} accounts x {hours} hours = {fills} fills, seeded in {:?}",
        t.elapsed()
    );

    exec(&mut conn, "ANALYZE").await;
    let t = Instant::now();
    let outcomes = checks(&mut conn, TableSet::Phase1a).await;
    eprintln!(
        "bulk Phase 1A: twelve checks in {:?}\n{}",
        t.elapsed(),
        timings(&outcomes)
    );
    assert_clean(
        &outcomes,
        Applicability::BeforeIdentityAndHashes,
        "bulk Phase 1A",
    );

    phase_1b(&mut conn).await;
    phase_1c(&mut conn).await;
    exec(&mut conn, "ANALYZE").await;
    let t = Instant::now();
    let outcomes = checks(&mut conn, TableSet::CanonicalAfterCutover).await;
    eprintln!(
        "bulk after cutover: twelve checks in {:?}\n{}",
        t.elapsed(),
        timings(&outcomes)
    );
    assert_clean(&outcomes, Applicability::Everything, "bulk after cutover");

    // debugging aid for the plans: CHECKS_EXPLAIN=missing_hash (or "all") prints EXPLAIN ANALYZE
    let explain = std::env::var("CHECKS_EXPLAIN").unwrap_or_default();
    for name in CHECK_NAMES
        .iter()
        .filter(|n| explain == "all" || explain.split(',').any(|e| e == **n))
    {
        let plan = ok(
            explain_check(&mut conn, name, TableSet::CanonicalAfterCutover, true).await,
            name,
        );
        eprintln!("EXPLAIN ANALYZE {name} ({fills} fills):\n{plan}");
    }
}

fn timings(outcomes: &[CheckOutcome]) -> String {
    outcomes
        .iter()
        .map(|o| {
            format!(
                "  {}: {:?} in {} ms",
                o.check,
                o.violations,
                o.elapsed_us / 1000
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}
