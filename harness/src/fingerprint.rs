//! A SHA-256 fingerprint of a migrated database's data: the same world migrated through the
//! same history gives the same fingerprint on every run, any other data a different one.
//!
//! What is hashed: every ordinary table of schema `public` (identity tables, hypertables, the
//! `*_phase1a_archive` tables, reference tables, `migration_lock`, `migration_step_log`),
//! enumerated by name in byte order. Per table: its name, its hashed column names, then each row
//! as PostgreSQL's row text `ROW(c1, c2, ...)::text`, in primary-key order (byte order for text
//! key columns), or in the order of the row text itself for a table without a primary key.
//! The session pins every setting that changes text output (UTC, ISO dates, float digits,
//! bytea hex), and everything is read in one READ ONLY, REPEATABLE READ snapshot.
//! Hypertable chunks live in `_timescaledb_internal` and are read through their hypertable.
//!
//! What is not hashed ([`EXCLUDED_COLUMNS`], [`NORMALIZED_COLUMNS`]): the run's own
//! bookkeeping, which differs between two runs of the same world by construction.

use futures::TryStreamExt;
use sha2::{Digest, Sha256};
use sqlx::{Connection, PgConnection, Row};

/// Columns left out of the fingerprint, as (table, column, why).
pub const EXCLUDED_COLUMNS: [(&str, &str, &str); 7] = [
    (
        contract::LOCK_TABLE,
        "locked_at_utc",
        "wall-clock time Phase 1B took the lock",
    ),
    (
        contract::LOCK_TABLE,
        "unlocked_at_utc",
        "wall-clock time STEP_9 released the lock (its NULL-ness is kept in `locked`)",
    ),
    (
        contract::STEP_LOG_TABLE,
        "log_id",
        "identity value: counts rows of earlier runs on the server's sequence, not data; rows are still hashed in log_id order, so the history's sequence counts",
    ),
    (
        contract::STEP_LOG_TABLE,
        "run_id",
        "made of the server clock, the backend pid and a random suffix",
    ),
    (
        contract::STEP_LOG_TABLE,
        "started_at_utc",
        "wall-clock step start",
    ),
    (
        contract::STEP_LOG_TABLE,
        "ended_at_utc",
        "wall-clock step end (durations are their difference)",
    ),
    (
        contract::BACKFILL_PROGRESS_TABLE,
        "updated_at_utc",
        "wall-clock time of a backfill task's last batch",
    ),
];

/// Columns hashed after normalization, as (table, column, what is replaced and why).
pub const NORMALIZED_COLUMNS: [(&str, &str, &str); 2] = [
    (
        contract::STEP_LOG_TABLE,
        "notes",
        "embedded timestamps (`SKIPPED (already done)` notes cite the earlier row's start, STEP_9 cites the validation time) -> <ts>, and `log_id N` references -> log_id <n>; the rest (row counts, parity, artifacts dropped) is data and is kept",
    ),
    (
        contract::STEP_LOG_TABLE,
        "error_text",
        "same normalization as notes, in case an error message cites a timestamp",
    ),
];

/// A timestamp in any of the forms notes use (ISO with `T` or a space, optional fraction and
/// offset), as a PostgreSQL regular expression.
const TS_REGEX: &str = r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}(:\d{2})?)?";

/// Errors computing a fingerprint, naming the table being read.
#[derive(Debug, thiserror::Error)]
pub enum FingerprintError {
    /// Opening the snapshot or pinning its settings failed.
    #[error("fingerprint: {what}: {source}")]
    Session {
        /// What was being done.
        what: &'static str,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
    /// Reading one table failed.
    #[error("fingerprint: reading table {table}: {source}")]
    Table {
        /// The table.
        table: String,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
}

/// One table's share of the fingerprint.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TableDigest {
    /// Table name.
    pub table: String,
    /// Rows hashed.
    pub rows: u64,
    /// SHA-256 (hex) of the table's header and rows.
    pub sha256: String,
}

/// The fingerprint and its per-table parts (to find which table differs).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Fingerprint {
    /// SHA-256 (64 lower-case hex) over every table's `name rows sha256` line.
    pub sha256: String,
    /// Per table, in name order.
    pub tables: Vec<TableDigest>,
}

/// Tables of the runner's own bookkeeping: what was done and where a batch stands, not data.
/// Two runs that reach the same data through different histories (an interrupted one and an
/// undisturbed one) differ here and only here.
pub const BOOKKEEPING_TABLES: [&str; 2] =
    [contract::STEP_LOG_TABLE, contract::BACKFILL_PROGRESS_TABLE];

impl Fingerprint {
    /// SHA-256 over every table but the runner's bookkeeping ([`BOOKKEEPING_TABLES`]): the
    /// facts themselves, whatever history produced them.
    pub fn facts(&self) -> String {
        let mut h = Sha256::new();
        for t in self
            .tables
            .iter()
            .filter(|t| !BOOKKEEPING_TABLES.contains(&t.table.as_str()))
        {
            h.update(format!("{} {} {}\n", t.table, t.rows, t.sha256).as_bytes());
        }
        hex::encode(h.finalize())
    }

    /// Tables whose digests differ from `other`'s (or exist on one side only).
    pub fn differing_tables(&self, other: &Fingerprint) -> Vec<String> {
        let mut out = Vec::new();
        for t in &self.tables {
            match other.tables.iter().find(|o| o.table == t.table) {
                Some(o) if o == t => {}
                _ => out.push(t.table.clone()),
            }
        }
        for o in &other.tables {
            if !self.tables.iter().any(|t| t.table == o.table) {
                out.push(o.table.clone());
            }
        }
        out
    }
}

fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn is_excluded(table: &str, column: &str) -> bool {
    EXCLUDED_COLUMNS
        .iter()
        .any(|(t, c, _)| *t == table && *c == column)
}

fn is_normalized(table: &str, column: &str) -> bool {
    NORMALIZED_COLUMNS
        .iter()
        .any(|(t, c, _)| *t == table && *c == column)
}

struct Column {
    name: String,
    collatable: bool,
}

/// The SQL that lists `table`'s hashed row texts in key order, and its hashed column names.
fn table_query(table: &str, columns: &[Column], key: &[String]) -> (String, Vec<String>) {
    let hashed: Vec<&Column> = columns
        .iter()
        .filter(|c| !is_excluded(table, &c.name))
        .collect();
    let exprs: Vec<String> = hashed
        .iter()
        .map(|c| {
            let q = quote_ident(&c.name);
            if is_normalized(table, &c.name) {
                format!(
                    "regexp_replace(regexp_replace({q}, '{TS_REGEX}', '<ts>', 'g'), 'log_id \\d+', 'log_id <n>', 'g')"
                )
            } else {
                q
            }
        })
        .collect();
    let order = if key.is_empty() {
        "1 COLLATE \"C\"".to_string()
    } else {
        key.iter()
            .map(|k| {
                let collatable = columns.iter().any(|c| &c.name == k && c.collatable);
                if collatable {
                    format!("{} COLLATE \"C\"", quote_ident(k))
                } else {
                    quote_ident(k)
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let select = if exprs.is_empty() {
        "'()'".to_string()
    } else {
        format!("ROW({})::text", exprs.join(", "))
    };
    (
        format!(
            "SELECT {select} AS r FROM public.{} ORDER BY {order}",
            quote_ident(table)
        ),
        hashed.iter().map(|c| c.name.clone()).collect(),
    )
}

/// The fingerprint of the database `conn` is connected to (64 lower-case hex).
pub async fn fingerprint(conn: &mut PgConnection) -> Result<String, FingerprintError> {
    fingerprint_tables(conn).await.map(|f| f.sha256)
}

/// The fingerprint with its per-table digests.
pub async fn fingerprint_tables(conn: &mut PgConnection) -> Result<Fingerprint, FingerprintError> {
    let session = |what: &'static str| move |source| FingerprintError::Session { what, source };
    let mut tx = conn
        .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .await
        .map_err(session("BEGIN READ ONLY"))?;
    for setting in [
        "SET LOCAL TimeZone = 'UTC'",
        "SET LOCAL DateStyle = 'ISO, YMD'",
        "SET LOCAL IntervalStyle = 'postgres'",
        "SET LOCAL extra_float_digits = 1",
        "SET LOCAL bytea_output = 'hex'",
        "SET LOCAL standard_conforming_strings = on",
    ] {
        sqlx::query(setting)
            .execute(&mut *tx)
            .await
            .map_err(session("pinning output settings"))?;
    }
    let tables: Vec<(sqlx::postgres::types::Oid, String)> = sqlx::query_as(
        "SELECT c.oid, c.relname::text FROM pg_class c
         JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition
         ORDER BY c.relname::text COLLATE \"C\"",
    )
    .fetch_all(&mut *tx)
    .await
    .map_err(session("listing tables"))?;

    let mut total = Sha256::new();
    let mut digests = Vec::with_capacity(tables.len());
    for (oid, table) in tables {
        let terr = |source| FingerprintError::Table {
            table: table.clone(),
            source,
        };
        let columns: Vec<Column> = sqlx::query(
            "SELECT attname::text AS name, attcollation <> 0 AS collatable FROM pg_attribute
             WHERE attrelid = $1 AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
        )
        .bind(oid)
        .fetch_all(&mut *tx)
        .await
        .map_err(terr)?
        .into_iter()
        .map(|r| {
            Ok(Column {
                name: r.try_get("name")?,
                collatable: r.try_get("collatable")?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(terr)?;
        let key: Vec<String> = sqlx::query_scalar(
            "SELECT a.attname::text FROM pg_index i
             CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
             WHERE i.indrelid = $1 AND i.indisprimary
             ORDER BY k.ord",
        )
        .bind(oid)
        .fetch_all(&mut *tx)
        .await
        .map_err(terr)?;
        let (sql, hashed) = table_query(&table, &columns, &key);

        let mut h = Sha256::new();
        h.update(format!("table {table}\ncolumns {}\n", hashed.join(",")));
        let mut rows = 0u64;
        {
            let mut stream = sqlx::query_scalar::<_, Option<String>>(&sql)
                .persistent(false)
                .fetch(&mut *tx);
            while let Some(r) = stream.try_next().await.map_err(terr)? {
                h.update(r.as_deref().unwrap_or("\\N"));
                h.update(b"\n");
                rows += 1;
            }
        }
        let sha = hex::encode(h.finalize());
        total.update(format!("{table} {rows} {sha}\n"));
        digests.push(TableDigest {
            table,
            rows,
            sha256: sha,
        });
    }
    tx.rollback()
        .await
        .map_err(session("ROLLBACK of the read-only snapshot"))?;
    Ok(Fingerprint {
        sha256: hex::encode(total.finalize()),
        tables: digests,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(name: &str, collatable: bool) -> Column {
        Column {
            name: name.to_string(),
            collatable,
        }
    }

    #[test]
    fn bookkeeping_columns_are_left_out_and_notes_normalized() {
        let cols = [
            col("log_id", false),
            col("run_id", true),
            col("step_name", true),
            col("started_at_utc", false),
            col("notes", true),
        ];
        let (sql, hashed) = table_query("migration_step_log", &cols, &["log_id".to_string()]);
        assert_eq!(hashed, ["step_name", "notes"]);
        assert!(sql.contains("ORDER BY \"log_id\""), "{sql}");
        assert!(
            sql.contains("regexp_replace(regexp_replace(\"notes\""),
            "{sql}"
        );
        assert!(!sql.contains("\"run_id\""), "{sql}");
    }

    #[test]
    fn text_keys_sort_bytewise_and_keyless_tables_by_row_text() {
        let cols = [col("migration_name", true), col("locked", false)];
        let (sql, _) = table_query("migration_lock", &cols, &["migration_name".to_string()]);
        assert!(
            sql.ends_with("ORDER BY \"migration_name\" COLLATE \"C\""),
            "{sql}"
        );
        let (sql, hashed) = table_query("t", &[col("a", false)], &[]);
        assert_eq!(hashed, ["a"]);
        assert!(sql.ends_with("ORDER BY 1 COLLATE \"C\""), "{sql}");
    }
}
