//! Phase 1A, Phase 1B and the Revision A scenario, plus read access to the lock and step log.

use std::time::Instant;

use chrono::{DateTime, Utc};
use sqlx::{Connection, PgConnection};
use tracing::info;

use crate::error::{ctx, MigrationError};
use crate::sql::{PHASE_1A_SCRIPTS, REVISION_A_M6_PARTIAL};
use crate::LOCK_NAME;

/// Connect to `url`, mapping failure to [`MigrationError::Connect`] with the password redacted.
pub async fn connect(url: &str) -> Result<PgConnection, MigrationError> {
    PgConnection::connect(url)
        .await
        .map_err(|source| MigrationError::Connect {
            url: redact(url),
            source,
        })
}

fn redact(url: &str) -> String {
    redact_query(&redact_userinfo(url))
}

/// `...?password=secret&x=1` -> `...?password=***&x=1` (libpq takes a password there too).
fn redact_query(url: &str) -> String {
    let Some((base, query)) = url.split_once('?') else {
        return url.to_string();
    };
    let pairs: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
            _ => pair.to_string(),
        })
        .collect();
    format!("{base}?{}", pairs.join("&"))
}

fn redact_userinfo(url: &str) -> String {
    // postgres://user:secret@host/... -> postgres://user:***@host/...
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &url[..scheme + 3],
                    &userinfo[..colon],
                    &url[at..]
                ),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

pub(crate) async fn relation_exists(
    conn: &mut PgConnection,
    name: &str,
) -> Result<bool, MigrationError> {
    sqlx::query_scalar::<_, bool>("SELECT to_regclass($1) IS NOT NULL")
        .bind(format!("public.{name}"))
        .fetch_one(&mut *conn)
        .await
        .map_err(ctx("looking up a relation"))
}

async fn run_script(
    conn: &mut PgConnection,
    phase: &'static str,
    script: &'static str,
    sql: &'static str,
) -> Result<(), MigrationError> {
    sqlx::raw_sql(sql)
        .execute(&mut *conn)
        .await
        .map(|_| ())
        .map_err(|source| MigrationError::Script {
            phase,
            script,
            message: crate::StepErrorDetail::from_sqlx(&source, script.to_string(), "main".into())
                .render(),
        })
}

/// Apply Phase 1A (baseline schema + hash functions) in one transaction.
pub async fn apply_phase_1a(conn: &mut PgConnection) -> Result<(), MigrationError> {
    if relation_exists(conn, "account").await? {
        return Err(MigrationError::AlreadyApplied { phase: "Phase 1A" });
    }
    let start = Instant::now();
    let mut tx = conn.begin().await.map_err(ctx("BEGIN Phase 1A"))?;
    for (script, sql) in PHASE_1A_SCRIPTS {
        run_script(&mut tx, "Phase 1A", script, sql).await?;
    }
    tx.commit().await.map_err(ctx("COMMIT Phase 1A"))?;
    info!(
        elapsed_ms = start.elapsed().as_millis() as u64,
        "Phase 1A applied"
    );
    Ok(())
}

/// Leave the database as a failed Revision A M6 did (test scenario, after Phase 1B and before
/// Phase 1C): orders bound straight to the `risk_hourly_state` hypertable, half-made.
pub async fn apply_revision_a_m6_partial(conn: &mut PgConnection) -> Result<(), MigrationError> {
    let phase = "Revision A M6";
    if !relation_exists(conn, &contract::v2_name("order_request")).await? {
        return Err(MigrationError::PrerequisiteMissing {
            phase,
            missing: "Phase 1B (before the cutover)",
        });
    }
    let already: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = 'order_request_v2'::regclass
                          AND attname = 'risk_state_hash' AND NOT attisdropped)",
    )
    .fetch_one(&mut *conn)
    .await
    .map_err(ctx("inspecting order_request_v2"))?;
    if already {
        return Err(MigrationError::AlreadyApplied { phase });
    }
    let (script, sql) = REVISION_A_M6_PARTIAL;
    run_script(conn, phase, script, sql).await
}

/// The `phase_1b_schema` lock row.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LockState {
    /// `migration_name`
    pub migration_name: String,
    /// `locked`
    pub locked: bool,
    /// `lock_reason`
    pub lock_reason: String,
    /// `locked_at_utc`
    pub locked_at_utc: DateTime<Utc>,
    /// `unlocked_at_utc`
    pub unlocked_at_utc: Option<DateTime<Utc>>,
}

type LockRow = (String, bool, String, DateTime<Utc>, Option<DateTime<Utc>>);

/// The `phase_1b_schema` lock row; `None` when the table or the row is missing.
pub async fn lock_state(conn: &mut PgConnection) -> Result<Option<LockState>, MigrationError> {
    if !relation_exists(conn, contract::LOCK_TABLE).await? {
        return Ok(None);
    }
    let row: Option<LockRow> = sqlx::query_as(
        "SELECT migration_name, locked, lock_reason, locked_at_utc, unlocked_at_utc
           FROM migration_lock WHERE migration_name = $1",
    )
    .bind(LOCK_NAME)
    .fetch_optional(&mut *conn)
    .await
    .map_err(ctx("reading migration_lock"))?;
    Ok(row.map(
        |(migration_name, locked, lock_reason, locked_at_utc, unlocked_at_utc)| LockState {
            migration_name,
            locked,
            lock_reason,
            locked_at_utc,
            unlocked_at_utc,
        },
    ))
}

/// One `migration_step_log` row.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, sqlx::FromRow)]
pub struct StepLogRow {
    /// `log_id`
    pub log_id: i64,
    /// `run_id`
    pub run_id: String,
    /// `phase` (`PHASE_1B`, `PHASE_1C`, `PHASE_1C_REVISION_A`)
    pub phase: String,
    /// `step_name`
    pub step_name: String,
    /// `started_at_utc`
    pub started_at_utc: DateTime<Utc>,
    /// `ended_at_utc` (NULL while RUNNING)
    pub ended_at_utc: Option<DateTime<Utc>>,
    /// `status`
    pub status: String,
    /// `notes`
    pub notes: Option<String>,
    /// `error_text`
    pub error_text: Option<String>,
}

/// Every `migration_step_log` row in log order; empty when Phase 1B is not applied.
pub async fn step_log(conn: &mut PgConnection) -> Result<Vec<StepLogRow>, MigrationError> {
    if !relation_exists(conn, contract::STEP_LOG_TABLE).await? {
        return Ok(Vec::new());
    }
    sqlx::query_as::<_, StepLogRow>(
        "SELECT log_id, run_id, phase, step_name, started_at_utc, ended_at_utc, status, notes, error_text
           FROM migration_step_log ORDER BY log_id",
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(ctx("reading migration_step_log"))
}

/// A run id unique per run: server time plus backend pid plus a random suffix.
pub(crate) async fn new_run_id(conn: &mut PgConnection) -> Result<String, MigrationError> {
    sqlx::query_scalar::<_, String>(
        "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYYMMDD\"T\"HH24MISS') || '-' || pg_backend_pid()
                || '-' || substr(md5(random()::text), 1, 8)",
    )
    .fetch_one(&mut *conn)
    .await
    .map_err(ctx("making a run id"))
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn redacts_passwords_only() {
        assert_eq!(redact("postgres://u:pw@h:5/db"), "postgres://u:***@h:5/db");
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact("postgres://h/db"), "postgres://h/db");
        assert_eq!(
            redact("postgres://alice@h:1/x?password=SECRET"),
            "postgres://alice@h:1/x?password=***"
        );
        assert_eq!(
            redact("postgres://a:pw@h/x?sslmode=disable&PASSWORD=s&host=/tmp"),
            "postgres://a:***@h/x?sslmode=disable&PASSWORD=***&host=/tmp"
        );
    }
}
