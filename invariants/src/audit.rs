//! The whole audit of one database in one snapshot: the twelve checks, the structural
//! confirmations, archive parity, the hour-grid figures and the migration's own state, judged
//! by one set of rules. `harness validate` and STEP_8's validation gate both call [`audit`]:
//! there is one oracle.

use std::fmt::Write as _;
use std::time::Instant;

use contract::{CHECK_NAMES, CONFIRMATION_NAMES};
use sqlx::PgConnection;

use crate::migration_state::{read_migration_state, stage_text, MigrationStage, MigrationState};
use crate::parity::{ParityDirection, ParityReport, PARITY_TABLES};
use crate::runner::{check_jobs, prepare, run_jobs, Job, SharedSnapshot};
use crate::structure::{gather_structure, Parity, Structure};
use crate::{CheckOutcome, InvariantsError, TableSet};

/// What the audit is for: the rules of the migration-state and lock confirmations differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditPurpose {
    /// `harness validate`: the database must be a finished migration (lock released by STEP_9
    /// after validation, nothing unresolved) that satisfies everything.
    Validate,
    /// STEP_8's gate, inside the lock epoch after the cutover: the lock must be held and every
    /// step before STEP_8 done.
    Gate,
}

/// One structural confirmation's verdict.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Confirmation {
    /// Its name, from [`CONFIRMATION_NAMES`].
    pub name: &'static str,
    /// Holds?
    pub passed: bool,
    /// What was found (why it fails, when it does).
    pub detail: String,
}

/// How complete the hourly grid is (deterministic_replay_parity and cluster_cap count the
/// missing rows; these are the totals beside them).
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct GridFigures {
    /// Accounts with hourly states.
    pub accounts: i64,
    /// Clusters.
    pub clusters: i64,
    /// Stored portfolio states.
    pub portfolio_states: i64,
    /// Grid hours without a portfolio state (`None` when the check did not run).
    pub portfolio_missing: Option<i64>,
    /// Stored risk states.
    pub risk_states: i64,
    /// Grid hours without a risk state.
    pub risk_missing: Option<i64>,
    /// Stored position states.
    pub position_states: i64,
    /// (account, instrument, hour) with a non-zero recomputed quantity and no position state.
    pub position_missing: Option<i64>,
    /// `cluster_exposure_hourly_state` rows (`None` before STEP_4).
    pub exposure_rows: Option<i64>,
    /// Rows STEP_4 and its sync trigger must have written: risk states x clusters.
    pub exposure_expected: Option<i64>,
    /// (account, cluster, hour) of a risk state without its exposure row.
    pub exposure_missing: Option<i64>,
}

/// Everything the audit found, and its verdict.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Audit {
    /// What it was for.
    pub purpose: AuditPurpose,
    /// The table set the checks and parity read.
    pub table_set: TableSet,
    /// The twelve outcomes, in [`CHECK_NAMES`] order.
    pub checks: Vec<CheckOutcome>,
    /// The structural facts.
    pub structure: Structure,
    /// Archive (or `*_v2`) parity.
    pub parity: ParityReport,
    /// Hour-grid totals.
    pub grid: GridFigures,
    /// The migration's own state.
    pub migration: MigrationState,
    /// The confirmations, in [`CONFIRMATION_NAMES`] order.
    pub confirmations: Vec<Confirmation>,
    /// One line per failing check (`name=count`, `name=n/a`) and failing confirmation
    /// (`name: why`): empty when the audit passed.
    pub failures: Vec<String>,
    /// Every check zero and every confirmation holding.
    pub passed: bool,
    /// Wall time, microseconds.
    pub elapsed_us: u64,
}

/// The table set the checks apply to on a database in this state: canonical after a complete
/// cutover, the `*_v2` tables while they all exist, else the Phase 1A tables.
pub fn table_set_for(structure: &Structure) -> TableSet {
    if structure.cutover.archives_missing.is_empty() {
        TableSet::CanonicalAfterCutover
    } else if structure.cutover.v2_remaining.len() == crate::EVENT_TABLES.len() {
        TableSet::V2BeforeCutover
    } else {
        TableSet::Phase1a
    }
}

/// The checks' most-expensive-first order with the parity tables placed by their size.
fn jobs(set: TableSet, catalog: &crate::template::Catalog) -> Result<Vec<Job>, InvariantsError> {
    let mut checks = check_jobs(set, catalog)?;
    let Some(direction) = ParityDirection::for_set(set) else {
        return Ok(checks);
    };
    // The two most expensive checks first, then the big tables' parity, then the rest: a worker
    // that finishes early keeps pulling small jobs while the long ones run.
    let rest = checks.split_off(2.min(checks.len()));
    let parity = |names: &[&str]| -> Vec<Job> {
        PARITY_TABLES
            .iter()
            .filter(|t| names.contains(&t.table))
            .map(|t| Job::Parity(t, direction))
            .collect()
    };
    let big = ["cash_ledger", "order_fill", "order_request", "trade_signal"];
    let small: Vec<&str> = PARITY_TABLES
        .iter()
        .map(|t| t.table)
        .filter(|t| !big.contains(t))
        .collect();
    checks.extend(parity(&big));
    checks.extend(rest);
    checks.extend(parity(&small));
    Ok(checks)
}

/// Audit the database `main` is connected to (and `helpers`, other connections to it, share
/// the work over one snapshot); read-only, in a REPEATABLE READ, READ ONLY transaction opened
/// and closed here. `sample` rows are kept per check and per table.
pub async fn audit(
    main: &mut PgConnection,
    helpers: &mut [PgConnection],
    purpose: AuditPurpose,
    sample: usize,
) -> Result<Audit, InvariantsError> {
    let started = Instant::now();
    let mut session = SharedSnapshot::open(main, helpers, TableSet::CanonicalAfterCutover).await?;
    let audit = audit_core(
        &mut session.main,
        &mut session.helpers,
        purpose,
        sample,
        started,
    )
    .await?;
    session.close(audit.table_set).await?;
    Ok(audit)
}

/// [`audit`] inside the caller's already open transaction, on its connection alone (e.g. to
/// audit a corruption written and not yet rolled back).
pub async fn audit_within(
    conn: &mut PgConnection,
    purpose: AuditPurpose,
    sample: usize,
) -> Result<Audit, InvariantsError> {
    audit_core(conn, &mut [], purpose, sample, Instant::now()).await
}

async fn audit_core(
    main: &mut PgConnection,
    helpers: &mut [sqlx::Transaction<'_, sqlx::Postgres>],
    purpose: AuditPurpose,
    sample: usize,
    started: Instant,
) -> Result<Audit, InvariantsError> {
    // The set is only known after reading the structure; settings errors name the set the
    // audit expects.
    crate::runner::apply_settings(main, TableSet::CanonicalAfterCutover).await?;
    let structure = gather_structure(main).await?;
    let migration = read_migration_state(main).await?;
    let set = match purpose {
        AuditPurpose::Gate => TableSet::CanonicalAfterCutover,
        AuditPurpose::Validate => table_set_for(&structure),
    };
    let catalog = prepare(main, set).await?;
    let results = run_jobs(main, helpers, jobs(set, &catalog)?, set, &catalog, sample).await?;
    let grid = grid_figures(main, &results.checks).await?;

    let parity = ParityReport::new(ParityDirection::for_set(set), results.parity);
    let confirmations = confirm(purpose, &structure, &parity, &migration);
    let mut failures: Vec<String> = check_failures(&results.checks);
    failures.extend(
        confirmations
            .iter()
            .filter(|c| !c.passed)
            .map(|c| format!("{}: {}", c.name, c.detail)),
    );
    Ok(Audit {
        purpose,
        table_set: set,
        passed: failures.is_empty(),
        failures,
        checks: results.checks,
        structure,
        parity,
        grid,
        migration,
        confirmations,
        elapsed_us: u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
    })
}

/// `name=count` / `name=n/a` for every check that is not zero, and `name=not run` for any of
/// the twelve without an outcome.
pub fn check_failures(checks: &[CheckOutcome]) -> Vec<String> {
    let mut out: Vec<String> = checks
        .iter()
        .filter_map(|o| match o.violations {
            Some(0) => None,
            Some(n) => Some(format!("{}={n}", o.check)),
            None => Some(format!("{}=n/a", o.check)),
        })
        .collect();
    for name in CHECK_NAMES {
        if !checks.iter().any(|o| o.check == name) {
            out.push(format!("{name}=not run"));
        }
    }
    out
}

/// The confirmations' verdicts, in [`CONFIRMATION_NAMES`] order.
pub fn confirm(
    purpose: AuditPurpose,
    structure: &Structure,
    parity: &ParityReport,
    migration: &MigrationState,
) -> Vec<Confirmation> {
    let mut out = Vec::with_capacity(CONFIRMATION_NAMES.len());
    for name in CONFIRMATION_NAMES {
        let (passed, detail) = match name {
            "fk_legality" => {
                let fks: Vec<String> = structure
                    .fk_to_hypertable
                    .iter()
                    .map(|f| format!("{}.{} -> {}", f.table, f.constraint, f.references))
                    .collect();
                (
                    structure.fk_to_hypertable_count == 0,
                    if fks.is_empty() {
                        "0 FK -> hypertable".to_string()
                    } else {
                        format!("{} FK -> hypertable: {}", fks.len(), fks.join(", "))
                    },
                )
            }
            "identity_parity" => {
                let parts: Vec<String> = structure
                    .identity
                    .iter()
                    .map(|i| {
                        let n = |v: Option<i64>| v.map_or("missing".to_string(), |n| n.to_string());
                        format!(
                            "{} {} / {} {}: {}",
                            i.identity_table,
                            n(i.identity_rows),
                            i.hypertable,
                            n(i.hypertable_rows),
                            match i.parity {
                                Parity::Pass => "PASS",
                                Parity::Fail => "FAIL",
                                Parity::NotApplicable => "n/a (identity table does not exist yet)",
                            }
                        )
                    })
                    .collect();
                (
                    !structure.identity.is_empty()
                        && structure.identity.iter().all(|i| i.parity == Parity::Pass),
                    parts.join("; "),
                )
            }
            "cutover" => {
                let c = &structure.cutover;
                let mut d = format!("archives {} of 10", c.archives_present.len());
                if !c.archives_missing.is_empty() {
                    let _ = write!(d, " (missing: {})", c.archives_missing.join(", "));
                }
                let _ = write!(
                    d,
                    "; *_v2 left: {}",
                    if c.v2_remaining.is_empty() {
                        "none".to_string()
                    } else {
                        c.v2_remaining.join(", ")
                    }
                );
                (c.complete, d)
            }
            "triggers" => {
                let bad: Vec<String> = structure
                    .triggers
                    .iter()
                    .filter(|t| !(t.present && t.enabled))
                    .map(|t| {
                        let why = match t.tgenabled.as_deref() {
                            None => "missing".to_string(),
                            Some("D") => "disabled".to_string(),
                            Some("R") => {
                                "enabled only for replica sessions (ENABLE REPLICA)".to_string()
                            }
                            Some(other) => format!("tgenabled = {other}"),
                        };
                        format!("{}.{}: {why}", t.table, t.trigger)
                    })
                    .collect();
                let ok = structure.triggers.len() - bad.len();
                (
                    structure.triggers_ok
                        && structure.triggers.len() == contract::CONTRACT_TRIGGERS.len(),
                    if bad.is_empty() {
                        format!("{ok} of {} present and enabled", structure.triggers.len())
                    } else {
                        format!(
                            "{ok} of {} present and enabled; {}",
                            structure.triggers.len(),
                            bad.join("; ")
                        )
                    },
                )
            }
            "archive_parity" => (
                parity.passed,
                if parity.passed {
                    let dir = match parity.direction {
                        Some(ParityDirection::ArchiveToCanonical) => "archives -> canonical",
                        Some(ParityDirection::CanonicalToV2) => "canonical -> *_v2",
                        None => "n/a",
                    };
                    format!("{} tables PASS ({dir})", parity.tables.len())
                } else {
                    parity.failures().join("; ")
                },
            ),
            "lock" => match purpose {
                AuditPurpose::Validate => (
                    migration.stage == MigrationStage::Unlocked
                        && migration.unlocked_at_utc.is_some(),
                    format!("{}: {}", contract::LOCK_NAME, stage_text(migration.stage)),
                ),
                AuditPurpose::Gate => (
                    migration.stage == MigrationStage::Locked,
                    format!(
                        "{}: {} (validation must run inside the lock epoch)",
                        contract::LOCK_NAME,
                        stage_text(migration.stage)
                    ),
                ),
            },
            _ => match purpose {
                AuditPurpose::Validate => (
                    migration.finished,
                    if migration.finished {
                        "finished: unlocked by STEP_9_UNLOCK after STEP_8_FULL_VALIDATION, no unresolved attempt"
                            .to_string()
                    } else {
                        migration.problems.join("; ")
                    },
                ),
                AuditPurpose::Gate => {
                    let problems = migration.gate_problems();
                    (
                        problems.is_empty(),
                        if problems.is_empty() {
                            "every step before STEP_8 done in this lock epoch".to_string()
                        } else {
                            problems.join("; ")
                        },
                    )
                }
            },
        };
        out.push(Confirmation {
            name,
            passed,
            detail,
        });
    }
    out
}

async fn grid_figures(
    conn: &mut PgConnection,
    checks: &[CheckOutcome],
) -> Result<GridFigures, InvariantsError> {
    let se = |source| InvariantsError::Structure {
        what: "hour-grid figures",
        source,
    };
    let has_exposure: bool = sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
        .bind(contract::CLUSTER_EXPOSURE_TABLE)
        .fetch_one(&mut *conn)
        .await
        .map_err(se)?;
    let (accounts, clusters, portfolio, risk, position): (i64, i64, i64, i64, i64) =
        sqlx::query_as(
            "SELECT (SELECT count(DISTINCT account_id) FROM portfolio_hourly_state),
                    (SELECT count(*) FROM cluster),
                    (SELECT count(*) FROM portfolio_hourly_state),
                    (SELECT count(*) FROM risk_hourly_state),
                    (SELECT count(*) FROM position_hourly_state)",
        )
        .fetch_one(&mut *conn)
        .await
        .map_err(se)?;
    let exposure_rows: Option<i64> = if has_exposure {
        Some(
            sqlx::query_scalar("SELECT count(*) FROM cluster_exposure_hourly_state")
                .fetch_one(&mut *conn)
                .await
                .map_err(se)?,
        )
    } else {
        None
    };
    let count = |check: &str, rule: &str| {
        checks
            .iter()
            .find(|o| o.check == check)
            .filter(|o| o.rules_checked.iter().any(|r| r == rule))
            .map(|o| o.rule_counts.get(rule).copied().unwrap_or(0))
    };
    Ok(GridFigures {
        accounts,
        clusters,
        portfolio_states: portfolio,
        portfolio_missing: count("deterministic_replay_parity", "portfolio_state_missing"),
        risk_states: risk,
        risk_missing: count("deterministic_replay_parity", "risk_state_missing"),
        position_states: position,
        position_missing: count("deterministic_replay_parity", "position_state_missing"),
        exposure_rows,
        exposure_expected: exposure_rows.map(|_| risk * clusters),
        exposure_missing: count("cluster_cap", "cluster_exposure_missing"),
    })
}
