//! Assembling the implementation log from what the database says (structure, migration state)
//! and the audit's outcomes (checks, parity, grid). Every line derives from that data: a
//! failing run renders FAIL / NO where the seed log says PASS / YES.

use chrono::{DateTime, Utc};
use contract::{StepName, StepStatus, PHASE_1C, PHASE_1C_REVISION_A, REPORT_TITLE};
use invariants::audit::{check_failures, confirm};
use invariants::migration_state::{MigrationStage, MigrationState, StepLogEntry};
use invariants::parity::ParityReport;
use invariants::structure::Parity;
use invariants::{AuditPurpose, CheckOutcome, GridFigures, Structure, TableSet};

use super::model::*;

/// The facts read from the database itself, in one read-only snapshot.
#[derive(Debug, Clone)]
pub struct DatabaseFacts {
    /// The structural confirmations.
    pub structure: Structure,
    /// The migration's state (the step log included).
    pub migration: MigrationState,
}

/// What the audit contributed: the checks, parity and grid figures.
#[derive(Debug, Clone)]
pub struct AuditOutcomes {
    /// Where the check outcomes came from.
    pub source: ValidationSource,
    /// The table set they ran on.
    pub table_set: TableSet,
    /// The twelve outcomes.
    pub checks: Vec<CheckOutcome>,
    /// Archive parity.
    pub parity: ParityReport,
    /// Hour-grid totals.
    pub grid: GridFigures,
}

/// Build the validation section from outcomes: every check of the contract must be present
/// and zero to pass; a missing one counts as failing.
pub fn validation_from(
    source: ValidationSource,
    table_set: TableSet,
    checks: Vec<CheckOutcome>,
) -> Validation {
    let failing = check_failures(&checks);
    Validation {
        source,
        table_set,
        passed: failing.is_empty(),
        failing,
        checks,
    }
}

fn status(r: &StepLogEntry) -> Option<StepStatus> {
    StepStatus::parse(&r.status)
}

fn is_skip(r: &StepLogEntry) -> bool {
    status(r) == Some(StepStatus::SkippedAlreadyDone)
}

/// `2026-03-01T04:31:39Z`: the seed log's timestamp form (seconds, UTC).
pub fn fmt_ts(ts: &DateTime<Utc>) -> String {
    ts.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn row_time(r: &StepLogEntry) -> DateTime<Utc> {
    r.ended_at_utc.unwrap_or(r.started_at_utc)
}

/// `PASS` / `FAIL` / `n/a`.
pub fn parity_text(p: Parity) -> &'static str {
    match p {
        Parity::Pass => "PASS",
        Parity::Fail => "FAIL",
        Parity::NotApplicable => "n/a",
    }
}

/// Assemble the model from the database's facts and the audit's outcomes.
pub fn assemble(
    origin: Origin,
    facts: DatabaseFacts,
    outcomes: AuditOutcomes,
) -> ImplementationLog {
    let DatabaseFacts {
        structure,
        migration,
    } = facts;
    let step_log = migration.step_log.clone();
    let phase_1c: Vec<&StepLogEntry> = step_log.iter().filter(|r| r.phase == PHASE_1C).collect();

    let revision_a_failure = step_log
        .iter()
        .rev()
        .find(|r| r.phase == PHASE_1C_REVISION_A && status(r).is_some_and(StepStatus::is_failure))
        .map(|r| RevisionAFailure {
            step: r.step_name.clone(),
            at_utc: row_time(r),
            error: r.error_text.clone(),
        });
    let resume_mode = match &revision_a_failure {
        Some(f) => format!("Phase 1C Revision B forward resume from failed {}", f.step),
        None => "Phase 1C Revision B fresh run (no failed Revision A to resume from)".to_string(),
    };
    let aborts = migration
        .attempts
        .iter()
        .map(|a| {
            let notes = step_log
                .iter()
                .find(|r| r.log_id == a.log_id)
                .and_then(|r| r.notes.clone())
                .filter(|n| !n.trim().is_empty());
            Abort {
                log_id: a.log_id,
                at_utc: a.ended_at_utc.unwrap_or(a.started_at_utc),
                step: a.step.clone(),
                status: a.status.clone(),
                error: a.error.clone(),
                notes,
                resolution: a.resolution.clone(),
                resolved: a.resolved_by.is_some(),
            }
        })
        .collect();
    let timestamps = MigrationTimestamps {
        execution_start_utc: phase_1c.iter().map(|r| r.started_at_utc).min(),
        execution_stop_utc: phase_1c.iter().filter_map(|r| r.ended_at_utc).max(),
        revision_a_failure,
        resume_mode,
        aborts,
    };

    let phases = StepName::ALL
        .iter()
        .map(|step| phase_status(step, &phase_1c))
        .collect::<Vec<_>>();

    let validation = validation_from(outcomes.source, outcomes.table_set, outcomes.checks);
    let fk_legality = FkLegality {
        rows: structure.fk_to_hypertable.clone(),
        count: structure.fk_to_hypertable_count,
        check_violations: validation
            .checks
            .iter()
            .find(|o| o.check == "no_hypertable_fk")
            .and_then(|o| o.violations),
    };

    let step7_committed = phase_1c.iter().any(|r| {
        r.step_name == StepName::Step7M10Cutover.as_str()
            && matches!(
                status(r),
                Some(StepStatus::Success | StepStatus::FailedPostCommitCompression)
            )
    });
    let c = &structure.cutover;
    let archive_rename = c.archives_missing.is_empty();
    let cutover = Cutover {
        transaction_committed: step7_committed || c.complete,
        archive_rename,
        v2_rename: archive_rename && c.v2_remaining.is_empty(),
        archives_present: c.archives_present.clone(),
        archives_missing: c.archives_missing.clone(),
        v2_remaining: c.v2_remaining.clone(),
    };
    let triggers = Triggers {
        all_ok: structure.triggers_ok,
        triggers: structure.triggers.clone(),
    };
    let confirmations = confirm(
        AuditPurpose::Validate,
        &structure,
        &outcomes.parity,
        &migration,
    );
    let result = final_result(
        &phase_1c,
        &migration,
        &validation,
        &confirmations,
        !timestamps.aborts.is_empty(),
        timestamps.revision_a_failure.is_some(),
    );

    ImplementationLog {
        title: REPORT_TITLE,
        origin,
        timestamps,
        phases,
        identity: structure.identity.clone(),
        fk_legality,
        validation,
        hour_grid: outcomes.grid,
        cutover,
        parity: outcomes.parity,
        triggers,
        compression: structure.compression.clone(),
        lock: structure.lock.clone(),
        confirmations,
        migration,
        result,
        step_log,
    }
}

/// The row that decided a step's status: the last one that did not merely skip it (a later
/// "already done" skip repeats an earlier outcome and would hide it: STEP_7's post-commit
/// failure above all).
fn phase_status(step: &StepName, phase_1c: &[&StepLogEntry]) -> PhaseStatus {
    let rows: Vec<&&StepLogEntry> = phase_1c
        .iter()
        .filter(|r| r.step_name == step.as_str())
        .collect();
    let decisive = rows
        .iter()
        .rev()
        .find(|r| !is_skip(r))
        .or_else(|| rows.last());
    match decisive {
        Some(r) => PhaseStatus {
            step: step.as_str().to_string(),
            started_at_utc: Some(r.started_at_utc),
            ended_at_utc: r.ended_at_utc,
            status: if r.ended_at_utc.is_none() {
                format!("{} (interrupted)", r.status)
            } else {
                r.status.clone()
            },
            notes: r.notes.clone().unwrap_or_default(),
            error: r.error_text.clone(),
            log_id: Some(r.log_id),
            rows: rows.len(),
        },
        None => PhaseStatus {
            step: step.as_str().to_string(),
            started_at_utc: None,
            ended_at_utc: None,
            status: "NOT RUN".to_string(),
            notes: String::new(),
            error: None,
            log_id: None,
            rows: 0,
        },
    }
}

fn final_result(
    phase_1c: &[&StepLogEntry],
    migration: &MigrationState,
    validation: &Validation,
    confirmations: &[invariants::Confirmation],
    any_abort: bool,
    resumed: bool,
) -> FinalResult {
    let unlock_ok = phase_1c.iter().rev().find(|r| {
        r.step_name == StepName::Step9Unlock.as_str() && status(r) == Some(StepStatus::Success)
    });
    let unlocked = migration.stage == MigrationStage::Unlocked;
    let migration_completed = unlock_ok.is_some() && unlocked;
    let last_validation_pass = phase_1c
        .iter()
        .rev()
        .find(|r| {
            r.step_name == StepName::Step8FullValidation.as_str()
                && status(r) == Some(StepStatus::Success)
        })
        .and_then(|r| r.ended_at_utc);
    let unlocked_after_validation = (migration.stage == MigrationStage::Unlocked)
        .then(|| {
            migration
                .unlocked_at_utc
                .map(|at| last_validation_pass.is_some_and(|v| at >= v))
        })
        .flatten();

    let what = if resumed {
        "Revision B resume"
    } else {
        "Revision B"
    };
    let (success, migration_result, contract_action) = if migration_completed {
        let mut problems: Vec<String> = validation.failing.clone();
        problems.extend(
            confirmations
                .iter()
                .filter(|c| !c.passed)
                .map(|c| format!("{}: {}", c.name, c.detail)),
        );
        if unlocked_after_validation != Some(true) {
            problems.push("lock released without a preceding validation pass".to_string());
        }
        problems.dedup();
        if problems.is_empty() {
            let action = if any_abort {
                "Abort-on-error honored at each failure point; lock held until full validation passed; unlocked only after validation success"
            } else {
                "No step aborted; lock held until full validation passed; unlocked only after validation success"
            };
            (
                true,
                format!("SUCCESS ({what} completed)"),
                action.to_string(),
            )
        } else {
            (
                false,
                format!(
                    "FAILED ({what} completed, but the database fails the contract now: {})",
                    problems.join("; ")
                ),
                "Lock already released by the completed run; investigate the violations before using this database".to_string(),
            )
        }
    } else {
        let last_failure = phase_1c
            .iter()
            .rev()
            .find(|r| status(r).is_some_and(StepStatus::is_failure) || r.ended_at_utc.is_none());
        let result = match last_failure {
            Some(r) if r.ended_at_utc.is_none() || status(r) == Some(StepStatus::Interrupted) => {
                format!("FAILED ({} interrupted)", r.step_name)
            }
            Some(r) => format!("FAILED ({} {})", r.step_name, r.status),
            None if phase_1c.is_empty() => "FAILED (Phase 1C never ran)".to_string(),
            None => format!(
                "FAILED (Phase 1C did not complete: {} never succeeded)",
                StepName::Step9Unlock.as_str()
            ),
        };
        let at = last_failure
            .map(|r| format!(" at `{}`", r.step_name))
            .unwrap_or_default();
        let action = match migration.stage {
            MigrationStage::Locked => format!(
                "Abort-on-error honored{at}; lock held (`locked = TRUE`) for a forward resume; not unlocked"
            ),
            MigrationStage::Unlocked => format!(
                "Aborted{at}, but the lock is NOT held (`locked = FALSE`): contract violated"
            ),
            MigrationStage::LockRowMissing | MigrationStage::NotStarted => {
                format!("Aborted{at}; no `{}` lock row exists", contract::LOCK_NAME)
            }
        };
        (false, result, action)
    };
    FinalResult {
        success,
        migration_completed,
        unlocked_after_validation,
        migration_result,
        contract_action,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_timestamp_format() {
        let ts = DateTime::parse_from_rfc3339("2026-03-01T04:31:39.871+00:00")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default();
        assert_eq!(fmt_ts(&ts), "2026-03-01T04:31:39Z");
    }
}
