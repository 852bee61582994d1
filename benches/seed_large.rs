//! Seeding a large world: the streamed generator (`generators::seed_streamed`: simulation on a
//! blocking thread, COPY chunks on the connection, bulk FK verification, one transaction)
//! against `psql \copy` of the same rows from files, side by side in one run, alternating.
//!
//! ```text
//! cargo bench -p benches --bench seed_large                   # 10^5 fills, 2,000 hours
//! SEED_LARGE=1000000,10000 cargo bench -p benches --bench seed_large   # 10^6 fills, 10^4 hours
//! ```
//!
//! `SEED_LARGE=fills,hours[,accounts,instruments]` (default `100000,2000,10,20`),
//! `SEED_LARGE_RUNS` alternated runs of each (default 3), `SEED_LARGE_CHUNK_KB` the streamed
//! seeding's per-table chunk size (default 1024). The files are written once from the
//! same stream (not timed) under `target/bench-seed-large/`, and removed at the end. psql gets
//! the same transaction the generator's seeding has (`session_replication_role = replica`, one
//! COPY per table) but neither generates nor verifies foreign keys, so the comparison favours
//! psql. Reported: median rows/s of each, their ratio (target >= 0.8), and the process's peak
//! RSS after the streamed runs (the world is never held).

// criterion_group! defines a public function it cannot document.
#![allow(missing_docs)]

use std::io::Write;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use generators::stream::{peak_rss_bytes, stream_world, table_names, DEFAULT_CHUNK_BYTES};
use generators::{StreamOptions, WorldParams};
use harness::provision::Server;
use harness::template::TemplateSpec;
use harness::TestDb;

const SEED: u64 = 42;

fn params() -> WorldParams {
    let raw = std::env::var("SEED_LARGE").unwrap_or_else(|_| "100000,2000,10,20".to_string());
    let v: Vec<u64> = raw
        .split(',')
        .map(|s| {
            s.trim()
                .replace('_', "")
                .parse()
                .unwrap_or_else(|_| panic!("SEED_LARGE={raw}: {s} is not a number"))
        })
        .collect();
    let at = |i: usize, default: u64| v.get(i).copied().unwrap_or(default);
    WorldParams {
        target_fills: at(0, 100_000),
        hours: u32::try_from(at(1, 2_000))
            .unwrap_or_else(|_| panic!("SEED_LARGE: hours too large")),
        accounts: usize::try_from(at(2, 10)).unwrap_or(10),
        instruments: usize::try_from(at(3, 20)).unwrap_or(20),
    }
}

/// Write the world's COPY text to one file per table; (table, columns statement, path, rows).
fn write_files(dir: &Path, params: &WorldParams) -> (Vec<(String, PathBuf)>, u64) {
    std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let names = table_names();
    let statements = generators::stream::copy_statements();
    let mut files: Vec<std::io::BufWriter<std::fs::File>> = names
        .iter()
        .map(|t| {
            let p = dir.join(format!("{t}.copy"));
            std::io::BufWriter::new(
                std::fs::File::create(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())),
            )
        })
        .collect();
    let mut failed: Option<String> = None;
    let report = stream_world(SEED, params, DEFAULT_CHUNK_BYTES, &mut |chunk| match files
        [chunk.table_index]
        .write_all(chunk.text.as_bytes())
    {
        Ok(()) => ControlFlow::Continue(()),
        Err(e) => {
            failed = Some(format!("{}: {e}", chunk.table));
            ControlFlow::Break(())
        }
    })
    .unwrap_or_else(|e| panic!("generating seed {SEED}: {e}"));
    if let Some(e) = failed {
        panic!("writing the COPY files: {e}");
    }
    for f in &mut files {
        f.flush()
            .unwrap_or_else(|e| panic!("flushing a COPY file: {e}"));
    }
    let copies = names
        .iter()
        .zip(statements)
        .map(|(t, stmt)| {
            // `COPY t (cols) FROM STDIN` -> psql's `\copy t (cols) FROM 'file'`
            let target = stmt
                .trim_start_matches("COPY ")
                .trim_end_matches(" FROM STDIN")
                .to_string();
            (target, dir.join(format!("{t}.copy")))
        })
        .collect();
    (copies, report.total_rows)
}

fn psql_binary() -> PathBuf {
    if let Ok(p) = std::env::var("PSQL") {
        return PathBuf::from(p);
    }
    match harness::provision::native::Installation::discover() {
        Ok(i) if i.bindir.join("psql").exists() => i.bindir.join("psql"),
        _ => PathBuf::from("psql"),
    }
}

/// psql `\copy` of every file into a fresh Phase 1A database in one transaction; its wall time.
fn psql_copy(psql: &Path, url: &str, copies: &[(String, PathBuf)], script: &Path) -> Duration {
    let mut text = String::from("BEGIN;\nSET LOCAL session_replication_role = replica;\n");
    for (target, path) in copies {
        text.push_str(&format!("\\copy {target} FROM '{}'\n", path.display()));
    }
    text.push_str("COMMIT;\n");
    std::fs::write(script, text).unwrap_or_else(|e| panic!("{}: {e}", script.display()));
    let t = Instant::now();
    let out = std::process::Command::new(psql)
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-f"])
        .arg(script)
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e} (set PSQL=/path/to/psql)", psql.display()));
    let elapsed = t.elapsed();
    if !out.status.success() {
        panic!(
            "psql \\copy failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    elapsed
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

fn seed_large(_c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap_or_else(|e| panic!("tokio runtime: {e}"));
    let server: Arc<dyn Server> = rt
        .block_on(harness::shared_server())
        .unwrap_or_else(|e| panic!("database server: {e}"));
    let params = params();
    let runs = match std::env::var("SEED_LARGE_RUNS") {
        Ok(v) => v
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|n| *n >= 1)
            .unwrap_or_else(|| panic!("SEED_LARGE_RUNS={v} is not a run count >= 1")),
        Err(_) => 3,
    };
    // cargo runs a bench in its package's directory: a relative target dir is the workspace's.
    let dir = benches::scale::workspace_root()
        .join(std::env::var_os("CARGO_TARGET_DIR").unwrap_or_else(|| "target".into()))
        .join("bench-seed-large");
    let t = Instant::now();
    let (copies, rows) = write_files(&dir, &params);
    eprintln!(
        "seed_large: {params:?}: {rows} rows written to {} in {:.1} s",
        dir.display(),
        t.elapsed().as_secs_f64()
    );
    let options = match std::env::var("SEED_LARGE_CHUNK_KB") {
        Ok(v) => StreamOptions {
            chunk_bytes: v
                .trim()
                .parse::<usize>()
                .ok()
                .filter(|n| *n >= 1)
                .unwrap_or_else(|| panic!("SEED_LARGE_CHUNK_KB={v} is not a size in KiB >= 1"))
                << 10,
            ..StreamOptions::default()
        },
        Err(_) => StreamOptions::default(),
    };
    let psql = psql_binary();
    let spec = TemplateSpec::phase_1a();
    let (mut streamed, mut copied) = (Vec::new(), Vec::new());
    let mut verify = Vec::new();
    let mut peak_held = 0;
    for run in 0..runs {
        let db = rt
            .block_on(TestDb::on_server(server.clone(), &spec))
            .unwrap_or_else(|e| panic!("clone: {e}"));
        let stats = rt.block_on(async {
            let mut conn = db
                .connect()
                .await
                .unwrap_or_else(|e| panic!("connect: {e}"));
            generators::seed_streamed(&mut conn, SEED, &params, &options)
                .await
                .unwrap_or_else(|e| panic!("streamed seed: {e}"))
        });
        assert_eq!(
            stats.total_rows, rows,
            "the streamed seed and the files differ"
        );
        drop(db);
        let db = rt
            .block_on(TestDb::on_server(server.clone(), &spec))
            .unwrap_or_else(|e| panic!("clone: {e}"));
        let p = psql_copy(&psql, &db.url(), &copies, &dir.join("copy.sql"));
        let n: i64 = rt.block_on(async {
            let mut conn = db.connect().await.unwrap_or_else(|e| panic!("connect: {e}"));
            sqlx::query_scalar(
                "SELECT (SELECT count(*) FROM order_fill) + (SELECT count(*) FROM position_hourly_state)",
            )
            .fetch_one(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("count: {e}"))
        });
        assert!(n > 0, "psql copied nothing");
        drop(db);
        eprintln!(
            "seed_large: run {}/{runs}: streamed {:.2} s ({:.0} rows/s; COPY {:.2} s, FK verification {:.2} s, generation thread {:.2} s of which {:.2} s waiting for room in the queue), psql \\copy {:.2} s ({:.0} rows/s)",
            run + 1,
            stats.elapsed.as_secs_f64(),
            stats.rows_per_second(),
            stats.copy_elapsed.as_secs_f64(),
            stats.verify_elapsed.as_secs_f64(),
            stats.generated.elapsed.as_secs_f64(),
            stats.generator_blocked.as_secs_f64(),
            p.as_secs_f64(),
            rows as f64 / p.as_secs_f64()
        );
        peak_held = peak_held.max(stats.generated.peak_rows_held);
        streamed.push(stats.elapsed);
        verify.push(stats.verify_elapsed);
        copied.push(p);
    }
    let (s, p, v) = (
        median(&mut streamed),
        median(&mut copied),
        median(&mut verify),
    );
    let rss = peak_rss_bytes().unwrap_or(0) as f64 / f64::from(1u32 << 20);
    let ratio = p.as_secs_f64() / s.as_secs_f64();
    eprintln!(
        "seed_large: {rows} rows: streamed median {:.2} s = {:.0} rows/s (FK verification {:.2} s of it); psql \\copy median {:.2} s = {:.0} rows/s; ratio {ratio:.2} (target >= 0.8); without the FK verification {:.2}; peak rows held {peak_held}; peak RSS {rss:.0} MiB",
        s.as_secs_f64(),
        rows as f64 / s.as_secs_f64(),
        v.as_secs_f64(),
        p.as_secs_f64(),
        rows as f64 / p.as_secs_f64(),
        p.as_secs_f64() / (s.saturating_sub(v)).as_secs_f64().max(1e-9),
    );
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group! {
    name = benches;
    config = benches::criterion();
    targets = seed_large
}
criterion_main!(benches);
