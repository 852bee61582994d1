//! The implementation log's data model: one struct per section of the seed log, plus the
//! sections this project adds (hour grid, archive parity, confirmations).

use chrono::{DateTime, Utc};
use invariants::migration_state::{MigrationState, StepLogEntry};
use invariants::parity::ParityReport;
use invariants::structure::{
    CompressionStatus, HypertableFk, IdentityCount, LockRow, TriggerStatus,
};
use invariants::{CheckOutcome, Confirmation, GridFigures, TableSet};
use serde::Serialize;

/// Where a report's data came from.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Origin {
    /// A `harness run`: provisioned, seeded, migrated here.
    Run {
        /// The world seeded (e.g. `fixture`).
        world: String,
        /// The scenario played (e.g. `seed-log`).
        scenario: String,
        /// The Phase 1C attempts, in order.
        attempts: Vec<AttemptSummary>,
    },
    /// An existing database audited read-only (`harness validate`).
    Database,
}

/// One Phase 1C attempt of a run.
#[derive(Debug, Clone, Serialize)]
pub struct AttemptSummary {
    /// `migration_step_log.run_id` of its rows (absent when it aborted before logging).
    pub run_id: Option<String>,
    /// Steps it logged (skipped ones included).
    pub steps: usize,
    /// Its abort, when it aborted.
    pub error: Option<String>,
}

/// The `## Migration Timestamps` section.
#[derive(Debug, Clone, Serialize)]
pub struct MigrationTimestamps {
    /// Start of the first Phase 1C (Revision B) step logged.
    pub execution_start_utc: Option<DateTime<Utc>>,
    /// End of the last Phase 1C step logged.
    pub execution_stop_utc: Option<DateTime<Utc>>,
    /// The failed Revision A step this run resumed from, when there was one.
    pub revision_a_failure: Option<RevisionAFailure>,
    /// `Resume mode:` text.
    pub resume_mode: String,
    /// One entry per failed, interrupted or never-ended Phase 1C step row, in log order.
    pub aborts: Vec<Abort>,
}

/// The failed Revision A row (phase `PHASE_1C_REVISION_A`).
#[derive(Debug, Clone, Serialize)]
pub struct RevisionAFailure {
    /// Its step (`M6`).
    pub step: String,
    /// When it failed.
    pub at_utc: DateTime<Utc>,
    /// Its error text.
    pub error: Option<String>,
}

/// A Phase 1C step that aborted under the lock, and what happened next.
#[derive(Debug, Clone, Serialize)]
pub struct Abort {
    /// `migration_step_log.log_id`.
    pub log_id: i64,
    /// When it aborted (its end, or its start when it never ended).
    pub at_utc: DateTime<Utc>,
    /// The step.
    pub step: String,
    /// Its status (`FAILED`, `FAILED (post-commit compression stage)`, `INTERRUPTED`, or
    /// `RUNNING` for a step that never ended).
    pub status: String,
    /// Its error text.
    pub error: Option<String>,
    /// Its notes.
    pub notes: Option<String>,
    /// How the history went on, derived from the later rows and the lock.
    pub resolution: String,
    /// Whether a later row resolved it.
    pub resolved: bool,
}

/// One row of the `## Phase-by-Phase Status` table: the step's final status.
#[derive(Debug, Clone, Serialize)]
pub struct PhaseStatus {
    /// Step name.
    pub step: String,
    /// Start of the row that decided the status.
    pub started_at_utc: Option<DateTime<Utc>>,
    /// Its end.
    pub ended_at_utc: Option<DateTime<Utc>>,
    /// Final status: the last row that did not merely skip the step; `NOT RUN` when none.
    pub status: String,
    /// That row's notes.
    pub notes: String,
    /// That row's error text.
    pub error: Option<String>,
    /// That row's `log_id`.
    pub log_id: Option<i64>,
    /// Rows logged for the step across all runs (skips included).
    pub rows: usize,
}

/// The `## FK Legality Confirmation` section.
#[derive(Debug, Clone, Serialize)]
pub struct FkLegality {
    /// `FK -> hypertable` rows found by the structural confirmation.
    pub rows: Vec<HypertableFk>,
    /// Their count.
    pub count: i64,
    /// The `no_hypertable_fk` check's count (`None`: `n/a` or not run).
    pub check_violations: Option<i64>,
}

/// Where the validation outcomes came from.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ValidationSource {
    /// The STEP_8 gate of the last attempt.
    Step8Gate {
        /// That attempt's run id.
        run_id: String,
    },
    /// Run here, read-only, because no STEP_8 gate outcome was available.
    ReadOnlyRerun,
}

/// The `## Validation Results` section.
#[derive(Debug, Clone, Serialize)]
pub struct Validation {
    /// Where the outcomes came from.
    pub source: ValidationSource,
    /// The table set they ran on.
    pub table_set: TableSet,
    /// The twelve outcomes, in report order.
    pub checks: Vec<CheckOutcome>,
    /// `name=count` (or `name=n/a`, `name=not run`) of every check that is not zero.
    pub failing: Vec<String>,
    /// All twelve present and zero.
    pub passed: bool,
}

/// The `## Cutover Status` section.
#[derive(Debug, Clone, Serialize)]
pub struct Cutover {
    /// The cutover transaction committed (STEP_7 logged SUCCESS or a post-commit failure, or
    /// the renames are structurally complete).
    pub transaction_committed: bool,
    /// All ten `*_phase1a_archive` tables exist.
    pub archive_rename: bool,
    /// No `*_v2` is left and the archives exist.
    pub v2_rename: bool,
    /// Archives present, in the seed log's order.
    pub archives_present: Vec<String>,
    /// Archives missing.
    pub archives_missing: Vec<String>,
    /// `*_v2` tables still present.
    pub v2_remaining: Vec<String>,
}

/// The `## Trigger Status` section.
#[derive(Debug, Clone, Serialize)]
pub struct Triggers {
    /// Every contract trigger present and enabled.
    pub all_ok: bool,
    /// The thirteen, in contract order.
    pub triggers: Vec<TriggerStatus>,
}

/// The `## Final Result` section.
#[derive(Debug, Clone, Serialize)]
pub struct FinalResult {
    /// The run succeeded and the database satisfies the contract now.
    pub success: bool,
    /// STEP_9 logged SUCCESS and the lock row says unlocked.
    pub migration_completed: bool,
    /// The lock was released only after STEP_8 passed (`None` when it was not released).
    pub unlocked_after_validation: Option<bool>,
    /// `Migration result:` text.
    pub migration_result: String,
    /// `Contract action taken:` text.
    pub contract_action: String,
}

/// The implementation log of one run or one database.
#[derive(Debug, Clone, Serialize)]
pub struct ImplementationLog {
    /// Always `IMPLEMENTATION_LOG_PHASE_1C`.
    pub title: &'static str,
    /// Where the data came from.
    pub origin: Origin,
    /// `## Migration Timestamps`.
    pub timestamps: MigrationTimestamps,
    /// `## Phase-by-Phase Status (Revision B Resume)`, one row per step in run order.
    pub phases: Vec<PhaseStatus>,
    /// `## Identity Table Counts`.
    pub identity: Vec<IdentityCount>,
    /// `## FK Legality Confirmation`.
    pub fk_legality: FkLegality,
    /// `## Validation Results`.
    pub validation: Validation,
    /// `## Hour Grid Completeness`.
    pub hour_grid: GridFigures,
    /// `## Cutover Status`.
    pub cutover: Cutover,
    /// `## Archive Parity`.
    pub parity: ParityReport,
    /// `## Trigger Status`.
    pub triggers: Triggers,
    /// `## Compression Confirmation`.
    pub compression: CompressionStatus,
    /// `## Final Lock State` (`None`: no lock row).
    pub lock: Option<LockRow>,
    /// The structural confirmations as `harness validate` judges them (a finished migration).
    pub confirmations: Vec<Confirmation>,
    /// The migration's own state (lock epoch, attempts and their resolutions).
    pub migration: MigrationState,
    /// `## Final Result`.
    pub result: FinalResult,
    /// Every `migration_step_log` row (Phase 1B, Revision A and Phase 1C), in log order.
    pub step_log: Vec<StepLogEntry>,
}

impl ImplementationLog {
    /// TRUE when all twelve checks are zero and every confirmation holds: the database is a
    /// finished migration that satisfies the contract (what `harness validate` exits 0 on).
    pub fn audit_passed(&self) -> bool {
        self.validation.passed && self.confirmations.iter().all(|c| c.passed)
    }

    /// Why the audit fails, one line per failing check or confirmation.
    pub fn audit_failures(&self) -> Vec<String> {
        let mut out = self.validation.failing.clone();
        out.extend(
            self.confirmations
                .iter()
                .filter(|c| !c.passed)
                .map(|c| format!("{}: {}", c.name, c.detail)),
        );
        out
    }
}
