//! Large worlds streamed to COPY: a generated world (10^6 fills, 10^4 hours and more) is never
//! held whole. The simulator runs hour by hour; after each hour the rows no later action can
//! change are moved out ([`Simulator::take_final_rows`]), rendered as COPY text into one buffer
//! per table, and each full buffer goes out as a chunk. [`seed_streamed`] runs the generator on
//! a blocking thread and the chunks' COPY statements on the connection at the same time, so
//! generation and the server's ingestion overlap.
//!
//! The rows are those of [`crate::generate_world`] with the same seed and params, table by
//! table in the same order (a test compares them byte for byte); only what is held at once
//! differs: the per-table buffers, the channel, the simulator's books, and the position lots
//! from the oldest still-open one on ([`StreamReport::peak_rows_held`]).

use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use sqlx::{Connection, PgConnection};

use crate::generate::{drive, random_shape, WorldParams};
use crate::model::World;
use crate::seed::{refuse_user_triggers, verify_foreign_keys, SeedError, TableStats};
use crate::sim::SimError;

/// Per-table buffer size at which a chunk is handed out, by default.
pub const DEFAULT_CHUNK_BYTES: usize = 1 << 20;

/// COPY text of some rows of one table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// Index of the table in [`World::tables`] order.
    pub table_index: usize,
    /// The table.
    pub table: &'static str,
    /// Rows in `text`.
    pub rows: u64,
    /// COPY text lines, one per row.
    pub text: String,
}

/// What a streamed generation produced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamReport {
    /// Rows per table, in [`World::tables`] order.
    pub rows: Vec<(&'static str, u64)>,
    /// Sum of all rows.
    pub total_rows: u64,
    /// Fills the simulator wrote.
    pub fills: u64,
    /// Chunks handed out.
    pub chunks: u64,
    /// Most rows the simulator held at once (at the end of an hour, before it was drained).
    pub peak_rows_held: u64,
    /// Wall time of the generation thread (simulation and rendering, sink time included).
    pub elapsed: Duration,
    /// TRUE when the sink asked to stop before the world was complete.
    pub stopped: bool,
}

/// The names of the twenty tables, in [`World::tables`] order.
pub fn table_names() -> Vec<&'static str> {
    World::default()
        .tables()
        .iter()
        .map(|t| t.table())
        .collect()
}

/// The `COPY ... FROM STDIN` statements of the twenty tables, in [`World::tables`] order.
pub fn copy_statements() -> Vec<String> {
    World::default()
        .tables()
        .iter()
        .map(|t| t.copy_statement())
        .collect()
}

struct Buffers<'a> {
    text: Vec<String>,
    rows: Vec<u64>,
    totals: Vec<u64>,
    names: Vec<&'static str>,
    chunk_bytes: usize,
    chunks: u64,
    stopped: bool,
    sink: &'a mut dyn FnMut(Chunk) -> ControlFlow<()>,
}

impl Buffers<'_> {
    fn add(&mut self, world: &World) {
        if self.stopped {
            return;
        }
        for (i, t) in world.tables().iter().enumerate() {
            let n = t.row_count();
            if n == 0 {
                continue;
            }
            t.write_rows(0..n, &mut self.text[i]);
            self.rows[i] += n as u64;
            self.totals[i] += n as u64;
            if self.text[i].len() >= self.chunk_bytes {
                self.flush(i);
            }
        }
    }

    fn flush(&mut self, i: usize) {
        if self.stopped || self.rows[i] == 0 {
            return;
        }
        let text = std::mem::replace(
            &mut self.text[i],
            String::with_capacity(self.chunk_bytes + (64 << 10)),
        );
        let chunk = Chunk {
            table_index: i,
            table: self.names[i],
            rows: std::mem::take(&mut self.rows[i]),
            text,
        };
        self.chunks += 1;
        if (self.sink)(chunk).is_break() {
            self.stopped = true;
        }
    }
}

/// Generates the world of `seed` and `params` and hands its COPY text to `sink` in chunks of
/// about `chunk_bytes` per table (the last chunk of each table at the end); `sink` returning
/// `Break` stops the generation ([`StreamReport::stopped`]).
pub fn stream_world(
    seed: u64,
    params: &WorldParams,
    chunk_bytes: usize,
    sink: &mut dyn FnMut(Chunk) -> ControlFlow<()>,
) -> Result<StreamReport, SimError> {
    let started = Instant::now();
    let names = table_names();
    let chunk_bytes = chunk_bytes.max(1);
    let mut buffers = Buffers {
        text: vec![String::new(); names.len()],
        rows: vec![0; names.len()],
        totals: vec![0; names.len()],
        names: names.clone(),
        chunk_bytes,
        chunks: 0,
        stopped: false,
        sink,
    };
    let shape = random_shape(seed, params);
    let mut peak_rows_held = 0;
    let (_, _, sim) = drive(seed, &shape, params, false, &mut |sim| {
        // The peak is at the end of an hour, before its rows are moved out.
        peak_rows_held = peak_rows_held.max(sim.rows_held());
        let done = sim.take_final_rows();
        buffers.add(&done);
        if buffers.stopped {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })?;
    let mut fills = sim.report().fills;
    if !buffers.stopped {
        let simulation = sim.finish();
        fills = simulation.report.fills;
        peak_rows_held = peak_rows_held.max(simulation.world.total_rows());
        buffers.add(&simulation.world);
        for i in 0..names.len() {
            buffers.flush(i);
        }
    }
    let rows: Vec<(&'static str, u64)> =
        names.iter().copied().zip(buffers.totals.clone()).collect();
    Ok(StreamReport {
        total_rows: rows.iter().map(|(_, n)| n).sum(),
        rows,
        fills,
        chunks: buffers.chunks,
        peak_rows_held,
        elapsed: started.elapsed(),
        stopped: buffers.stopped,
    })
}

/// How [`seed_streamed`] seeds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamOptions {
    /// Per-table buffer size at which a chunk is sent.
    pub chunk_bytes: usize,
    /// Chunks generated ahead of the COPY (the channel's capacity).
    pub queue: usize,
}

impl Default for StreamOptions {
    fn default() -> Self {
        Self {
            chunk_bytes: DEFAULT_CHUNK_BYTES,
            queue: 8,
        }
    }
}

/// What [`seed_streamed`] did and how long each part took.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamSeedStats {
    /// The generation's report.
    pub generated: StreamReport,
    /// Rows the server copied per table (in [`World::tables`] order) and the time spent in
    /// that table's COPY statements.
    pub tables: Vec<TableStats>,
    /// Sum of all rows the server copied.
    pub total_rows: u64,
    /// Time spent in COPY statements (the rest of the COPY phase is waiting for chunks).
    pub copy_elapsed: Duration,
    /// The bulk foreign-key verification after the last COPY.
    pub verify_elapsed: Duration,
    /// Time the generator thread spent waiting for room in the queue (the COPY side was
    /// behind); the rest of its time it was generating.
    pub generator_blocked: Duration,
    /// Wall time from BEGIN to COMMIT.
    pub elapsed: Duration,
}

impl StreamSeedStats {
    /// Rows per second over the whole transaction.
    pub fn rows_per_second(&self) -> f64 {
        crate::seed::rows_per_second(self.total_rows, self.elapsed)
    }
}

/// Seeds the world of `seed` and `params` into a fresh Phase 1A schema without holding it:
/// generated on a blocking thread, streamed as COPY chunks in one transaction. Tables
/// interleave (a fill chunk may precede its order's), so the per-row foreign-key triggers are
/// skipped (`session_replication_role = replica`, superuser only; refused when a seeded table
/// has a user trigger) and every foreign key is verified in bulk before COMMIT, as
/// [`crate::SeedOptions::verify_foreign_keys_in_bulk`] does. A failure rolls everything back
/// and stops the generator.
pub async fn seed_streamed(
    conn: &mut PgConnection,
    seed: u64,
    params: &WorldParams,
    options: &StreamOptions,
) -> Result<StreamSeedStats, SeedError> {
    let started = Instant::now();
    let names = table_names();
    let statements = copy_statements();
    let mut tx = conn
        .begin()
        .await
        .map_err(|source| SeedError::Begin { source })?;
    refuse_user_triggers(&mut tx, &names).await?;
    sqlx::raw_sql("SET LOCAL session_replication_role = replica")
        .execute(&mut *tx)
        .await
        .map_err(|source| SeedError::ReplicationRole { source })?;

    let (sender, mut receiver) = tokio::sync::mpsc::channel::<Chunk>(options.queue.max(1));
    let params_owned = params.clone();
    let chunk_bytes = options.chunk_bytes;
    let generator = tokio::task::spawn_blocking(move || {
        let mut blocked = Duration::ZERO;
        let report = stream_world(seed, &params_owned, chunk_bytes, &mut |chunk| {
            let t = Instant::now();
            let sent = sender.blocking_send(chunk);
            blocked += t.elapsed();
            match sent {
                Ok(()) => ControlFlow::Continue(()),
                // The COPY side failed and dropped its receiver: stop generating.
                Err(_) => ControlFlow::Break(()),
            }
        });
        report.map(|r| (r, blocked))
    });

    let mut tables: Vec<TableStats> = names
        .iter()
        .map(|&table| TableStats {
            table,
            rows: 0,
            elapsed: Duration::ZERO,
        })
        .collect();
    let mut copy_elapsed = Duration::ZERO;
    let mut failure: Option<SeedError> = None;
    while let Some(chunk) = receiver.recv().await {
        let t = Instant::now();
        let result = copy_chunk(&mut tx, &statements[chunk.table_index], &chunk).await;
        let spent = t.elapsed();
        copy_elapsed += spent;
        match result {
            Ok(copied) => {
                let stats = &mut tables[chunk.table_index];
                stats.rows += copied;
                stats.elapsed += spent;
            }
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    // Dropping the receiver makes a generator still running stop at its next chunk.
    drop(receiver);
    let (generated, generator_blocked) = match generator.await {
        Ok(Ok(done)) => done,
        Ok(Err(source)) => {
            return Err(failure.unwrap_or(SeedError::Generate { seed, source }));
        }
        Err(join) => {
            return Err(failure.unwrap_or(SeedError::GeneratorPanicked {
                seed,
                detail: join.to_string(),
            }));
        }
    };
    if let Some(e) = failure {
        return Err(e);
    }
    for ((table, sent), stats) in generated.rows.iter().zip(&tables) {
        if *sent != stats.rows {
            return Err(SeedError::RowCount {
                table,
                sent: *sent,
                copied: stats.rows,
            });
        }
    }
    sqlx::raw_sql("SET LOCAL session_replication_role = origin")
        .execute(&mut *tx)
        .await
        .map_err(|source| SeedError::ReplicationRole { source })?;
    let t = Instant::now();
    verify_foreign_keys(&mut tx, &names).await?;
    let verify_elapsed = t.elapsed();
    tx.commit()
        .await
        .map_err(|source| SeedError::Commit { source })?;
    let total_rows = tables.iter().map(|t| t.rows).sum();
    let stats = StreamSeedStats {
        generated,
        tables,
        total_rows,
        copy_elapsed,
        verify_elapsed,
        generator_blocked,
        elapsed: started.elapsed(),
    };
    tracing::info!(
        seed,
        rows = stats.total_rows,
        ms = stats.elapsed.as_millis() as u64,
        peak_rows_held = stats.generated.peak_rows_held,
        "seeded streamed world"
    );
    Ok(stats)
}

async fn copy_chunk(
    conn: &mut PgConnection,
    statement: &str,
    chunk: &Chunk,
) -> Result<u64, SeedError> {
    let copy_err = |source| SeedError::Copy {
        table: chunk.table,
        source,
    };
    let mut copy = conn.copy_in_raw(statement).await.map_err(copy_err)?;
    if let Err(source) = copy.send(chunk.text.as_bytes()).await {
        // Best effort: the transaction is rolled back anyway when it is dropped.
        let _ = copy.abort("seeding aborted").await;
        return Err(copy_err(source));
    }
    let copied = copy.finish().await.map_err(copy_err)?;
    if copied != chunk.rows {
        return Err(SeedError::RowCount {
            table: chunk.table,
            sent: chunk.rows,
            copied,
        });
    }
    Ok(copied)
}

/// The process's peak resident set size in bytes (`VmHWM` of `/proc/self/status`), where the
/// system reports it (Linux).
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line
        .trim_start_matches("VmHWM:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate_world;

    fn params() -> WorldParams {
        WorldParams {
            accounts: 3,
            instruments: 4,
            hours: 120,
            target_fills: 1_500,
        }
    }

    #[test]
    fn streamed_rows_are_the_generated_world_table_by_table() {
        let world = generate_world(7, &params());
        let mut text = vec![String::new(); 20];
        let mut rows = [0u64; 20];
        // Small chunks: many flushes per table, so the order across chunks is exercised.
        let report = stream_world(7, &params(), 4 << 10, &mut |c| {
            assert_eq!(c.text.lines().count() as u64, c.rows, "{}", c.table);
            text[c.table_index].push_str(&c.text);
            rows[c.table_index] += c.rows;
            ControlFlow::Continue(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(!report.stopped);
        assert!(report.chunks > 20, "chunks {}", report.chunks);
        assert_eq!(report.total_rows, world.total_rows());
        assert_eq!(report.fills, world.order_fill.len() as u64);
        for (i, t) in world.tables().iter().enumerate() {
            let mut expected = String::new();
            t.write_rows(0..t.row_count(), &mut expected);
            assert_eq!(text[i], expected, "table {}", t.table());
            assert_eq!(rows[i], t.row_count() as u64, "table {}", t.table());
        }
        // The point of streaming: far fewer rows held at once than the world has.
        assert!(
            report.peak_rows_held * 4 < report.total_rows,
            "held {} of {}",
            report.peak_rows_held,
            report.total_rows
        );
    }

    #[test]
    fn a_sink_that_breaks_stops_the_generation() {
        let mut seen = 0;
        let report = stream_world(7, &params(), 1 << 10, &mut |_| {
            seen += 1;
            if seen == 3 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(report.stopped);
        assert_eq!(seen, 3);
        assert_eq!(report.chunks, 3);
    }

    #[test]
    fn peak_rss_is_reported_on_linux() {
        if cfg!(target_os = "linux") {
            assert!(peak_rss_bytes().unwrap_or(0) > 1 << 20);
        }
    }
}
