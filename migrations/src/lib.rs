//! The migration under test: Phase 1A baseline, Phase 1B (`phase_1b_schema`) contract migration,
//! Phase 1C Revision B cutover, and the runner that applies them.
//!
//! Every step is a plain SQL file under `migrations/sql/` (embedded here with `include_str!`),
//! readable on its own by a DBA; this crate only orders them, wraps each in its transaction,
//! records each in `migration_step_log`, enforces abort-on-error and resume semantics, and runs
//! the validation gate. See `migrations/README.md` for what each step does and why.

mod edit;
mod error;
mod fault;
mod phases;
mod runner;
mod sql;

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};

pub use contract::gate::{
    gate_failures, GateCheck, GateConfirmation, GateError, GateVerdict, StaticGate,
    ValidationFuture, ValidationGate,
};
pub use contract::{StepName, StepStatus, LOCK_NAME, LOCK_REASON, PHASE_1B, PHASE_1C};
pub use edit::{edited_sql, SqlEdit, SqlEditError};
pub use error::MigrationError;
pub use fault::{point_matches, FaultHook, FaultKind, FaultPoint, PointAction};
pub use phases::{
    apply_phase_1a, apply_revision_a_m6_partial, connect, lock_state, step_log, LockState,
    StepLogRow,
};
pub use runner::{
    apply_phase_1b, apply_phase_1b_with, fault_points, run_migration, run_phase_1c, run_step,
    MigrationOutcome, Phase1bOutcome, ScriptRecord,
};
pub use sql::{
    embedded_sql, parse_stages, split_statements, sql_fingerprint, SqlFileError, Stage, StageKind,
    Statement, PHASE_1A_SCRIPTS, PHASE_1B_SCRIPTS, REVISION_A_M6_PARTIAL,
};

/// Phase 1A scripts as (name, SQL), for building a template database.
pub fn phase_1a_scripts() -> &'static [(&'static str, &'static str)] {
    PHASE_1A_SCRIPTS
}

/// One Phase 1C step: its name and SQL.
#[derive(Debug, Clone, Copy)]
pub struct Step {
    /// The step.
    pub name: StepName,
    /// The SQL file, relative to `migrations/sql/`.
    pub file: &'static str,
    /// The step's SQL, run in one transaction.
    pub sql: &'static str,
    /// A second stage run in its own transaction after the first committed (STEP_7's
    /// compression stage), as (file, SQL).
    pub post_commit: Option<(&'static str, &'static str)>,
}

static STEPS: [Step; 11] = [
    Step {
        name: StepName::Step0VerifyLock,
        file: "phase_1c/step_0_verify_lock.sql",
        sql: sql::STEP_0,
        post_commit: None,
    },
    Step {
        name: StepName::Step1CleanupM6,
        file: "phase_1c/step_1_cleanup_m6.sql",
        sql: sql::STEP_1,
        post_commit: None,
    },
    Step {
        name: StepName::Step2IdentityTables,
        file: "phase_1c/step_2_identity_tables.sql",
        sql: sql::STEP_2,
        post_commit: None,
    },
    Step {
        name: StepName::Step3RevisedM6,
        file: "phase_1c/step_3_revised_m6.sql",
        sql: sql::STEP_3,
        post_commit: None,
    },
    Step {
        name: StepName::Step4RevisedM7,
        file: "phase_1c/step_4_revised_m7.sql",
        sql: sql::STEP_4,
        post_commit: None,
    },
    Step {
        name: StepName::Step5M8Guardrail,
        file: "phase_1c/step_5_m8_guardrail.sql",
        sql: sql::STEP_5,
        post_commit: None,
    },
    Step {
        name: StepName::Step6M9HashAdditions,
        file: "phase_1c/step_6_m9_hash_additions.sql",
        sql: sql::STEP_6,
        post_commit: None,
    },
    Step {
        name: StepName::Step7M10Cutover,
        file: "phase_1c/step_7_m10_cutover.sql",
        sql: sql::STEP_7,
        post_commit: Some((
            "phase_1c/step_7_m10_cutover_compression.sql",
            sql::STEP_7_COMPRESSION,
        )),
    },
    Step {
        name: StepName::Step7bPostCutoverFinalize,
        file: "phase_1c/step_7b_post_cutover_finalize.sql",
        sql: sql::STEP_7B,
        post_commit: None,
    },
    Step {
        name: StepName::Step8FullValidation,
        file: "phase_1c/step_8_full_validation.sql",
        sql: sql::STEP_8,
        post_commit: None,
    },
    Step {
        name: StepName::Step9Unlock,
        file: "phase_1c/step_9_unlock.sql",
        sql: sql::STEP_9,
        post_commit: None,
    },
];

/// The Phase 1C steps in run order.
pub fn steps() -> &'static [Step] {
    &STEPS
}

/// The step record of one name.
pub fn step(name: StepName) -> &'static Step {
    // STEPS is indexed in StepName::ALL order; the unit test below pins that.
    &STEPS[StepName::ALL.iter().position(|n| *n == name).unwrap_or(0)]
}

/// What one stage of a step did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StageRecord {
    /// The stage's name in its file.
    pub name: String,
    /// How it ran.
    pub kind: StageKind,
    /// Batches that handled rows (batch stages).
    pub batches: u32,
    /// Rows the batches handled.
    pub rows: i64,
    /// Times its transaction was rolled back and retried because a lock was not available
    /// within `lock_timeout` (or it was chosen as a deadlock victim).
    pub lock_retries: u32,
    /// Wall time, microseconds.
    pub duration_us: u64,
}

/// The database's error behind a failed step, and where in the step it happened.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StepErrorDetail {
    /// `file:line` of the statement that failed (the step file when no statement ran).
    pub at: String,
    /// The stage it failed in.
    pub stage: String,
    /// SQLSTATE, when the server sent one.
    pub sqlstate: Option<String>,
    /// The primary message.
    pub message: String,
    /// DETAIL, when the server sent one.
    pub detail: Option<String>,
    /// HINT, when the server sent one.
    pub hint: Option<String>,
}

impl StepErrorDetail {
    /// From a driver error, at `at` in stage `stage`.
    pub fn from_sqlx(e: &sqlx::Error, at: String, stage: String) -> Self {
        let pg = e
            .as_database_error()
            .and_then(|d| d.try_downcast_ref::<sqlx::postgres::PgDatabaseError>());
        match (e.as_database_error(), pg) {
            (Some(_), Some(pg)) => Self {
                at,
                stage,
                sqlstate: Some(pg.code().to_string()),
                message: pg.message().to_string(),
                detail: pg.detail().map(str::to_string),
                hint: pg.hint().map(str::to_string),
            },
            (Some(d), None) => Self {
                at,
                stage,
                sqlstate: d.code().map(|c| c.to_string()),
                message: d.message().to_string(),
                detail: None,
                hint: None,
            },
            (None, _) => Self {
                at,
                stage,
                sqlstate: None,
                message: format!("connection lost or unusable: {e}"),
                detail: None,
                hint: None,
            },
        }
    }

    /// One line: `file:line (stage s): SQLSTATE xxxxx: message (DETAIL: ...; HINT: ...)`.
    pub fn render(&self) -> String {
        let mut s = format!("{} (stage {}): ", self.at, self.stage);
        if let Some(code) = &self.sqlstate {
            s.push_str(&format!("SQLSTATE {code}: "));
        }
        s.push_str(&self.message);
        let extra: Vec<String> = [("DETAIL", &self.detail), ("HINT", &self.hint)]
            .iter()
            .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}: {v}")))
            .collect();
        if !extra.is_empty() {
            s.push_str(&format!(" ({})", extra.join("; ")));
        }
        s
    }
}

/// What one step did in one run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StepRecord {
    /// The step.
    pub step: StepName,
    /// `migration_step_log.log_id` of its row.
    pub log_id: i64,
    /// Start (UTC).
    pub started_at_utc: DateTime<Utc>,
    /// End (UTC).
    pub ended_at_utc: DateTime<Utc>,
    /// Final status.
    pub status: StepStatus,
    /// Notes (what was done or skipped, and why).
    pub notes: String,
    /// The error text of a failure.
    pub error: Option<String>,
    /// Its stages, in order.
    pub stages: Vec<StageRecord>,
    /// Lock retries over all its stages.
    pub lock_retries: u32,
    /// Wall time measured by the runner.
    #[serde(with = "duration_us")]
    pub duration: Duration,
}

/// What a Phase 1C run did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RunOutcome {
    /// `migration_step_log.run_id` of this run's rows.
    pub run_id: String,
    /// TRUE when the database was already migrated and unlocked: nothing was run or written.
    pub noop: bool,
    /// Why nothing was done, for a no-op run.
    pub noop_reason: Option<String>,
    /// Each step of this run, in order (skipped ones included).
    pub steps: Vec<StepRecord>,
    /// The validation gate's verdict, when STEP_8 ran its gate.
    pub validation: Option<GateVerdict>,
    /// Start of the run (UTC).
    pub started_at_utc: DateTime<Utc>,
    /// End of the run (UTC).
    pub ended_at_utc: DateTime<Utc>,
    /// The step the run stopped after, when `RunOptions::stop_after` asked it to.
    pub stopped_after: Option<StepName>,
}

impl RunOutcome {
    /// A run that has done nothing yet.
    pub fn empty(run_id: String) -> Self {
        let now = Utc::now();
        Self {
            run_id,
            noop: false,
            noop_reason: None,
            steps: Vec::new(),
            validation: None,
            started_at_utc: now,
            ended_at_utc: now,
            stopped_after: None,
        }
    }

    /// TRUE when every step of this run succeeded or was skipped as already done and the lock
    /// was released (or the run was a no-op on a finished migration).
    pub fn completed(&self) -> bool {
        self.noop
            || self
                .steps
                .iter()
                .any(|s| s.step == StepName::Step9Unlock && s.status == StepStatus::Success)
    }

    /// Total wall time of the run's steps.
    pub fn total_duration(&self) -> Duration {
        self.steps.iter().map(|s| s.duration).sum()
    }
}

/// Rows a batch of a batched backfill takes by default.
pub const DEFAULT_BATCH_SIZE: u32 = 5_000;
/// How long a run waits for another runner's advisory lock, by default.
pub const DEFAULT_RUNNER_WAIT: Duration = Duration::from_secs(10);
/// How long a stage waits for a lock before it rolls back and retries, by default.
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_millis(100);
/// How long a stage keeps retrying for its locks before it fails, by default.
pub const DEFAULT_LOCK_RETRY_BUDGET: Duration = Duration::from_secs(120);

/// Options of a migration run.
#[derive(Clone)]
pub struct RunOptions {
    /// The STEP_8 validation gate. `None`: STEP_8 fails ("no validation gate"), so a run
    /// without one can never unlock.
    pub gate: Option<std::sync::Arc<dyn ValidationGate>>,
    /// Test-only fault injection (see [`FaultHook`]); `None` in real runs.
    pub fault: Option<std::sync::Arc<FaultHook>>,
    /// The run id written to the step log; a fresh one when `None`.
    pub run_id: Option<String>,
    /// Rows per batch of the batched backfills (`migrations.batch_size`).
    pub batch_size: u32,
    /// `lock_timeout` of every stage transaction.
    pub lock_timeout: Duration,
    /// How long a stage keeps retrying for its locks before it fails.
    pub lock_retry_budget: Duration,
    /// Stop after this Phase 1C step (its SUCCESS); the lock stays held.
    pub stop_after: Option<StepName>,
    /// `run_migration`: stop after Phase 1B (the lock held, Phase 1C not started).
    pub stop_after_phase_1b: bool,
    /// How long to wait for another runner's advisory lock before refusing: the backend of a
    /// killed run holds it until it notices its client is gone.
    pub runner_wait: Duration,
    /// Test-only edits of the migration's SQL (a fuzz run's planted bug); empty in real runs.
    pub sql_edits: Vec<SqlEdit>,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            gate: None,
            fault: None,
            run_id: None,
            batch_size: DEFAULT_BATCH_SIZE,
            lock_timeout: DEFAULT_LOCK_TIMEOUT,
            lock_retry_budget: DEFAULT_LOCK_RETRY_BUDGET,
            stop_after: None,
            stop_after_phase_1b: false,
            runner_wait: DEFAULT_RUNNER_WAIT,
            sql_edits: Vec::new(),
        }
    }
}

impl fmt::Debug for RunOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunOptions")
            .field("gate", &self.gate.as_ref().map(|g| g.name()))
            .field("fault", &self.fault)
            .field("run_id", &self.run_id)
            .field("batch_size", &self.batch_size)
            .field("lock_timeout", &self.lock_timeout)
            .field("lock_retry_budget", &self.lock_retry_budget)
            .field("stop_after", &self.stop_after)
            .field("stop_after_phase_1b", &self.stop_after_phase_1b)
            .field("sql_edits", &self.sql_edits)
            .finish()
    }
}

mod duration_us {
    use std::time::Duration;
    pub fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_in_run_order_with_their_files() {
        for (i, n) in StepName::ALL.iter().enumerate() {
            assert_eq!(step(*n).name, *n);
            assert_eq!(steps()[i].name, *n);
            let stem = n.as_str().to_ascii_lowercase();
            let prefix: String = stem.splitn(3, '_').take(2).collect::<Vec<_>>().join("_");
            assert!(
                step(*n).file.starts_with(&format!("phase_1c/{prefix}_")),
                "{n}: {}",
                step(*n).file
            );
        }
    }

    #[test]
    fn every_contract_trigger_is_created_by_some_step() {
        let all: String = steps()
            .iter()
            .map(|s| s.sql)
            .chain(PHASE_1B_SCRIPTS.iter().map(|(_, s)| *s))
            .collect();
        for (_, trigger) in contract::CONTRACT_TRIGGERS {
            assert!(
                all.contains(&format!("TRIGGER {trigger}")),
                "{trigger} never created"
            );
        }
    }

    #[test]
    fn fingerprint_is_stable_hex() {
        let a = sql_fingerprint();
        assert_eq!(a.len(), 64);
        assert!(a
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_eq!(a, sql_fingerprint());
    }
}
