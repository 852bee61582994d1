//! Property tests of the whole migration on generated worlds: for every case a
//! fresh database, the world seeded, Phase 1B, Phase 1C Revision B.
//!
//! 1. every applicable check is 0 on Phase 1A, on `*_v2` before cutover and on the canonical
//!    tables after it; the run ends SUCCESS with the lock released;
//! 2. nothing lost: every archive holds exactly its pre-migration rows, every canonical table
//!    the same facts (rows projected on the legacy columns), every other table is unchanged;
//! 3. replay parity: the reference model's hourly states = the states replayed in Rust from
//!    event rows = the stored states = the states recomputed in SQL, hashes included;
//! 4. determinism: one case migrated twice gives one database fingerprint; another seed
//!    gives another;
//! 5. the mutation matrix: per check, a corruption of its kind chosen by the case's seed is
//!    caught by that check after cutover (kill rate per check printed; must be 100%);
//! 6. live writers: the world's last hours written by two writers while the migration runs
//!    lose nothing acknowledged, meet no error or deadlock, and the audit passes afterwards.
//!
//! Cases: `PROPTEST_CASES` (ci sets 64; 16 when unset). One tokio runtime per test; proptest
//! runs the cases, shrinks a failure, and persists its seed under
//! `harness/tests/proptest-regressions/properties/<property>.txt` (committed, replayed first
//! on every run). A failure prints the seed, the shrunk script as JSON and the command that
//! replays it (`harness run --seed ...` or `harness run --script <file>`).

use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Instant;

use generators::model::World;
use generators::strategy::{world_cases, Limits, WorldCase};
use generators::{replay_hourly_states, HourlyStates};
use harness::fuzz::case::splitmix;
use harness::fuzz::facts::{first_mismatch, state_lines, stored_lines};
use harness::fuzz::mutate::generic_ready;
use harness::TestDb;
use invariants::{load_catalog, run_check, run_checks, AuditPurpose, TableSet, CHECK_NAMES};
use migrations::{apply_phase_1b, lock_state, run_phase_1c};
use proptest::test_runner::{Config, FileFailurePersistence, TestCaseError, TestError, TestRunner};
use sqlx::{Connection, PgConnection};

type Outcome = Result<(), String>;

/// Cases per property: `PROPTEST_CASES`, else 16 (ci sets 64).
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(16)
}

fn config(property: &str) -> Config {
    // Direct: proptest's source-parallel lookup cannot follow a workspace member's paths; an
    // absolute path under the crate keeps the regression files beside this test, committed.
    let path: &'static str = Box::leak(
        format!(
            "{}/tests/proptest-regressions/properties/{property}.txt",
            env!("CARGO_MANIFEST_DIR")
        )
        .into_boxed_str(),
    );
    Config {
        cases: cases(),
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(path))),
        // Each shrink step is a full migration: bound the search, not the quality of the
        // first edits (whole accounts, instruments and halves of the script go first).
        max_shrink_iters: 200,
        ..Config::default()
    }
}

/// Where a shrunk case's replay file goes.
fn replay_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target")))
        .join("proptest-replays")
}

/// Prints what is needed to act on a failure without rerunning: seed, script, command.
fn report_failure(property: &str, why: &str, case: &WorldCase) -> String {
    let mut msg = format!(
        "property {property} failed: {why}\nseed: {}\ncase: {case:?}\nscript (JSON): {}\n",
        case.seed,
        case.script_json()
    );
    if case.is_generated() {
        msg.push_str(&format!("replay: {}\n", case.seed_command()));
    } else {
        let path = replay_dir().join(format!("{property}-{}.json", case.seed));
        match case.replay_file().save(&path) {
            Ok(()) => msg.push_str(&format!(
                "replay (shrunk): harness run --script {}\n",
                std::fs::canonicalize(&path).unwrap_or(path).display()
            )),
            Err(e) => msg.push_str(&format!("(could not write the replay file: {e})\n")),
        }
        msg.push_str(&format!("unshrunk world: {}\n", case.seed_command()));
    }
    eprintln!("{msg}");
    msg
}

/// Runs `body` on generated cases within `limits`, each inside the test's one runtime.
fn property<F, Fut>(name: &str, limits: Limits, body: F)
where
    F: Fn(WorldCase) -> Fut,
    Fut: Future<Output = Outcome>,
{
    property_with(name, limits, cases(), body)
}

/// [`property`] with its own number of cases.
fn property_with<F, Fut>(name: &str, limits: Limits, n: u32, body: F)
where
    F: Fn(WorldCase) -> Fut,
    Fut: Future<Output = Outcome>,
{
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("tokio runtime: {e}"));
    let mut runner = TestRunner::new(Config {
        cases: n,
        ..config(name)
    });
    let started = Instant::now();
    let result = runner.run(&world_cases(limits), |case| {
        rt.block_on(body(case)).map_err(TestCaseError::fail)
    });
    eprintln!(
        "property {name}: {n} cases in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    match result {
        Ok(()) => {}
        Err(TestError::Fail(why, case)) => {
            panic!("{}", report_failure(name, why.message(), &case))
        }
        Err(TestError::Abort(why)) => panic!("property {name} aborted: {why}"),
    }
}

fn fail<E: std::fmt::Display>(what: &'static str) -> impl Fn(E) -> String {
    move |e| format!("{what}: {e}")
}

/// A fresh database with the case's world seeded; the simulated world.
async fn seeded(case: &WorldCase) -> Result<(TestDb, PgConnection, World), String> {
    let sim = case.simulate().map_err(fail("simulate"))?;
    let db = TestDb::new().await.map_err(fail("provision"))?;
    let mut conn = db.connect().await.map_err(fail("connect"))?;
    generators::seed_world(&mut conn, &sim.world)
        .await
        .map_err(fail("seed"))?;
    Ok((db, conn, sim.world))
}

/// Phase 1B then Phase 1C, which must complete with the lock released.
async fn migrate(conn: &mut PgConnection) -> Outcome {
    apply_phase_1b(conn).await.map_err(fail("phase 1b"))?;
    let outcome = run_phase_1c(conn, &harness::gate::audit_options())
        .await
        .map_err(|e| {
            format!(
                "phase 1c: {e}; validation: {:?}",
                e.outcome()
                    .and_then(|o| o.validation.clone())
                    .map(|v| migrations::gate_failures(&v))
            )
        })?;
    if !outcome.completed() || outcome.noop {
        return Err(format!("phase 1c did not complete: {:?}", outcome.steps));
    }
    match lock_state(conn).await.map_err(fail("lock state"))? {
        Some(l) if !l.locked && l.unlocked_at_utc.is_some() => Ok(()),
        other => Err(format!("lock not released: {other:?}")),
    }
}

/// Every applicable check of `set` must be 0; `allowed_na` may be n/a.
async fn all_clean(conn: &mut PgConnection, set: TableSet, allowed_na: &[&str]) -> Outcome {
    let outcomes = run_checks(conn, set, 5).await.map_err(fail("run checks"))?;
    let mut bad = Vec::new();
    for o in &outcomes {
        match o.violations {
            Some(0) => {}
            None if allowed_na.contains(&o.check) => {}
            None => bad.push(format!("{}: n/a", o.check)),
            Some(n) => bad.push(format!("{}: {n} violations, e.g. {:?}", o.check, o.sample)),
        }
    }
    if bad.is_empty() {
        Ok(())
    } else {
        Err(format!("{set}: {}", bad.join("; ")))
    }
}

// 1 ---------------------------------------------------------------------------------------------

#[test]
fn every_check_is_clean_before_during_and_after_the_migration() {
    property("checks_clean", Limits::SMALL, |case| async move {
        let (_db, mut conn, _) = seeded(&case).await?;
        // Before M9 and STEP_2 there is nothing for these two to check: n/a, never 0.
        all_clean(
            &mut conn,
            TableSet::Phase1a,
            &["identity_bijection", "missing_hash"],
        )
        .await?;
        apply_phase_1b(&mut conn).await.map_err(fail("phase 1b"))?;
        all_clean(
            &mut conn,
            TableSet::V2BeforeCutover,
            &["identity_bijection", "missing_hash"],
        )
        .await?;
        // Dual write keeps every canonical row mirrored in its *_v2 table, column for column.
        let audit = invariants::audit(&mut conn, &mut [], AuditPurpose::Validate, 5)
            .await
            .map_err(fail("audit before the cutover"))?;
        if audit.table_set != TableSet::V2BeforeCutover || !audit.parity.passed {
            return Err(format!(
                "canonical -> *_v2 parity on {}: {:?}",
                audit.table_set,
                audit.parity.failures()
            ));
        }
        let outcome = run_phase_1c(&mut conn, &harness::gate::audit_options())
            .await
            .map_err(fail("phase 1c"))?;
        if !outcome.completed() {
            return Err(format!("phase 1c did not complete: {:?}", outcome.steps));
        }
        let failed: Vec<_> = outcome
            .steps
            .iter()
            .filter(|s| s.status != migrations::StepStatus::Success)
            .map(|s| (s.step, s.status))
            .collect();
        if !failed.is_empty() {
            return Err(format!("steps not SUCCESS: {failed:?}"));
        }
        match lock_state(&mut conn).await.map_err(fail("lock"))? {
            Some(l) if !l.locked => {}
            other => return Err(format!("lock not released: {other:?}")),
        }
        all_clean(&mut conn, TableSet::CanonicalAfterCutover, &[]).await?;
        // The whole audit `harness validate` runs: checks, parity, grid, every confirmation.
        let audit = invariants::audit(&mut conn, &mut [], AuditPurpose::Validate, 5)
            .await
            .map_err(fail("audit after the migration"))?;
        if !audit.passed {
            return Err(format!("audit after the migration: {:?}", audit.failures));
        }
        let _ = conn.close().await;
        Ok(())
    });
}

// 2 ---------------------------------------------------------------------------------------------

#[test]
fn nothing_is_lost_and_every_fact_survives_the_cutover() {
    property("nothing_lost", Limits::SMALL, |case| async move {
        let (_db, mut conn, world) = seeded(&case).await?;
        let before = harness::fuzz::facts::snapshot(&mut conn)
            .await
            .map_err(|e| e.to_string())?;
        let seeded_rows: i64 = before.values().map(|(_, (n, _))| n).sum();
        if seeded_rows as u64 != world.total_rows() {
            return Err(format!(
                "seeded {seeded_rows} rows, world has {}",
                world.total_rows()
            ));
        }
        migrate(&mut conn).await?;
        let lost = harness::fuzz::facts::lost(&mut conn, &before)
            .await
            .map_err(|e| e.to_string())?;
        let _ = conn.close().await;
        if lost.is_empty() {
            Ok(())
        } else {
            Err(lost
                .into_iter()
                .map(|(_, line)| line)
                .collect::<Vec<_>>()
                .join("\n"))
        }
    });
}

// 3 ---------------------------------------------------------------------------------------------

#[test]
fn reference_model_states_equal_stored_and_sql_recomputed_states() {
    property("replay_parity", Limits::SMALL, |case| async move {
        let (_db, mut conn, world) = seeded(&case).await?;
        let model = HourlyStates::stored(&world);
        let replayed = replay_hourly_states(&world);
        if let Some(d) = replayed.first_difference(&model) {
            return Err(format!("Rust replay from events vs reference model: {d}"));
        }
        let rust = state_lines(&model);
        let parity = run_check(
            &mut conn,
            "deterministic_replay_parity",
            TableSet::Phase1a,
            5,
        )
        .await
        .map_err(fail("replay parity on Phase 1A"))?;
        if parity.violations != Some(0) {
            return Err(format!(
                "SQL replay on Phase 1A: {:?} {:?}",
                parity.violations, parity.sample
            ));
        }
        migrate(&mut conn).await?;
        let stored = stored_lines(&mut conn).await.map_err(|e| e.to_string())?;
        if let Some(d) = first_mismatch("reference model vs stored after cutover", &rust, &stored) {
            return Err(d);
        }
        let parity = run_check(
            &mut conn,
            "deterministic_replay_parity",
            TableSet::CanonicalAfterCutover,
            5,
        )
        .await
        .map_err(fail("replay parity after cutover"))?;
        if parity.violations != Some(0) {
            return Err(format!(
                "SQL replay after cutover: {:?} {:?}",
                parity.violations, parity.sample
            ));
        }
        // The identity tables carry the reference model's hashes too.
        let identity: Vec<String> = sqlx::query_scalar(
            "SELECT state_hash FROM portfolio_hourly_state_identity ORDER BY hour_ts, account_id",
        )
        .fetch_all(&mut conn)
        .await
        .map_err(fail("identity hashes"))?;
        let expected: Vec<&String> = model.portfolios.iter().map(|p| &p.state_hash).collect();
        if identity.iter().collect::<Vec<_>>() != expected {
            return Err("portfolio identity hashes differ from the reference model's".into());
        }
        let _ = conn.close().await;
        Ok(())
    });
}

// 4 ---------------------------------------------------------------------------------------------

/// Seed and migrate `case` in a fresh database; its fingerprint.
async fn migrated_fingerprint(case: &WorldCase) -> Result<String, String> {
    let (_db, mut conn, _) = seeded(case).await?;
    migrate(&mut conn).await?;
    let f = harness::fingerprint::fingerprint(&mut conn)
        .await
        .map_err(fail("fingerprint"))?;
    let _ = conn.close().await;
    Ok(f)
}

#[test]
fn same_seed_same_fingerprint_other_seed_other_fingerprint() {
    // Three migrations per case: smaller worlds keep the property inside its time budget.
    let limits = Limits {
        accounts: 2,
        instruments: 3,
        hours: 24,
        fills: 40,
    };
    property("determinism", limits, |case| async move {
        let a = case
            .simulate()
            .map_err(fail("simulate"))?
            .world
            .fingerprint();
        let b = case
            .simulate()
            .map_err(fail("simulate"))?
            .world
            .fingerprint();
        if a != b {
            return Err(format!(
                "world fingerprint differs between two simulations: {a} vs {b}"
            ));
        }
        let mut other = case.clone();
        other.seed = case.seed.wrapping_add(1);
        let c = other
            .simulate()
            .map_err(fail("simulate other"))?
            .world
            .fingerprint();
        if a == c {
            return Err(format!(
                "seeds {} and {} gave one world {a}",
                case.seed, other.seed
            ));
        }
        let (x, y, z) = futures::join!(
            migrated_fingerprint(&case),
            migrated_fingerprint(&case),
            migrated_fingerprint(&other)
        );
        let (x, y, z) = (x?, y?, z?);
        if x != y {
            return Err(format!("one case, two database fingerprints: {x} vs {y}"));
        }
        if x == z {
            return Err(format!(
                "seeds {} and {} gave one database fingerprint {x}",
                case.seed, other.seed
            ));
        }
        Ok(())
    });
}

// 5 ---------------------------------------------------------------------------------------------

/// Per check: corruptions applied, caught, skipped (precondition false / world lacks the
/// deposit, BUY and SELL a generic corruption needs).
#[derive(Debug, Default, Clone, Copy)]
struct Kills {
    applied: u32,
    killed: u32,
    skipped_precondition: u32,
    skipped_world: u32,
}

static KILLS: Mutex<BTreeMap<&'static str, Kills>> = Mutex::new(BTreeMap::new());

fn record(check: &'static str, kills: Kills) {
    let mut table = KILLS.lock().unwrap_or_else(|p| p.into_inner());
    let k = table.entry(check).or_default();
    k.applied += kills.applied;
    k.killed += kills.killed;
    k.skipped_precondition += kills.skipped_precondition;
    k.skipped_world += kills.skipped_world;
}

async fn mutation_case(case: WorldCase) -> Outcome {
    let (_db, mut conn, world) = seeded(&case).await?;
    migrate(&mut conn).await?;
    let set = TableSet::CanonicalAfterCutover;
    let catalog = load_catalog(&mut conn).await.map_err(fail("catalog"))?;
    let ready = generic_ready(&world);
    let mut missed = Vec::new();
    for (ci, &check) in CHECK_NAMES.iter().enumerate() {
        let mut candidates = Vec::new();
        let catalogue = invariants::corruptions::check_corruptions().map_err(fail("catalogue"))?;
        for c in catalogue.into_iter().filter(|c| c.check == check) {
            if c.applies(set, &catalog).map_err(fail("applies"))? {
                candidates.push(c);
            }
        }
        if candidates.is_empty() {
            return Err(format!("{check}: no corruption applies after cutover"));
        }
        let c = candidates[(splitmix(case.seed ^ ci as u64) % candidates.len() as u64) as usize];
        let pre = c.precondition_for(set).map_err(fail("precondition"))?;
        let mut kills = Kills::default();
        let holds = match &pre {
            Some(sql) => sqlx::query_scalar::<_, bool>(sql)
                .fetch_one(&mut conn)
                .await
                .map_err(|e| format!("{check}/{}: precondition: {e}", c.rule))?,
            None => ready,
        };
        if !holds {
            if pre.is_some() {
                kills.skipped_precondition += 1;
            } else {
                kills.skipped_world += 1;
            }
        } else {
            kills.applied += 1;
            let m = harness::fuzz::mutate::judge(&mut conn, c)
                .await
                .map_err(|e| e.to_string())?;
            if m.killed {
                kills.killed += 1;
            } else {
                missed.push(format!("{check}/{} ({}): {}", c.rule, c.what, m.detail));
            }
        }
        record(check, kills);
    }
    // The confirmations' losses (archive parity, lock, triggers, migration state, ...): one
    // chosen by the seed per confirmation, audited as `harness validate` audits.
    let losses = invariants::corruptions::confirmation_corruptions().map_err(fail("catalogue"))?;
    for (ci, &name) in contract::CONFIRMATION_NAMES.iter().enumerate() {
        let candidates: Vec<_> = losses
            .iter()
            .filter(|c| c.check == name && c.sets.contains(&set))
            .collect();
        if candidates.is_empty() {
            continue;
        }
        let c = candidates
            [(splitmix(case.seed ^ (100 + ci) as u64) % candidates.len() as u64) as usize];
        let mut kills = Kills::default();
        let pre = c.precondition_for(set).map_err(fail("precondition"))?;
        let holds = match &pre {
            Some(sql) => sqlx::query_scalar::<_, bool>(sql)
                .fetch_one(&mut conn)
                .await
                .map_err(|e| format!("{}: precondition: {e}", c.label()))?,
            None => true,
        };
        if !holds {
            kills.skipped_precondition += 1;
        } else {
            kills.applied += 1;
            if !matches!(
                c.target,
                invariants::corruptions::Target::Confirmation { .. }
            ) {
                return Err(format!("{} is not a confirmation corruption", c.label()));
            }
            let m = harness::fuzz::mutate::judge(&mut conn, c)
                .await
                .map_err(|e| e.to_string())?;
            if m.killed {
                kills.killed += 1;
            } else {
                missed.push(format!("{} ({}): {}", c.label(), c.what, m.detail));
            }
        }
        record(name, kills);
    }
    let _ = conn.close().await;
    if missed.is_empty() {
        Ok(())
    } else {
        Err(missed.join("\n"))
    }
}

#[test]
fn every_check_catches_a_random_corruption_of_its_kind_after_cutover() {
    property("mutation_matrix", Limits::SMALL, mutation_case);
    let table = KILLS.lock().unwrap_or_else(|p| p.into_inner()).clone();
    eprintln!(
        "mutation matrix after cutover, checks then confirmations (kill rate = caught / applied):"
    );
    eprintln!(
        "  {:<28} {:>7} {:>6} {:>9} {:>13} {:>11}",
        "check", "applied", "caught", "kill rate", "skip: precond", "skip: world"
    );
    let mut incomplete = Vec::new();
    let with_losses = [
        "archive_parity",
        "lock",
        "triggers",
        "migration_state",
        "cutover",
        "fk_legality",
        "identity_parity",
    ];
    for check in CHECK_NAMES.iter().chain(with_losses.iter()).copied() {
        let k = table.get(check).copied().unwrap_or_default();
        let rate = if k.applied == 0 {
            "-".to_string()
        } else {
            format!("{:.0}%", f64::from(k.killed) * 100.0 / f64::from(k.applied))
        };
        eprintln!(
            "  {check:<28} {:>7} {:>6} {:>9} {:>13} {:>11}",
            k.applied, k.killed, rate, k.skipped_precondition, k.skipped_world
        );
        if k.applied == 0 || k.killed != k.applied {
            incomplete.push(check);
        }
    }
    assert!(
        incomplete.is_empty(),
        "checks without a 100% kill rate over at least one applied corruption: {incomplete:?}"
    );
}

// 6 ---------------------------------------------------------------------------------------------

/// Writers of the live property, and their rate: enough to overlap a small world's migration.
const LIVE_WRITERS: usize = 2;
const LIVE_RATE: f64 = 200.0;

/// One case with live writers: the last half of the world's hours written while the
/// migration runs; nothing acknowledged may be lost and the audit must pass afterwards.
async fn live_case(case: WorldCase) -> Outcome {
    let sim = case.simulate().map_err(fail("simulate"))?;
    let hours = u32::try_from(sim.world.feature_hours().len()).map_err(fail("hours"))?;
    let live_hours = (hours / 2).max(1);
    let replay =
        format!("--writers {LIVE_WRITERS} --write-rate {LIVE_RATE} --live-hours {live_hours}");
    let server = harness::shared_server().await.map_err(fail("provision"))?;
    let config = harness::run::RunConfig {
        scenario: harness::run::Scenario::Clean,
        live: Some(harness::run::LiveConfig {
            writers: harness::writers::WriterOptions {
                writers: LIVE_WRITERS,
                rate: Some(LIVE_RATE),
            },
            live_hours,
        }),
        stop_after: None,
    };
    let report = harness::run::run_with(server, &sim.world, &config)
        .await
        .map_err(|e| format!("run with writers ({replay}): {e}"))?;
    let live = report
        .live
        .as_ref()
        .ok_or_else(|| format!("no live run reported ({replay})"))?;
    let mut bad = Vec::new();
    if let Some(e) = report.attempts.last().and_then(|a| a.error.clone()) {
        bad.push(format!("the migration failed: {e}"));
    }
    if !live.verification.is_exact() {
        bad.push(format!(
            "acknowledged writes: {}",
            live.verification.describe()
        ));
    }
    if live.overall.errors != 0 {
        bad.push(format!(
            "{} writer errors, first: {:?}",
            live.overall.errors,
            live.log.failures.first().map(|f| &f.message)
        ));
    }
    if live.server_deadlocks != 0 || live.overall.deadlocks != 0 {
        bad.push(format!(
            "deadlocks: {} seen by writers, {} by the server",
            live.overall.deadlocks, live.server_deadlocks
        ));
    }
    if !live.final_audit_failures.is_empty() {
        bad.push(format!("audit afterwards: {:?}", live.final_audit_failures));
    }
    if live.overall.writes == 0 {
        bad.push("no write was acknowledged".to_string());
    }
    if !report.succeeded() && bad.is_empty() {
        bad.push("the run did not succeed".to_string());
    }
    if bad.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} (replay with the writers: add `{replay}` to the replay command)",
            bad.join("; ")
        ))
    }
}

#[test]
fn live_writers_lose_nothing_and_the_audit_passes_over_old_and_new_rows() {
    // Each case is a whole migration with writers beside it: a quarter of the cases.
    property_with(
        "live_writers",
        Limits::SMALL,
        (cases() / 4).max(4),
        live_case,
    );
}

// The failure report itself -------------------------------------------------------------------

#[test]
fn a_failure_report_names_the_seed_the_script_and_the_replay_command() {
    let params = generators::WorldParams {
        accounts: 2,
        instruments: 2,
        hours: 8,
        target_fills: 10,
    };
    let generated = WorldCase::generated(99, &params).unwrap_or_else(|e| panic!("{e}"));
    let msg = report_failure("report_selftest", "boom", &generated);
    assert!(msg.contains("seed: 99"), "{msg}");
    assert!(msg.contains("\"actions\""), "{msg}");
    assert!(
        msg.contains(
            "replay: harness run --seed 99 --accounts 2 --instruments 2 --hours 8 --fills 10"
        ),
        "{msg}"
    );
    let mut shrunk = generated.clone();
    shrunk.script.actions.truncate(3);
    shrunk.shrink_steps = 1;
    let msg = report_failure("report_selftest", "boom", &shrunk);
    let path = msg
        .lines()
        .find_map(|l| l.strip_prefix("replay (shrunk): harness run --script "))
        .unwrap_or_else(|| panic!("{msg}"));
    let back = generators::ReplayFile::load(path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(back, shrunk.replay_file());
    let _ = std::fs::remove_file(path);
}
