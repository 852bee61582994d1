//! Typed errors of the migration runner, each carrying the phase or step it came from.

use crate::{RunOutcome, StepName, StepStatus};

/// What went wrong applying a phase or running Phase 1C.
#[derive(Debug, thiserror::Error)]
pub enum MigrationError {
    /// The server could not be reached or refused the connection.
    #[error("cannot connect to {url}: {source}")]
    Connect {
        /// The URL with any password redacted.
        url: String,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
    /// A phase's prerequisite schema is absent (e.g. Phase 1B on a database without Phase 1A).
    #[error("{phase} cannot run: {missing} is not applied")]
    PrerequisiteMissing {
        /// The phase that was asked for.
        phase: &'static str,
        /// The missing prerequisite.
        missing: &'static str,
    },
    /// Phase 1C on a database without Phase 1B (no `migration_lock`).
    #[error("Phase 1C cannot run: Phase 1B is not applied (no migration_lock table)")]
    Phase1bMissing,
    /// The `phase_1b_schema` row is absent from `migration_lock`.
    #[error("Phase 1C cannot run: lock row phase_1b_schema is missing from migration_lock")]
    LockRowMissing,
    /// The `phase_1b_schema` lock is not held and this lock epoch never completed Phase 1C.
    #[error("Phase 1C cannot run: phase_1b_schema is not locked (unlocked at {}) and no completed Phase 1C run holds it; fix: restore the lock row (locked = TRUE) before resuming", unlocked_at_utc.map(|t| t.to_rfc3339()).unwrap_or_else(|| "an unrecorded time".into()))]
    LockNotHeld {
        /// When the lock was released, as recorded.
        unlocked_at_utc: Option<chrono::DateTime<chrono::Utc>>,
    },
    /// A table already bears an archive name the cutover needs.
    #[error("Phase 1C cannot run: archive name(s) already taken by foreign table(s): {}", tables.join(", "))]
    ArchiveNameTaken {
        /// The `*_phase1a_archive` names already in use.
        tables: Vec<String>,
    },
    /// The event tables are in a layout that is neither before nor after the cutover.
    #[error("Phase 1C cannot run: unrecognised table layout: {detail}")]
    UnrecognisedLayout {
        /// Which tables exist.
        detail: String,
    },
    /// Another session held the runner's advisory lock on this database for as long as this
    /// run waited (a live runner, or the backend of a killed one that has not noticed yet).
    #[error("the migration cannot run: another runner holds the advisory lock on this database ({holder}); waited {waited_ms} ms for it to end")]
    ConcurrentRun {
        /// Who holds it: backend pid, application name, state, since when.
        holder: String,
        /// How long this run waited.
        waited_ms: u64,
    },
    /// The phase was already applied to this database.
    #[error("{phase} is already applied to this database")]
    AlreadyApplied {
        /// The phase.
        phase: &'static str,
    },
    /// A Phase 1A / 1B / Revision A script failed (its transaction rolled back).
    #[error("{phase}: {script} failed: {message}")]
    Script {
        /// The phase.
        phase: &'static str,
        /// The SQL file.
        script: &'static str,
        /// The database's error (SQLSTATE, message, detail, hint, `file:line`).
        message: String,
    },
    /// Phase 1C on a database whose Phase 1B started but did not finish.
    #[error("Phase 1C cannot run: Phase 1B is not complete (no SUCCESS yet for {}); run `harness migrate URL` to resume it", missing.join(", "))]
    Phase1bIncomplete {
        /// The Phase 1B scripts without a SUCCESS in this lock epoch.
        missing: Vec<String>,
    },
    /// A Phase 1C step failed: the run stopped there, the lock is still held.
    #[error("{step} {status}: {message}")]
    StepFailed {
        /// The failing step.
        step: StepName,
        /// `FAILED` or `FAILED (post-commit compression stage)`.
        status: StepStatus,
        /// The error text (also written to `migration_step_log.error_text`).
        message: String,
        /// The database's error and where in the step it happened, when there was one.
        cause: Option<Box<crate::StepErrorDetail>>,
        /// Everything the run did up to and including the failure.
        outcome: Box<RunOutcome>,
    },
    /// A step cannot run in the database's current state (e.g. a pre-cutover step after it).
    #[error("{step} cannot run now: {reason}")]
    StepNotApplicable {
        /// The step asked for.
        step: StepName,
        /// Why not.
        reason: String,
    },
    /// Reading or writing the runner's own bookkeeping failed.
    #[error("{context}: {source}")]
    Database {
        /// What the runner was doing.
        context: &'static str,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
}

impl MigrationError {
    /// The partial outcome of a run that failed in a step, if this is such an error.
    pub fn outcome(&self) -> Option<&RunOutcome> {
        match self {
            MigrationError::StepFailed { outcome, .. } => Some(outcome),
            _ => None,
        }
    }

    /// The step this error belongs to, if any.
    pub fn step(&self) -> Option<StepName> {
        match self {
            MigrationError::StepFailed { step, .. }
            | MigrationError::StepNotApplicable { step, .. } => Some(*step),
            _ => None,
        }
    }
}

/// The database's own message for an error (without sqlx's prefix), or the error's display.
pub(crate) fn db_message(e: &sqlx::Error) -> String {
    match e.as_database_error() {
        Some(d) => d.message().to_string(),
        None => e.to_string(),
    }
}

pub(crate) fn ctx(context: &'static str) -> impl FnOnce(sqlx::Error) -> MigrationError {
    move |source| MigrationError::Database { context, source }
}
