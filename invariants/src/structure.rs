//! Structural confirmations reported beside the checks (CONTRACT.md sections 4 and 5, the seed
//! log's sections): FK legality, identity counts and parity, cutover status, the thirteen
//! triggers, compression, the final lock row. All read-only.

use sqlx::{Connection, PgConnection, Row};

use crate::{InvariantsError, EVENT_TABLES};
use contract::IDENTITY_TABLES;

pub use contract::{COMPRESSION_TARGETS, CONTRACT_TRIGGERS};

/// PASS / FAIL, or n/a when there is nothing to compare yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Parity {
    /// Counts equal.
    #[serde(rename = "PASS")]
    Pass,
    /// Counts differ.
    #[serde(rename = "FAIL")]
    Fail,
    /// The identity table does not exist (before STEP_2).
    #[serde(rename = "n/a")]
    NotApplicable,
}

/// One foreign key whose referenced table is a hypertable (or a hypertable's chunk).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct HypertableFk {
    /// Constraint name.
    pub constraint: String,
    /// Referencing table.
    pub table: String,
    /// Referenced hypertable (or chunk).
    pub references: String,
}

/// Row counts of one identity table and its hypertable.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct IdentityCount {
    /// Identity table name.
    pub identity_table: String,
    /// Its row count; `None` when it does not exist.
    pub identity_rows: Option<i64>,
    /// Source hypertable name.
    pub hypertable: String,
    /// Its row count; `None` when it does not exist.
    pub hypertable_rows: Option<i64>,
    /// Count parity.
    pub parity: Parity,
}

/// Where the cutover stands.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CutoverStatus {
    /// `<t>_phase1a_archive` tables present, in event-table order.
    pub archives_present: Vec<String>,
    /// `<t>_phase1a_archive` tables missing.
    pub archives_missing: Vec<String>,
    /// `<t>_v2` tables of the ten still present.
    pub v2_remaining: Vec<String>,
    /// All ten archives present and no `*_v2` left.
    pub complete: bool,
}

/// One contract trigger's status.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TriggerStatus {
    /// Table the trigger must be on.
    pub table: String,
    /// Trigger name.
    pub trigger: String,
    /// Exists on that table.
    pub present: bool,
    /// Fires in ordinary sessions: `pg_trigger.tgenabled` is 'O' (origin) or 'A' (always).
    /// 'D' is disabled, and 'R' fires only under session_replication_role = replica, so
    /// neither enforces anything for an ordinary writer.
    pub enabled: bool,
    /// Raw `tgenabled` (O, D, R, A), when present.
    pub tgenabled: Option<String>,
}

/// Compression facts of one target table.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CompressionTarget {
    /// Table name from the target list.
    pub table: String,
    /// Is it a hypertable?
    pub is_hypertable: bool,
    /// `compression_enabled` of the hypertable; `None` when not a hypertable.
    pub compression_enabled: Option<bool>,
    /// Compression policy jobs on it.
    pub policy_jobs: i64,
}

/// Compression confirmation over the target list.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CompressionStatus {
    /// One entry per target, in target-list order.
    pub targets: Vec<CompressionTarget>,
    /// Targets that are hypertables.
    pub hypertables: Vec<String>,
    /// Total `policy_compression` jobs on the targets.
    pub policy_jobs: i64,
    /// `timescaledb.license` (`apache`, `timescale`), `None` without TimescaleDB.
    pub license: Option<String>,
    /// Whether this build can compress at all (TimescaleDB present and not the Apache build).
    pub available: bool,
}

/// The `migration_lock` row of `phase_1b_schema` (timestamps as PostgreSQL prints them in UTC).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LockRow {
    /// Always `phase_1b_schema`.
    pub migration_name: String,
    /// Lock held?
    pub locked: bool,
    /// Reason text.
    pub lock_reason: String,
    /// When locked.
    pub locked_at_utc: Option<String>,
    /// When unlocked (`None` while held).
    pub unlocked_at_utc: Option<String>,
}

/// Every structural confirmation.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Structure {
    /// `FK -> hypertable` rows, one per FK (TimescaleDB's per-chunk clones are not listed).
    pub fk_to_hypertable: Vec<HypertableFk>,
    /// Their count.
    pub fk_to_hypertable_count: i64,
    /// Portfolio then risk identity counts.
    pub identity: Vec<IdentityCount>,
    /// Cutover status.
    pub cutover: CutoverStatus,
    /// The thirteen contract triggers, in contract order.
    pub triggers: Vec<TriggerStatus>,
    /// Every trigger present and enabled.
    pub triggers_ok: bool,
    /// Compression confirmation.
    pub compression: CompressionStatus,
    /// The final lock row; `None` when migration_lock or the row does not exist.
    pub lock: Option<LockRow>,
}

fn se(what: &'static str) -> impl FnOnce(sqlx::Error) -> InvariantsError {
    move |source| InvariantsError::Structure { what, source }
}

async fn exists(conn: &mut PgConnection, table: &str) -> Result<bool, InvariantsError> {
    sqlx::query_scalar::<_, bool>("SELECT to_regclass($1) IS NOT NULL")
        .bind(table)
        .fetch_one(&mut *conn)
        .await
        .map_err(se("table lookup"))
}

async fn count_rows(conn: &mut PgConnection, table: &str) -> Result<Option<i64>, InvariantsError> {
    if !exists(conn, table).await? {
        return Ok(None);
    }
    // table names come from this module's constants, never from user input
    let sql = format!("SELECT count(*)::bigint FROM {}", quote_ident(table));
    sqlx::query_scalar::<_, i64>(&sql)
        .fetch_one(&mut *conn)
        .await
        .map(Some)
        .map_err(se("identity counts"))
}

fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Gather every structural confirmation inside the caller's (read-only) transaction.
pub async fn gather_structure(conn: &mut PgConnection) -> Result<Structure, InvariantsError> {
    sqlx::query("SET LOCAL TimeZone = 'UTC'")
        .execute(&mut *conn)
        .await
        .map_err(se("setting the time zone"))?;
    let has_timescale: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb')",
    )
    .fetch_one(&mut *conn)
    .await
    .map_err(se("extension lookup"))?;

    // FK legality: the same rule as the no_hypertable_fk check, with the rows listed. Each FK
    // once: TimescaleDB's clones of a FK onto the referenced hypertable's chunks (conparentid
    // set) and its per-chunk copies of a hypertable's own FK (chunk_constraint rows naming the
    // hypertable constraint) are the same FK again.
    let mut fk_to_hypertable = Vec::new();
    if has_timescale {
        let rows = sqlx::query(
            "SELECT c.conname::text AS constraint_name, c.conrelid::regclass::text AS tbl,
                    c.confrelid::regclass::text AS referenced
             FROM pg_constraint c
             WHERE c.contype = 'f' AND c.conparentid = 0
               AND NOT EXISTS (SELECT 1 FROM _timescaledb_catalog.chunk_constraint cc
                               WHERE cc.constraint_name = c.conname AND cc.hypertable_constraint_name IS NOT NULL
                                 AND c.conrelid IN (SELECT to_regclass(format('%I.%I', k.schema_name, k.table_name))
                                                    FROM _timescaledb_catalog.chunk k WHERE k.id = cc.chunk_id))
               AND (c.confrelid IN (SELECT to_regclass(format('%I.%I', hypertable_schema, hypertable_name))
                                    FROM timescaledb_information.hypertables)
                    OR c.confrelid IN (SELECT to_regclass(format('%I.%I', chunk_schema, chunk_name))
                                       FROM timescaledb_information.chunks))
             ORDER BY 2, 1",
        )
        .fetch_all(&mut *conn)
        .await
        .map_err(se("FK legality"))?;
        for row in rows {
            fk_to_hypertable.push(HypertableFk {
                constraint: row.try_get("constraint_name").map_err(se("FK legality"))?,
                table: row.try_get("tbl").map_err(se("FK legality"))?,
                references: row.try_get("referenced").map_err(se("FK legality"))?,
            });
        }
    }
    let fk_to_hypertable_count = i64::try_from(fk_to_hypertable.len()).unwrap_or(i64::MAX);

    let mut identity = Vec::new();
    for (ident, hyper) in IDENTITY_TABLES {
        let identity_rows = count_rows(conn, ident).await?;
        let hypertable_rows = count_rows(conn, hyper).await?;
        let parity = match (identity_rows, hypertable_rows) {
            (None, _) => Parity::NotApplicable,
            (Some(a), Some(b)) if a == b => Parity::Pass,
            _ => Parity::Fail,
        };
        identity.push(IdentityCount {
            identity_table: ident.to_string(),
            identity_rows,
            hypertable: hyper.to_string(),
            hypertable_rows,
            parity,
        });
    }

    let mut archives_present = Vec::new();
    let mut archives_missing = Vec::new();
    let mut v2_remaining = Vec::new();
    for t in EVENT_TABLES {
        let archive = contract::archive_name(t);
        if exists(conn, &archive).await? {
            archives_present.push(archive);
        } else {
            archives_missing.push(archive);
        }
        let v2 = contract::v2_name(t);
        if exists(conn, &v2).await? {
            v2_remaining.push(v2);
        }
    }
    let complete = archives_missing.is_empty() && v2_remaining.is_empty();
    let cutover = CutoverStatus {
        archives_present,
        archives_missing,
        v2_remaining,
        complete,
    };

    let mut triggers = Vec::new();
    for (table, trigger) in CONTRACT_TRIGGERS {
        let mode: Option<String> = sqlx::query_scalar(
            "SELECT t.tgenabled::text FROM pg_trigger t WHERE t.tgrelid = to_regclass($1) AND t.tgname = $2",
        )
        .bind(table)
        .bind(trigger)
        .fetch_optional(&mut *conn)
        .await
        .map_err(se("trigger status"))?;
        triggers.push(TriggerStatus {
            table: table.to_string(),
            trigger: trigger.to_string(),
            present: mode.is_some(),
            enabled: matches!(mode.as_deref(), Some("O") | Some("A")),
            tgenabled: mode,
        });
    }
    let triggers_ok = triggers.iter().all(|t| t.present && t.enabled);

    let mut targets = Vec::new();
    for table in COMPRESSION_TARGETS {
        let (is_hypertable, compression_enabled, policy_jobs) = if has_timescale {
            let enabled: Option<bool> = sqlx::query_scalar(
                "SELECT compression_enabled FROM timescaledb_information.hypertables
                 WHERE to_regclass(format('%I.%I', hypertable_schema, hypertable_name)) = to_regclass($1)",
            )
            .bind(table)
            .fetch_optional(&mut *conn)
            .await
            .map_err(se("compression settings"))?;
            let jobs: i64 = sqlx::query_scalar(
                "SELECT count(*)::bigint FROM timescaledb_information.jobs
                 WHERE proc_name = 'policy_compression'
                   AND to_regclass(format('%I.%I', hypertable_schema, hypertable_name)) = to_regclass($1)",
            )
            .bind(table)
            .fetch_one(&mut *conn)
            .await
            .map_err(se("compression policy jobs"))?;
            (enabled.is_some(), enabled, jobs)
        } else {
            (false, None, 0)
        };
        targets.push(CompressionTarget {
            table: table.to_string(),
            is_hypertable,
            compression_enabled,
            policy_jobs,
        });
    }
    let license: Option<String> = if has_timescale {
        sqlx::query_scalar("SELECT current_setting('timescaledb.license', true)")
            .fetch_one(&mut *conn)
            .await
            .map_err(se("timescaledb.license"))?
    } else {
        None
    };
    let compression = CompressionStatus {
        available: license.as_deref().is_some_and(|l| l != "apache"),
        license,
        hypertables: targets
            .iter()
            .filter(|t| t.is_hypertable)
            .map(|t| t.table.clone())
            .collect(),
        policy_jobs: targets.iter().map(|t| t.policy_jobs).sum(),
        targets,
    };

    let lock = if exists(conn, contract::LOCK_TABLE).await? {
        let row = sqlx::query(
            "SELECT migration_name::text AS migration_name, locked, lock_reason::text AS lock_reason,
                    locked_at_utc::text AS locked_at_utc, unlocked_at_utc::text AS unlocked_at_utc
             FROM migration_lock WHERE migration_name = $1",
        )
        .bind(contract::LOCK_NAME)
        .fetch_optional(&mut *conn)
        .await
        .map_err(se("lock row"))?;
        match row {
            Some(r) => Some(LockRow {
                migration_name: r.try_get("migration_name").map_err(se("lock row"))?,
                locked: r.try_get("locked").map_err(se("lock row"))?,
                lock_reason: r.try_get("lock_reason").map_err(se("lock row"))?,
                locked_at_utc: r.try_get("locked_at_utc").map_err(se("lock row"))?,
                unlocked_at_utc: r.try_get("unlocked_at_utc").map_err(se("lock row"))?,
            }),
            None => None,
        }
    } else {
        None
    };

    Ok(Structure {
        fk_to_hypertable,
        fk_to_hypertable_count,
        identity,
        cutover,
        triggers,
        triggers_ok,
        compression,
        lock,
    })
}

/// Gather every structural confirmation inside one READ ONLY transaction.
pub async fn confirm_structure(conn: &mut PgConnection) -> Result<Structure, InvariantsError> {
    if conn.is_in_transaction() {
        return Err(InvariantsError::Structure {
            what: "BEGIN READ ONLY",
            source: sqlx::Error::Protocol("connection already in a transaction".to_string()),
        });
    }
    // Dropping the transaction on an early return rolls it back.
    let mut tx = conn
        .begin_with("BEGIN READ ONLY")
        .await
        .map_err(se("BEGIN READ ONLY"))?;
    let structure = gather_structure(&mut tx).await?;
    tx.rollback()
        .await
        .map_err(se("ROLLBACK of the read-only transaction"))?;
    Ok(structure)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parity_serializes_like_the_seed_log() {
        assert_eq!(
            serde_json::to_string(&Parity::Pass).unwrap_or_default(),
            "\"PASS\""
        );
        assert_eq!(
            serde_json::to_string(&Parity::Fail).unwrap_or_default(),
            "\"FAIL\""
        );
        assert_eq!(
            serde_json::to_string(&Parity::NotApplicable).unwrap_or_default(),
            "\"n/a\""
        );
    }

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(quote_ident("risk_hourly_state"), "\"risk_hourly_state\"");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
    }
}
