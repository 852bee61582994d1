//! The harness's main job: provision a database, seed a world, run the whole migration.

use std::sync::Arc;
use std::time::{Duration, Instant};

use generators::{World, WorldParams};
use migrations::{FaultHook, MigrationError, RunOptions, RunOutcome};
use sqlx::Connection;
use tracing::info;

use crate::provision::Server;
use crate::template::TemplateSpec;
use crate::TestDb;

/// Seeding into a fresh clone of the Phase 1A template: COPY without the per-row foreign-key
/// triggers, then every foreign key verified by one set-based statement in the same
/// transaction (2x faster on the default world; a dangling reference still fails the seed).
const BULK_SEED: generators::SeedOptions = generators::SeedOptions {
    verify_foreign_keys_in_bulk: true,
};

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

/// One Phase 1C attempt: its outcome, and the error if it aborted.
#[derive(Debug)]
pub struct Attempt {
    /// What the run did (present for step failures and successes).
    pub outcome: Option<RunOutcome>,
    /// The abort, if any.
    pub error: Option<String>,
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
}

impl RunReport {
    /// True when the last attempt completed the migration (lock released).
    pub fn succeeded(&self) -> bool {
        self.attempts
            .last()
            .and_then(|a| a.outcome.as_ref())
            .is_some_and(|o| {
                o.completed() && self.attempts.last().is_some_and(|a| a.error.is_none())
            })
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
    let t0 = Instant::now();
    let db = TestDb::on_server(server, &TemplateSpec::phase_1a()).await?;
    let mut conn = db.connect().await?;
    let stats = generators::seed_world_with(&mut conn, world, &BULK_SEED).await?;
    info!(
        rows = stats.total_rows,
        ms = stats.elapsed.as_millis(),
        "world seeded"
    );
    let t1b = Instant::now();
    migrations::apply_phase_1b(&mut conn)
        .await
        .map_err(|source| RunError::Migration {
            phase: "Phase 1B",
            source,
        })?;
    let phase_1b_time = t1b.elapsed();
    if scenario != Scenario::Clean {
        migrations::apply_revision_a_m6_partial(&mut conn)
            .await
            .map_err(|source| RunError::Migration {
                phase: "Revision A M6 (partial)",
                source,
            })?;
    }
    // STEP_8's audit runs on the migration's connection and one helper connection.
    let gate = Arc::new(crate::gate::AuditGate::with_helper(db.connect_options()));
    let opts = RunOptions {
        gate: Some(gate.clone()),
        fault: (scenario == Scenario::SeedLog).then(|| Arc::new(FaultHook::seed_log_scenario())),
        ..RunOptions::default()
    };
    // The seed log's history needs three attempts: each injected fault fires once, and the
    // operator resumes under the lock. Any other scenario gets one attempt.
    let max_attempts = if scenario == Scenario::SeedLog { 3 } else { 1 };
    let mut attempts = Vec::new();
    for _ in 0..max_attempts {
        match migrations::run_phase_1c(&mut conn, &opts).await {
            Ok(outcome) => {
                attempts.push(Attempt {
                    outcome: Some(outcome),
                    error: None,
                });
                break;
            }
            Err(e) => {
                let outcome = e.outcome().cloned();
                let resumable = outcome.is_some();
                attempts.push(Attempt {
                    outcome,
                    error: Some(e.to_string()),
                });
                if !resumable {
                    break;
                }
            }
        }
    }
    let _ = conn.close().await;
    Ok(RunReport {
        db,
        row_counts: world.row_counts(),
        seed_time: stats.elapsed,
        phase_1b_time,
        attempts,
        audit: gate.last_audit(),
        total_time: t0.elapsed(),
    })
}

/// A template holding `world` seeded and fully migrated (Phase 1B + Phase 1C, real gate), so
/// tests that need a migrated database clone it in milliseconds instead of migrating each time.
/// Named by the world's content fingerprint and the migration SQL's hash.
pub fn migrated_template(world: Arc<World>) -> crate::template::TemplateSpec {
    let key = format!(
        "migrated:{}:{}",
        world.fingerprint(),
        migrations::sql_fingerprint()
    );
    crate::template::TemplateSpec::phase_1a_with(
        key,
        Arc::new(move |conn| {
            let world = world.clone();
            Box::pin(async move {
                generators::seed_world_with(conn, &world, &BULK_SEED)
                    .await
                    .map_err(|e| e.to_string())?;
                migrations::apply_phase_1b(conn)
                    .await
                    .map_err(|e| e.to_string())?;
                let outcome = migrations::run_phase_1c(conn, &crate::gate::audit_options())
                    .await
                    .map_err(|e| e.to_string())?;
                if outcome.completed() {
                    Ok(())
                } else {
                    Err("Phase 1C did not complete".to_string())
                }
            })
        }),
    )
}

/// The fixture world, built once per process.
pub fn fixture_world() -> Result<Arc<World>, RunError> {
    static FIXTURE: std::sync::OnceLock<Arc<World>> = std::sync::OnceLock::new();
    if let Some(w) = FIXTURE.get() {
        return Ok(w.clone());
    }
    let w = Arc::new(build_world(&WorldSource::Fixture)?);
    Ok(FIXTURE.get_or_init(|| w).clone())
}
