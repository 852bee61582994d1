//! The Phase 1C Revision B runner: step log, abort-on-error, resume, validation gate, unlock.
//!
//! Semantics (README "Runner"):
//! * Preflight, before anything is written: Phase 1B applied, lock row present. A database whose
//!   lock was released by a STEP_9 SUCCESS of the current lock epoch is already migrated: the
//!   run is a no-op that says so and writes nothing. Otherwise the lock must be held, and the
//!   table layout must be "before the cutover" (ten `*_v2`, no archive name taken) or "after it".
//!   Lock and layout failures are also recorded as a FAILED `STEP_0_VERIFY_LOCK` row.
//! * One session-level advisory lock per database keeps two runners apart.
//! * Each step: a RUNNING row is written (autocommit), the step's SQL runs in ONE transaction,
//!   the row is completed with SUCCESS / FAILED, notes and the error text. STEP_7 commits the
//!   rename cutover first, then runs its compression stage in a second transaction; a failure
//!   there is `FAILED (post-commit compression stage)` (the cutover stays committed).
//! * Abort-on-error: the first failure stops the run; the lock stays held.
//! * Resume: a step that changes the database and already succeeded in this lock epoch (or a
//!   pre-cutover step once the cutover committed) is logged `SKIPPED (already done)`.
//!   STEP_0 and STEP_8 always run (they verify), and STEP_9 refuses in SQL unless a
//!   STEP_8 SUCCESS follows the last change of the epoch.

use std::time::Instant;

use chrono::{DateTime, Utc};
use sqlx::{Connection, PgConnection};
use tracing::{info, warn};

use crate::error::{ctx, db_message, MigrationError};
use crate::fault::FaultKind;
use crate::gate::gate_failures;
use crate::phases::{lock_state, new_run_id, relation_exists};
use crate::{step, RunOptions, RunOutcome, StepName, StepRecord, StepStatus, PHASE_1C};
use contract::EVENT_TABLES;

/// Key of the runner's session-level advisory lock (per database).
const ADVISORY_KEY: &str = contract::RUNNER_ADVISORY_KEY;

enum Preflight {
    /// The migration already completed in this lock epoch.
    Done { reason: String },
    /// Proceed: the lock is held since `epoch_start`.
    Go { epoch_start: DateTime<Utc> },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    PreCutover,
    PostCutover,
}

/// Run Phase 1C Revision B, resuming after any earlier failure of this lock epoch.
pub async fn run_phase_1c(
    conn: &mut PgConnection,
    opts: &RunOptions,
) -> Result<RunOutcome, MigrationError> {
    let started_at_utc = Utc::now();
    let run_id = match &opts.run_id {
        Some(id) => id.clone(),
        None => new_run_id(conn).await?,
    };
    let epoch_start = match preflight(conn, &run_id).await? {
        Preflight::Done { reason } => {
            info!(%reason, "Phase 1C already complete: no-op");
            return Ok(RunOutcome {
                run_id,
                noop: true,
                noop_reason: Some(reason),
                steps: Vec::new(),
                validation: None,
                started_at_utc,
                ended_at_utc: Utc::now(),
            });
        }
        Preflight::Go { epoch_start } => epoch_start,
    };
    advisory_lock(conn).await?;
    let mut outcome = RunOutcome {
        run_id,
        noop: false,
        noop_reason: None,
        steps: Vec::new(),
        validation: None,
        started_at_utc,
        ended_at_utc: started_at_utc,
    };
    let result = run_all(conn, opts, epoch_start, &mut outcome).await;
    let unlocked = advisory_unlock(conn).await;
    outcome.ended_at_utc = Utc::now();
    match result {
        Ok(()) => {
            unlocked?;
            Ok(outcome)
        }
        Err(failure) => Err(failure.into_error(outcome)),
    }
}

/// Run one step out of order (e.g. a DBA re-applying STEP_7B), with the same logging, lock and
/// fault rules, and no skip. STEP_9 still refuses without a STEP_8 SUCCESS after the last change.
pub async fn run_step(
    conn: &mut PgConnection,
    name: StepName,
    opts: &RunOptions,
) -> Result<StepRecord, MigrationError> {
    let run_id = match &opts.run_id {
        Some(id) => id.clone(),
        None => new_run_id(conn).await?,
    };
    if let Preflight::Done { reason } = preflight(conn, &run_id).await? {
        return Err(MigrationError::StepNotApplicable { step: name, reason });
    }
    if name.is_pre_cutover() && layout(conn).await? == Layout::PostCutover {
        return Err(MigrationError::StepNotApplicable {
            step: name,
            reason: "the cutover already committed; this step works on the *_v2 tables".to_string(),
        });
    }
    advisory_lock(conn).await?;
    let started_at_utc = Utc::now();
    let mut outcome = RunOutcome {
        run_id: run_id.clone(),
        noop: false,
        noop_reason: None,
        steps: Vec::new(),
        validation: None,
        started_at_utc,
        ended_at_utc: started_at_utc,
    };
    let result = execute(conn, name, opts, &run_id, &mut outcome).await;
    let unlocked = advisory_unlock(conn).await;
    outcome.ended_at_utc = Utc::now();
    match result {
        Ok(()) => {
            unlocked?;
            outcome
                .steps
                .pop()
                .ok_or(MigrationError::StepNotApplicable {
                    step: name,
                    reason: "the step produced no record".to_string(),
                })
        }
        Err(failure) => Err(failure.into_error(outcome)),
    }
}

struct StepFailure {
    step: StepName,
    status: StepStatus,
    message: String,
}

impl StepFailure {
    /// The error a caller sees: the failure and the run's record up to it.
    fn into_error(self, outcome: RunOutcome) -> MigrationError {
        MigrationError::StepFailed {
            step: self.step,
            status: self.status,
            message: self.message,
            outcome: Box::new(outcome),
        }
    }
}

impl StepFailure {
    fn db(step: StepName, what: &str, e: &sqlx::Error) -> Self {
        Self {
            step,
            status: StepStatus::Failed,
            message: format!("{what}: {}", db_message(e)),
        }
    }
}

async fn run_all(
    conn: &mut PgConnection,
    opts: &RunOptions,
    epoch_start: DateTime<Utc>,
    outcome: &mut RunOutcome,
) -> Result<(), StepFailure> {
    let run_id = outcome.run_id.clone();
    for name in StepName::ALL {
        if let Some(note) = skip_reason(conn, name, epoch_start)
            .await
            .map_err(|e| StepFailure::db(name, "checking whether the step is done", &e))?
        {
            let rec = log_skipped(conn, &run_id, name, &note)
                .await
                .map_err(|e| StepFailure::db(name, "writing the step log", &e))?;
            info!(step = %name, %note, "skipped");
            outcome.steps.push(rec);
            continue;
        }
        execute(conn, name, opts, &run_id, outcome).await?;
    }
    Ok(())
}

/// Why `name` need not run again in this lock epoch, if it need not.
async fn skip_reason(
    conn: &mut PgConnection,
    name: StepName,
    epoch_start: DateTime<Utc>,
) -> Result<Option<String>, sqlx::Error> {
    if !name.changes_database() {
        return Ok(None);
    }
    let done: Option<(String, i64, DateTime<Utc>)> = sqlx::query_as(
        "SELECT status, log_id, started_at_utc FROM migration_step_log
          WHERE phase = $1 AND step_name = $2 AND started_at_utc >= $3
            AND (status = 'SUCCESS' OR (step_name = 'STEP_7_M10_CUTOVER'
                                        AND status = 'FAILED (post-commit compression stage)'))
          ORDER BY log_id DESC LIMIT 1",
    )
    .bind(PHASE_1C)
    .bind(name.as_str())
    .bind(epoch_start)
    .fetch_optional(&mut *conn)
    .await?;
    if let Some((status, log_id, at)) = done {
        let mut note = format!(
            "already done in this lock epoch ({status} at {}, log_id {log_id})",
            at.to_rfc3339()
        );
        if name == StepName::Step7M10Cutover && status != "SUCCESS" {
            note.push_str(
                "; the cutover committed, STEP_7B_POST_CUTOVER_FINALIZE handles compression safely",
            );
        }
        return Ok(Some(note));
    }
    if name.is_pre_cutover() {
        let post = layout(conn).await.map_err(|e| match e {
            MigrationError::Database { source, .. } => source,
            other => sqlx::Error::Protocol(other.to_string()),
        })?;
        if post == Layout::PostCutover {
            return Ok(Some(
                "already done: the cutover committed, so every pre-cutover step completed"
                    .to_string(),
            ));
        }
    }
    Ok(None)
}

/// Run one step with its log row; on failure the row says FAILED with the error text.
async fn execute(
    conn: &mut PgConnection,
    name: StepName,
    opts: &RunOptions,
    run_id: &str,
    outcome: &mut RunOutcome,
) -> Result<(), StepFailure> {
    let (log_id, started_at_utc) = log_running(conn, run_id, name)
        .await
        .map_err(|e| StepFailure::db(name, "writing the step log", &e))?;
    let clock = Instant::now();
    let fault = opts.fault.as_ref().and_then(|f| f.take(name));
    if let Some(kind) = &fault {
        warn!(step = %name, ?kind, "fault injection armed for this step");
    }
    let result = run_body(conn, name, opts, fault, outcome).await;
    let duration = clock.elapsed();
    let (status, notes, error) = match &result {
        Ok(notes) => (StepStatus::Success, notes.clone(), None),
        Err(f) => (f.status, f.notes.clone(), Some(f.message.clone())),
    };
    let ended_at_utc = log_finish(conn, log_id, status, &notes, error.as_deref())
        .await
        .map_err(|e| StepFailure::db(name, "completing the step log", &e))?;
    info!(step = %name, status = %status, ms = duration.as_millis() as u64, "step finished");
    outcome.steps.push(StepRecord {
        step: name,
        log_id,
        started_at_utc,
        ended_at_utc,
        status,
        notes,
        error: error.clone(),
        duration,
    });
    match error {
        None => Ok(()),
        Some(message) => Err(StepFailure {
            step: name,
            status,
            message,
        }),
    }
}

struct BodyFailure {
    status: StepStatus,
    notes: String,
    message: String,
}

impl BodyFailure {
    fn failed(message: String) -> Self {
        Self {
            status: StepStatus::Failed,
            notes: String::new(),
            message,
        }
    }
}

/// The step's SQL (and, for STEP_7, its post-commit stage; for STEP_8, the gate). Returns notes.
async fn run_body(
    conn: &mut PgConnection,
    name: StepName,
    opts: &RunOptions,
    fault: Option<FaultKind>,
    outcome: &mut RunOutcome,
) -> Result<String, BodyFailure> {
    let st = step(name);
    let main_fault = fault
        .as_ref()
        .filter(|k| **k != FaultKind::UnsafeCompressionPolicy);
    let mut notes = in_transaction(conn, st.sql, main_fault)
        .await
        .map_err(BodyFailure::failed)?;

    if let Some((_, stage_sql)) = st.post_commit {
        let stage_fault = fault
            .as_ref()
            .filter(|k| **k == FaultKind::UnsafeCompressionPolicy);
        match in_transaction(conn, stage_sql, stage_fault).await {
            Ok(stage_notes) => notes = format!("{notes}; compression stage: {stage_notes}"),
            Err(message) => {
                return Err(BodyFailure {
                    status: StepStatus::FailedPostCommitCompression,
                    notes: format!("{notes}; compression stage failed after the cutover commit"),
                    message,
                })
            }
        }
    }

    if name == StepName::Step8FullValidation {
        let Some(gate) = opts.gate.as_ref() else {
            return Err(BodyFailure {
                status: StepStatus::Failed,
                notes: format!("{notes}; no validation gate was given"),
                message: "no validation gate: STEP_8_FULL_VALIDATION cannot validate, the lock stays held (pass RunOptions::gate)".to_string(),
            });
        };
        let verdict = gate
            .validate(conn)
            .await
            .map_err(|e| BodyFailure::failed(e.to_string()))?;
        let failed = gate_failures(&verdict);
        let (n, m) = (verdict.checks.len(), verdict.confirmations.len());
        outcome.validation = Some(verdict);
        if !failed.is_empty() {
            return Err(BodyFailure {
                status: StepStatus::Failed,
                notes: format!(
                    "{notes}; validation gate: {} failure(s) over {n} checks and {m} confirmations",
                    failed.len()
                ),
                message: format!("validation failed ({}): {}", gate.name(), failed.join(", ")),
            });
        }
        let confirmed = verdict_names(outcome).join(", ");
        notes = format!(
            "{notes}; {m} structural confirmations passed ({confirmed}); All blocking validation checks returned 0 violations ({n} checks)"
        );
    }
    Ok(notes)
}

/// The confirmation names of the verdict STEP_8 just recorded.
fn verdict_names(outcome: &RunOutcome) -> Vec<&str> {
    outcome
        .validation
        .iter()
        .flat_map(|v| v.confirmations.iter().map(|c| c.name.as_str()))
        .collect()
}

/// Run `sql` in one transaction, with the fault's setting; return the step's notes.
async fn in_transaction(
    conn: &mut PgConnection,
    sql: &str,
    fault: Option<&FaultKind>,
) -> Result<String, String> {
    let mut tx = conn
        .begin()
        .await
        .map_err(|e| format!("BEGIN: {}", db_message(&e)))?;
    if let Some(kind) = fault {
        if let Some(setting) = kind.setting() {
            sqlx::query("SELECT set_config('migrations.fault', $1, true)")
                .bind(setting)
                .execute(&mut *tx)
                .await
                .map_err(|e| db_message(&e))?;
        }
        if let FaultKind::Fail(message) = kind {
            // A real database error inside the step's transaction, so rollback and logging take
            // the same path as a genuine failure.
            let clean: String = message
                .chars()
                .filter(|c| *c != '$')
                .collect::<String>()
                .replace('\'', "''");
            let raise = format!(
                "DO $fault$ BEGIN RAISE EXCEPTION 'fault injected: %', '{clean}'; END $fault$"
            );
            sqlx::raw_sql(&raise)
                .execute(&mut *tx)
                .await
                .map_err(|e| db_message(&e))?;
        }
    }
    sqlx::raw_sql(sql)
        .execute(&mut *tx)
        .await
        .map_err(|e| db_message(&e))?;
    let notes: String =
        sqlx::query_scalar("SELECT coalesce(current_setting('migrations.step_notes', true), '')")
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| db_message(&e))?;
    tx.commit()
        .await
        .map_err(|e| format!("COMMIT: {}", db_message(&e)))?;
    Ok(notes)
}

async fn log_running(
    conn: &mut PgConnection,
    run_id: &str,
    name: StepName,
) -> Result<(i64, DateTime<Utc>), sqlx::Error> {
    sqlx::query_as(
        "INSERT INTO migration_step_log (run_id, phase, step_name, started_at_utc, status)
         VALUES ($1, $2, $3, clock_timestamp(), 'RUNNING') RETURNING log_id, started_at_utc",
    )
    .bind(run_id)
    .bind(PHASE_1C)
    .bind(name.as_str())
    .fetch_one(&mut *conn)
    .await
}

async fn log_finish(
    conn: &mut PgConnection,
    log_id: i64,
    status: StepStatus,
    notes: &str,
    error: Option<&str>,
) -> Result<DateTime<Utc>, sqlx::Error> {
    sqlx::query_scalar(
        "UPDATE migration_step_log SET ended_at_utc = clock_timestamp(), status = $2, notes = $3, error_text = $4
          WHERE log_id = $1 RETURNING ended_at_utc",
    )
    .bind(log_id)
    .bind(status.as_str())
    .bind(notes)
    .bind(error)
    .fetch_one(&mut *conn)
    .await
}

async fn log_skipped(
    conn: &mut PgConnection,
    run_id: &str,
    name: StepName,
    note: &str,
) -> Result<StepRecord, sqlx::Error> {
    let status = StepStatus::SkippedAlreadyDone;
    let (log_id, started_at_utc, ended_at_utc): (i64, DateTime<Utc>, DateTime<Utc>) = sqlx::query_as(
        "INSERT INTO migration_step_log (run_id, phase, step_name, started_at_utc, ended_at_utc, status, notes)
         VALUES ($1, $2, $3, clock_timestamp(), clock_timestamp(), $4, $5)
         RETURNING log_id, started_at_utc, ended_at_utc",
    )
    .bind(run_id)
    .bind(PHASE_1C)
    .bind(name.as_str())
    .bind(status.as_str())
    .bind(note)
    .fetch_one(&mut *conn)
    .await?;
    Ok(StepRecord {
        step: name,
        log_id,
        started_at_utc,
        ended_at_utc,
        status,
        notes: note.to_string(),
        error: None,
        duration: std::time::Duration::ZERO,
    })
}

/// Check the lock and the layout before anything runs (typed errors for bad input).
async fn preflight(conn: &mut PgConnection, run_id: &str) -> Result<Preflight, MigrationError> {
    if !relation_exists(conn, "migration_lock").await?
        || !relation_exists(conn, "migration_step_log").await?
    {
        return Err(MigrationError::Phase1bMissing);
    }
    let lock = match lock_state(conn).await? {
        Some(l) => l,
        None => {
            return Err(record_step0_failure(conn, run_id, MigrationError::LockRowMissing).await)
        }
    };
    if !lock.locked {
        let completed: Option<DateTime<Utc>> = sqlx::query_scalar(
            "SELECT max(ended_at_utc) FROM migration_step_log
              WHERE phase = $1 AND step_name = 'STEP_9_UNLOCK' AND status = 'SUCCESS' AND started_at_utc >= $2",
        )
        .bind(PHASE_1C)
        .bind(lock.locked_at_utc)
        .fetch_one(&mut *conn)
        .await
        .map_err(ctx("reading migration_step_log"))?;
        return match completed {
            Some(at) => Ok(Preflight::Done {
                reason: format!(
                    "already migrated: STEP_9_UNLOCK succeeded at {} for the lock taken at {}; nothing to do",
                    at.to_rfc3339(),
                    lock.locked_at_utc.to_rfc3339()
                ),
            }),
            None => Err(record_step0_failure(
                conn,
                run_id,
                MigrationError::LockNotHeld { unlocked_at_utc: lock.unlocked_at_utc },
            )
            .await),
        };
    }
    match layout(conn).await {
        Ok(_) => Ok(Preflight::Go {
            epoch_start: lock.locked_at_utc,
        }),
        Err(
            e @ (MigrationError::ArchiveNameTaken { .. }
            | MigrationError::UnrecognisedLayout { .. }),
        ) => Err(record_step0_failure(conn, run_id, e).await),
        Err(e) => Err(e),
    }
}

/// Record a preflight failure as a FAILED STEP_0_VERIFY_LOCK row (best effort) and return it.
async fn record_step0_failure(
    conn: &mut PgConnection,
    run_id: &str,
    err: MigrationError,
) -> MigrationError {
    let result = sqlx::query(
        "INSERT INTO migration_step_log (run_id, phase, step_name, started_at_utc, ended_at_utc, status, notes, error_text)
         VALUES ($1, $2, 'STEP_0_VERIFY_LOCK', clock_timestamp(), clock_timestamp(), 'FAILED',
                 'preflight refused the run; nothing was changed', $3)",
    )
    .bind(run_id)
    .bind(PHASE_1C)
    .bind(err.to_string())
    .execute(&mut *conn)
    .await;
    if let Err(e) = result {
        warn!(error = %e, "could not record the STEP_0 failure in migration_step_log");
    }
    err
}

async fn layout(conn: &mut PgConnection) -> Result<Layout, MigrationError> {
    let (v2, archives): (Vec<String>, Vec<String>) = sqlx::query_as(
        "SELECT coalesce(array_agg(t || '_v2' ORDER BY t) FILTER (WHERE to_regclass('public.' || t || '_v2') IS NOT NULL), '{}'),
                coalesce(array_agg(t || '_phase1a_archive' ORDER BY t)
                         FILTER (WHERE to_regclass('public.' || t || '_phase1a_archive') IS NOT NULL), '{}')
           FROM unnest($1::text[]) AS t",
    )
    .bind(EVENT_TABLES.map(str::to_string).to_vec())
    .fetch_one(&mut *conn)
    .await
    .map_err(ctx("inspecting the event tables"))?;
    let n = EVENT_TABLES.len();
    if v2.len() == n && archives.is_empty() {
        Ok(Layout::PreCutover)
    } else if v2.is_empty() && archives.len() == n {
        Ok(Layout::PostCutover)
    } else if v2.len() == n {
        Err(MigrationError::ArchiveNameTaken { tables: archives })
    } else {
        Err(MigrationError::UnrecognisedLayout {
            detail: format!(
                "v2 tables present: [{}]; archives present: [{}]",
                v2.join(", "),
                archives.join(", ")
            ),
        })
    }
}

async fn advisory_lock(conn: &mut PgConnection) -> Result<(), MigrationError> {
    let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtext($1))")
        .bind(ADVISORY_KEY)
        .fetch_one(&mut *conn)
        .await
        .map_err(ctx("taking the runner's advisory lock"))?;
    if got {
        Ok(())
    } else {
        Err(MigrationError::ConcurrentRun)
    }
}

async fn advisory_unlock(conn: &mut PgConnection) -> Result<(), MigrationError> {
    sqlx::query_scalar::<_, bool>("SELECT pg_advisory_unlock(hashtext($1))")
        .bind(ADVISORY_KEY)
        .fetch_one(&mut *conn)
        .await
        .map(|_| ())
        .map_err(ctx("releasing the runner's advisory lock"))
}
