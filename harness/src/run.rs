//! The harness's main job: provision a database, seed a world, run the whole migration.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use generators::{LiveWorld, World, WorldParams};
use invariants::AuditPurpose;
use migrations::{FaultHook, MigrationError, RunOptions, RunOutcome, StepName};
use sqlx::Connection;
use tracing::info;

use crate::provision::Server;
use crate::template::TemplateSpec;
use crate::writers::stats::{self, Window, WriteStats};
use crate::writers::verify::{verify_acknowledged, Verification};
use crate::writers::{UnitRef, WriterLog, Writers};
use crate::TestDb;

/// Which world to seed.
#[derive(Debug, Clone)]
pub enum WorldSource {
    /// The small hand-scripted fixture world of crate `generators`.
    Fixture,
    /// A replay file (`{seed, shape, script}` JSON), e.g. a shrunk failing property-test case.
    Replay(Box<generators::ReplayFile>),
    /// A world generated from a seed.
    Generated {
        /// The seed (printed first; replays the world).
        seed: u64,
        /// Its size.
        params: WorldParams,
    },
}

/// Which migration history to play.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// Phase 1B then Phase 1C on a clean database.
    Clean,
    /// A failed Revision A M6 left partial artifacts; Phase 1C Revision B normalizes them.
    #[value(name = "revision-a-m6", alias = "revision-am6")]
    RevisionAM6,
    /// The seed log's history: Revision A failed in M6; STEP_3 aborts once; the cutover's
    /// compression stage fails; STEP_7B finalizes; validation passes; unlock.
    SeedLog,
}

/// Errors of a harness run, each naming the stage it happened in.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Provisioning the database failed.
    #[error("provisioning: {0}")]
    Provision(#[from] crate::ProvisionError),
    /// Generating the world failed.
    #[error("generating world (seed {seed}): {detail}")]
    Generate {
        /// Seed of the world.
        seed: u64,
        /// What went wrong.
        detail: String,
    },
    /// Seeding the world failed.
    #[error("seeding: {0}")]
    Seed(#[from] generators::SeedError),
    /// The world cannot be split into a seed and live hours.
    #[error("live writers: {0}")]
    Live(generators::LiveError),
    /// The writers could not start or ended abnormally.
    #[error("live writers: {0}")]
    Writers(crate::writers::WriterError),
    /// Verifying the acknowledged writes failed.
    #[error("live writers: {0}")]
    Verify(crate::writers::verify::VerifyError),
    /// `HARNESS_FAULT_POINT` with the seed-log scenario, which injects its own faults.
    #[error("a fault point cannot be set with --scenario seed-log, which injects its own faults")]
    HookConflict,
    /// The run failed after its database existed; the database is kept, here.
    #[error("{source}")]
    Kept {
        /// The kept database's URL, password redacted.
        database: String,
        /// Why the run failed.
        #[source]
        source: Box<RunError>,
    },
    /// A migration phase failed.
    #[error("{phase}: {source}")]
    Migration {
        /// Which phase.
        phase: &'static str,
        /// The runner's error.
        #[source]
        source: MigrationError,
    },
}

/// Where a run stops (with `--keep`, the database is left in that state).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopAfter {
    /// After seeding the Phase 1A world: no migration.
    Seed,
    /// After Phase 1B: the lock held, Phase 1C not started.
    Phase1b,
    /// After this Phase 1C step's SUCCESS: the lock held (unless the step is STEP_9).
    Step(StepName),
}

impl StopAfter {
    /// Every accepted spelling, for help texts and errors.
    pub fn accepted() -> String {
        let mut v = vec!["seed".to_string(), "phase-1b".to_string()];
        v.extend(StepName::ALL.iter().map(|s| s.as_str().to_string()));
        v.join(", ")
    }
}

impl std::str::FromStr for StopAfter {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "seed" => Ok(Self::Seed),
            "phase-1b" => Ok(Self::Phase1b),
            other => StepName::ALL
                .iter()
                .find(|n| n.as_str().eq_ignore_ascii_case(other))
                .map(|n| Self::Step(*n))
                .ok_or_else(|| {
                    format!(
                        "unknown stop point `{other}`; expected one of: {}",
                        Self::accepted()
                    )
                }),
        }
    }
}

impl std::fmt::Display for StopAfter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Seed => f.write_str("seed"),
            Self::Phase1b => f.write_str("phase-1b"),
            Self::Step(s) => f.write_str(s.as_str()),
        }
    }
}

/// Live writers during a run: how many, how fast, over how many of the world's last hours.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveConfig {
    /// Writer count and rate.
    pub writers: crate::writers::WriterOptions,
    /// The world's last hours that are written live instead of seeded.
    pub live_hours: u32,
}

/// How a run goes.
#[derive(Debug, Clone, PartialEq)]
pub struct RunConfig {
    /// Which migration history.
    pub scenario: Scenario,
    /// Live writers, if any.
    pub live: Option<LiveConfig>,
    /// Where to stop (`None`: the whole migration).
    pub stop_after: Option<StopAfter>,
}

impl RunConfig {
    /// The whole migration of `scenario`, no writers.
    pub fn scenario(scenario: Scenario) -> Self {
        Self {
            scenario,
            live: None,
            stop_after: None,
        }
    }
}

/// One Phase 1C attempt: its outcome, and the error if it aborted.
#[derive(Debug)]
pub struct Attempt {
    /// What the run did (present for step failures and successes).
    pub outcome: Option<RunOutcome>,
    /// The abort, if any.
    pub error: Option<String>,
}

/// What the live writers did during a run, and the proof that none of it was lost.
#[derive(Debug)]
pub struct LiveRun {
    /// Writers and rate.
    pub config: LiveConfig,
    /// Every acknowledged unit and every failed attempt.
    pub log: WriterLog,
    /// Live units in the world (the writers stop at an hour boundary once the migration ended,
    /// or when these run out).
    pub units_available: usize,
    /// Seed plus acknowledged units vs the final canonical tables.
    pub verification: Verification,
    /// Figures before the migration, per Phase 1B / Phase 1C step, and after.
    pub windows: Vec<(String, WriteStats)>,
    /// Figures over the whole run.
    pub overall: WriteStats,
    /// Figures per kind of unit (an hour's close writes hundreds of rows, an order a dozen).
    pub by_kind: Vec<(&'static str, WriteStats)>,
    /// `pg_stat_database.deadlocks` of the database, over the run.
    pub server_deadlocks: i64,
    /// What the audit found after the writers stopped (empty: it passed).
    pub final_audit_failures: Vec<String>,
}

impl LiveRun {
    /// Nothing lost, nothing unexpected, no writer error, no deadlock, audit clean.
    pub fn clean(&self) -> bool {
        self.verification.is_exact()
            && self.overall.errors == 0
            && self.server_deadlocks == 0
            && self.final_audit_failures.is_empty()
    }
}

/// Everything a run did, for printing and for the implementation log.
#[derive(Debug)]
pub struct RunReport {
    /// The database (kept when `keep` or on failure).
    pub db: TestDb,
    /// Rows seeded per table.
    pub row_counts: Vec<(&'static str, u64)>,
    /// Seeding wall time.
    pub seed_time: Duration,
    /// Phase 1B wall time.
    pub phase_1b_time: Duration,
    /// Phase 1C attempts in order (more than one when a scenario resumes under the lock).
    pub attempts: Vec<Attempt>,
    /// The audit STEP_8's gate ran last (checks, parity, grid), if STEP_8 ran it.
    pub audit: Option<invariants::Audit>,
    /// Total time from provisioning to the end of the last attempt.
    pub total_time: Duration,
    /// Phase 1B plus every Phase 1C attempt, wall time.
    pub migration_time: Duration,
    /// Where the run stopped, when it was asked to stop early.
    pub stopped_after: Option<StopAfter>,
    /// The live writers, when there were any.
    pub live: Option<LiveRun>,
}

impl RunReport {
    /// True when the run did what it was asked: the whole migration completed (lock
    /// released), or it stopped where it was asked to without an error; and, with live
    /// writers, nothing they wrote was lost and the audit afterwards passed.
    pub fn succeeded(&self) -> bool {
        let last_ok = |want_complete: bool| {
            self.attempts.last().is_some_and(|a| {
                a.error.is_none()
                    && a.outcome
                        .as_ref()
                        .is_some_and(|o| !want_complete || o.completed())
            })
        };
        let migrated = match self.stopped_after {
            Some(StopAfter::Seed | StopAfter::Phase1b) => true,
            Some(StopAfter::Step(StepName::Step9Unlock)) | None => last_ok(true),
            Some(StopAfter::Step(_)) => last_ok(false),
        };
        // With writers, a write lost, an error or a failing audit afterwards fails the run.
        migrated && self.live.as_ref().is_none_or(LiveRun::clean)
    }
}

/// Build the world a run seeds.
pub fn build_world(source: &WorldSource) -> Result<World, RunError> {
    match source {
        WorldSource::Fixture => {
            generators::fixture()
                .map(|s| s.world)
                .map_err(|e| RunError::Generate {
                    seed: generators::FIXTURE_SEED,
                    detail: e.to_string(),
                })
        }
        WorldSource::Replay(file) => file.world().map_err(|e| RunError::Generate {
            seed: file.seed,
            detail: e.to_string(),
        }),
        WorldSource::Generated { seed, params } => generators::generate(*seed, params)
            .map(|g| g.simulation.world)
            .map_err(|e| RunError::Generate {
                seed: *seed,
                detail: e.to_string(),
            }),
    }
}

/// Provision a fresh database on `server`, seed `world`, run Phase 1B and Phase 1C as the
/// scenario says. Step failures are recorded in the report, not returned as errors; only a
/// failure outside the Phase 1C steps (provisioning, seeding, Phase 1B) is an `Err`.
pub async fn run(
    server: Arc<dyn Server>,
    world: &World,
    scenario: Scenario,
) -> Result<RunReport, RunError> {
    run_with(server, world, &RunConfig::scenario(scenario)).await
}

/// [`run`] with writers and a stop point.
pub async fn run_with(
    server: Arc<dyn Server>,
    world: &World,
    config: &RunConfig,
) -> Result<RunReport, RunError> {
    run_with_hook(server, world, config, None).await
}

/// [`run_with`], with a fault hook for the migration (the CLI's `HARNESS_FAULT_POINT`; the
/// seed-log scenario brings its own and refuses a second). A failure after the database exists
/// keeps it and says where ([`RunError::Kept`]): a failed run is never cleaned away.
pub async fn run_with_hook(
    server: Arc<dyn Server>,
    world: &World,
    config: &RunConfig,
    hook: Option<Arc<FaultHook>>,
) -> Result<RunReport, RunError> {
    let t0 = Instant::now();
    let scenario = config.scenario;
    let live_world = match &config.live {
        Some(l) => Some(Arc::new(
            generators::split_live(world, l.live_hours).map_err(RunError::Live)?,
        )),
        None => None,
    };
    if hook.is_some() && scenario == Scenario::SeedLog {
        return Err(RunError::HookConflict);
    }
    let seeded = live_world.as_ref().map_or(world, |l| &l.seeded);
    let db = TestDb::on_server(server, &TemplateSpec::phase_1a()).await?;
    let mut report = RunReport {
        row_counts: seeded.row_counts(),
        seed_time: Duration::ZERO,
        phase_1b_time: Duration::ZERO,
        attempts: Vec::new(),
        audit: None,
        total_time: Duration::ZERO,
        migration_time: Duration::ZERO,
        stopped_after: config.stop_after,
        live: None,
        db,
    };
    match drive(&mut report, seeded, config, &live_world, hook, t0).await {
        Ok(()) => Ok(report),
        Err(source) => {
            report.db.keep_quietly();
            Err(RunError::Kept {
                database: report.db.url(),
                source: Box::new(source),
            })
        }
    }
}

/// Everything after the database exists: seed, writers, migration, verification.
async fn drive(
    report: &mut RunReport,
    seeded: &World,
    config: &RunConfig,
    live_world: &Option<Arc<LiveWorld>>,
    hook: Option<Arc<FaultHook>>,
    t0: Instant,
) -> Result<(), RunError> {
    let scenario = config.scenario;
    let mut conn = report.db.connect().await?;
    let stats = generators::seed_world_with(&mut conn, seeded, &fixtures::SEED_OPTIONS).await?;
    info!(
        rows = stats.total_rows,
        ms = stats.elapsed.as_millis(),
        "world seeded"
    );
    report.seed_time = stats.elapsed;
    if config.stop_after == Some(StopAfter::Seed) {
        let _ = conn.close().await;
        report.total_time = t0.elapsed();
        return Ok(());
    }
    let deadlocks_before = server_deadlocks(&mut conn).await;
    let writers = match (&config.live, live_world) {
        (Some(l), Some(lw)) => {
            let w = Writers::start(report.db.connect_options(), lw.clone(), &l.writers)
                .await
                .map_err(RunError::Writers)?;
            // The first hour is the baseline: writes before anything migrates.
            w.first_hour_written().await;
            Some(w)
        }
        _ => None,
    };
    let migration_started = Utc::now();
    let tm = Instant::now();
    // STEP_8's audit runs on the migration's connection and one helper connection.
    let gate = Arc::new(crate::gate::AuditGate::with_helper(
        report.db.connect_options(),
    ));
    let opts = RunOptions {
        gate: Some(gate.clone()),
        fault: match scenario {
            Scenario::SeedLog => Some(Arc::new(FaultHook::seed_log_scenario())),
            _ => hook,
        },
        stop_after: match config.stop_after {
            Some(StopAfter::Step(s)) => Some(s),
            _ => None,
        },
        ..RunOptions::default()
    };
    let migrated = migrate(&mut conn, &opts, scenario, config.stop_after, report).await;
    report.migration_time = tm.elapsed();
    let migration_ended = Utc::now();
    if let (Some(w), Some(l), Some(lw)) = (writers, &config.live, live_world) {
        let stopped = w.stop().await;
        if let Err(e) = migrated {
            // The migration's failure is the run's: what the writers or the verification
            // say after it (over a connection it may have lost) would only hide it.
            if let Err(w) = stopped {
                tracing::warn!(error = %w, "live writers after the failed migration");
            }
            return Err(e);
        }
        let log = stopped.map_err(RunError::Writers)?;
        report.live = Some(
            finish_live(
                &mut conn,
                l,
                lw,
                log,
                report,
                migration_started,
                migration_ended,
                deadlocks_before,
            )
            .await?,
        );
    }
    migrated?;
    let _ = conn.close().await;
    report.audit = gate.last_audit();
    report.total_time = t0.elapsed();
    Ok(())
}

/// Phase 1B, the scenario's Revision A history, then Phase 1C attempts (the seed log's history
/// resumes under the lock).
async fn migrate(
    conn: &mut sqlx::PgConnection,
    opts: &RunOptions,
    scenario: Scenario,
    stop_after: Option<StopAfter>,
    report: &mut RunReport,
) -> Result<(), RunError> {
    let t1b = Instant::now();
    migrations::apply_phase_1b_with(conn, opts)
        .await
        .map_err(|source| RunError::Migration {
            phase: "Phase 1B",
            source,
        })?;
    report.phase_1b_time = t1b.elapsed();
    if stop_after == Some(StopAfter::Phase1b) {
        return Ok(());
    }
    if scenario != Scenario::Clean {
        migrations::apply_revision_a_m6_partial(conn)
            .await
            .map_err(|source| RunError::Migration {
                phase: "Revision A M6 (partial)",
                source,
            })?;
    }
    // The seed log's history needs three attempts: each injected fault fires once, and the
    // operator resumes under the lock. Any other scenario gets one attempt.
    let max_attempts = if scenario == Scenario::SeedLog { 3 } else { 1 };
    for _ in 0..max_attempts {
        match migrations::run_phase_1c(conn, opts).await {
            Ok(outcome) => {
                report.attempts.push(Attempt {
                    outcome: Some(outcome),
                    error: None,
                });
                break;
            }
            Err(e) => {
                let outcome = e.outcome().cloned();
                let resumable = outcome.is_some();
                report.attempts.push(Attempt {
                    outcome,
                    error: Some(e.to_string()),
                });
                if !resumable {
                    break;
                }
            }
        }
    }
    Ok(())
}

async fn server_deadlocks(conn: &mut sqlx::PgConnection) -> i64 {
    sqlx::query_scalar("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
        .fetch_one(&mut *conn)
        .await
        .unwrap_or(0)
}

/// After the writers stopped: verify every acknowledged write, audit old and new rows alike,
/// and split the writers' figures by migration step.
#[allow(clippy::too_many_arguments)]
async fn finish_live(
    conn: &mut sqlx::PgConnection,
    config: &LiveConfig,
    live: &LiveWorld,
    log: WriterLog,
    report: &RunReport,
    migration_started: DateTime<Utc>,
    migration_ended: DateTime<Utc>,
    deadlocks_before: i64,
) -> Result<LiveRun, RunError> {
    let acked = log.acknowledged();
    let expected = live.expected(|hour, unit| acked.contains(&UnitRef { hour, unit }));
    let verification = verify_acknowledged(conn, &expected)
        .await
        .map_err(RunError::Verify)?;
    // Statistics are cumulative and reported with a delay: a fresh snapshot sees them all.
    let _ = sqlx::raw_sql("SELECT pg_stat_clear_snapshot()")
        .execute(&mut *conn)
        .await;
    let server_deadlocks = server_deadlocks(conn).await - deadlocks_before;
    let final_audit_failures =
        match invariants::audit(conn, &mut [], AuditPurpose::Validate, 3).await {
            Ok(a) => migrations::gate_failures(&crate::gate::verdict(&a)),
            Err(e) => vec![format!("the audit could not run: {e}")],
        };
    let mut windows = vec![Window {
        name: "before the migration".into(),
        from: log.started_at_utc.unwrap_or(migration_started),
        to: migration_started,
    }];
    let steps: Vec<_> = report
        .attempts
        .iter()
        .filter_map(|a| a.outcome.as_ref())
        .flat_map(|o| o.steps.iter())
        .collect();
    let phase_1c_start = steps.first().map_or(migration_ended, |s| s.started_at_utc);
    windows.push(Window {
        name: "Phase 1B".into(),
        from: migration_started,
        to: phase_1c_start,
    });
    for s in &steps {
        windows.push(Window {
            name: s.step.as_str().to_string(),
            from: s.started_at_utc,
            to: s.ended_at_utc,
        });
    }
    windows.push(Window {
        name: "after the migration".into(),
        from: migration_ended,
        to: log.ended_at_utc.unwrap_or(migration_ended) + chrono::Duration::seconds(1),
    });
    Ok(LiveRun {
        config: config.clone(),
        units_available: live.unit_count(),
        windows: stats::per_window(&log, &windows),
        overall: stats::overall(&log),
        by_kind: stats::per_kind(&log),
        log,
        verification,
        server_deadlocks,
        final_audit_failures,
    })
}

/// A template holding `world` seeded and fully migrated with the audit gate at STEP_8, so
/// tests that need a migrated database clone it in milliseconds instead of migrating each time.
pub fn migrated_template(world: Arc<World>) -> crate::template::TemplateSpec {
    fixtures::migrated(world, Arc::new(crate::gate::AuditGate::new()))
}

/// The fixture world, built once per process.
pub fn fixture_world() -> Result<Arc<World>, RunError> {
    fixtures::fixture_world().map_err(|e| RunError::Generate {
        seed: generators::FIXTURE_SEED,
        detail: e.to_string(),
    })
}
