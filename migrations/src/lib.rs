//! The migration under test: Phase 1A baseline, Phase 1B (`phase_1b_schema`) contract migration,
//! Phase 1C Revision B cutover, and the runner that applies them.
//!
//! Every step is a plain SQL file under `migrations/sql/` (embedded here with `include_str!`),
//! readable on its own by a DBA; this crate only orders them, wraps each in its transaction,
//! records each in `migration_step_log`, enforces abort-on-error and resume semantics, and runs
//! the validation gate. See `migrations/README.md` for what each step does and why.

mod error;
mod fault;
mod gate;
mod phases;
mod runner;
mod sql;

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};

pub use contract::{StepName, StepStatus, LOCK_NAME, LOCK_REASON, PHASE_1B, PHASE_1C};
pub use error::MigrationError;
pub use fault::{FaultHook, FaultKind};
pub use gate::{
    gate_failures, GateCheck, GateConfirmation, GateError, GateVerdict, StaticGate,
    ValidationFuture, ValidationGate,
};
pub use phases::{
    apply_phase_1a, apply_phase_1b, apply_revision_a_m6_partial, connect, lock_state, step_log,
    LockState, StepLogRow,
};
pub use runner::{run_phase_1c, run_step};
pub use sql::{sql_fingerprint, PHASE_1A_SCRIPTS, PHASE_1B_SCRIPTS, REVISION_A_M6_PARTIAL};

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
}

impl RunOutcome {
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

/// Options of a Phase 1C run.
#[derive(Clone, Default)]
pub struct RunOptions {
    /// The STEP_8 validation gate. `None`: STEP_8 fails ("no validation gate"), so a run
    /// without one can never unlock.
    pub gate: Option<std::sync::Arc<dyn ValidationGate>>,
    /// Test-only fault injection (see [`FaultHook`]); `None` in real runs.
    pub fault: Option<std::sync::Arc<FaultHook>>,
    /// The run id written to the step log; a fresh one when `None`.
    pub run_id: Option<String>,
}

impl fmt::Debug for RunOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunOptions")
            .field("gate", &self.gate.as_ref().map(|g| g.name()))
            .field("fault", &self.fault)
            .field("run_id", &self.run_id)
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
