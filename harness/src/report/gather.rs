//! Reading a report's data from the database: read-only sessions, the audit of an existing
//! database (`harness validate`), and the facts after a `harness run`.

use invariants::migration_state::read_migration_state;
use invariants::structure::gather_structure;
use invariants::{AuditPurpose, InvariantsError, TableSet};
use sqlx::{Connection, PgConnection};

use super::assemble::{assemble, AuditOutcomes, DatabaseFacts};
use super::model::{AttemptSummary, ImplementationLog, Origin, ValidationSource};
use crate::run::RunReport;

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
    /// The structural confirmations or the migration state could not be read.
    #[error("report: structural confirmations: {0}")]
    Structure(#[source] InvariantsError),
    /// The audit (checks, parity) failed to run.
    #[error("report: audit: {0}")]
    Audit(#[source] InvariantsError),
}

/// Connect to the database named by `url` (for `harness validate`), with a timeout; errors
/// are one line and never show the password.
pub async fn connect_database(url: &str) -> Result<PgConnection, ReportError> {
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

/// Read the structure and the migration state in one READ ONLY transaction.
pub async fn read_facts(conn: &mut PgConnection) -> Result<DatabaseFacts, ReportError> {
    let session = |what| move |source| ReportError::Session { what, source };
    let mut tx = conn
        .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .await
        .map_err(session("BEGIN READ ONLY"))?;
    sqlx::query("SET LOCAL TimeZone = 'UTC'")
        .execute(&mut *tx)
        .await
        .map_err(session("setting the time zone"))?;
    let structure = gather_structure(&mut tx)
        .await
        .map_err(ReportError::Structure)?;
    let migration = read_migration_state(&mut tx)
        .await
        .map_err(ReportError::Structure)?;
    tx.rollback()
        .await
        .map_err(session("ROLLBACK of the read-only transaction"))?;
    Ok(DatabaseFacts {
        structure,
        migration,
    })
}

/// Gather the report of an existing database (`harness validate`): the full audit, read-only,
/// with `sample` rows each. Sets the session read-only.
pub async fn gather_database(
    conn: &mut PgConnection,
    sample: usize,
) -> Result<ImplementationLog, ReportError> {
    gather_database_on(conn, &mut [], sample).await
}

/// [`gather_database`] with the audit spread over `conn` and `helpers` (other connections to
/// the same database) over one snapshot, as `harness validate` runs it.
pub async fn gather_database_on(
    conn: &mut PgConnection,
    helpers: &mut [PgConnection],
    sample: usize,
) -> Result<ImplementationLog, ReportError> {
    read_only_session(conn).await?;
    for h in helpers.iter_mut() {
        read_only_session(h).await?;
    }
    let audit = invariants::audit(conn, helpers, AuditPurpose::Validate, sample)
        .await
        .map_err(ReportError::Audit)?;
    let facts = DatabaseFacts {
        structure: audit.structure,
        migration: audit.migration,
    };
    let outcomes = AuditOutcomes {
        source: ValidationSource::ReadOnlyRerun,
        table_set: audit.table_set,
        checks: audit.checks,
        parity: audit.parity,
        grid: audit.grid,
    };
    Ok(assemble(Origin::Database, facts, outcomes))
}

/// Gather the report of a finished `harness run`: the database as it is after the run, plus
/// the last attempt's STEP_8 audit (its checks, parity and grid figures); the audit is rerun
/// read-only when STEP_8 never ran it.
pub async fn gather_run(
    report: &RunReport,
    world: &str,
    scenario: &str,
) -> Result<ImplementationLog, ReportError> {
    let mut conn = report.db.connect().await?;
    read_only_session(&mut conn).await?;
    let last = report.attempts.last().and_then(|a| a.outcome.as_ref());
    let gate_audit = report
        .audit
        .as_ref()
        .zip(last.filter(|o| o.validation.is_some()));
    let (facts, outcomes) = match gate_audit {
        Some((audit, outcome)) => (
            read_facts(&mut conn).await?,
            AuditOutcomes {
                source: ValidationSource::Step8Gate {
                    run_id: outcome.run_id.clone(),
                },
                table_set: TableSet::CanonicalAfterCutover,
                checks: audit.checks.clone(),
                parity: audit.parity.clone(),
                grid: audit.grid.clone(),
            },
        ),
        None => {
            let audit = invariants::audit(
                &mut conn,
                &mut [],
                AuditPurpose::Validate,
                super::DEFAULT_SAMPLE,
            )
            .await
            .map_err(ReportError::Audit)?;
            (
                DatabaseFacts {
                    structure: audit.structure,
                    migration: audit.migration,
                },
                AuditOutcomes {
                    source: ValidationSource::ReadOnlyRerun,
                    table_set: audit.table_set,
                    checks: audit.checks,
                    parity: audit.parity,
                    grid: audit.grid,
                },
            )
        }
    };
    let _ = conn.close().await;
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
    Ok(assemble(origin, facts, outcomes))
}
