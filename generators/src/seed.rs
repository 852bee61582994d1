//! Seeding a world into a database that has the Phase 1A schema: one `COPY ... FROM STDIN`
//! (text format) per table, in dependency order, all in one transaction, so a failure leaves
//! the database as it was.

use crate::copy::CopyTable;
use crate::model::World;
use sqlx::{Connection, PgConnection};
use std::time::{Duration, Instant};

/// COPY data is sent in chunks of about this many bytes (bounded memory, few round trips).
const CHUNK_BYTES: usize = 1 << 20;

/// Rows written into one table and how long its COPY took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableStats {
    /// The table.
    pub table: &'static str,
    /// Rows the server copied.
    pub rows: u64,
    /// Wall time of its COPY.
    pub elapsed: Duration,
}

/// Rows written per table and in total, and how long it took.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SeedStats {
    /// Per table, in the order written.
    pub tables: Vec<TableStats>,
    /// Sum of all rows.
    pub total_rows: u64,
    /// Wall time from BEGIN to COMMIT.
    pub elapsed: Duration,
}

impl SeedStats {
    /// Rows per second over the whole transaction.
    pub fn rows_per_second(&self) -> f64 {
        rows_per_second(self.total_rows, self.elapsed)
    }
}

/// `rows` over `elapsed` (0 for no time).
pub(crate) fn rows_per_second(rows: u64, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    if secs > 0.0 {
        rows as f64 / secs
    } else {
        0.0
    }
}

/// Why seeding failed (the transaction is rolled back).
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    /// BEGIN failed.
    #[error("seeding: BEGIN failed: {source}")]
    Begin {
        /// The database error.
        source: sqlx::Error,
    },
    /// COPY into `table` failed.
    #[error("seeding table {table}: COPY failed: {source}")]
    Copy {
        /// The table being written.
        table: &'static str,
        /// The database error.
        source: sqlx::Error,
    },
    /// The server acknowledged a different number of rows than were sent.
    #[error("seeding table {table}: sent {sent} rows, server copied {copied}")]
    RowCount {
        /// The table being written.
        table: &'static str,
        /// Rows sent.
        sent: u64,
        /// Rows the server reported.
        copied: u64,
    },
    /// Preparing the fast path (superuser `session_replication_role`) failed.
    #[error("seeding: cannot skip per-row foreign-key triggers (needs a superuser): {source}")]
    ReplicationRole {
        /// The database error.
        source: sqlx::Error,
    },
    /// The fast path was asked for, but `table` has a user trigger it would silently skip.
    #[error("seeding table {table}: trigger {trigger} exists; refusing to seed with triggers off")]
    UserTrigger {
        /// The table carrying the trigger.
        table: String,
        /// The trigger's name.
        trigger: String,
    },
    /// The set-based foreign-key verification of the fast path failed or found orphans.
    #[error("seeding table {table}: foreign key {constraint}: {detail}")]
    ForeignKey {
        /// The referencing table.
        table: String,
        /// The constraint name.
        constraint: String,
        /// Orphan count or the database error.
        detail: String,
    },
    /// The streaming generator of [`crate::stream::seed_streamed`] failed.
    #[error("seeding the streamed world of seed {seed}: generation failed: {source}")]
    Generate {
        /// The world's seed.
        seed: u64,
        /// The simulator's error.
        source: crate::sim::SimError,
    },
    /// The streaming generator's thread panicked (a generators bug).
    #[error("seeding the streamed world of seed {seed}: the generator thread panicked: {detail}")]
    GeneratorPanicked {
        /// The world's seed.
        seed: u64,
        /// The panic, as the runtime reports it.
        detail: String,
    },
    /// COMMIT failed.
    #[error("seeding: COMMIT failed: {source}")]
    Commit {
        /// The database error.
        source: sqlx::Error,
    },
}

impl SeedError {
    /// The database's own error where there is one (a COPY the server refused), else the
    /// message as a protocol error: for callers whose writes are sqlx transactions.
    pub fn into_sqlx(self) -> sqlx::Error {
        match self {
            SeedError::Copy { source, .. } => source,
            other => sqlx::Error::Protocol(other.to_string()),
        }
    }
}

/// How to seed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SeedOptions {
    /// Skip the server's per-row foreign-key triggers during COPY
    /// (`SET LOCAL session_replication_role = replica`, superuser only) and verify every
    /// foreign key of the seeded tables afterwards with one anti-join each, inside the same
    /// transaction. About 4x faster on large worlds; refused when any seeded table has a
    /// user trigger (it would be skipped too), so it is only for seeding a fresh Phase 1A
    /// schema.
    pub verify_foreign_keys_in_bulk: bool,
}

/// Writes every row of `world` through COPY, table by table in dependency order, in one
/// transaction, with the server checking every foreign key row by row. The schema (Phase 1A
/// baseline) must already exist and hold no conflicting keys.
pub async fn seed_world(conn: &mut PgConnection, world: &World) -> Result<SeedStats, SeedError> {
    seed_world_with(conn, world, &SeedOptions::default()).await
}

/// [`seed_world`] with options (see [`SeedOptions`]).
pub async fn seed_world_with(
    conn: &mut PgConnection,
    world: &World,
    options: &SeedOptions,
) -> Result<SeedStats, SeedError> {
    let started = Instant::now();
    let mut tx = conn
        .begin()
        .await
        .map_err(|source| SeedError::Begin { source })?;
    let tables: Vec<&'static str> = world.tables().iter().map(|t| t.table()).collect();
    if options.verify_foreign_keys_in_bulk {
        refuse_user_triggers(&mut tx, &tables).await?;
        sqlx::raw_sql("SET LOCAL session_replication_role = replica")
            .execute(&mut *tx)
            .await
            .map_err(|source| SeedError::ReplicationRole { source })?;
    }
    let mut stats = SeedStats::default();
    for table in world.tables() {
        let t = Instant::now();
        let copied = copy_table(&mut tx, table).await?;
        let elapsed = t.elapsed();
        tracing::debug!(
            table = table.table(),
            rows = copied,
            ?elapsed,
            "seeded table"
        );
        stats.tables.push(TableStats {
            table: table.table(),
            rows: copied,
            elapsed,
        });
        stats.total_rows += copied;
    }
    if options.verify_foreign_keys_in_bulk {
        sqlx::raw_sql("SET LOCAL session_replication_role = origin")
            .execute(&mut *tx)
            .await
            .map_err(|source| SeedError::ReplicationRole { source })?;
        verify_foreign_keys(&mut tx, &tables).await?;
    }
    tx.commit()
        .await
        .map_err(|source| SeedError::Commit { source })?;
    stats.elapsed = started.elapsed();
    tracing::info!(
        rows = stats.total_rows,
        ms = stats.elapsed.as_millis() as u64,
        "seeded world"
    );
    Ok(stats)
}

/// Fails if a seeded table has a trigger that `session_replication_role = replica` would
/// skip. TimescaleDB's own `ts_insert_blocker` is exempt: COPY into a hypertable is routed
/// to its chunks by TimescaleDB's utility hook, not by that trigger.
pub(crate) async fn refuse_user_triggers(
    conn: &mut PgConnection,
    tables: &[&'static str],
) -> Result<(), SeedError> {
    let names: Vec<String> = tables.iter().map(|t| t.to_string()).collect();
    let found: Option<(String, String)> = sqlx::query_as(
        "SELECT c.relname::text, t.tgname::text FROM pg_trigger t \
         JOIN pg_class c ON c.oid = t.tgrelid \
         WHERE c.relname = ANY($1) AND c.relnamespace = current_schema()::regnamespace \
           AND NOT t.tgisinternal AND t.tgname <> 'ts_insert_blocker' \
         ORDER BY 1, 2 LIMIT 1",
    )
    .bind(&names)
    .fetch_optional(&mut *conn)
    .await
    .map_err(|source| SeedError::ReplicationRole { source })?;
    match found {
        Some((table, trigger)) => Err(SeedError::UserTrigger { table, trigger }),
        None => Ok(()),
    }
}

/// (table, constraint, referenced table, columns, referenced columns), identifiers quoted.
type ForeignKeyRow = (String, String, String, Vec<String>, Vec<String>);

/// One anti-join per foreign key of the seeded tables, built from the catalog.
pub(crate) async fn verify_foreign_keys(
    conn: &mut PgConnection,
    tables: &[&'static str],
) -> Result<(), SeedError> {
    let names: Vec<String> = tables.iter().map(|t| t.to_string()).collect();
    let fks: Vec<ForeignKeyRow> = sqlx::query_as(
        "SELECT c.conrelid::regclass::text, c.conname::text, c.confrelid::regclass::text, \
                array(SELECT quote_ident(a.attname) FROM unnest(c.conkey) WITH ORDINALITY k(n, i) \
                      JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n ORDER BY k.i), \
                array(SELECT quote_ident(a.attname) FROM unnest(c.confkey) WITH ORDINALITY k(n, i) \
                      JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n ORDER BY k.i) \
         FROM pg_constraint c JOIN pg_class r ON r.oid = c.conrelid \
         WHERE c.contype = 'f' AND r.relname = ANY($1) \
           AND r.relnamespace = current_schema()::regnamespace \
         ORDER BY 1, 2",
    )
    .bind(&names)
    .fetch_all(&mut *conn)
    .await
    .map_err(|source| SeedError::ForeignKey {
        table: "*".into(),
        constraint: "*".into(),
        detail: source.to_string(),
    })?;
    if fks.is_empty() {
        return Ok(());
    }
    // One statement for every key: one round trip and one plan instead of one per key, which
    // is most of the verification's cost on a small world.
    let probes: Vec<String> = fks
        .iter()
        .enumerate()
        .map(|(i, (table, _, parent, cols, pcols))| {
            let not_null = cols
                .iter()
                .map(|c| format!("ch.{c} IS NOT NULL"))
                .collect::<Vec<_>>()
                .join(" AND ");
            let matches = cols
                .iter()
                .zip(pcols)
                .map(|(c, p)| format!("pa.{p} = ch.{c}"))
                .collect::<Vec<_>>()
                .join(" AND ");
            format!(
                "SELECT {i}::int AS i, count(*) AS orphans FROM {table} ch WHERE {not_null} \
                 AND NOT EXISTS (SELECT 1 FROM {parent} pa WHERE {matches})"
            )
        })
        .collect();
    let sql = format!(
        "SELECT i, orphans FROM ({}) p WHERE orphans <> 0 ORDER BY i LIMIT 1",
        probes.join(" UNION ALL ")
    );
    let found: Option<(i32, i64)> = sqlx::query_as(&sql)
        .persistent(false)
        .fetch_optional(&mut *conn)
        .await
        .map_err(|e| SeedError::ForeignKey {
            table: "*".into(),
            constraint: "*".into(),
            detail: e.to_string(),
        })?;
    match found {
        None => Ok(()),
        Some((i, orphans)) => {
            let (table, constraint, parent, _, _) = usize::try_from(i)
                .ok()
                .and_then(|i| fks.get(i))
                .cloned()
                .unwrap_or_else(|| ("*".into(), "*".into(), "*".into(), vec![], vec![]));
            Err(SeedError::ForeignKey {
                table,
                constraint,
                detail: format!("{orphans} rows reference no {parent} row"),
            })
        }
    }
}

/// COPY every row of one table (a no-op for an empty one); the rows the server copied.
pub async fn copy_table(
    conn: &mut PgConnection,
    table: &(dyn CopyTable + Sync),
) -> Result<u64, SeedError> {
    copy_table_into(conn, table, &table.copy_statement()).await
}

/// [`copy_table`] through another COPY statement (same columns, another target such as a
/// temporary table of the same shape).
pub async fn copy_table_into(
    conn: &mut PgConnection,
    table: &(dyn CopyTable + Sync),
    statement: &str,
) -> Result<u64, SeedError> {
    let name = table.table();
    let sent = table.row_count() as u64;
    if sent == 0 {
        return Ok(0);
    }
    let copy_err = |source| SeedError::Copy {
        table: name,
        source,
    };
    let mut copy = conn.copy_in_raw(statement).await.map_err(copy_err)?;
    let mut buf = String::with_capacity(CHUNK_BYTES + 4096);
    let mut row = 0;
    let total = table.row_count();
    while row < total {
        // Rows are at most a few hundred bytes: render in small batches until the chunk is full.
        let end = (row + 256).min(total);
        table.write_rows(row..end, &mut buf);
        row = end;
        if buf.len() >= CHUNK_BYTES || row == total {
            if let Err(source) = copy.send(buf.as_bytes()).await {
                // Best effort: the transaction is rolled back anyway when it is dropped.
                let _ = copy.abort("seeding aborted").await;
                return Err(copy_err(source));
            }
            buf.clear();
        }
    }
    let copied = copy.finish().await.map_err(copy_err)?;
    if copied != sent {
        return Err(SeedError::RowCount {
            table: name,
            sent,
            copied,
        });
    }
    Ok(copied)
}
