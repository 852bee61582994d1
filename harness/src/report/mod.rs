//! The implementation log (CONTRACT.md section 6): the seed log's report, section for section,
//! with the real values of one run or of one existing database.
//!
//! [`ImplementationLog`] is the model; it is gathered from the database itself (the step log,
//! the structural confirmations of crate `invariants`, the lock row) plus, for a run, the STEP_8
//! gate's check outcomes. Every line of the rendered report derives from that data: a failing
//! run renders FAIL / NO where the seed log says PASS / YES. [`markdown`] renders the seed log's
//! text, [`json`] the model itself.

pub mod json;
pub mod markdown;

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use invariants::structure::TriggerStatus;
use invariants::structure::{CompressionStatus, HypertableFk, IdentityCount, LockRow, Parity};
use invariants::{CheckOutcome, InvariantsError, Structure, TableSet, CHECK_NAMES};
use migrations::{MigrationError, StepLogRow, StepName, StepStatus, PHASE_1C};
use serde::Serialize;
use sqlx::PgConnection;

use crate::run::RunReport;

/// The report's title line (binding: the seed log's first heading).
pub const TITLE: &str = "IMPLEMENTATION_LOG_PHASE_1C";
/// `migration_step_log.phase` of the failed Revision A run the seed history starts from.
pub const PHASE_REVISION_A: &str = "PHASE_1C_REVISION_A";
/// Violating rows sampled per check when the report reruns the checks itself.
pub const DEFAULT_SAMPLE: usize = 10;

/// Errors gathering a report, each naming what it was reading.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// Connecting to the run's database failed.
    #[error("report: connecting to the database: {0}")]
    Connect(#[from] crate::ProvisionError),
    /// A session setting on the report's connection failed.
    #[error("report: {what}: {source}")]
    Session {
        /// What was being done.
        what: &'static str,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
    /// Reading `migration_step_log` or `migration_lock` failed.
    #[error("report: {0}")]
    Migration(#[from] MigrationError),
    /// The structural confirmations failed.
    #[error("report: structural confirmations: {0}")]
    Structure(#[source] InvariantsError),
    /// Running the twelve checks failed.
    #[error("report: validation checks on {set}: {source}")]
    Checks {
        /// The table set they ran on.
        set: TableSet,
        /// The checks' error.
        #[source]
        source: InvariantsError,
    },
}

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
    /// One entry per failed (or interrupted) Phase 1C step row, in log order.
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
    /// Its status (`FAILED`, `FAILED (post-commit compression stage)`, or `RUNNING` for a
    /// step interrupted without an end).
    pub status: String,
    /// Its error text.
    pub error: Option<String>,
    /// Its notes.
    pub notes: Option<String>,
    /// How the history went on, derived from the later rows and the lock.
    pub resolution: String,
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
    /// `name=count` (or `name=n/a`) of every check that is not zero.
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
    /// Always [`TITLE`].
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
    /// `## Cutover Status`.
    pub cutover: Cutover,
    /// `## Trigger Status`.
    pub triggers: Triggers,
    /// `## Compression Confirmation`.
    pub compression: CompressionStatus,
    /// `## Final Lock State` (`None`: no lock row).
    pub lock: Option<LockRow>,
    /// `## Final Result`.
    pub result: FinalResult,
    /// Every `migration_step_log` row (Phase 1B, Revision A and Phase 1C), in log order.
    pub step_log: Vec<StepLogRow>,
}

impl ImplementationLog {
    /// The seed log's markdown.
    pub fn to_markdown(&self) -> String {
        markdown::render(self)
    }

    /// The model as pretty JSON.
    pub fn to_json(&self) -> String {
        json::render(self)
    }
}

/// Output format of the implementation log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ReportFormat {
    /// The seed log's markdown.
    #[default]
    Md,
    /// The model as JSON.
    Json,
}

impl ImplementationLog {
    /// Render in `format`.
    pub fn render(&self, format: ReportFormat) -> String {
        match format {
            ReportFormat::Md => self.to_markdown(),
            ReportFormat::Json => self.to_json(),
        }
    }

    /// TRUE when all twelve checks are zero and, on a database past its cutover, every
    /// structural confirmation holds (what `harness validate` exits 0 on).
    pub fn audit_passed(&self) -> bool {
        let structure_ok = !self.cutover.archive_rename
            || (self.fk_legality.count == 0
                && self.triggers.all_ok
                && self.cutover.v2_rename
                && self.identity.iter().all(|i| i.parity == Parity::Pass));
        self.validation.passed && structure_ok
    }
}

/// Connect to the database named by `url` (for `harness validate`), with a timeout; errors
/// are one line and never show the password.
pub async fn connect_database(url: &str) -> Result<PgConnection, ReportError> {
    use sqlx::Connection;
    let shown = crate::redact::redact_url(url);
    let password = url::Url::parse(url)
        .ok()
        .and_then(|u| u.password().map(str::to_string))
        .filter(|p| !p.is_empty());
    let unreachable = |detail: String| {
        let mut detail = detail.replace(['\n', '\r'], " ");
        if let Some(p) = &password {
            detail = detail.replace(p.as_str(), "***");
        }
        ReportError::Connect(crate::ProvisionError::Unreachable {
            url: shown.clone(),
            detail,
        })
    };
    match tokio::time::timeout(
        std::time::Duration::from_secs(15),
        PgConnection::connect(url),
    )
    .await
    {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(e)) => Err(unreachable(e.to_string())),
        Err(_) => Err(unreachable("no answer within 15 s".to_string())),
    }
}

/// What the database says, read without writing.
#[derive(Debug, Clone)]
pub struct DatabaseFacts {
    /// Every step log row.
    pub step_log: Vec<StepLogRow>,
    /// The lock row with typed timestamps (for ordering checks).
    pub lock: Option<migrations::LockState>,
    /// The structural confirmations.
    pub structure: Structure,
}

/// Make `conn` refuse writes for the rest of its session: reports only read.
pub async fn read_only_session(conn: &mut PgConnection) -> Result<(), ReportError> {
    sqlx::query("SET SESSION default_transaction_read_only = on")
        .execute(&mut *conn)
        .await
        .map(|_| ())
        .map_err(|source| ReportError::Session {
            what: "SET default_transaction_read_only",
            source,
        })
}

/// Read the step log, the lock row and the structural confirmations.
pub async fn read_facts(conn: &mut PgConnection) -> Result<DatabaseFacts, ReportError> {
    let step_log = migrations::step_log(conn).await?;
    let lock = migrations::lock_state(conn).await?;
    let structure = invariants::confirm_structure(conn)
        .await
        .map_err(ReportError::Structure)?;
    Ok(DatabaseFacts {
        step_log,
        lock,
        structure,
    })
}

/// The table set the checks apply to on a database in this state: canonical after a
/// complete cutover, the `*_v2` tables while they all exist, else the Phase 1A tables.
pub fn table_set_for(structure: &Structure) -> TableSet {
    if structure.cutover.archives_missing.is_empty() {
        TableSet::CanonicalAfterCutover
    } else if structure.cutover.v2_remaining.len() == invariants::EVENT_TABLES.len() {
        TableSet::V2BeforeCutover
    } else {
        TableSet::Phase1a
    }
}

/// Run the twelve checks read-only on the table set the database's state calls for.
pub async fn rerun_checks(
    conn: &mut PgConnection,
    helpers: &mut [PgConnection],
    structure: &Structure,
    sample: usize,
) -> Result<Validation, ReportError> {
    let set = table_set_for(structure);
    let checks = invariants::run_checks_parallel(conn, helpers, set, sample)
        .await
        .map_err(|source| ReportError::Checks { set, source })?;
    Ok(validation_from(
        ValidationSource::ReadOnlyRerun,
        set,
        checks,
    ))
}

/// Gather the report of an existing database (`harness validate`): step log, structure, and
/// the twelve checks rerun read-only with `sample` rows each. Sets the session read-only.
pub async fn gather_database(
    conn: &mut PgConnection,
    sample: usize,
) -> Result<ImplementationLog, ReportError> {
    gather_database_on(conn, &mut [], sample).await
}

/// [`gather_database`] with the checks spread over `conn` and `helpers` (other connections to
/// the same database) over one snapshot, as `harness validate` runs them.
pub async fn gather_database_on(
    conn: &mut PgConnection,
    helpers: &mut [PgConnection],
    sample: usize,
) -> Result<ImplementationLog, ReportError> {
    read_only_session(conn).await?;
    let facts = read_facts(conn).await?;
    let validation = rerun_checks(conn, helpers, &facts.structure, sample).await?;
    Ok(assemble(Origin::Database, facts, validation))
}

/// Gather the report of a finished `harness run`: the database after the run plus the last
/// attempt's STEP_8 gate outcomes (rerun read-only when STEP_8 never ran its gate).
pub async fn gather_run(
    report: &RunReport,
    world: &str,
    scenario: &str,
) -> Result<ImplementationLog, ReportError> {
    let mut conn = report.db.connect().await?;
    read_only_session(&mut conn).await?;
    let facts = read_facts(&mut conn).await?;
    let last = report.attempts.last().and_then(|a| a.outcome.as_ref());
    let validation = match last.and_then(|o| o.validation.clone().map(|v| (o.run_id.clone(), v))) {
        Some((run_id, checks)) => validation_from(
            ValidationSource::Step8Gate { run_id },
            TableSet::CanonicalAfterCutover,
            checks,
        ),
        None => rerun_checks(&mut conn, &mut [], &facts.structure, DEFAULT_SAMPLE).await?,
    };
    let _ = sqlx::Connection::close(conn).await;
    let attempts = report
        .attempts
        .iter()
        .map(|a| AttemptSummary {
            run_id: a.outcome.as_ref().map(|o| o.run_id.clone()),
            steps: a.outcome.as_ref().map_or(0, |o| o.steps.len()),
            error: a.error.clone(),
        })
        .collect();
    let origin = Origin::Run {
        world: world.to_string(),
        scenario: scenario.to_string(),
        attempts,
    };
    Ok(assemble(origin, facts, validation))
}

/// Build the validation section from outcomes: every check of [`CHECK_NAMES`] must be present
/// and zero to pass; a missing one counts as failing.
pub fn validation_from(
    source: ValidationSource,
    table_set: TableSet,
    checks: Vec<CheckOutcome>,
) -> Validation {
    let mut failing: Vec<String> = checks
        .iter()
        .filter_map(|o| match o.violations {
            Some(0) => None,
            Some(n) => Some(format!("{}={n}", o.check)),
            None => Some(format!("{}=n/a", o.check)),
        })
        .collect();
    for name in CHECK_NAMES {
        if !checks.iter().any(|o| o.check == name) {
            failing.push(format!("{name}=not run"));
        }
    }
    Validation {
        source,
        table_set,
        passed: failing.is_empty(),
        failing,
        checks,
    }
}

fn is_failure(status: &str) -> bool {
    matches!(
        StepStatus::parse(status),
        Some(StepStatus::Failed | StepStatus::FailedPostCommitCompression)
    )
}

fn is_skip(status: &str) -> bool {
    StepStatus::parse(status) == Some(StepStatus::SkippedAlreadyDone)
}

/// `2026-03-01T04:31:39Z`: the seed log's timestamp form (seconds, UTC).
pub fn fmt_ts(ts: &DateTime<Utc>) -> String {
    ts.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn row_time(r: &StepLogRow) -> DateTime<Utc> {
    r.ended_at_utc.unwrap_or(r.started_at_utc)
}

/// Assemble the model from what the database says and the validation outcomes.
pub fn assemble(origin: Origin, facts: DatabaseFacts, validation: Validation) -> ImplementationLog {
    let DatabaseFacts {
        step_log,
        lock: lock_state,
        structure,
    } = facts;
    let phase_1c: Vec<&StepLogRow> = step_log.iter().filter(|r| r.phase == PHASE_1C).collect();
    let locked = structure.lock.as_ref().map(|l| l.locked);

    let revision_a_failure = step_log
        .iter()
        .rev()
        .find(|r| r.phase == PHASE_REVISION_A && is_failure(&r.status))
        .map(|r| RevisionAFailure {
            step: r.step_name.clone(),
            at_utc: row_time(r),
            error: r.error_text.clone(),
        });
    let resume_mode = match &revision_a_failure {
        Some(f) => format!("Phase 1C Revision B forward resume from failed {}", f.step),
        None => "Phase 1C Revision B fresh run (no failed Revision A to resume from)".to_string(),
    };
    let aborts = phase_1c
        .iter()
        .enumerate()
        .filter(|(_, r)| is_failure(&r.status) || r.ended_at_utc.is_none())
        .map(|(i, r)| Abort {
            log_id: r.log_id,
            at_utc: row_time(r),
            step: r.step_name.clone(),
            status: r.status.clone(),
            error: r.error_text.clone(),
            notes: r.notes.clone().filter(|n| !n.trim().is_empty()),
            resolution: resolution(r, &phase_1c[i + 1..], locked),
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
        .map(|step| {
            let rows: Vec<&&StepLogRow> = phase_1c
                .iter()
                .filter(|r| r.step_name == step.as_str())
                .collect();
            // The seed log shows what decided each step: a later "already done" skip repeats
            // an earlier outcome and would hide it (STEP_7's post-commit failure above all).
            let decisive = rows
                .iter()
                .rev()
                .find(|r| !is_skip(&r.status))
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
        })
        .collect::<Vec<_>>();

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
                StepStatus::parse(&r.status),
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

    let result = final_result(
        &phase_1c,
        lock_state.as_ref(),
        &structure,
        &validation,
        !timestamps.aborts.is_empty(),
        timestamps.revision_a_failure.is_some(),
    );

    ImplementationLog {
        title: TITLE,
        origin,
        timestamps,
        phases,
        identity: structure.identity.clone(),
        fk_legality,
        validation,
        cutover,
        triggers,
        compression: structure.compression.clone(),
        lock: structure.lock.clone(),
        result,
        step_log,
    }
}

/// What became of a failed row, from the rows logged after it and the lock.
fn resolution(failed: &StepLogRow, later: &[&StepLogRow], locked: Option<bool>) -> String {
    let lock_text = match locked {
        Some(true) => "lock held (`locked = TRUE`) for a forward resume",
        Some(false) => "lock NOT held (`locked = FALSE`)",
        None => "no lock row",
    };
    if failed.ended_at_utc.is_none() {
        return format!("interrupted without an end; {lock_text}");
    }
    if StepStatus::parse(&failed.status) == Some(StepStatus::FailedPostCommitCompression) {
        let finalize = StepName::Step7bPostCutoverFinalize.as_str();
        return match later
            .iter()
            .find(|r| r.step_name == finalize && !is_skip(&r.status))
        {
            Some(r) => format!(
                "cutover stayed committed; resumed with post-cutover finalization (`{finalize}`): {} at {}",
                r.status,
                fmt_ts(&row_time(r))
            ),
            None => format!("cutover stayed committed; `{finalize}` not run yet; {lock_text}"),
        };
    }
    match later
        .iter()
        .find(|r| r.step_name == failed.step_name && !is_skip(&r.status))
    {
        Some(r) => format!(
            "rerun under the lock: {} at {}",
            r.status,
            fmt_ts(&row_time(r))
        ),
        None => format!("not rerun; {lock_text}"),
    }
}

fn structural_failures(structure: &Structure) -> Vec<String> {
    let mut out = Vec::new();
    if structure.fk_to_hypertable_count != 0 {
        out.push(format!(
            "{} FK -> hypertable",
            structure.fk_to_hypertable_count
        ));
    }
    for i in &structure.identity {
        if i.parity != Parity::Pass {
            out.push(format!(
                "{} parity {}",
                i.identity_table,
                parity_text(i.parity)
            ));
        }
    }
    if !structure.cutover.complete {
        out.push("cutover incomplete".to_string());
    }
    let bad: BTreeSet<&str> = structure
        .triggers
        .iter()
        .filter(|t| !(t.present && t.enabled))
        .map(|t| t.trigger.as_str())
        .collect();
    if !bad.is_empty() {
        out.push(format!(
            "triggers missing or disabled: {}",
            bad.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    out
}

/// `PASS` / `FAIL` / `n/a`.
pub fn parity_text(p: Parity) -> &'static str {
    match p {
        Parity::Pass => "PASS",
        Parity::Fail => "FAIL",
        Parity::NotApplicable => "n/a",
    }
}

fn final_result(
    phase_1c: &[&StepLogRow],
    lock: Option<&migrations::LockState>,
    structure: &Structure,
    validation: &Validation,
    any_abort: bool,
    resumed: bool,
) -> FinalResult {
    let unlock_ok = phase_1c.iter().rev().find(|r| {
        r.step_name == StepName::Step9Unlock.as_str()
            && StepStatus::parse(&r.status) == Some(StepStatus::Success)
    });
    let unlocked = lock.is_some_and(|l| !l.locked);
    let migration_completed = unlock_ok.is_some() && unlocked;
    let last_validation_pass = phase_1c
        .iter()
        .rev()
        .find(|r| {
            r.step_name == StepName::Step8FullValidation.as_str()
                && StepStatus::parse(&r.status) == Some(StepStatus::Success)
        })
        .and_then(|r| r.ended_at_utc);
    let unlocked_after_validation = lock
        .and_then(|l| l.unlocked_at_utc)
        .map(|at| last_validation_pass.is_some_and(|v| at >= v));

    let structural = structural_failures(structure);
    let what = if resumed {
        "Revision B resume"
    } else {
        "Revision B"
    };
    let (success, migration_result, contract_action) = if migration_completed {
        let mut problems: Vec<String> = validation.failing.clone();
        problems.extend(structural);
        if unlocked_after_validation != Some(true) {
            problems.push("lock released without a preceding validation pass".to_string());
        }
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
                format!("FAILED ({what} completed, but the database fails the contract now: {})", problems.join("; ")),
                "Lock already released by the completed run; investigate the violations before using this database".to_string(),
            )
        }
    } else {
        let last_failure = phase_1c
            .iter()
            .rev()
            .find(|r| is_failure(&r.status) || r.ended_at_utc.is_none());
        let result = match last_failure {
            Some(r) if r.ended_at_utc.is_none() => {
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
        let action = match lock {
            Some(l) if l.locked => format!(
                "Abort-on-error honored{at}; lock held (`locked = TRUE`) for a forward resume; not unlocked"
            ),
            Some(_) => format!(
                "Aborted{at}, but the lock is NOT held (`locked = FALSE`): contract violated"
            ),
            None => format!("Aborted{at}; no `phase_1b_schema` lock row exists"),
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

/// Replace what differs between two runs of the same history (timestamps of any form, run ids)
/// with placeholders, so reports can be compared and snapshotted.
pub fn redact_volatile(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < b.len() {
        if let Some(n) = match_timestamp(&b[i..]) {
            out.push_str("[TS]");
            i += n;
        } else if let Some(n) = match_run_id(&b[i..]) {
            out.push_str("[RUN_ID]");
            i += n;
        } else {
            // copy one whole UTF-8 character
            let ch_len = text[i..].chars().next().map_or(1, char::len_utf8);
            out.push_str(&text[i..i + ch_len]);
            i += ch_len;
        }
    }
    out
}

fn digits(b: &[u8], at: usize, n: usize) -> bool {
    b.len() >= at + n && b[at..at + n].iter().all(u8::is_ascii_digit)
}

/// `YYYY-MM-DD[T ]HH:MM:SS[.frac][Z|+HH[:MM]]`: its length.
fn match_timestamp(b: &[u8]) -> Option<usize> {
    let shape = digits(b, 0, 4)
        && b.get(4) == Some(&b'-')
        && digits(b, 5, 2)
        && b.get(7) == Some(&b'-')
        && digits(b, 8, 2)
        && matches!(b.get(10), Some(b'T' | b' '))
        && digits(b, 11, 2)
        && b.get(13) == Some(&b':')
        && digits(b, 14, 2)
        && b.get(16) == Some(&b':')
        && digits(b, 17, 2);
    if !shape {
        return None;
    }
    let mut n = 19;
    if b.get(n) == Some(&b'.') && digits(b, n + 1, 1) {
        n += 1;
        while b.get(n).is_some_and(u8::is_ascii_digit) {
            n += 1;
        }
    }
    match b.get(n) {
        Some(b'Z') => n += 1,
        Some(b'+' | b'-') if digits(b, n + 1, 2) => {
            n += 3;
            if b.get(n) == Some(&b':') && digits(b, n + 1, 2) {
                n += 3;
            }
        }
        _ => {}
    }
    Some(n)
}

/// `YYYYMMDDTHHMMSS-<pid>-<8 hex>` (a Phase 1C run id): its length.
fn match_run_id(b: &[u8]) -> Option<usize> {
    if !(digits(b, 0, 8) && b.get(8) == Some(&b'T') && digits(b, 9, 6) && b.get(15) == Some(&b'-'))
    {
        return None;
    }
    let mut n = 16;
    let pid_start = n;
    while b.get(n).is_some_and(u8::is_ascii_digit) {
        n += 1;
    }
    if n == pid_start || b.get(n) != Some(&b'-') {
        return None;
    }
    n += 1;
    let hex = b.len() >= n + 8
        && b[n..n + 8]
            .iter()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c));
    hex.then_some(n + 8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_every_timestamp_form_and_run_ids() {
        let s = "a 2026-03-01T04:31:39Z b 2026-03-01 04:10:37.167228+00 c \
                 2026-11-26T21:57:45.092417+00:00, run 20261126T215745-19701-a699a9d3 d";
        assert_eq!(redact_volatile(s), "a [TS] b [TS] c [TS], run [RUN_ID] d");
        assert_eq!(redact_volatile("2026-03-01 ünïcode"), "2026-03-01 ünïcode");
    }

    #[test]
    fn seed_timestamp_format() {
        let ts = DateTime::parse_from_rfc3339("2026-03-01T04:31:39.871+00:00")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default();
        assert_eq!(fmt_ts(&ts), "2026-03-01T04:31:39Z");
    }
}
