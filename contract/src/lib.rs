//! The binding names of the Phase 1 migration contract, in one place.
//!
//! Step names, step-log statuses and phases, the twelve check names, the thirteen contract
//! triggers, the table names of every phase (canonical, `*_v2`, `*_phase1a_archive`, identity,
//! hypertables), the compression target list and the lock row are spelled here and nowhere else
//! in Rust: the migration under test (`migrations`), the checks (`invariants`), the generators
//! and the harness all read them from this crate, so a wrong name cannot agree with itself
//! across the system under test and its oracle. The SQL files of the migration spell the same
//! names (SQL is the system under test); tests compare the two.
//!
//! The meaning of each name is described in `docs/CONTRACT.md` of this repository.

pub mod gate;

use std::fmt;
use std::str::FromStr;

/// Phase 1A, the state every party starts from: the baseline schema and the hash-canon
/// functions, in order, as (name, SQL). The generators write worlds into it, the migration
/// transforms it and the checks read it, so it belongs to none of them.
pub const PHASE_1A_SCRIPTS: &[(&str, &str)] = &[
    (
        "phase_1a/001_baseline.sql",
        include_str!("../sql/phase_1a/001_baseline.sql"),
    ),
    (
        "phase_1a/002_hash_functions.sql",
        include_str!("../sql/phase_1a/002_hash_functions.sql"),
    ),
];

/// The `migration_lock` table.
pub const LOCK_TABLE: &str = "migration_lock";
/// The `migration_step_log` table.
pub const STEP_LOG_TABLE: &str = "migration_step_log";
/// What STEP_7B recorded of each archive once the cutover sealed it (rows, hash sum).
pub const CUTOVER_MANIFEST_TABLE: &str = "migration_cutover_manifest";
/// The batched backfills' cursors.
pub const BACKFILL_PROGRESS_TABLE: &str = "migration_backfill_progress";
/// The `migration_lock.migration_name` Phase 1B takes and STEP_9 releases.
pub const LOCK_NAME: &str = "phase_1b_schema";
/// The `migration_lock.lock_reason` Phase 1B records.
pub const LOCK_REASON: &str = "Phase 1B deterministic contract migration";

/// The text whose `hashtext()` keys the session advisory lock a Phase 1C runner holds while it
/// runs (one runner per database; an auditor sees a run in progress by it).
pub const RUNNER_ADVISORY_KEY: &str = "migrations.phase_1c_runner";

/// `migration_step_log.phase` of the Phase 1B scripts.
pub const PHASE_1B: &str = "PHASE_1B";
/// `migration_step_log.phase` of Phase 1C Revision B steps.
pub const PHASE_1C: &str = "PHASE_1C";
/// `migration_step_log.phase` of the failed Revision A run the seed log resumes from.
pub const PHASE_1C_REVISION_A: &str = "PHASE_1C_REVISION_A";

/// A Phase 1C Revision B step (names are binding: the seed log's).
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

    /// Position in run order (0 for STEP_0).
    pub fn index(self) -> usize {
        StepName::ALL.iter().position(|s| *s == self).unwrap_or(0)
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

/// A `migration_step_log.status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum StepStatus {
    /// `RUNNING`: written before the step's transaction starts; not final.
    Running,
    /// `SUCCESS`
    Success,
    /// `FAILED` (the step's transaction rolled back)
    Failed,
    /// `FAILED (post-commit compression stage)` (STEP_7: the cutover committed, its compression
    /// stage failed)
    FailedPostCommitCompression,
    /// `SKIPPED (already done)` (done earlier in this lock epoch)
    SkippedAlreadyDone,
    /// `INTERRUPTED`: a `RUNNING` row whose run died (killed, connection lost, server crash),
    /// marked so by the next run that found it.
    Interrupted,
}

impl StepStatus {
    /// Every status, the non-final `RUNNING` first.
    pub const ALL: [StepStatus; 6] = [
        StepStatus::Running,
        StepStatus::Success,
        StepStatus::Failed,
        StepStatus::FailedPostCommitCompression,
        StepStatus::SkippedAlreadyDone,
        StepStatus::Interrupted,
    ];

    /// The exact text written to `migration_step_log.status`.
    pub fn as_str(self) -> &'static str {
        match self {
            StepStatus::Running => "RUNNING",
            StepStatus::Success => "SUCCESS",
            StepStatus::Failed => "FAILED",
            StepStatus::FailedPostCommitCompression => "FAILED (post-commit compression stage)",
            StepStatus::SkippedAlreadyDone => "SKIPPED (already done)",
            StepStatus::Interrupted => "INTERRUPTED",
        }
    }

    /// Parse a `migration_step_log.status`.
    pub fn parse(s: &str) -> Option<Self> {
        StepStatus::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// A failure the run stopped on (the step's work did not complete, or STEP_7's stage).
    pub fn is_failure(self) -> bool {
        matches!(
            self,
            StepStatus::Failed | StepStatus::FailedPostCommitCompression | StepStatus::Interrupted
        )
    }
}

impl fmt::Display for StepStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The twelve validation checks, in report order (names are binding).
pub const CHECK_NAMES: [&str; 12] = [
    "no_hypertable_fk",
    "identity_bijection",
    "cross_account_isolation",
    "ledger_continuity",
    "fee_formula",
    "slippage_formula",
    "quantity_conservation",
    "long_only",
    "cluster_cap",
    "walk_forward_contamination",
    "missing_hash",
    "deterministic_replay_parity",
];

/// The structural confirmations reported beside the checks. A validation gate must report each
/// of them (and each of [`CHECK_NAMES`]); a verdict that leaves one out never passes.
pub const CONFIRMATION_NAMES: [&str; 7] = [
    "fk_legality",
    "identity_parity",
    "cutover",
    "triggers",
    "archive_parity",
    "lock",
    "migration_state",
];

/// The ten canonical event tables, in the seed log's archive order (renamed
/// `*_phase1a_archive` at the cutover; the `*_v2` tables take their names).
pub const EVENT_TABLES: [&str; 10] = [
    "trade_signal",
    "regime_output",
    "model_prediction",
    "meta_learner_component",
    "order_request",
    "order_fill",
    "position_lot",
    "executed_trade",
    "cash_ledger",
    "risk_event",
];

/// Suffix of the contract-shape tables before the cutover.
pub const V2_SUFFIX: &str = "_v2";
/// Suffix the canonical Phase 1A tables get at the cutover.
pub const ARCHIVE_SUFFIX: &str = "_phase1a_archive";

/// `order_fill` -> `order_fill_v2`.
pub fn v2_name(table: &str) -> String {
    format!("{table}{V2_SUFFIX}")
}

/// `order_fill` -> `order_fill_phase1a_archive`.
pub fn archive_name(table: &str) -> String {
    format!("{table}{ARCHIVE_SUFFIX}")
}

/// The four hypertables (never renamed; no foreign key may point at them).
pub const HYPERTABLES: [&str; 4] = [
    "feature_snapshot",
    "position_hourly_state",
    "portfolio_hourly_state",
    "risk_hourly_state",
];

/// Reference tables (never renamed).
pub const REFERENCE_TABLES: [&str; 6] = [
    "account",
    "fee_schedule",
    "instrument",
    "cluster",
    "instrument_cluster",
    "model_registry",
];

/// The identity tables of STEP_2, as (identity table, source hypertable).
pub const IDENTITY_TABLES: [(&str, &str); 2] = [
    ("portfolio_hourly_state_identity", "portfolio_hourly_state"),
    ("risk_hourly_state_identity", "risk_hourly_state"),
];

/// STEP_4's cluster exposure table.
pub const CLUSTER_EXPOSURE_TABLE: &str = "cluster_exposure_hourly_state";

/// The unique target STEP_3 binds orders through.
pub const RISK_IDENTITY_HOUR_UNIQUE: &str = "uq_risk_hourly_state_identity_hour";

/// The thirteen triggers that must exist and be enabled after the migration: (table, trigger).
pub const CONTRACT_TRIGGERS: [(&str, &str); 13] = [
    ("order_fill", "trg_order_fill_append_only"),
    ("cash_ledger", "trg_cash_ledger_append_only"),
    ("risk_event", "trg_risk_event_append_only"),
    (
        "portfolio_hourly_state_identity",
        "trg_portfolio_hourly_state_identity_append_only",
    ),
    (
        "risk_hourly_state_identity",
        "trg_risk_hourly_state_identity_append_only",
    ),
    (
        "portfolio_hourly_state",
        "trg_portfolio_hourly_state_identity_sync_ins",
    ),
    (
        "risk_hourly_state",
        "trg_risk_hourly_state_identity_sync_ins",
    ),
    (
        "portfolio_hourly_state_identity",
        "ctrg_portfolio_identity_source_exists",
    ),
    (
        "risk_hourly_state_identity",
        "ctrg_risk_identity_source_exists",
    ),
    ("order_request", "ctrg_order_request_v2_risk_gate"),
    ("order_request", "ctrg_order_request_v2_cluster_cap"),
    ("risk_event", "ctrg_risk_event_v2_parent_state_hash"),
    (
        "cluster_exposure_hourly_state",
        "ctrg_cluster_exposure_parent_risk_hash",
    ),
];

/// The compression target list.
pub const COMPRESSION_TARGETS: [&str; 8] = [
    "feature_snapshot",
    "model_prediction",
    "meta_learner_component",
    "order_fill",
    "cash_ledger",
    "position_hourly_state",
    "portfolio_hourly_state",
    "risk_hourly_state",
];

/// The implementation log's title (the seed log's first heading).
pub const REPORT_TITLE: &str = "IMPLEMENTATION_LOG_PHASE_1C";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_round_trip_in_run_order() {
        for (i, s) in StepName::ALL.iter().enumerate() {
            assert_eq!(s.index(), i);
            assert_eq!(s.as_str().parse::<StepName>(), Ok(*s));
        }
        assert!("STEP_10".parse::<StepName>().is_err());
    }

    #[test]
    fn statuses_round_trip() {
        for st in StepStatus::ALL {
            assert_eq!(StepStatus::parse(st.as_str()), Some(st));
        }
        assert_eq!(StepStatus::parse("DONE"), None);
        assert!(StepStatus::Interrupted.is_failure());
        assert!(!StepStatus::SkippedAlreadyDone.is_failure());
    }

    #[test]
    fn names_are_distinct() {
        let mut triggers: Vec<_> = CONTRACT_TRIGGERS.iter().map(|(_, t)| *t).collect();
        triggers.sort_unstable();
        triggers.dedup();
        assert_eq!(triggers.len(), 13);
        let mut checks = CHECK_NAMES.to_vec();
        checks.sort_unstable();
        checks.dedup();
        assert_eq!(checks.len(), 12);
        assert_eq!(archive_name("order_fill"), "order_fill_phase1a_archive");
        assert_eq!(v2_name("order_fill"), "order_fill_v2");
    }
}
