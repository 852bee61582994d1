//! The migration's own state, read from `migration_lock` and `migration_step_log`: is it
//! finished, and if not, why not.
//!
//! The rules (the project's docs, "Migration state"):
//! * rows of the current lock epoch (started at or after `locked_at_utc`) decide; older rows are
//!   history;
//! * a Phase 1C row that ended `FAILED`, `INTERRUPTED`, or never ended (`RUNNING` with no run in
//!   progress) is an attempt that must be resolved later in the epoch: by a `SUCCESS` or
//!   `SKIPPED (already done)` row of the same step; STEP_7's `FAILED (post-commit compression
//!   stage)` is resolved by a later `STEP_7B_POST_CUTOVER_FINALIZE` `SUCCESS` (the seed log's
//!   history). A `RUNNING` row while a runner holds the advisory lock is a run in progress;
//! * finished = the lock row is unlocked, by a `STEP_9_UNLOCK` `SUCCESS` of the epoch that
//!   followed a `STEP_8_FULL_VALIDATION` `SUCCESS`, and no attempt is unresolved.

use chrono::{DateTime, Utc};
use contract::{StepName, StepStatus, LOCK_NAME, PHASE_1C};
use sqlx::{PgConnection, Row};

use crate::InvariantsError;

/// One `migration_step_log` row.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StepLogEntry {
    /// `log_id`.
    pub log_id: i64,
    /// `run_id`.
    pub run_id: String,
    /// `phase`.
    pub phase: String,
    /// `step_name`.
    pub step_name: String,
    /// `started_at_utc`.
    pub started_at_utc: DateTime<Utc>,
    /// `ended_at_utc` (`None` while RUNNING).
    pub ended_at_utc: Option<DateTime<Utc>>,
    /// `status`.
    pub status: String,
    /// `notes`.
    pub notes: Option<String>,
    /// `error_text`.
    pub error_text: Option<String>,
}

/// Where the migration stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MigrationStage {
    /// No `migration_lock` table: Phase 1B never ran (a Phase 1A database).
    NotStarted,
    /// `migration_lock` exists but has no `phase_1b_schema` row.
    LockRowMissing,
    /// `phase_1b_schema` is locked: between Phase 1B and a successful STEP_9.
    Locked,
    /// `phase_1b_schema` is unlocked.
    Unlocked,
}

/// A Phase 1C attempt that did not succeed, and what became of it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Attempt {
    /// Its row's `log_id`.
    pub log_id: i64,
    /// The step.
    pub step: String,
    /// Its status (`FAILED`, `FAILED (post-commit compression stage)`, `INTERRUPTED`, or
    /// `RUNNING`).
    pub status: String,
    /// When it started.
    pub started_at_utc: DateTime<Utc>,
    /// When it ended (`None`: never).
    pub ended_at_utc: Option<DateTime<Utc>>,
    /// Its error text.
    pub error: Option<String>,
    /// Whether it belongs to the current lock epoch (older ones are history).
    pub current_epoch: bool,
    /// The row that resolved it, as (log_id, step, status, time), if any.
    pub resolved_by: Option<(i64, String, String, DateTime<Utc>)>,
    /// `true` for a RUNNING row while a runner holds the advisory lock.
    pub in_progress: bool,
    /// One line: what happened to it.
    pub resolution: String,
}

/// The migration's state as the database records it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MigrationState {
    /// Where it stands.
    pub stage: MigrationStage,
    /// `locked_at_utc` of the lock row: the start of the current lock epoch.
    pub epoch_start: Option<DateTime<Utc>>,
    /// `unlocked_at_utc` of the lock row.
    pub unlocked_at_utc: Option<DateTime<Utc>>,
    /// A Phase 1C runner holds its advisory lock on this database in another session.
    pub runner_active: bool,
    /// Every Phase 1C row that failed, was interrupted or never ended, in log order.
    pub attempts: Vec<Attempt>,
    /// Every step-log row, in log order (not serialized: reports carry the step log once, at
    /// their top level).
    #[serde(skip)]
    pub step_log: Vec<StepLogEntry>,
    /// The current epoch has a `STEP_9_UNLOCK` SUCCESS after a `STEP_8_FULL_VALIDATION`
    /// SUCCESS, and the lock row says unlocked no earlier than that STEP_9 started.
    pub unlocked_by_step_9: bool,
    /// Finished: unlocked by STEP_9 after validation, nothing unresolved.
    pub finished: bool,
    /// Why it is not finished (empty when it is).
    pub problems: Vec<String>,
}

impl MigrationState {
    /// Attempts of the current epoch that nothing resolved (runs in progress excluded).
    pub fn unresolved(&self) -> impl Iterator<Item = &Attempt> {
        self.attempts
            .iter()
            .filter(|a| a.current_epoch && a.resolved_by.is_none() && !a.in_progress)
    }

    /// Why STEP_8 may not validate now (empty when it may): the lock must be held, and every
    /// attempt of STEP_0 .. STEP_7B in this epoch resolved, the cutover committed and
    /// STEP_7B succeeded. The caller's own STEP_8 row (RUNNING) is not held against it.
    pub fn gate_problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.stage != MigrationStage::Locked {
            out.push(format!(
                "{LOCK_NAME} lock is not held ({})",
                stage_text(self.stage)
            ));
        }
        let before_8 = |name: &str| {
            name.parse::<StepName>()
                .is_ok_and(|s| s.index() < StepName::Step8FullValidation.index())
        };
        for a in self.unresolved().filter(|a| before_8(&a.step)) {
            out.push(format!("{}: {}", a.step, a.resolution));
        }
        let epoch = |e: &StepLogEntry| {
            e.phase == PHASE_1C && self.epoch_start.is_some_and(|t| e.started_at_utc >= t)
        };
        let done = |step: StepName, statuses: &[StepStatus]| {
            self.step_log.iter().any(|e| {
                epoch(e)
                    && e.step_name == step.as_str()
                    && StepStatus::parse(&e.status).is_some_and(|s| statuses.contains(&s))
            })
        };
        if !done(
            StepName::Step7M10Cutover,
            &[StepStatus::Success, StepStatus::FailedPostCommitCompression],
        ) && !done(StepName::Step7M10Cutover, &[StepStatus::SkippedAlreadyDone])
        {
            out.push(format!(
                "the cutover ({}) did not commit in this lock epoch",
                StepName::Step7M10Cutover
            ));
        }
        if !done(StepName::Step7bPostCutoverFinalize, &[StepStatus::Success]) {
            out.push(format!(
                "{} has no {} in this lock epoch",
                StepName::Step7bPostCutoverFinalize,
                StepStatus::Success.as_str()
            ));
        }
        out
    }
}

/// `not started` / `lock row missing` / `locked` / `unlocked`.
pub fn stage_text(stage: MigrationStage) -> &'static str {
    match stage {
        MigrationStage::NotStarted => "not started: no migration_lock table (Phase 1A)",
        MigrationStage::LockRowMissing => "the phase_1b_schema lock row is missing",
        MigrationStage::Locked => "locked",
        MigrationStage::Unlocked => "unlocked",
    }
}

fn se(what: &'static str) -> impl FnOnce(sqlx::Error) -> InvariantsError {
    move |source| InvariantsError::Structure { what, source }
}

/// Read the migration's state (inside the caller's transaction; reads only).
pub async fn read_migration_state(
    conn: &mut PgConnection,
) -> Result<MigrationState, InvariantsError> {
    let (has_lock, has_log): (bool, bool) =
        sqlx::query_as("SELECT to_regclass($1) IS NOT NULL, to_regclass($2) IS NOT NULL")
            .bind(contract::LOCK_TABLE)
            .bind(contract::STEP_LOG_TABLE)
            .fetch_one(&mut *conn)
            .await
            .map_err(se("migration tables lookup"))?;
    let runner_active: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM pg_locks l
                         WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
                           AND l.pid <> pg_backend_pid()
                           AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
                           AND ((l.classid::bigint << 32) | l.objid::bigint) = hashtext($1)::bigint)",
    )
    .bind(contract::RUNNER_ADVISORY_KEY)
    .fetch_one(&mut *conn)
    .await
    .map_err(se("runner advisory lock lookup"))?;

    let mut step_log = Vec::new();
    if has_log {
        let rows = sqlx::query(
            "SELECT log_id, run_id::text AS run_id, phase::text AS phase, step_name::text AS step_name,
                    started_at_utc, ended_at_utc, status::text AS status, notes::text AS notes,
                    error_text::text AS error_text
               FROM migration_step_log ORDER BY log_id",
        )
        .fetch_all(&mut *conn)
        .await
        .map_err(se("reading migration_step_log"))?;
        for r in rows {
            step_log.push(StepLogEntry {
                log_id: r
                    .try_get("log_id")
                    .map_err(se("reading migration_step_log"))?,
                run_id: r
                    .try_get("run_id")
                    .map_err(se("reading migration_step_log"))?,
                phase: r
                    .try_get("phase")
                    .map_err(se("reading migration_step_log"))?,
                step_name: r
                    .try_get("step_name")
                    .map_err(se("reading migration_step_log"))?,
                started_at_utc: r
                    .try_get("started_at_utc")
                    .map_err(se("reading migration_step_log"))?,
                ended_at_utc: r
                    .try_get("ended_at_utc")
                    .map_err(se("reading migration_step_log"))?,
                status: r
                    .try_get("status")
                    .map_err(se("reading migration_step_log"))?,
                notes: r
                    .try_get("notes")
                    .map_err(se("reading migration_step_log"))?,
                error_text: r
                    .try_get("error_text")
                    .map_err(se("reading migration_step_log"))?,
            });
        }
    }

    let lock: Option<(bool, DateTime<Utc>, Option<DateTime<Utc>>)> = if has_lock {
        sqlx::query_as(
            "SELECT locked, locked_at_utc, unlocked_at_utc FROM migration_lock WHERE migration_name = $1",
        )
        .bind(LOCK_NAME)
        .fetch_optional(&mut *conn)
        .await
        .map_err(se("reading the lock row"))?
    } else {
        None
    };
    Ok(assess(has_lock, lock, runner_active, step_log))
}

/// Judge the state from what was read (pure, unit-tested).
pub fn assess(
    has_lock_table: bool,
    lock: Option<(bool, DateTime<Utc>, Option<DateTime<Utc>>)>,
    runner_active: bool,
    step_log: Vec<StepLogEntry>,
) -> MigrationState {
    let stage = match (has_lock_table, lock) {
        (false, _) => MigrationStage::NotStarted,
        (true, None) => MigrationStage::LockRowMissing,
        (true, Some((true, _, _))) => MigrationStage::Locked,
        (true, Some((false, _, _))) => MigrationStage::Unlocked,
    };
    let epoch_start = lock.map(|l| l.1);
    let unlocked_at_utc = lock.and_then(|l| l.2);
    let phase_1c: Vec<&StepLogEntry> = step_log.iter().filter(|e| e.phase == PHASE_1C).collect();
    let in_epoch = |e: &StepLogEntry| epoch_start.is_none_or(|t| e.started_at_utc >= t);
    let last_log_id = phase_1c.last().map(|e| e.log_id);

    let mut attempts = Vec::new();
    for (i, e) in phase_1c.iter().enumerate() {
        let status = StepStatus::parse(&e.status);
        let open = e.ended_at_utc.is_none() || status == Some(StepStatus::Running);
        let failed = status.is_some_and(StepStatus::is_failure);
        if !open && !failed {
            continue;
        }
        let in_progress = open && runner_active && Some(e.log_id) == last_log_id;
        let later = &phase_1c[i + 1..];
        let resolver = if status == Some(StepStatus::FailedPostCommitCompression) {
            later.iter().find(|r| {
                r.step_name == StepName::Step7bPostCutoverFinalize.as_str()
                    && StepStatus::parse(&r.status) == Some(StepStatus::Success)
            })
        } else {
            later.iter().find(|r| {
                r.step_name == e.step_name
                    && matches!(
                        StepStatus::parse(&r.status),
                        Some(StepStatus::Success | StepStatus::SkippedAlreadyDone)
                    )
            })
        };
        let resolved_by = resolver.map(|r| {
            (
                r.log_id,
                r.step_name.clone(),
                r.status.clone(),
                r.ended_at_utc.unwrap_or(r.started_at_utc),
            )
        });
        let lock_text = match stage {
            MigrationStage::Locked => "lock held (`locked = TRUE`) for a forward resume",
            MigrationStage::Unlocked => "lock NOT held (`locked = FALSE`)",
            MigrationStage::LockRowMissing | MigrationStage::NotStarted => "no lock row",
        };
        let at = |t: &DateTime<Utc>| t.format("%Y-%m-%dT%H:%M:%SZ").to_string();
        let interrupted = open || status == Some(StepStatus::Interrupted);
        let finalize = StepName::Step7bPostCutoverFinalize.as_str();
        let resolution = match (&resolved_by, in_progress) {
            (_, true) => "in progress: a Phase 1C runner holds the advisory lock".to_string(),
            (Some((_, _, st, t)), _) if status == Some(StepStatus::FailedPostCommitCompression) => {
                format!(
                    "cutover stayed committed; resumed with post-cutover finalization (`{finalize}`): {st} at {}",
                    at(t)
                )
            }
            (Some((_, _, st, t)), _) if interrupted => format!(
                "interrupted (never completed: its run was killed, lost its connection or the server stopped); history: rerun under the lock: {st} at {}",
                at(t)
            ),
            (Some((_, _, st, t)), _) => format!("rerun under the lock: {st} at {}", at(t)),
            (None, _) if status == Some(StepStatus::FailedPostCommitCompression) => {
                format!("cutover stayed committed; `{finalize}` not run yet; {lock_text}")
            }
            (None, _) if interrupted => format!("interrupted without an end; not rerun; {lock_text}"),
            (None, _) => format!("not rerun; {lock_text}"),
        };
        attempts.push(Attempt {
            log_id: e.log_id,
            step: e.step_name.clone(),
            status: e.status.clone(),
            started_at_utc: e.started_at_utc,
            ended_at_utc: e.ended_at_utc,
            error: e.error_text.clone(),
            current_epoch: in_epoch(e),
            resolved_by,
            in_progress,
            resolution,
        });
    }

    let success = |e: &&&StepLogEntry, step: StepName| {
        e.step_name == step.as_str()
            && StepStatus::parse(&e.status) == Some(StepStatus::Success)
            && in_epoch(e)
    };
    let last_unlock = phase_1c
        .iter()
        .filter(|e| success(e, StepName::Step9Unlock))
        .max_by_key(|e| e.log_id);
    let validated_before_unlock = last_unlock.is_some_and(|u| {
        phase_1c
            .iter()
            .any(|e| success(&e, StepName::Step8FullValidation) && e.log_id < u.log_id)
    });
    let unlocked_by_step_9 = stage == MigrationStage::Unlocked
        && validated_before_unlock
        && match (last_unlock, unlocked_at_utc) {
            (Some(u), Some(at)) => at >= u.started_at_utc,
            _ => false,
        };

    let mut problems = Vec::new();
    match stage {
        MigrationStage::NotStarted => problems.push(
            "the migration has not started: no migration_lock table (Phase 1B never ran)"
                .to_string(),
        ),
        MigrationStage::LockRowMissing => {
            problems.push(format!("migration_lock has no {LOCK_NAME} row"))
        }
        MigrationStage::Locked => {
            let mut p = format!("{LOCK_NAME} lock is held (locked = TRUE): the migration is not finished");
            if runner_active {
                p.push_str("; a Phase 1C run is in progress");
            }
            problems.push(p);
        }
        MigrationStage::Unlocked if !unlocked_by_step_9 => problems.push(format!(
            "{LOCK_NAME} was unlocked without a STEP_9_UNLOCK SUCCESS after a STEP_8_FULL_VALIDATION SUCCESS in this lock epoch"
        )),
        MigrationStage::Unlocked => {}
    }
    let state = MigrationState {
        stage,
        epoch_start,
        unlocked_at_utc,
        runner_active,
        attempts,
        step_log,
        unlocked_by_step_9,
        finished: false,
        problems,
    };
    let unresolved: Vec<String> = state
        .unresolved()
        .map(|a| format!("{} (log_id {}): {}", a.step, a.log_id, a.resolution))
        .collect();
    let mut problems = state.problems.clone();
    problems.extend(unresolved);
    MigrationState {
        finished: problems.is_empty(),
        problems,
        ..state
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(min: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, 4, min, 0)
            .single()
            .unwrap_or_default()
    }

    fn row(id: i64, step: &str, status: &str, start: u32, end: Option<u32>) -> StepLogEntry {
        StepLogEntry {
            log_id: id,
            run_id: "r".into(),
            phase: PHASE_1C.into(),
            step_name: step.into(),
            started_at_utc: t(start),
            ended_at_utc: end.map(t),
            status: status.into(),
            notes: None,
            error_text: Some("boom".into()),
        }
    }

    fn full_run(first_id: i64, at: u32) -> Vec<StepLogEntry> {
        StepName::ALL
            .iter()
            .enumerate()
            .map(|(i, s)| row(first_id + i as i64, s.as_str(), "SUCCESS", at, Some(at)))
            .collect()
    }

    #[test]
    fn a_clean_finished_run_is_finished() {
        let s = assess(
            true,
            Some((false, t(0), Some(t(30)))),
            false,
            full_run(1, 10),
        );
        assert!(s.finished, "{:?}", s.problems);
        assert!(s.attempts.is_empty());
    }

    #[test]
    fn the_seed_log_history_is_resolved() {
        let mut log = vec![
            row(1, "STEP_3_REVISED_M6", "FAILED", 5, Some(5)),
            row(
                2,
                "STEP_7_M10_CUTOVER",
                "FAILED (post-commit compression stage)",
                6,
                Some(6),
            ),
            row(3, "STEP_5_M8_GUARDRAIL", "RUNNING", 7, None),
        ];
        log.extend(full_run(10, 10));
        let s = assess(true, Some((false, t(0), Some(t(30)))), false, log);
        assert!(s.finished, "{:?}", s.problems);
        assert_eq!(s.attempts.len(), 3);
        assert!(s.attempts[1]
            .resolution
            .contains("STEP_7B_POST_CUTOVER_FINALIZE"));
        assert!(
            s.attempts[2].resolution.starts_with("interrupted"),
            "{:?}",
            s.attempts[2]
        );
        assert!(s.attempts[2]
            .resolution
            .contains("history: rerun under the lock: SUCCESS"));
        assert!(s.attempts[0]
            .resolution
            .starts_with("rerun under the lock: SUCCESS"));
    }

    #[test]
    fn held_lock_unresolved_failure_and_foreign_unlock_are_problems() {
        let s = assess(
            true,
            Some((true, t(0), None)),
            false,
            full_run(1, 10)[..9].to_vec(),
        );
        assert!(!s.finished);
        assert!(s.problems[0].contains("lock is held"), "{:?}", s.problems);

        let mut log = full_run(1, 10);
        log.push(row(
            20,
            "STEP_7B_POST_CUTOVER_FINALIZE",
            "FAILED",
            20,
            Some(20),
        ));
        let s = assess(true, Some((false, t(0), Some(t(30)))), false, log);
        assert!(!s.finished);
        assert!(
            s.problems.iter().any(|p| p.contains("STEP_7B")),
            "{:?}",
            s.problems
        );

        // unlocked by hand: no STEP_9 SUCCESS in this epoch
        let s = assess(
            true,
            Some((false, t(0), Some(t(30)))),
            false,
            full_run(1, 10)[..10].to_vec(),
        );
        assert!(
            s.problems
                .iter()
                .any(|p| p.contains("without a STEP_9_UNLOCK")),
            "{:?}",
            s.problems
        );
        // rows of an older epoch are history
        let s = assess(true, Some((false, t(9), Some(t(30)))), false, {
            let mut l = vec![row(1, "STEP_2_IDENTITY_TABLES", "FAILED", 1, Some(1))];
            l.extend(full_run(2, 10));
            l
        });
        assert!(s.finished, "{:?}", s.problems);
        assert!(!s.attempts[0].current_epoch);
        let s = assess(false, None, false, Vec::new());
        assert_eq!(s.stage, MigrationStage::NotStarted);
        assert!(!s.finished);
    }

    #[test]
    fn a_running_row_of_a_live_runner_is_in_progress_and_gate_problems_need_the_cutover() {
        let mut log = full_run(1, 10)[..7].to_vec();
        log.push(row(8, "STEP_7_M10_CUTOVER", "RUNNING", 11, None));
        let s = assess(true, Some((true, t(0), None)), true, log.clone());
        assert!(s.attempts[0].in_progress);
        assert_eq!(s.unresolved().count(), 0);
        assert!(s
            .gate_problems()
            .iter()
            .any(|p| p.contains("did not commit")));
        let s = assess(true, Some((true, t(0), None)), false, log);
        assert_eq!(s.unresolved().count(), 1);
        let s = assess(
            true,
            Some((true, t(0), None)),
            false,
            full_run(1, 10)[..9].to_vec(),
        );
        assert!(s.gate_problems().is_empty(), "{:?}", s.gate_problems());
    }
}
