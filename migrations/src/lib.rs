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
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};

pub use error::MigrationError;
pub use fault::{FaultHook, FaultKind};
pub use gate::{
    gate_failures, GateError, InvariantsGate, StaticGate, ValidationFuture, ValidationGate,
};
pub use phases::{
    apply_phase_1a, apply_phase_1b, apply_revision_a_m6_partial, connect, lock_state, step_log,
    LockState, StepLogRow,
};
pub use runner::{run_phase_1c, run_step};
pub use sql::{sql_fingerprint, PHASE_1A_SCRIPTS, PHASE_1B_SCRIPTS, REVISION_A_M6_PARTIAL};

/// The `migration_lock` row Phase 1B takes and STEP_9 releases.
pub const LOCK_NAME: &str = "phase_1b_schema";
/// The lock reason Phase 1B records.
pub const LOCK_REASON: &str = "Phase 1B deterministic contract migration";
/// `migration_step_log.phase` of Phase 1C Revision B steps.
pub const PHASE_1C: &str = "PHASE_1C";
/// `migration_step_log.phase` of Phase 1B scripts.
pub const PHASE_1B: &str = "PHASE_1B";
/// The thirteen triggers the contract requires afterwards, as (table, trigger).
pub use invariants::structure::CONTRACT_TRIGGERS;
/// The ten canonical event tables (renamed `*_phase1a_archive` at cutover); one list for the
/// runner and the checks.
pub use invariants::EVENT_TABLES;

/// Phase 1A scripts as (name, SQL), for building a template database.
pub fn phase_1a_scripts() -> &'static [(&'static str, &'static str)] {
    PHASE_1A_SCRIPTS
}

/// A Phase 1C Revision B step (names are binding: CONTRACT.md section 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub enum StepName {
    /// `STEP_0_VERIFY_LOCK`
    Step0VerifyLock,
    /// `STEP_1_CLEANUP_M6`
    Step1CleanupM6,
    /// `STEP_2_IDENTITY_TABLES`
    Step2IdentityTables,
    /// `STEP_3_REVISED_M6`
    Step3RevisedM6,
    /// `STEP_4_REVISED_M7`
    Step4RevisedM7,
    /// `STEP_5_M8_GUARDRAIL`
    Step5M8Guardrail,
    /// `STEP_6_M9_HASH_ADDITIONS`
    Step6M9HashAdditions,
    /// `STEP_7_M10_CUTOVER`
    Step7M10Cutover,
    /// `STEP_7B_POST_CUTOVER_FINALIZE`
    Step7bPostCutoverFinalize,
    /// `STEP_8_FULL_VALIDATION`
    Step8FullValidation,
    /// `STEP_9_UNLOCK`
    Step9Unlock,
}

impl StepName {
    /// All steps in run order.
    pub const ALL: [StepName; 11] = [
        StepName::Step0VerifyLock,
        StepName::Step1CleanupM6,
        StepName::Step2IdentityTables,
        StepName::Step3RevisedM6,
        StepName::Step4RevisedM7,
        StepName::Step5M8Guardrail,
        StepName::Step6M9HashAdditions,
        StepName::Step7M10Cutover,
        StepName::Step7bPostCutoverFinalize,
        StepName::Step8FullValidation,
        StepName::Step9Unlock,
    ];

    /// The exact name written to `migration_step_log.step_name`.
    pub fn as_str(self) -> &'static str {
        match self {
            StepName::Step0VerifyLock => "STEP_0_VERIFY_LOCK",
            StepName::Step1CleanupM6 => "STEP_1_CLEANUP_M6",
            StepName::Step2IdentityTables => "STEP_2_IDENTITY_TABLES",
            StepName::Step3RevisedM6 => "STEP_3_REVISED_M6",
            StepName::Step4RevisedM7 => "STEP_4_REVISED_M7",
            StepName::Step5M8Guardrail => "STEP_5_M8_GUARDRAIL",
            StepName::Step6M9HashAdditions => "STEP_6_M9_HASH_ADDITIONS",
            StepName::Step7M10Cutover => "STEP_7_M10_CUTOVER",
            StepName::Step7bPostCutoverFinalize => "STEP_7B_POST_CUTOVER_FINALIZE",
            StepName::Step8FullValidation => "STEP_8_FULL_VALIDATION",
            StepName::Step9Unlock => "STEP_9_UNLOCK",
        }
    }

    /// Steps that change the database (as opposed to verifying it or releasing the lock).
    pub fn changes_database(self) -> bool {
        !matches!(
            self,
            StepName::Step0VerifyLock | StepName::Step8FullValidation | StepName::Step9Unlock
        )
    }

    /// Steps that work on the `*_v2` tables and so only apply before the cutover committed.
    pub fn is_pre_cutover(self) -> bool {
        matches!(
            self,
            StepName::Step1CleanupM6
                | StepName::Step2IdentityTables
                | StepName::Step3RevisedM6
                | StepName::Step4RevisedM7
                | StepName::Step5M8Guardrail
                | StepName::Step6M9HashAdditions
                | StepName::Step7M10Cutover
        )
    }
}

impl fmt::Display for StepName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for StepName {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        StepName::ALL
            .iter()
            .copied()
            .find(|n| n.as_str() == s)
            .ok_or_else(|| format!("unknown Phase 1C step {s:?}"))
    }
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

/// Final status of a step in `migration_step_log.status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum StepStatus {
    /// `SUCCESS`
    Success,
    /// `FAILED` (the step's transaction rolled back)
    Failed,
    /// `FAILED (post-commit compression stage)` (STEP_7: the cutover committed, its
    /// compression stage failed)
    FailedPostCommitCompression,
    /// `SKIPPED (already done)` (done earlier in this lock epoch)
    SkippedAlreadyDone,
}

impl StepStatus {
    /// The exact text written to `migration_step_log.status`.
    pub fn as_str(self) -> &'static str {
        match self {
            StepStatus::Success => "SUCCESS",
            StepStatus::Failed => "FAILED",
            StepStatus::FailedPostCommitCompression => "FAILED (post-commit compression stage)",
            StepStatus::SkippedAlreadyDone => "SKIPPED (already done)",
        }
    }

    /// Parse a `migration_step_log.status` (RUNNING has no variant: it is not final).
    pub fn parse(s: &str) -> Option<Self> {
        [
            StepStatus::Success,
            StepStatus::Failed,
            StepStatus::FailedPostCommitCompression,
            StepStatus::SkippedAlreadyDone,
        ]
        .into_iter()
        .find(|st| st.as_str() == s)
    }
}

impl fmt::Display for StepStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
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
    /// The validation gate's check outcomes, when STEP_8 ran its gate.
    pub validation: Option<Vec<invariants::CheckOutcome>>,
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
    /// The STEP_8 validation gate; `None` runs the twelve checks of crate `invariants`
    /// ([`InvariantsGate`] with a sample of 10).
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
    fn steps_are_in_run_order_with_binding_names() {
        let names: Vec<&str> = steps().iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "STEP_0_VERIFY_LOCK",
                "STEP_1_CLEANUP_M6",
                "STEP_2_IDENTITY_TABLES",
                "STEP_3_REVISED_M6",
                "STEP_4_REVISED_M7",
                "STEP_5_M8_GUARDRAIL",
                "STEP_6_M9_HASH_ADDITIONS",
                "STEP_7_M10_CUTOVER",
                "STEP_7B_POST_CUTOVER_FINALIZE",
                "STEP_8_FULL_VALIDATION",
                "STEP_9_UNLOCK",
            ]
        );
        for n in StepName::ALL {
            assert_eq!(step(n).name, n);
            assert_eq!(n.as_str().parse::<StepName>(), Ok(n));
        }
    }

    #[test]
    fn every_contract_trigger_is_created_by_some_step() {
        let all: String = steps()
            .iter()
            .map(|s| s.sql)
            .chain(PHASE_1B_SCRIPTS.iter().map(|(_, s)| *s))
            .collect();
        for (_, trigger) in CONTRACT_TRIGGERS {
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

    #[test]
    fn statuses_round_trip() {
        for st in [
            StepStatus::Success,
            StepStatus::Failed,
            StepStatus::FailedPostCommitCompression,
            StepStatus::SkippedAlreadyDone,
        ] {
            assert_eq!(StepStatus::parse(st.as_str()), Some(st));
        }
        assert_eq!(StepStatus::parse("RUNNING"), None);
    }
}
