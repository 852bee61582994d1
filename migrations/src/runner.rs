//! The migration runner: Phase 1B and Phase 1C Revision B, step log, abort-on-error, resume,
//! validation gate, unlock; every step in short transactions so writers keep writing.
//!
//! Semantics (README "Runner"):
//! * A step is a list of stages (`sql::parse_stages`): a plain stage runs in one transaction,
//!   a batch stage repeats one statement in its own transactions until it handles no row, an
//!   autocommit stage runs `CREATE INDEX CONCURRENTLY`. Every transaction sets `lock_timeout`:
//!   a stage that cannot get a lock within it (or is chosen as a deadlock victim) rolls back,
//!   waits with exponential backoff and jitter, and retries; the retries are recorded in the
//!   step's notes. A strong lock is therefore never waited for while writers queue behind it.
//! * Each step: a RUNNING row (autocommit), its stages, the row completed with SUCCESS /
//!   FAILED, notes and the error text (SQLSTATE, message, detail, hint, `file:line` of the
//!   statement). A RUNNING row left by a run that died is marked INTERRUPTED (with the time it
//!   was found) by the next run, before it does anything else.
//! * Abort-on-error: the first failure stops the run; the lock stays held.
//! * Resume: a step that changes the database and already succeeded in this lock epoch (or a
//!   pre-cutover step once the cutover committed) is logged `SKIPPED (already done)`; a step
//!   that was interrupted runs again from its first stage (every stage is idempotent and every
//!   batch resumes at its cursor). STEP_0 and STEP_8 always run, and STEP_9 refuses in SQL
//!   unless a STEP_8 SUCCESS follows the last change of the epoch.
//! * One session-level advisory lock per database keeps two runners apart.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sqlx::{Connection, PgConnection, Postgres, Transaction};
use tracing::{info, warn};

use crate::error::{ctx, db_message, MigrationError};
use crate::fault::{FaultKind, FaultPoint, PointAction};
use crate::phases::{lock_state, new_run_id, relation_exists};
use crate::sql::{concurrent_index_name, parse_stages, Stage, StageKind};
use crate::{
    step, RunOptions, RunOutcome, StageRecord, StepName, StepRecord, StepStatus, PHASE_1B, PHASE_1C,
};
use contract::gate::gate_failures;
use contract::EVENT_TABLES;

/// Key of the runner's session-level advisory lock (per database).
const ADVISORY_KEY: &str = contract::RUNNER_ADVISORY_KEY;

/// SQLSTATEs after which a stage's transaction is retried: `lock_not_available` (its
/// lock_timeout expired) and `deadlock_detected` (it was chosen as the victim).
const RETRYABLE: [&str; 2] = ["55P03", "40P01"];

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

/// One unit the runner executes and logs: a Phase 1B script or a Phase 1C step.
struct Unit {
    phase: &'static str,
    log_name: &'static str,
    file: &'static str,
    sql: &'static str,
    step: Option<StepName>,
}

impl Unit {
    fn of_step(name: StepName) -> Self {
        let s = step(name);
        Unit {
            phase: PHASE_1C,
            log_name: name.as_str(),
            file: s.file,
            sql: s.sql,
            step: Some(name),
        }
    }
}

/// The stages of `file`, after the run's SQL edits (none in real runs).
fn stages_of(
    opts: &RunOptions,
    file: &'static str,
    sql: &'static str,
) -> Result<Vec<Stage>, StepFailure> {
    let failure = |message: String| StepFailure {
        status: StepStatus::Failed,
        message,
        cause: None,
    };
    let sql = crate::edited_sql(file, sql, &opts.sql_edits).map_err(|e| failure(e.to_string()))?;
    parse_stages(file, sql).map_err(|e| failure(e.to_string()))
}

/// Every fault point of the migration, in run order: each step's `begin`, each stage's
/// statements (`stmt-<k>`) and commit, each batch stage's first batch (`batch-1`; the point
/// fires after every batch, numbered), and the step's `end`.
pub fn fault_points() -> Vec<String> {
    let mut out = Vec::new();
    let units = crate::sql::PHASE_1B_SCRIPTS
        .iter()
        .map(|(f, s)| (*f, *f, *s, None))
        .chain(
            crate::steps()
                .iter()
                .map(|s| (s.name.as_str(), s.file, s.sql, s.post_commit)),
        );
    for (name, file, sql, post) in units {
        out.push(format!("{name}/begin"));
        let mut stage_list = parse_stages(file, sql).unwrap_or_default();
        if let Some((pf, psql)) = post {
            stage_list.extend(parse_stages(pf, psql).unwrap_or_default().into_iter().map(
                |mut s| {
                    s.name = "compression";
                    s
                },
            ));
        }
        for st in stage_list {
            match st.kind {
                StageKind::Batch => out.push(format!("{name}/{}/batch-1", st.name)),
                StageKind::Transaction | StageKind::Autocommit => {
                    for k in 1..=st.statements.len() {
                        out.push(format!("{name}/{}/stmt-{k}", st.name));
                    }
                    if st.kind == StageKind::Transaction {
                        out.push(format!("{name}/{}/committed", st.name));
                    }
                }
            }
        }
        out.push(format!("{name}/end"));
    }
    out
}

/// What Phase 1B did in one run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Phase1bOutcome {
    /// `migration_step_log.run_id` of its rows.
    pub run_id: String,
    /// Each script of this run, in order (skipped ones included).
    pub scripts: Vec<ScriptRecord>,
    /// TRUE when Phase 1B was complete already: nothing was run.
    pub already_complete: bool,
}

/// What one Phase 1B script did in one run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ScriptRecord {
    /// The script (its file name is its step name in the log).
    pub script: &'static str,
    /// Its step-log row.
    pub log_id: i64,
    /// Final status.
    pub status: StepStatus,
    /// Notes.
    pub notes: String,
    /// Its stages.
    pub stages: Vec<StageRecord>,
    /// Wall time, microseconds.
    pub duration_us: u64,
}

/// What a whole `migrate` did: Phase 1B (when it had to run) and Phase 1C.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MigrationOutcome {
    /// Phase 1B, when this run had to run (part of) it.
    pub phase_1b: Option<Phase1bOutcome>,
    /// Phase 1C (absent when the run stopped after Phase 1B).
    pub phase_1c: Option<RunOutcome>,
}

/// Run whatever remains of the migration: Phase 1B if it is not applied (a Phase 1A database)
/// or was interrupted, then Phase 1C, resuming where an earlier run stopped.
pub async fn run_migration(
    conn: &mut PgConnection,
    opts: &RunOptions,
) -> Result<MigrationOutcome, MigrationError> {
    let phase_1b = match phase_1b_state(conn).await? {
        Phase1bState::Complete => None,
        _ => Some(apply_phase_1b_with(conn, opts).await?),
    };
    if opts.stop_after_phase_1b {
        return Ok(MigrationOutcome {
            phase_1b,
            phase_1c: None,
        });
    }
    let phase_1c = run_phase_1c(conn, opts).await?;
    Ok(MigrationOutcome {
        phase_1b,
        phase_1c: Some(phase_1c),
    })
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase1bState {
    /// No migration_lock: Phase 1B never started.
    NotStarted,
    /// Started in this lock epoch; these scripts have no SUCCESS yet.
    Incomplete(Vec<&'static str>),
    /// Every script succeeded in this lock epoch (or the migration finished).
    Complete,
}

async fn phase_1b_state(conn: &mut PgConnection) -> Result<Phase1bState, MigrationError> {
    if !relation_exists(conn, contract::LOCK_TABLE).await?
        || !relation_exists(conn, contract::STEP_LOG_TABLE).await?
    {
        return Ok(Phase1bState::NotStarted);
    }
    let Some(lock) = lock_state(conn).await? else {
        return Ok(Phase1bState::Incomplete(
            crate::sql::PHASE_1B_SCRIPTS
                .iter()
                .map(|(f, _)| *f)
                .collect(),
        ));
    };
    // By end time: the first script takes the lock itself, so it starts before the epoch does.
    let done: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT step_name FROM migration_step_log
          WHERE phase = $1 AND status = 'SUCCESS' AND ended_at_utc >= $2",
    )
    .bind(PHASE_1B)
    .bind(lock.locked_at_utc)
    .fetch_all(&mut *conn)
    .await
    .map_err(ctx("reading migration_step_log"))?;
    let missing: Vec<&'static str> = crate::sql::PHASE_1B_SCRIPTS
        .iter()
        .map(|(f, _)| *f)
        .filter(|f| !done.iter().any(|d| d == f))
        .collect();
    // A database past the cutover completed Phase 1B whatever its log says (an older log, or
    // rows of an earlier epoch).
    if missing.is_empty() || relation_exists(conn, &contract::archive_name("order_fill")).await? {
        Ok(Phase1bState::Complete)
    } else {
        Ok(Phase1bState::Incomplete(missing))
    }
}

/// Apply Phase 1B (`phase_1b_schema`) with the default options; a database where it is
/// already complete is refused ([`MigrationError::AlreadyApplied`]).
pub async fn apply_phase_1b(conn: &mut PgConnection) -> Result<(), MigrationError> {
    let out = apply_phase_1b_with(conn, &RunOptions::default()).await?;
    if out.already_complete {
        return Err(MigrationError::AlreadyApplied { phase: "Phase 1B" });
    }
    Ok(())
}

/// Apply (or resume) Phase 1B: lock + step log, `*_v2` tables, dual-write triggers, the
/// batched backfill, indexes and foreign keys; one step-log row per script (phase `PHASE_1B`).
pub async fn apply_phase_1b_with(
    conn: &mut PgConnection,
    opts: &RunOptions,
) -> Result<Phase1bOutcome, MigrationError> {
    if !relation_exists(conn, "order_request").await?
        || !relation_exists(conn, "risk_hourly_state").await?
    {
        return Err(MigrationError::PrerequisiteMissing {
            phase: "Phase 1B",
            missing: "Phase 1A",
        });
    }
    let state = phase_1b_state(conn).await?;
    let run_id = match &opts.run_id {
        Some(id) => id.clone(),
        None => new_run_id(conn).await?,
    };
    if state == Phase1bState::Complete {
        return Ok(Phase1bOutcome {
            run_id,
            scripts: Vec::new(),
            already_complete: true,
        });
    }
    advisory_lock(conn, opts.runner_wait).await?;
    let result = phase_1b_body(conn, opts, &run_id, state).await;
    let unlocked = advisory_unlock(conn).await;
    let scripts = result?;
    unlocked?;
    Ok(Phase1bOutcome {
        run_id,
        scripts,
        already_complete: false,
    })
}

async fn phase_1b_body(
    conn: &mut PgConnection,
    opts: &RunOptions,
    run_id: &str,
    state: Phase1bState,
) -> Result<Vec<ScriptRecord>, MigrationError> {
    let mut records = Vec::new();
    let scripts = crate::sql::PHASE_1B_SCRIPTS;
    let first = scripts[0];
    if state == Phase1bState::NotStarted {
        // The log table does not exist before the first script: its row is written in the
        // script's own last transaction, so it exists exactly when the script committed.
        let unit = Unit {
            phase: PHASE_1B,
            log_name: first.0,
            file: first.0,
            sql: first.1,
            step: None,
        };
        records.push(bootstrap(conn, &unit, opts, run_id).await?);
    } else {
        mark_interrupted(conn, run_id).await?;
    }
    let epoch_start = lock_state(conn)
        .await?
        .map(|l| l.locked_at_utc)
        .ok_or(MigrationError::LockRowMissing)?;
    for (file, sql) in scripts
        .iter()
        .skip(usize::from(state == Phase1bState::NotStarted))
    {
        let done: Option<(i64, DateTime<Utc>)> = sqlx::query_as(
            "SELECT log_id, started_at_utc FROM migration_step_log
              WHERE phase = $1 AND step_name = $2 AND status = 'SUCCESS' AND ended_at_utc >= $3
              ORDER BY log_id DESC LIMIT 1",
        )
        .bind(PHASE_1B)
        .bind(*file)
        .bind(epoch_start)
        .fetch_optional(&mut *conn)
        .await
        .map_err(ctx("reading migration_step_log"))?;
        if let Some((log_id, at)) = done {
            let note = format!(
                "already done in this lock epoch (SUCCESS at {}, log_id {log_id})",
                at.to_rfc3339()
            );
            let skipped = log_skipped(conn, run_id, PHASE_1B, file, &note)
                .await
                .map_err(ctx("writing the step log"))?;
            records.push(ScriptRecord {
                script: file,
                log_id: skipped.0,
                status: StepStatus::SkippedAlreadyDone,
                notes: note,
                stages: Vec::new(),
                duration_us: 0,
            });
            continue;
        }
        let unit = Unit {
            phase: PHASE_1B,
            log_name: file,
            file,
            sql,
            step: None,
        };
        let mut sink = RunOutcome::empty(run_id.to_string());
        let rec = execute(conn, &unit, opts, run_id, &mut sink)
            .await
            .map_err(|f| MigrationError::Script {
                phase: "Phase 1B",
                script: file,
                message: f.message,
            })?;
        records.push(ScriptRecord {
            script: file,
            log_id: rec.log_id,
            status: rec.status,
            notes: rec.notes,
            stages: rec.stages,
            duration_us: u64::try_from(rec.duration.as_micros()).unwrap_or(u64::MAX),
        });
    }
    Ok(records)
}

/// The first Phase 1B script, before the step log exists: its stages run, and its log row is
/// written inside its last stage's transaction.
async fn bootstrap(
    conn: &mut PgConnection,
    unit: &Unit,
    opts: &RunOptions,
    run_id: &str,
) -> Result<ScriptRecord, MigrationError> {
    let started = Utc::now();
    let clock = Instant::now();
    let stages = stages_of(opts, unit.file, unit.sql).map_err(|f| MigrationError::Script {
        phase: "Phase 1B",
        script: unit.file,
        message: f.message,
    })?;
    let pid = backend_pid(conn).await;
    let mut notes = Vec::new();
    let mut records = Vec::new();
    let last = stages.len().saturating_sub(1);
    fire(opts, &format!("{}/begin", unit.log_name), pid).map_err(|f| MigrationError::Script {
        phase: "Phase 1B",
        script: unit.file,
        message: f.message,
    })?;
    let mut log_id = 0;
    for (i, st) in stages.iter().enumerate() {
        let finish = (i == last).then_some(Finish::Insert {
            run_id,
            started,
            name: unit.log_name,
        });
        let (rec, note, id) = run_stage(conn, unit, st, opts, None, pid, finish)
            .await
            .map_err(|f| MigrationError::Script {
                phase: "Phase 1B",
                script: unit.file,
                message: f.message,
            })?;
        if let Some(id) = id {
            log_id = id;
        }
        notes.extend(note);
        records.push(rec);
    }
    fire(opts, &format!("{}/end", unit.log_name), pid).map_err(|f| MigrationError::Script {
        phase: "Phase 1B",
        script: unit.file,
        message: f.message,
    })?;
    Ok(ScriptRecord {
        script: unit.file,
        log_id,
        status: StepStatus::Success,
        notes: notes.join("; "),
        stages: records,
        duration_us: u64::try_from(clock.elapsed().as_micros()).unwrap_or(u64::MAX),
    })
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
                noop: true,
                noop_reason: Some(reason),
                started_at_utc,
                ended_at_utc: Utc::now(),
                ..RunOutcome::empty(run_id)
            });
        }
        Preflight::Go { epoch_start } => epoch_start,
    };
    advisory_lock(conn, opts.runner_wait).await?;
    let mut outcome = RunOutcome {
        started_at_utc,
        ended_at_utc: started_at_utc,
        ..RunOutcome::empty(run_id)
    };
    let result = match mark_interrupted(conn, &outcome.run_id).await {
        Ok(()) => run_all(conn, opts, epoch_start, &mut outcome).await,
        Err(e) => {
            Err(StepFailure::failed(e.to_string())).map_err(|f| (StepName::Step0VerifyLock, f))
        }
    };
    let unlocked = advisory_unlock(conn).await;
    outcome.ended_at_utc = Utc::now();
    match result {
        Ok(()) => {
            unlocked?;
            Ok(outcome)
        }
        Err((step, failure)) => Err(failure.into_error(step, outcome)),
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
    advisory_lock(conn, opts.runner_wait).await?;
    let started_at_utc = Utc::now();
    let mut outcome = RunOutcome {
        started_at_utc,
        ended_at_utc: started_at_utc,
        ..RunOutcome::empty(run_id.clone())
    };
    let result = match mark_interrupted(conn, &run_id).await {
        Ok(()) => execute(conn, &Unit::of_step(name), opts, &run_id, &mut outcome).await,
        Err(e) => Err(StepFailure::failed(e.to_string())),
    };
    let unlocked = advisory_unlock(conn).await;
    outcome.ended_at_utc = Utc::now();
    match result {
        Ok(rec) => {
            unlocked?;
            Ok(rec)
        }
        Err(failure) => Err(failure.into_error(name, outcome)),
    }
}

/// A step's failure: its status, the message for the log and the error, and the database's
/// own error when there was one.
struct StepFailure {
    status: StepStatus,
    message: String,
    cause: Option<Box<crate::StepErrorDetail>>,
}

impl StepFailure {
    fn failed(message: String) -> Self {
        Self {
            status: StepStatus::Failed,
            message,
            cause: None,
        }
    }

    /// The error a caller sees: the failure and the run's record up to it.
    fn into_error(self, step: StepName, outcome: RunOutcome) -> MigrationError {
        MigrationError::StepFailed {
            step,
            status: self.status,
            message: self.message,
            cause: self.cause,
            outcome: Box::new(outcome),
        }
    }

    fn db(what: &str, e: &sqlx::Error) -> Self {
        Self::failed(format!("{what}: {}", db_message(e)))
    }
}

async fn run_all(
    conn: &mut PgConnection,
    opts: &RunOptions,
    epoch_start: DateTime<Utc>,
    outcome: &mut RunOutcome,
) -> Result<(), (StepName, StepFailure)> {
    let run_id = outcome.run_id.clone();
    for name in StepName::ALL {
        if let Some(note) = skip_reason(conn, name, epoch_start).await.map_err(|e| {
            (
                name,
                StepFailure::db("checking whether the step is done", &e),
            )
        })? {
            let (log_id, started_at_utc, ended_at_utc) =
                log_skipped(conn, &run_id, PHASE_1C, name.as_str(), &note)
                    .await
                    .map_err(|e| (name, StepFailure::db("writing the step log", &e)))?;
            info!(step = %name, %note, "skipped");
            outcome.steps.push(StepRecord {
                step: name,
                log_id,
                started_at_utc,
                ended_at_utc,
                status: StepStatus::SkippedAlreadyDone,
                notes: note,
                error: None,
                stages: Vec::new(),
                lock_retries: 0,
                duration: Duration::ZERO,
            });
        } else {
            let rec = execute(conn, &Unit::of_step(name), opts, &run_id, outcome)
                .await
                .map_err(|f| (name, f))?;
            outcome.steps.push(rec);
        }
        if opts.stop_after == Some(name) {
            info!(step = %name, "stopping after this step, as asked");
            outcome.stopped_after = Some(name);
            break;
        }
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

async fn backend_pid(conn: &mut PgConnection) -> i32 {
    sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&mut *conn)
        .await
        .unwrap_or(0)
}

/// Call the action armed at `point`, if any.
fn fire(opts: &RunOptions, point: &str, backend_pid: i32) -> Result<(), StepFailure> {
    let Some(hook) = &opts.fault else {
        return Ok(());
    };
    match hook.take_point(point) {
        None => Ok(()),
        Some(PointAction::Fail(message)) => Err(StepFailure::failed(format!(
            "fault injected at {point}: {message}"
        ))),
        Some(PointAction::Call(f)) => {
            warn!(point, "fault point reached");
            f(&FaultPoint {
                name: point.to_string(),
                backend_pid,
            });
            Ok(())
        }
    }
}

/// Run one unit with its log row; on failure the row says FAILED with the error text.
async fn execute(
    conn: &mut PgConnection,
    unit: &Unit,
    opts: &RunOptions,
    run_id: &str,
    outcome: &mut RunOutcome,
) -> Result<StepRecord, StepFailure> {
    let (log_id, started_at_utc) = log_running(conn, run_id, unit.phase, unit.log_name)
        .await
        .map_err(|e| StepFailure::db("writing the step log", &e))?;
    let clock = Instant::now();
    let fault = unit
        .step
        .and_then(|s| opts.fault.as_ref().and_then(|f| f.take(s)));
    if let Some(kind) = &fault {
        warn!(
            step = unit.log_name,
            ?kind,
            "fault injection armed for this step"
        );
    }
    let mut stages = Vec::new();
    let result = run_body(conn, unit, log_id, opts, fault, outcome, &mut stages).await;
    let duration = clock.elapsed();
    let lock_retries: u32 = stages.iter().map(|s: &StageRecord| s.lock_retries).sum();
    let (status, notes, error, completed) = match &result {
        Ok((notes, completed)) => (StepStatus::Success, notes.clone(), None, *completed),
        Err(f) => (
            f.status,
            f.notes.clone(),
            Some(f.failure.message.clone()),
            false,
        ),
    };
    let notes = with_retry_note(notes, &stages);
    // A row the last transaction completed already is only refreshed (its retry note).
    let logged = log_finish(conn, log_id, status, &notes, error.as_deref()).await;
    let ended_at_utc = match (&logged, &error) {
        (Ok(at), _) => *at,
        (Err(_), None) if completed => Utc::now(),
        (Err(e), None) => return Err(StepFailure::db("completing the step log", e)),
        // The step's own failure is the cause: report it, and that the log could not say so
        // (the connection is usually what failed: the next run marks the row INTERRUPTED).
        (Err(_), Some(_)) => Utc::now(),
    };
    info!(step = unit.log_name, status = %status, ms = duration.as_millis() as u64, "step finished");
    let record = StepRecord {
        step: unit.step.unwrap_or(StepName::Step0VerifyLock),
        log_id,
        started_at_utc,
        ended_at_utc,
        status,
        notes,
        error: error.clone(),
        stages,
        lock_retries,
        duration,
    };
    match result {
        Ok(_) => Ok(record),
        Err(f) => {
            if unit.step.is_some() {
                outcome.steps.push(record);
            }
            let mut failure = f.failure;
            failure.status = f.status;
            if let Err(e) = logged {
                failure.message = format!(
                    "{}; the step log could not be completed: {}",
                    failure.message,
                    db_message(&e)
                );
            }
            Err(failure)
        }
    }
}

fn with_retry_note(notes: String, stages: &[StageRecord]) -> String {
    let retried: Vec<String> = stages
        .iter()
        .filter(|s| s.lock_retries > 0)
        .map(|s| format!("{} {}", s.name, s.lock_retries))
        .collect();
    if retried.is_empty() {
        notes
    } else {
        let note = format!(
            "lock retries (lock_timeout reached or deadlock victim, then backoff): {}",
            retried.join(", ")
        );
        if notes.is_empty() {
            note
        } else {
            format!("{notes}; {note}")
        }
    }
}

struct BodyFailure {
    status: StepStatus,
    notes: String,
    failure: StepFailure,
}

impl BodyFailure {
    fn from(failure: StepFailure, notes: &[String]) -> Self {
        Self {
            status: StepStatus::Failed,
            notes: notes.join("; "),
            failure,
        }
    }
}

/// The unit's stages (and, for STEP_7, its post-commit stage; for STEP_8, the gate). Returns
/// the notes.
async fn run_body(
    conn: &mut PgConnection,
    unit: &Unit,
    log_id: i64,
    opts: &RunOptions,
    fault: Option<FaultKind>,
    outcome: &mut RunOutcome,
    records: &mut Vec<StageRecord>,
) -> Result<(String, bool), BodyFailure> {
    let pid = backend_pid(conn).await;
    let mut notes: Vec<String> = Vec::new();
    fire(opts, &format!("{}/begin", unit.log_name), pid)
        .map_err(|f| BodyFailure::from(f, &notes))?;
    let stages = stages_of(opts, unit.file, unit.sql).map_err(|f| BodyFailure::from(f, &notes))?;
    let main_fault = fault
        .as_ref()
        .filter(|k| **k != FaultKind::UnsafeCompressionPolicy);
    let completes_in_tx = unit.step == Some(StepName::Step9Unlock);
    let mut completed = false;
    for (i, st) in stages.iter().enumerate() {
        let f = main_fault.filter(|k| i == 0 || k.setting().is_some());
        let earlier = notes.clone();
        let finish =
            (completes_in_tx && i + 1 == stages.len() && st.kind == StageKind::Transaction)
                .then_some(Finish::Complete {
                    log_id,
                    earlier_notes: &earlier,
                });
        let (rec, note, done) = run_stage(conn, unit, st, opts, f, pid, finish)
            .await
            .map_err(|e| BodyFailure::from(e, &notes))?;
        completed |= done.is_some();
        notes.extend(note);
        records.push(rec);
    }

    if let Some(step) = unit.step {
        if let Some((file, sql)) = crate::step(step).post_commit {
            let stage_fault = fault
                .as_ref()
                .filter(|k| **k == FaultKind::UnsafeCompressionPolicy);
            let post = stages_of(opts, file, sql).map_err(|f| BodyFailure::from(f, &notes))?;
            let post_unit = Unit {
                file,
                sql,
                ..Unit::of_step(step)
            };
            for st in &post {
                let st = Stage {
                    name: "compression",
                    ..st.clone()
                };
                match run_stage(conn, &post_unit, &st, opts, stage_fault, pid, None).await {
                    Ok((rec, note, _)) => {
                        notes.extend(note.map(|n| format!("compression stage: {n}")));
                        records.push(rec);
                    }
                    Err(failure) => {
                        notes.push("compression stage failed after the cutover commit".into());
                        return Err(BodyFailure {
                            status: StepStatus::FailedPostCommitCompression,
                            notes: notes.join("; "),
                            failure,
                        });
                    }
                }
            }
        }
        if step == StepName::Step8FullValidation {
            validate(conn, opts, outcome, &mut notes).await?;
        }
    }
    fire(opts, &format!("{}/end", unit.log_name), pid).map_err(|f| BodyFailure::from(f, &notes))?;
    Ok((notes.join("; "), completed))
}

/// STEP_8's gate.
async fn validate(
    conn: &mut PgConnection,
    opts: &RunOptions,
    outcome: &mut RunOutcome,
    notes: &mut Vec<String>,
) -> Result<(), BodyFailure> {
    let Some(gate) = opts.gate.as_ref() else {
        notes.push("no validation gate was given".into());
        return Err(BodyFailure::from(
            StepFailure::failed("no validation gate: STEP_8_FULL_VALIDATION cannot validate, the lock stays held (pass RunOptions::gate)".into()),
            notes,
        ));
    };
    let verdict = gate
        .validate(conn)
        .await
        .map_err(|e| BodyFailure::from(StepFailure::failed(e.to_string()), notes))?;
    let failed = gate_failures(&verdict);
    let (n, m) = (verdict.checks.len(), verdict.confirmations.len());
    let confirmed = verdict
        .confirmations
        .iter()
        .map(|c| c.name.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    outcome.validation = Some(verdict);
    if !failed.is_empty() {
        notes.push(format!(
            "validation gate: {} failure(s) over {n} checks and {m} confirmations",
            failed.len()
        ));
        return Err(BodyFailure::from(
            StepFailure::failed(format!(
                "validation failed ({}): {}",
                gate.name(),
                failed.join(", ")
            )),
            notes,
        ));
    }
    notes.push(format!(
        "{m} structural confirmations passed ({confirmed}); All blocking validation checks returned 0 violations ({n} checks)"
    ));
    Ok(())
}

/// The database's error, with where it happened.
fn failure_at(unit: &Unit, line: Option<usize>, stage: &str, e: &sqlx::Error) -> StepFailure {
    let at = match line {
        Some(l) => format!("{}:{l}", unit.file),
        None => unit.file.to_string(),
    };
    let detail = crate::StepErrorDetail::from_sqlx(e, at.clone(), stage.to_string());
    StepFailure {
        status: StepStatus::Failed,
        message: detail.render(),
        cause: Some(Box::new(detail)),
    }
}

fn retryable(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .and_then(|d| d.code())
        .is_some_and(|c| RETRYABLE.contains(&c.as_ref()))
}

/// Sleep before retry `attempt` (1-based): 10 ms doubling to 640 ms, plus up to half of it at
/// random, so two runners or a runner and a writer burst do not retry in lockstep.
async fn backoff(attempt: u32) {
    let base = 10u64 << attempt.min(6);
    let jitter = u64::from(rand_jitter()) % (base / 2 + 1);
    tokio::time::sleep(Duration::from_millis(base + jitter)).await;
}

fn rand_jitter() -> u32 {
    // The low bits of the clock are random enough to spread retries.
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0)
}

/// Transaction-local settings of every stage transaction.
async fn settings(
    tx: &mut PgConnection,
    opts: &RunOptions,
    fault: Option<&FaultKind>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "SELECT set_config('lock_timeout', $1, true), set_config('migrations.batch_size', $2, true),
                set_config('migrations.fault', $3, true), set_config('migrations.step_notes', '', true),
                set_config('migrations.batch_rows', '0', true)",
    )
    .bind(format!("{}ms", opts.lock_timeout.as_millis().max(1)))
    .bind(opts.batch_size.max(1).to_string())
    .bind(fault.and_then(FaultKind::setting).unwrap_or(""))
    .execute(&mut *tx)
    .await
    .map(|_| ())
}

/// (notes, batch rows) the stage's SQL set in its transaction.
async fn read_notes(tx: &mut PgConnection) -> Result<(String, i64), sqlx::Error> {
    let (notes, rows): (String, String) = sqlx::query_as(
        "SELECT coalesce(current_setting('migrations.step_notes', true), ''),
                coalesce(nullif(current_setting('migrations.batch_rows', true), ''), '0')",
    )
    .fetch_one(&mut *tx)
    .await?;
    Ok((notes, rows.trim().parse().unwrap_or(0)))
}

/// The step raises the fault's message inside its transaction, as a real failure would.
async fn raise_fault(tx: &mut PgConnection, message: &str) -> Result<(), sqlx::Error> {
    let clean: String = message
        .chars()
        .filter(|c| *c != '$')
        .collect::<String>()
        .replace('\'', "''");
    sqlx::raw_sql(&format!(
        "DO $fault$ BEGIN RAISE EXCEPTION 'fault injected: %', '{clean}'; END $fault$"
    ))
    .execute(&mut *tx)
    .await
    .map(|_| ())
}

/// A step-log write made inside a stage's own (last) transaction, so the log says exactly what
/// committed.
#[derive(Clone, Copy)]
enum Finish<'a> {
    /// The bootstrap script: its row (SUCCESS) is inserted (the log table is new).
    Insert {
        run_id: &'a str,
        started: DateTime<Utc>,
        name: &'a str,
    },
    /// STEP_9: its RUNNING row completes with SUCCESS in the unlock's transaction; otherwise
    /// a run killed between the two would leave the lock released with no STEP_9 SUCCESS, a
    /// state the next run must refuse.
    Complete {
        log_id: i64,
        earlier_notes: &'a [String],
    },
}

/// Run one stage to its end (every batch of a batch stage). Returns its record, its notes and,
/// when `finish` is given (the bootstrap script), the log row written in its last transaction.
async fn run_stage(
    conn: &mut PgConnection,
    unit: &Unit,
    st: &Stage,
    opts: &RunOptions,
    fault: Option<&FaultKind>,
    pid: i32,
    finish: Option<Finish<'_>>,
) -> Result<(StageRecord, Option<String>, Option<i64>), StepFailure> {
    let clock = Instant::now();
    let mut rec = StageRecord {
        name: st.name.to_string(),
        kind: st.kind,
        batches: 0,
        rows: 0,
        lock_retries: 0,
        duration_us: 0,
    };
    let budget = opts.lock_retry_budget;
    // The retry budget counts from the stage's last progress (a batch, a statement), so a long
    // batched stage may retry as often as it needs while each wait stays bounded.
    let mut since = Instant::now();
    let mut notes = None;
    let mut log_id = None;
    match st.kind {
        StageKind::Transaction => loop {
            match stage_transaction(conn, unit, st, opts, fault, pid, finish).await {
                Ok((n, id)) => {
                    notes = Some(n).filter(|n| !n.is_empty());
                    log_id = id;
                    break;
                }
                Err(e) => give_up_or_back_off(e, unit, st, &mut rec, since, budget).await?,
            }
        },
        StageKind::Batch => loop {
            let statement = st.statements[0];
            let attempt: Result<(String, i64), StageError> = async {
                let mut tx = conn
                    .begin()
                    .await
                    .map_err(|e| StageError::Fail(failure_at(unit, None, st.name, &e)))?;
                settings(&mut tx, opts, fault)
                    .await
                    .map_err(|e| StageError::Fail(failure_at(unit, None, st.name, &e)))?;
                sqlx::raw_sql(statement.sql)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| classify(unit, Some(statement.line), st.name, e))?;
                let read = read_notes(&mut tx)
                    .await
                    .map_err(|e| StageError::Fail(failure_at(unit, None, st.name, &e)))?;
                tx.commit()
                    .await
                    .map_err(|e| classify(unit, Some(statement.line), st.name, e))?;
                Ok(read)
            }
            .await;
            match attempt {
                Ok((n, rows)) => {
                    if !n.is_empty() {
                        notes = Some(n);
                    }
                    if rows <= 0 {
                        break;
                    }
                    rec.batches += 1;
                    rec.rows += rows;
                    since = Instant::now();
                    fire(
                        opts,
                        &format!("{}/{}/batch-{}", unit.log_name, st.name, rec.batches),
                        pid,
                    )?;
                }
                Err(e) => give_up_or_back_off(e, unit, st, &mut rec, since, budget).await?,
            }
        },
        StageKind::Autocommit => {
            for (k, statement) in st.statements.iter().enumerate() {
                loop {
                    match autocommit_statement(conn, unit, st.name, statement, opts).await {
                        Ok(()) => {
                            since = Instant::now();
                            break;
                        }
                        Err(e) => give_up_or_back_off(e, unit, st, &mut rec, since, budget).await?,
                    }
                }
                fire(
                    opts,
                    &format!("{}/{}/stmt-{}", unit.log_name, st.name, k + 1),
                    pid,
                )?;
            }
        }
    }
    rec.duration_us = u64::try_from(clock.elapsed().as_micros()).unwrap_or(u64::MAX);
    Ok((rec, notes, log_id))
}

/// After a failed attempt: back off and return (the caller retries) when a lock was not
/// available and the budget allows, the failure otherwise.
async fn give_up_or_back_off(
    err: StageError,
    unit: &Unit,
    st: &Stage,
    rec: &mut StageRecord,
    since: Instant,
    budget: Duration,
) -> Result<(), StepFailure> {
    match err {
        StageError::Retry(e) if since.elapsed() < budget => {
            rec.lock_retries += 1;
            info!(stage = st.name, error = %db_message(&e), "lock not available: backing off");
            backoff(rec.lock_retries).await;
            Ok(())
        }
        StageError::Retry(e) => Err(lock_budget_failure(unit, st, rec, &e, budget)),
        StageError::Fail(f) => Err(f),
    }
}

fn lock_budget_failure(
    unit: &Unit,
    st: &Stage,
    rec: &StageRecord,
    e: &sqlx::Error,
    budget: Duration,
) -> StepFailure {
    let mut f = failure_at(unit, None, st.name, e);
    f.message = format!(
        "stage {} could not take its locks within {:?} ({} attempts, each with lock_timeout): {}",
        st.name,
        budget,
        rec.lock_retries + 1,
        f.message
    );
    f
}

enum StageError {
    /// A lock was not available in time (or a deadlock victim): roll back, back off, retry.
    Retry(sqlx::Error),
    /// A real failure.
    Fail(StepFailure),
}

fn classify(unit: &Unit, line: Option<usize>, stage: &str, e: sqlx::Error) -> StageError {
    if retryable(&e) {
        StageError::Retry(e)
    } else {
        StageError::Fail(failure_at(unit, line, stage, &e))
    }
}

/// One transaction of a plain stage: settings, each statement (fault point after each), notes,
/// commit (fault point after it).
async fn stage_transaction(
    conn: &mut PgConnection,
    unit: &Unit,
    st: &Stage,
    opts: &RunOptions,
    fault: Option<&FaultKind>,
    pid: i32,
    finish: Option<Finish<'_>>,
) -> Result<(String, Option<i64>), StageError> {
    let mut tx: Transaction<'_, Postgres> = conn
        .begin()
        .await
        .map_err(|e| StageError::Fail(failure_at(unit, None, st.name, &e)))?;
    settings(&mut tx, opts, fault)
        .await
        .map_err(|e| StageError::Fail(failure_at(unit, None, st.name, &e)))?;
    if let Some(FaultKind::Fail(message)) = fault {
        raise_fault(&mut tx, message)
            .await
            .map_err(|e| StageError::Fail(failure_at(unit, None, st.name, &e)))?;
    }
    for (k, statement) in st.statements.iter().enumerate() {
        sqlx::raw_sql(statement.sql)
            .execute(&mut *tx)
            .await
            .map_err(|e| classify(unit, Some(statement.line), st.name, e))?;
        fire(
            opts,
            &format!("{}/{}/stmt-{}", unit.log_name, st.name, k + 1),
            pid,
        )
        .map_err(StageError::Fail)?;
    }
    let (notes, _) = read_notes(&mut tx)
        .await
        .map_err(|e| StageError::Fail(failure_at(unit, None, st.name, &e)))?;
    let mut log_id = None;
    match finish {
        Some(Finish::Insert {
            run_id,
            started,
            name,
        }) => {
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO migration_step_log (run_id, phase, step_name, started_at_utc, ended_at_utc, status, notes)
                 VALUES ($1, $2, $3, $4, clock_timestamp(), 'SUCCESS', $5) RETURNING log_id",
            )
            .bind(run_id)
            .bind(unit.phase)
            .bind(name)
            .bind(started)
            .bind(&notes)
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| StageError::Fail(failure_at(unit, None, st.name, &e)))?;
            log_id = Some(id);
        }
        Some(Finish::Complete {
            log_id: id,
            earlier_notes,
        }) => {
            let all: Vec<&str> = earlier_notes
                .iter()
                .map(String::as_str)
                .chain(std::iter::once(notes.as_str()).filter(|n| !n.is_empty()))
                .collect();
            sqlx::query(
                "UPDATE migration_step_log SET status = 'SUCCESS', ended_at_utc = clock_timestamp(), notes = $2
                  WHERE log_id = $1",
            )
            .bind(id)
            .bind(all.join("; "))
            .execute(&mut *tx)
            .await
            .map_err(|e| StageError::Fail(failure_at(unit, None, st.name, &e)))?;
            log_id = Some(id);
        }
        None => {}
    }
    tx.commit()
        .await
        .map_err(|e| classify(unit, None, st.name, e))?;
    fire(
        opts,
        &format!("{}/{}/committed", unit.log_name, st.name),
        pid,
    )
    .map_err(StageError::Fail)?;
    Ok((notes, log_id))
}

/// One statement outside any transaction (`CREATE INDEX CONCURRENTLY`): an index of that name
/// left INVALID by a killed earlier build is dropped first, so `IF NOT EXISTS` cannot keep it.
async fn autocommit_statement(
    conn: &mut PgConnection,
    unit: &Unit,
    stage: &str,
    statement: &crate::sql::Statement,
    opts: &RunOptions,
) -> Result<(), StageError> {
    let fail = |e: sqlx::Error| StageError::Fail(failure_at(unit, Some(statement.line), stage, &e));
    sqlx::query("SELECT set_config('lock_timeout', $1, false)")
        .bind(format!("{}ms", opts.lock_timeout.as_millis().max(1)))
        .execute(&mut *conn)
        .await
        .map_err(fail)?;
    if let Some(name) = concurrent_index_name(statement.sql) {
        let invalid: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM pg_index i WHERE i.indexrelid = to_regclass($1) AND NOT i.indisvalid)",
        )
        .bind(name)
        .fetch_one(&mut *conn)
        .await
        .map_err(fail)?;
        if invalid {
            warn!(
                index = name,
                "dropping an INVALID index left by an interrupted build"
            );
            sqlx::raw_sql(&format!("DROP INDEX CONCURRENTLY IF EXISTS {name}"))
                .execute(&mut *conn)
                .await
                .map_err(|e| classify(unit, Some(statement.line), stage, e))?;
        }
    }
    let result = sqlx::raw_sql(statement.sql)
        .execute(&mut *conn)
        .await
        .map(|_| ())
        .map_err(|e| classify(unit, Some(statement.line), stage, e));
    let _ = sqlx::query("SELECT set_config('lock_timeout', '0', false)")
        .execute(&mut *conn)
        .await;
    result
}

/// Mark every RUNNING row (of any phase) INTERRUPTED: its run is gone (this runner holds the
/// advisory lock, so no other runner is alive), and the time it was found is recorded.
async fn mark_interrupted(conn: &mut PgConnection, run_id: &str) -> Result<(), MigrationError> {
    ensure_interrupted_status(conn).await?;
    let found: Vec<(i64, String)> = sqlx::query_as(
        "UPDATE migration_step_log
            SET status = 'INTERRUPTED', ended_at_utc = clock_timestamp(),
                notes = concat_ws('; ', nullif(notes, ''),
                    format('INTERRUPTED: found RUNNING by run %s at %s; its run ended without completing the step (killed, connection lost or server stopped)',
                           $1::text, to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')))
          WHERE status = 'RUNNING'
          RETURNING log_id, step_name",
    )
    .bind(run_id)
    .fetch_all(&mut *conn)
    .await
    .map_err(ctx("marking interrupted steps"))?;
    for (log_id, step) in found {
        warn!(
            log_id,
            step, "a step left RUNNING by an earlier run: marked INTERRUPTED"
        );
    }
    Ok(())
}

/// Step logs made before INTERRUPTED existed accept it from now on.
async fn ensure_interrupted_status(conn: &mut PgConnection) -> Result<(), MigrationError> {
    let accepts: bool = sqlx::query_scalar(
        "SELECT coalesce(bool_or(pg_get_constraintdef(oid) LIKE '%INTERRUPTED%'), false)
           FROM pg_constraint WHERE conrelid = 'migration_step_log'::regclass AND contype = 'c'
            AND pg_get_constraintdef(oid) LIKE '%RUNNING%SUCCESS%'",
    )
    .fetch_one(&mut *conn)
    .await
    .map_err(ctx("inspecting migration_step_log"))?;
    if !accepts {
        sqlx::raw_sql(
            "ALTER TABLE migration_step_log DROP CONSTRAINT IF EXISTS migration_step_log_status_check,
               ADD CONSTRAINT migration_step_log_status_check CHECK (status IN (
                   'RUNNING', 'SUCCESS', 'FAILED', 'FAILED (post-commit compression stage)',
                   'SKIPPED (already done)', 'INTERRUPTED'))",
        )
        .execute(&mut *conn)
        .await
        .map_err(ctx("letting migration_step_log record INTERRUPTED"))?;
    }
    Ok(())
}

async fn log_running(
    conn: &mut PgConnection,
    run_id: &str,
    phase: &str,
    name: &str,
) -> Result<(i64, DateTime<Utc>), sqlx::Error> {
    sqlx::query_as(
        "INSERT INTO migration_step_log (run_id, phase, step_name, started_at_utc, status)
         VALUES ($1, $2, $3, clock_timestamp(), 'RUNNING') RETURNING log_id, started_at_utc",
    )
    .bind(run_id)
    .bind(phase)
    .bind(name)
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
    phase: &str,
    name: &str,
    note: &str,
) -> Result<(i64, DateTime<Utc>, DateTime<Utc>), sqlx::Error> {
    sqlx::query_as(
        "INSERT INTO migration_step_log (run_id, phase, step_name, started_at_utc, ended_at_utc, status, notes)
         VALUES ($1, $2, $3, clock_timestamp(), clock_timestamp(), $4, $5)
         RETURNING log_id, started_at_utc, ended_at_utc",
    )
    .bind(run_id)
    .bind(phase)
    .bind(name)
    .bind(StepStatus::SkippedAlreadyDone.as_str())
    .bind(note)
    .fetch_one(&mut *conn)
    .await
}

/// Check the lock and the layout before anything runs (typed errors for bad input).
async fn preflight(conn: &mut PgConnection, run_id: &str) -> Result<Preflight, MigrationError> {
    if !relation_exists(conn, contract::LOCK_TABLE).await?
        || !relation_exists(conn, contract::STEP_LOG_TABLE).await?
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
    if let Phase1bState::Incomplete(missing) = phase_1b_state(conn).await? {
        return Err(MigrationError::Phase1bIncomplete {
            missing: missing.iter().map(|s| s.to_string()).collect(),
        });
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
        "SELECT coalesce(array_agg(t || $2 ORDER BY t) FILTER (WHERE to_regclass('public.' || t || $2) IS NOT NULL), '{}'),
                coalesce(array_agg(t || $3 ORDER BY t)
                         FILTER (WHERE to_regclass('public.' || t || $3) IS NOT NULL), '{}')
           FROM unnest($1::text[]) AS t",
    )
    .bind(EVENT_TABLES.map(str::to_string).to_vec())
    .bind(contract::V2_SUFFIX)
    .bind(contract::ARCHIVE_SUFFIX)
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

async fn advisory_lock(conn: &mut PgConnection, wait: Duration) -> Result<(), MigrationError> {
    let clock = Instant::now();
    loop {
        let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtext($1))")
            .bind(ADVISORY_KEY)
            .fetch_one(&mut *conn)
            .await
            .map_err(ctx("taking the runner's advisory lock"))?;
        if got {
            return Ok(());
        }
        if clock.elapsed() >= wait {
            let holder: Option<String> = sqlx::query_scalar(
                "SELECT format('backend pid %s, application_name %L, state %s, since %s', a.pid,
                               a.application_name, a.state, a.backend_start)
                   FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
                  WHERE l.locktype = 'advisory' AND l.granted AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
                    AND l.objid = (hashtext($1)::bigint & 4294967295)::oid
                  LIMIT 1",
            )
            .bind(ADVISORY_KEY)
            .fetch_optional(&mut *conn)
            .await
            .ok()
            .flatten();
            return Err(MigrationError::ConcurrentRun {
                holder: holder.unwrap_or_else(|| "holder not visible".to_string()),
                waited_ms: u64::try_from(clock.elapsed().as_millis()).unwrap_or(u64::MAX),
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn advisory_unlock(conn: &mut PgConnection) -> Result<(), MigrationError> {
    // A session-level advisory lock dies with its session: when the connection is gone (killed
    // backend, crashed server) the lock is already released, and the run's outcome stands.
    if let Err(e) = sqlx::query_scalar::<_, bool>("SELECT pg_advisory_unlock(hashtext($1))")
        .bind(ADVISORY_KEY)
        .fetch_one(&mut *conn)
        .await
    {
        warn!(error = %db_message(&e), "could not release the runner's advisory lock (it ends with the session)");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_points_cover_every_stage_of_every_step() {
        let points = fault_points();
        for s in StepName::ALL {
            assert!(points.contains(&format!("{s}/begin")), "{s}");
            assert!(points.contains(&format!("{s}/end")), "{s}");
        }
        assert!(points.iter().any(|p| p.ends_with("/batch-1")));
        assert!(points.iter().any(|p| p.contains("/stmt-")));
        assert!(points
            .iter()
            .any(|p| p.starts_with("STEP_7_M10_CUTOVER/compression/")));
        let mut sorted = points.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), points.len(), "fault point names are unique");
    }

    #[test]
    fn only_lock_timeouts_and_deadlocks_are_retried() {
        assert!(RETRYABLE.contains(&"55P03") && RETRYABLE.contains(&"40P01"));
        assert!(!retryable(&sqlx::Error::Protocol("x".into())));
    }
}
