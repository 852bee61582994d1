//! One fuzz case: a world from a derived seed, with per-case variety (size, batch size, hours
//! written through the dual write), through the whole pipeline, judged at every stage.
//!
//! Stages, in order (each failure is named by a signature `kind:what`, e.g.
//! `check:fee_formula/fee_mismatch`, so distinct failures are told apart by check and rule):
//! 1. the reference model against the Rust replay of its own event rows;
//! 2. seed the Phase 1A world (all but its last `dual_write_hours` hours) and run the twelve
//!    checks on the Phase 1A tables;
//! 3. Phase 1B, then the checks on `*_v2` and the canonical -> `*_v2` parity;
//! 4. the last hours written through the canonical names, so the dual write carries them
//!    (or, with `writers`, concurrent writers during the whole migration);
//! 5. Phase 1C with its STEP_8 audit gate; the lock must be released;
//! 6. the checks and the whole audit after the cutover;
//! 7. nothing lost: every pre-migration fact is in its archive and its canonical table;
//! 8. replay parity: reference model = stored states = SQL recomputation (a check), and the
//!    identity tables carry the model's hashes;
//! 9. with `--mutate`, one corruption of the catalogue must be caught by its own check.

use std::sync::Arc;
use std::time::{Duration, Instant};

use generators::strategy::WorldCase;
use generators::{HourlyStates, WorldParams};
use invariants::{AuditPurpose, CheckOutcome, TableSet};
use migrations::RunOptions;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use sqlx::{Connection, PgConnection};

use super::bugs::PlantedBug;
use super::coverage::{self, Hits};
use super::facts;
use super::mutate::{self, Mutation};
use crate::provision::Server;
use crate::template::TemplateSpec;
use crate::TestDb;

/// World sizes a run draws from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ShapeKind {
    /// 1-3 accounts, 1-4 instruments, 4-48 hours, up to 200 fills.
    Small,
    /// 2-6 accounts, 3-10 instruments, 48-240 hours, 1,200-3,000 fills.
    Medium,
    /// 5-16 accounts, 8-24 instruments, 168-720 hours, 5,000-15,000 fills.
    Large,
    /// Per case: small 30%, medium 60%, large 10% (the median world is medium).
    Mixed,
}

impl ShapeKind {
    /// The name `--shape` takes.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Small => "small",
            Self::Medium => "medium",
            Self::Large => "large",
            Self::Mixed => "mixed",
        }
    }
}

/// How one case runs besides its world: what the swarm chose for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseOptions {
    /// The concrete size class (never `mixed`).
    pub shape: ShapeKind,
    /// The world's last hours, written through the canonical names after Phase 1B (the dual
    /// write carries them into `*_v2`); 0: everything seeded.
    pub dual_write_hours: u32,
    /// Rows per backfill batch (small ones make the backfills resume at their cursors).
    pub batch_size: u32,
    /// Concurrent writers during the whole migration (0: none); they write the last
    /// `dual_write_hours` hours instead.
    pub writers: u8,
    /// With `--mutate`: the seed that picks the corruption.
    pub mutation: Option<u64>,
}

/// Seed of case `index` of a run seeded `run_seed` (splitmix64 of both: neighbouring cases
/// share nothing).
pub fn case_seed(run_seed: u64, index: u64) -> u64 {
    splitmix(run_seed ^ splitmix(index.wrapping_add(0x5eed)))
}

/// splitmix64's finaliser.
pub fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// The world size and options of a case, drawn from its seed (the world itself is
/// `generate(seed, params)`).
pub fn draw(seed: u64, shape: ShapeKind, writers: u8, mutate: bool) -> (WorldParams, CaseOptions) {
    // A stream of its own: the generator draws from the seed itself.
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0xf022_c0de);
    let shape = match shape {
        ShapeKind::Mixed => match rng.random_range(0..10) {
            0..=2 => ShapeKind::Small,
            3..=8 => ShapeKind::Medium,
            _ => ShapeKind::Large,
        },
        s => s,
    };
    let params = match shape {
        ShapeKind::Small => WorldParams {
            accounts: rng.random_range(1..=3),
            instruments: rng.random_range(1..=4),
            hours: rng.random_range(4..=48),
            target_fills: rng.random_range(1..=200),
        },
        ShapeKind::Medium | ShapeKind::Mixed => WorldParams {
            accounts: rng.random_range(2..=6),
            instruments: rng.random_range(3..=10),
            hours: rng.random_range(48..=240),
            target_fills: rng.random_range(1_200..=3_000),
        },
        ShapeKind::Large => WorldParams {
            accounts: rng.random_range(5..=16),
            instruments: rng.random_range(8..=24),
            hours: rng.random_range(168..=720),
            target_fills: rng.random_range(5_000..=15_000),
        },
    };
    let dual_write_hours = if writers > 0 {
        rng.random_range(2..=4)
    } else {
        [0, 1, 2, 3][rng.random_range(0..4)]
    };
    let batch_size = [97, 1_000, migrations::DEFAULT_BATCH_SIZE][rng.random_range(0..3)];
    let options = CaseOptions {
        shape,
        dual_write_hours: dual_write_hours.min(params.hours.saturating_sub(2)),
        batch_size,
        writers,
        mutation: mutate.then(|| rng.random()),
    };
    (params, options)
}

/// One failure: its signature, where, what, and the rows that show it.
#[derive(Debug)]
pub struct Finding {
    /// `kind:what` (`check:<check>/<rule>`, `confirmation:<name>`, `migration:<step>`,
    /// `lost:<table>`, `replay:<what>`, `mutation:<check>/<rule>`, ...).
    pub signature: String,
    /// The pipeline stage that saw it.
    pub stage: &'static str,
    /// What it saw.
    pub detail: String,
    /// The failing checks' samples (or the differing rows).
    pub samples: serde_json::Value,
    /// The database the case ran in (dropped with the finding unless kept).
    pub db: Option<TestDb>,
}

/// How a case ended.
#[derive(Debug)]
pub enum Verdict {
    /// Every stage held.
    Pass,
    /// An invariant failed.
    Fail(Box<Finding>),
    /// The infrastructure failed (server gone, disk full, a generator error): not a finding.
    Infra(String),
}

/// Everything one case measured.
#[derive(Debug)]
pub struct CaseResult {
    /// How it ended.
    pub verdict: Verdict,
    /// Fills in its world.
    pub fills: u64,
    /// Rows in its world.
    pub rows: u64,
    /// Wall time per stage, in pipeline order.
    pub stages: Vec<(&'static str, Duration)>,
    /// The rule edges its world reached.
    pub coverage: Hits,
    /// The mutation it applied, with `--mutate`.
    pub mutation: Option<Mutation>,
    /// Per check, did it run clean on at least one table set (for the JUnit report).
    pub checks_run: Vec<&'static str>,
}

struct Stages {
    at: Instant,
    done: Vec<(&'static str, Duration)>,
}

impl Stages {
    fn lap(&mut self, name: &'static str) {
        let now = Instant::now();
        self.done.push((name, now - self.at));
        self.at = now;
    }
}

fn fail(stage: &'static str, signature: String, detail: String) -> Box<Finding> {
    Box::new(Finding {
        signature,
        stage,
        detail,
        samples: serde_json::Value::Null,
        db: None,
    })
}

/// True when a database error is the infrastructure's (connection lost, server shutting down,
/// out of disk or memory), not the migration's.
fn is_infra(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(s) = err.downcast_ref::<sqlx::Error>() {
            return match s {
                sqlx::Error::Io(_)
                | sqlx::Error::Tls(_)
                | sqlx::Error::Protocol(_)
                | sqlx::Error::PoolTimedOut
                | sqlx::Error::PoolClosed
                | sqlx::Error::WorkerCrashed => true,
                sqlx::Error::Database(d) => d
                    .code()
                    .is_some_and(|c| ["08", "53", "57P", "58"].iter().any(|p| c.starts_with(p))),
                _ => false,
            };
        }
        if err.downcast_ref::<std::io::Error>().is_some() {
            return true;
        }
        cur = err.source();
    }
    false
}

/// The failing checks of `outcomes` as a finding (first failing check in order, first rule),
/// with every failing check's sample.
fn check_finding(
    stage: &'static str,
    set: TableSet,
    outcomes: &[CheckOutcome],
    allowed_na: &[&str],
) -> Option<Box<Finding>> {
    let mut samples = serde_json::Map::new();
    let mut first: Option<String> = None;
    let mut lines = Vec::new();
    for o in outcomes {
        let bad = match o.violations {
            Some(0) => false,
            None => !allowed_na.contains(&o.check),
            Some(_) => true,
        };
        if !bad {
            continue;
        }
        let rule = o
            .rule_counts
            .iter()
            .find(|(_, n)| **n > 0)
            .map(|(r, _)| r.clone())
            .unwrap_or_else(|| "n/a".to_string());
        first.get_or_insert_with(|| format!("check:{}/{rule}", o.check));
        lines.push(format!(
            "{} on {set}: {} ({:?})",
            o.check,
            o.violations
                .map_or("n/a".to_string(), |n| format!("{n} violations")),
            o.rule_counts
        ));
        samples.insert(o.check.to_string(), serde_json::json!(o.sample));
    }
    first.map(|signature| {
        Box::new(Finding {
            signature,
            stage,
            detail: lines.join("; "),
            samples: serde_json::Value::Object(samples),
            db: None,
        })
    })
}

/// Runs the case. The database is dropped when the case passes and handed back in the
/// finding when it fails.
pub async fn run_case(
    server: Arc<dyn Server>,
    case: &WorldCase,
    options: &CaseOptions,
    bug: Option<&PlantedBug>,
) -> CaseResult {
    let mut result = CaseResult {
        verdict: Verdict::Pass,
        fills: 0,
        rows: 0,
        stages: Vec::new(),
        coverage: Hits::new(),
        mutation: None,
        checks_run: Vec::new(),
    };
    let mut clock = Stages {
        at: Instant::now(),
        done: Vec::new(),
    };
    // The simulator and the probes are CPU work: off the task the workers share.
    let wc = case.clone();
    let prepared = tokio::task::spawn_blocking(move || {
        wc.simulate().map(|sim| {
            let world = sim.world;
            let model = HourlyStates::stored(&world);
            let drift = generators::replay_hourly_states(&world).first_difference(&model);
            let hits = coverage::probe(&world);
            (world, model, drift, hits)
        })
    })
    .await;
    let (world, model, drift, hits) = match prepared {
        Ok(Ok(x)) => x,
        Ok(Err(e)) => {
            result.verdict = Verdict::Infra(format!("generator: seed {}: {e}", case.seed));
            return result;
        }
        Err(e) => {
            result.verdict = Verdict::Infra(format!("generator: seed {}: {e}", case.seed));
            return result;
        }
    };
    result.fills = world.order_fill.len() as u64;
    result.rows = world.total_rows();
    result.coverage = hits;
    if let Some(d) = drift {
        result.verdict = Verdict::Fail(fail(
            "model",
            "replay:model_vs_rust_replay".into(),
            format!("Rust replay from event rows vs reference model: {d}"),
        ));
        return result;
    }
    clock.lap("simulate");
    let db = match TestDb::on_server(server, &TemplateSpec::phase_1a()).await {
        Ok(db) => db,
        Err(e) => {
            result.verdict = Verdict::Infra(format!("provisioning: {e}"));
            return result;
        }
    };
    clock.lap("provision");
    let outcome = pipeline(&db, &world, &model, options, bug, &mut clock, &mut result).await;
    result.stages = clock.done;
    match outcome {
        Ok(()) => {
            if let Err(e) = db.dispose().await {
                tracing::warn!(error = %e, "could not drop a passed case's database");
            }
        }
        Err(Stop::Infra(why)) => result.verdict = Verdict::Infra(why),
        Err(Stop::Fail(mut f)) => {
            f.db = Some(db);
            result.verdict = Verdict::Fail(f);
        }
    }
    result
}

enum Stop {
    Fail(Box<Finding>),
    Infra(String),
}

/// An error of a stage: the infrastructure's, or a finding with this signature.
fn stop<'a, E: std::error::Error + 'static>(
    stage: &'static str,
    signature: &'a str,
) -> impl Fn(E) -> Stop + 'a {
    move |e| {
        if is_infra(&e) {
            Stop::Infra(format!("{stage}: {e}"))
        } else {
            Stop::Fail(fail(stage, signature.to_string(), format!("{stage}: {e}")))
        }
    }
}

/// An audit finding as a stop: the infrastructure's when the audit could not reach the server.
fn stop_of(f: Box<Finding>) -> Stop {
    if f.signature.starts_with("infra:") {
        Stop::Infra(f.detail)
    } else {
        Stop::Fail(f)
    }
}

fn infra<E: std::fmt::Display>(what: &'static str) -> impl Fn(E) -> Stop {
    move |e| Stop::Infra(format!("{what}: {e}"))
}

async fn pipeline(
    db: &TestDb,
    world: &generators::model::World,
    model: &HourlyStates,
    options: &CaseOptions,
    bug: Option<&PlantedBug>,
    clock: &mut Stages,
    result: &mut CaseResult,
) -> Result<(), Stop> {
    let live = if options.dual_write_hours > 0 {
        match generators::split_live(world, options.dual_write_hours) {
            Ok(l) => Some(Arc::new(l)),
            // A (shrunk) world too short to split is seeded whole.
            Err(_) => None,
        }
    } else {
        None
    };
    let seeded = live.as_ref().map_or(world, |l| &l.seeded);
    let mut conn = db.connect().await.map_err(infra("connect"))?;
    generators::seed_world_with(&mut conn, seeded, &fixtures::SEED_OPTIONS)
        .await
        .map_err(stop("seed", "seed:refused"))?;
    clock.lap("seed");

    let na_before_m9 = ["identity_bijection", "missing_hash"];
    let checks = invariants::run_checks(&mut conn, TableSet::Phase1a, 5)
        .await
        .map_err(stop("checks_1a", "query:checks_1a"))?;
    if let Some(f) = check_finding("checks_1a", TableSet::Phase1a, &checks, &na_before_m9) {
        return Err(Stop::Fail(f));
    }
    result.checks_run.extend(
        checks
            .iter()
            .filter(|o| o.violations == Some(0))
            .map(|o| o.check),
    );
    clock.lap("checks_1a");

    let gate = Arc::new(crate::gate::AuditGate::new());
    let opts = RunOptions {
        gate: Some(gate),
        batch_size: options.batch_size,
        sql_edits: bug.map(|b| b.edits.to_vec()).unwrap_or_default(),
        ..RunOptions::default()
    };
    // With writers, they start before Phase 1B and write while everything migrates.
    let writers = match (&live, options.writers) {
        (Some(l), n) if n > 0 => Some(
            crate::writers::Writers::start(
                db.connect_options(),
                l.clone(),
                &crate::writers::WriterOptions {
                    writers: usize::from(n),
                    rate: Some(200.0),
                },
            )
            .await
            .map_err(infra("writers"))?,
        ),
        _ => None,
    };
    migrations::apply_phase_1b_with(&mut conn, &opts)
        .await
        .map_err(stop("phase_1b", "migration:phase_1b"))?;
    clock.lap("phase_1b");

    if writers.is_none() {
        // One audit: the twelve checks on `*_v2` and the canonical -> `*_v2` parity.
        let audit = invariants::audit(&mut conn, &mut [], AuditPurpose::Validate, 5)
            .await
            .map_err(stop("checks_v2", "query:audit_v2"))?;
        if audit.table_set != TableSet::V2BeforeCutover {
            return Err(Stop::Fail(fail(
                "checks_v2",
                "audit:table_set".into(),
                format!(
                    "after Phase 1B the audit reads {}, not *_v2",
                    audit.table_set
                ),
            )));
        }
        if let Some(f) = check_finding(
            "checks_v2",
            TableSet::V2BeforeCutover,
            &audit.checks,
            &na_before_m9,
        ) {
            return Err(Stop::Fail(f));
        }
        if !audit.parity.passed {
            return Err(Stop::Fail(fail(
                "checks_v2",
                "parity:canonical_to_v2".into(),
                format!("canonical -> *_v2 parity: {:?}", audit.parity.failures()),
            )));
        }
        clock.lap("checks_v2");
    }

    // The last hours through the canonical names: the dual write must carry every one.
    if let (Some(l), None) = (&live, &writers) {
        let w = crate::writers::Writers::start(
            db.connect_options(),
            l.clone(),
            &crate::writers::WriterOptions {
                writers: 1,
                rate: None,
            },
        )
        .await
        .map_err(infra("writers"))?;
        let log = w.finish().await.map_err(infra("writers"))?;
        if let Some(f) = log.failures.first() {
            return Err(Stop::Fail(fail(
                "dual_write",
                format!("writes:{}", f.sqlstate.as_deref().unwrap_or("error")),
                format!("a write through the dual write failed: {}", f.message),
            )));
        }
        clock.lap("dual_write");
    }
    let before = if writers.is_none() {
        Some(
            facts::snapshot(&mut conn)
                .await
                .map_err(stop("snapshot", "query:snapshot"))?,
        )
    } else {
        None
    };
    clock.lap("snapshot");

    let migrated = migrations::run_phase_1c(&mut conn, &opts).await;
    let live_log = match writers {
        Some(w) => Some(w.stop().await.map_err(infra("writers"))?),
        None => None,
    };
    clock.lap("phase_1c");
    match migrated {
        Ok(outcome) if outcome.completed() => {}
        Ok(outcome) => {
            return Err(Stop::Fail(fail(
                "phase_1c",
                "migration:incomplete".into(),
                format!(
                    "Phase 1C did not complete: {:?}",
                    outcome
                        .steps
                        .iter()
                        .map(|s| (s.step, s.status))
                        .collect::<Vec<_>>()
                ),
            )))
        }
        Err(e) => {
            if is_infra(&e) {
                return Err(Stop::Infra(format!("phase 1c: {e}")));
            }
            if e.step() == Some(migrations::StepName::Step8FullValidation) {
                // The gate said no: name the failure by what the audit sees.
                return Err(stop_of(
                    audit_finding(
                        "phase_1c",
                        &mut conn,
                        format!("STEP_8 refused: {e}"),
                        &mut Vec::new(),
                    )
                    .await,
                ));
            }
            let step = e.step().map_or("phase_1c", |s| s.as_str());
            return Err(Stop::Fail(fail(
                "phase_1c",
                format!("migration:{step}"),
                format!("{e}"),
            )));
        }
    }
    match migrations::lock_state(&mut conn)
        .await
        .map_err(stop("phase_1c", "migration:lock"))?
    {
        Some(l) if !l.locked && l.unlocked_at_utc.is_some() => {}
        other => {
            return Err(Stop::Fail(fail(
                "phase_1c",
                "confirmation:lock".into(),
                format!("lock not released: {other:?}"),
            )))
        }
    }

    // The whole audit `harness validate` runs: the twelve checks on the canonical tables,
    // archive parity, hour grid and every confirmation.
    let f = audit_finding(
        "checks_after",
        &mut conn,
        String::new(),
        &mut result.checks_run,
    )
    .await;
    if f.signature != "audit:passed" {
        return Err(stop_of(f));
    }
    clock.lap("checks_after");

    if let Some(before) = &before {
        let lost = facts::lost(&mut conn, before)
            .await
            .map_err(stop("lost", "query:lost"))?;
        if let Some((table, _)) = lost.first() {
            return Err(Stop::Fail(fail(
                "lost",
                format!("lost:{}", table.trim_end_matches(contract::ARCHIVE_SUFFIX)),
                lost.iter()
                    .map(|(_, l)| l.as_str())
                    .collect::<Vec<_>>()
                    .join("\n"),
            )));
        }
    }
    if let Some(l) = &live {
        // With writers, what they acknowledged must be there; without, every dual-written
        // unit was acknowledged, so the whole world must be.
        let (expected, signature) = match &live_log {
            Some(log) => {
                let acked = log.acknowledged();
                let e = l
                    .expected(|h, u| acked.contains(&crate::writers::UnitRef { hour: h, unit: u }));
                (std::borrow::Cow::Owned(e), "lost:acknowledged_writes")
            }
            None => (std::borrow::Cow::Borrowed(world), "lost:dual_written_hours"),
        };
        let v = crate::writers::verify::verify_acknowledged(&mut conn, &expected)
            .await
            .map_err(stop("lost", "query:verify"))?;
        if !v.is_exact() {
            return Err(Stop::Fail(fail("lost", signature.into(), v.describe())));
        }
    }
    clock.lap("lost");

    // With writers the database holds the seed and what was acknowledged, not the whole
    // model: replay parity then rests on the SQL recomputation (a check, above).
    if options.writers == 0 {
        let stored = facts::stored_lines(&mut conn)
            .await
            .map_err(stop("replay", "query:stored_states"))?;
        if let Some(d) = facts::first_mismatch(
            "reference model vs stored after cutover",
            &facts::state_lines(model),
            &stored,
        ) {
            return Err(Stop::Fail(fail(
                "replay",
                "replay:stored_vs_model".into(),
                d,
            )));
        }
        let identity: Vec<String> = sqlx::query_scalar(
            "SELECT state_hash FROM portfolio_hourly_state_identity ORDER BY hour_ts, account_id",
        )
        .fetch_all(&mut conn)
        .await
        .map_err(stop("replay", "replay:identity"))?;
        let expected: Vec<&String> = model.portfolios.iter().map(|p| &p.state_hash).collect();
        if identity.iter().collect::<Vec<_>>() != expected {
            return Err(Stop::Fail(fail(
                "replay",
                "replay:identity_vs_model".into(),
                "portfolio identity hashes differ from the reference model's".into(),
            )));
        }
    }
    clock.lap("replay");

    if let Some(seed) = options.mutation {
        match mutate::mutate_once(&mut conn, world, seed)
            .await
            .map_err(stop("mutate", "mutation:error"))?
        {
            Some(m) if !m.killed => {
                let f = fail(
                    "mutate",
                    format!("mutation:{}/{}", m.check, m.rule),
                    format!("{} ({}): {}", m.rule, m.what, m.detail),
                );
                result.mutation = Some(m);
                return Err(Stop::Fail(f));
            }
            m => result.mutation = m,
        }
        clock.lap("mutate");
    }
    let _ = conn.close().await;
    Ok(())
}

/// The full audit as a finding: the first failing check (by rule) or confirmation;
/// signature `audit:passed` when it passed.
async fn audit_finding(
    stage: &'static str,
    conn: &mut PgConnection,
    context: String,
    clean: &mut Vec<&'static str>,
) -> Box<Finding> {
    let audit = match invariants::audit(conn, &mut [], AuditPurpose::Validate, 5).await {
        Ok(a) => a,
        Err(e) => {
            let kind = if is_infra(&e) {
                "infra:audit"
            } else {
                "query:audit"
            };
            return fail(stage, kind.into(), format!("{context}; audit: {e}"));
        }
    };
    clean.extend(
        audit
            .checks
            .iter()
            .filter(|o| o.violations == Some(0))
            .map(|o| o.check),
    );
    if let Some(mut f) = check_finding(stage, audit.table_set, &audit.checks, &[]) {
        if !context.is_empty() {
            f.detail = format!("{context}; {}", f.detail);
        }
        return f;
    }
    if let Some(c) = audit.confirmations.iter().find(|c| !c.passed) {
        let mut f = fail(stage, format!("confirmation:{}", c.name), c.detail.clone());
        if !context.is_empty() {
            f.detail = format!("{context}; {}", f.detail);
        }
        f.samples = serde_json::json!({"failures": audit.failures});
        return f;
    }
    if !audit.passed {
        return fail(
            stage,
            "audit:failed".into(),
            format!("{context}; {:?}", audit.failures),
        );
    }
    if !context.is_empty() {
        // STEP_8 refused although the audit passes now: the gate and the audit disagree.
        return fail(stage, "migration:STEP_8_FULL_VALIDATION".into(), context);
    }
    fail(stage, "audit:passed".into(), String::new())
}
