//! Live writers: the trading system keeps writing while the migration runs.
//!
//! [`Writers::start`] opens one connection per writer and writes the live hours of a
//! [`LiveWorld`] hour by hour: an hour's retrain units, then its order and cash units (each
//! account's units on one writer, in time order; the accounts are spread over the writers and
//! run concurrently), then the hour's close. Every unit is one transaction through the
//! canonical table names with the Phase 1A columns only, the shape every phase accepts (the
//! migration's triggers fill in what later phases add). A unit whose transaction fails on a
//! lock timeout, a deadlock or a serialization failure is retried; every outcome is logged
//! ([`Ack`], [`WriteFailure`]). [`Writers::stop`] lets the writers finish the hour they are in
//! (so the database is left at an hour boundary) and returns the log; the writers also stop
//! when the live hours run out.
//!
//! [`verify::verify_acknowledged`] then proves that every acknowledged write is in the final
//! tables, and nothing else; [`stats`] turns the log into per-step figures.

pub mod stats;
pub mod verify;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use generators::{LiveWorld, UnitKind, Update, WriteUnit};
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection};
use tokio::sync::Mutex;
use tracing::{debug, warn};

/// SQLSTATEs after which a unit is retried: serialization_failure, deadlock_detected,
/// lock_not_available.
const RETRYABLE: [&str; 3] = ["40001", "40P01", "55P03"];

/// Attempts per unit before its failure is final.
const MAX_ATTEMPTS: u32 = 5;

/// How the writers write.
#[derive(Debug, Clone, PartialEq)]
pub struct WriterOptions {
    /// Concurrent writers (connections), at least 1.
    pub writers: usize,
    /// Units per second over all writers; `None` writes as fast as the database takes them.
    pub rate: Option<f64>,
}

impl Default for WriterOptions {
    fn default() -> Self {
        Self {
            writers: 2,
            rate: Some(50.0),
        }
    }
}

/// Bad writer options or a writer that could not start.
#[derive(Debug, thiserror::Error)]
pub enum WriterError {
    /// `writers` was 0.
    #[error("--writers must be >= 1")]
    NoWriters,
    /// The rate was not a positive number.
    #[error("--write-rate must be a positive number of writes per second, got {0}")]
    BadRate(f64),
    /// A writer's connection failed.
    #[error("writer {writer}: connecting: {source}")]
    Connect {
        /// Which writer.
        writer: usize,
        /// The driver's error.
        source: sqlx::Error,
    },
    /// The writers' task panicked or was cancelled.
    #[error("the writers' task ended abnormally: {0}")]
    Join(String),
}

/// Where a unit sits in the live world: hour index, unit index (`units.len()` = the close).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct UnitRef {
    /// Index of the live hour.
    pub hour: usize,
    /// Index of the unit in that hour (`units.len()` is the hour's close).
    pub unit: usize,
}

/// One acknowledged (committed) unit.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Ack {
    /// Which unit.
    pub unit: UnitRef,
    /// What it was.
    pub kind: UnitKind,
    /// The writer that wrote it.
    pub writer: usize,
    /// When its transaction began (wall clock).
    pub started_at_utc: DateTime<Utc>,
    /// From BEGIN to the COMMIT's acknowledgement, retries included: how long the system
    /// waited for this write.
    pub latency: Duration,
    /// Attempts it took (1 = first try).
    pub attempts: u32,
    /// Rows it inserted or updated.
    pub rows: u64,
}

/// A unit attempt that failed (retried or final).
#[derive(Debug, Clone, serde::Serialize)]
pub struct WriteFailure {
    /// Which unit.
    pub unit: UnitRef,
    /// The writer.
    pub writer: usize,
    /// When the attempt began.
    pub at_utc: DateTime<Utc>,
    /// SQLSTATE, when the database gave one.
    pub sqlstate: Option<String>,
    /// The error.
    pub message: String,
    /// Whether the unit was tried again afterwards.
    pub retried: bool,
}

/// Everything the writers did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct WriterLog {
    /// Acknowledged units, in commit order.
    pub acks: Vec<Ack>,
    /// Failed attempts, in order.
    pub failures: Vec<WriteFailure>,
    /// Live hours written completely (units and close).
    pub hours_written: usize,
    /// TRUE when the writers stopped because the live hours ran out (not because they were
    /// asked to).
    pub exhausted: bool,
    /// When the writers started and stopped.
    pub started_at_utc: Option<DateTime<Utc>>,
    /// When the writers stopped.
    pub ended_at_utc: Option<DateTime<Utc>>,
}

impl WriterLog {
    /// Whether unit `r` was acknowledged.
    pub fn acknowledged(&self) -> std::collections::HashSet<UnitRef> {
        self.acks.iter().map(|a| a.unit).collect()
    }
}

/// Running writers. Dropped without [`Writers::stop`] or [`Writers::finish`] (a run that
/// failed early), they stop writing at once.
pub struct Writers {
    stop: Arc<AtomicBool>,
    hours: tokio::sync::watch::Receiver<usize>,
    task: Option<tokio::task::JoinHandle<WriterLog>>,
}

impl Drop for Writers {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            self.stop.store(true, Ordering::SeqCst);
            task.abort();
        }
    }
}

impl Writers {
    /// Connect `opts.writers` connections to `db` and start writing `live`.
    pub async fn start(
        db: PgConnectOptions,
        live: Arc<LiveWorld>,
        opts: &WriterOptions,
    ) -> Result<Self, WriterError> {
        if opts.writers == 0 {
            return Err(WriterError::NoWriters);
        }
        if let Some(r) = opts.rate {
            if !(r.is_finite() && r > 0.0) {
                return Err(WriterError::BadRate(r));
            }
        }
        let mut conns = Vec::with_capacity(opts.writers);
        for writer in 0..opts.writers {
            let mut c = PgConnection::connect_with(&db)
                .await
                .map_err(|source| WriterError::Connect { writer, source })?;
            // A writer is an ordinary application session: it waits for locks as long as it
            // must (the migration is the one that yields), but never forever.
            sqlx::raw_sql("SET statement_timeout = '60s'; SET application_name = 'harness-writer'")
                .execute(&mut c)
                .await
                .map_err(|source| WriterError::Connect { writer, source })?;
            conns.push(c);
        }
        let stop = Arc::new(AtomicBool::new(false));
        let (hours_tx, hours) = tokio::sync::watch::channel(0usize);
        let pace = Arc::new(Pace::new(opts.rate));
        let task = tokio::spawn(write_hours(conns, live, pace, stop.clone(), hours_tx));
        Ok(Self {
            stop,
            hours,
            task: Some(task),
        })
    }

    /// Wait until the first live hour is completely written (or the writers ended): the
    /// baseline of write latencies before anything else runs.
    pub async fn first_hour_written(&self) {
        let mut hours = self.hours.clone();
        // An error means the writers ended (the sender is gone): nothing more to wait for.
        let _ = hours.wait_for(|h| *h >= 1).await;
    }

    /// Wait until the writers wrote every live hour (nobody asks them to stop).
    pub async fn finish(mut self) -> Result<WriterLog, WriterError> {
        self.join().await
    }

    async fn join(&mut self) -> Result<WriterLog, WriterError> {
        match self.task.take() {
            Some(task) => task.await.map_err(|e| WriterError::Join(e.to_string())),
            None => Err(WriterError::Join("the writers were already joined".into())),
        }
    }

    /// Ask the writers to stop at the end of the hour they are writing, and wait for them.
    pub async fn stop(mut self) -> Result<WriterLog, WriterError> {
        self.stop.store(true, Ordering::SeqCst);
        self.join().await
    }
}

/// Spaces units out to the requested rate (shared by all writers).
struct Pace {
    interval: Option<Duration>,
    next: Mutex<Instant>,
}

impl Pace {
    fn new(rate: Option<f64>) -> Self {
        Self {
            interval: rate.map(|r| Duration::from_secs_f64(1.0 / r)),
            next: Mutex::new(Instant::now()),
        }
    }

    async fn wait(&self) {
        let Some(interval) = self.interval else {
            return;
        };
        let slot = {
            let mut next = self.next.lock().await;
            let now = Instant::now();
            let slot = (*next).max(now);
            *next = slot + interval;
            slot
        };
        tokio::time::sleep_until(tokio::time::Instant::from_std(slot)).await;
    }
}

async fn write_hours(
    mut conns: Vec<PgConnection>,
    live: Arc<LiveWorld>,
    pace: Arc<Pace>,
    stop: Arc<AtomicBool>,
    hours_written: tokio::sync::watch::Sender<usize>,
) -> WriterLog {
    let n = conns.len();
    let mut log = WriterLog {
        started_at_utc: Some(Utc::now()),
        ..WriterLog::default()
    };
    let accounts: Vec<i64> = live.seeded.account.iter().map(|a| a.account_id).collect();
    let writer_of = |account: Option<i64>| -> usize {
        account
            .and_then(|a| accounts.iter().position(|x| *x == a))
            .map_or(0, |i| i % n)
    };
    for (h, hour) in live.hours.iter().enumerate() {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        // Retrain units first (writer 0), then every account's units on its writer.
        let mut lanes: BTreeMap<usize, Vec<(UnitRef, &WriteUnit)>> = BTreeMap::new();
        let mut first: Vec<(UnitRef, &WriteUnit)> = Vec::new();
        for (u, unit) in hour.units.iter().enumerate() {
            let r = UnitRef { hour: h, unit: u };
            if unit.kind == UnitKind::Retrain {
                first.push((r, unit));
            } else {
                lanes
                    .entry(writer_of(unit.account_id))
                    .or_default()
                    .push((r, unit));
            }
        }
        if let Some(c) = conns.first_mut() {
            for (r, unit) in first {
                write_logged(c, 0, r, unit, &pace, &mut log).await;
            }
        }
        let mut results = Vec::new();
        {
            let futures = conns.iter_mut().enumerate().map(|(w, c)| {
                let lane = lanes.remove(&w).unwrap_or_default();
                let pace = pace.clone();
                async move {
                    let mut part = WriterLog::default();
                    for (r, unit) in lane {
                        write_logged(c, w, r, unit, &pace, &mut part).await;
                    }
                    part
                }
            });
            results.extend(futures::future::join_all(futures).await);
        }
        for part in results {
            log.acks.extend(part.acks);
            log.failures.extend(part.failures);
        }
        let close = UnitRef {
            hour: h,
            unit: hour.units.len(),
        };
        if let Some(c) = conns.first_mut() {
            write_logged(c, 0, close, &hour.close, &pace, &mut log).await;
        }
        log.hours_written = h + 1;
        let _ = hours_written.send(h + 1);
    }
    log.exhausted = log.hours_written == live.hours.len() && !stop.load(Ordering::SeqCst);
    log.acks.sort_by_key(|a| a.started_at_utc);
    log.ended_at_utc = Some(Utc::now());
    for c in conns {
        let _ = c.close().await;
    }
    log
}

/// Write one unit with retries, logging every attempt's outcome.
async fn write_logged(
    conn: &mut PgConnection,
    writer: usize,
    r: UnitRef,
    unit: &WriteUnit,
    pace: &Pace,
    log: &mut WriterLog,
) {
    pace.wait().await;
    let started_at_utc = Utc::now();
    let clock = Instant::now();
    for attempt in 1..=MAX_ATTEMPTS {
        let at_utc = Utc::now();
        match write_unit(conn, unit).await {
            Ok(()) => {
                log.acks.push(Ack {
                    unit: r,
                    kind: unit.kind,
                    writer,
                    started_at_utc,
                    latency: clock.elapsed(),
                    attempts: attempt,
                    rows: unit.row_count(),
                });
                return;
            }
            Err(e) => {
                let sqlstate = e
                    .as_database_error()
                    .and_then(|d| d.code())
                    .map(|c| c.to_string());
                let retry = attempt < MAX_ATTEMPTS
                    && sqlstate.as_deref().is_some_and(|c| RETRYABLE.contains(&c));
                warn!(writer, hour = r.hour, unit = r.unit, kind = unit.kind.as_str(), error = %e, retry, "write failed");
                log.failures.push(WriteFailure {
                    unit: r,
                    writer,
                    at_utc,
                    sqlstate,
                    message: e.to_string(),
                    retried: retry,
                });
                if !retry {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(5 << attempt)).await;
            }
        }
    }
}

/// One unit as one transaction: COPY each table's rows in dependency order, then the updates.
async fn write_unit(conn: &mut PgConnection, unit: &WriteUnit) -> Result<(), sqlx::Error> {
    let mut tx = conn.begin().await?;
    for table in unit.rows.tables() {
        if table.row_count() == 0 {
            continue;
        }
        generators::seed::copy_table(&mut tx, table)
            .await
            .map_err(generators::SeedError::into_sqlx)?;
    }
    let (mut orders, mut lots) = (Progress::default(), Progress::default());
    for u in &unit.updates {
        match u {
            Update::OrderFilled {
                order_id,
                filled_quantity,
            } => orders.push(*order_id, *filled_quantity),
            Update::LotRemaining {
                lot_id,
                remaining_qty,
            } => lots.push(*lot_id, *remaining_qty),
        }
    }
    orders
        .apply(
            &mut tx,
            "UPDATE order_request o SET filled_quantity = v.q
               FROM unnest($1::bigint[], $2::numeric[]) AS v(id, q) WHERE o.order_id = v.id",
        )
        .await?;
    lots.apply(
        &mut tx,
        "UPDATE position_lot l SET remaining_qty = v.q
           FROM unnest($1::bigint[], $2::numeric[]) AS v(id, q) WHERE l.lot_id = v.id",
    )
    .await?;
    tx.commit().await?;
    debug!(
        kind = unit.kind.as_str(),
        rows = unit.row_count(),
        "unit written"
    );
    Ok(())
}

/// Progress updates of one table: (key, new value) pairs, written with one statement.
#[derive(Default)]
struct Progress {
    ids: Vec<i64>,
    values: Vec<rust_decimal::Decimal>,
}

impl Progress {
    fn push(&mut self, id: i64, value: rust_decimal::Decimal) {
        self.ids.push(id);
        self.values.push(value);
    }

    async fn apply(&self, conn: &mut PgConnection, sql: &'static str) -> Result<(), sqlx::Error> {
        if self.ids.is_empty() {
            return Ok(());
        }
        sqlx::query(sql)
            .bind(&self.ids)
            .bind(&self.values)
            .execute(conn)
            .await
            .map(|_| ())
    }
}
