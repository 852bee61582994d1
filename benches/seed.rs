//! COPY seeding throughput on a ~100k-fill world (issue 5 target: >= 200k rows/s).
//!
//! `cargo bench -p benches --bench seed`. Each iteration clones a fresh Phase 1A database
//! (not timed) and seeds the whole world in one transaction (timed): once with the server's
//! per-row foreign-key triggers, once with bulk verification (`SeedOptions`). The world size
//! can be changed with `BENCH_SEED_FILLS` (default 100000). Rows/s are printed per variant.

// criterion_group! defines a public function it cannot document.
#![allow(missing_docs)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};
use generators::{generate_world, seed_world_with, SeedOptions, WorldParams};
use harness::provision::Server;
use harness::template::TemplateSpec;
use harness::TestDb;

fn seed(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    let server: Arc<dyn Server> = rt
        .block_on(harness::shared_server())
        .expect("database server");
    let fills: u64 = std::env::var("BENCH_SEED_FILLS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    let params = WorldParams {
        accounts: 10,
        instruments: 20,
        hours: 720,
        target_fills: fills,
    };
    let t = Instant::now();
    let world = generate_world(42, &params);
    eprintln!(
        "seed bench: world of {} fills, {} rows generated in {:?}",
        world.order_fill.len(),
        world.total_rows(),
        t.elapsed()
    );
    let rows = world.total_rows();
    let spec = TemplateSpec::phase_1a();

    let mut g = c.benchmark_group("seed");
    g.sampling_mode(SamplingMode::Flat);
    g.sample_size(10);
    g.warm_up_time(Duration::from_millis(100));
    g.measurement_time(Duration::from_secs(5));
    g.throughput(Throughput::Elements(rows));
    for (name, bulk) in [
        ("copy_row_fk_triggers", false),
        ("copy_bulk_fk_verify", true),
    ] {
        let options = SeedOptions {
            verify_foreign_keys_in_bulk: bulk,
        };
        let mut per_iter = Vec::new();
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let db = rt
                        .block_on(TestDb::on_server(server.clone(), &spec))
                        .expect("clone");
                    let stats = rt.block_on(async {
                        let mut conn = db.connect().await.expect("connect");
                        seed_world_with(&mut conn, &world, &options)
                            .await
                            .expect("seed")
                    });
                    assert_eq!(stats.total_rows, rows);
                    total += stats.elapsed;
                    per_iter.push(stats.elapsed);
                    drop(db);
                }
                total
            })
        });
        per_iter.sort();
        if let Some(median) = per_iter.get(per_iter.len() / 2) {
            eprintln!(
                "seed bench: {name}: {rows} rows, median {:.0} ms => {:.0} rows/s over {} runs",
                median.as_secs_f64() * 1e3,
                rows as f64 / median.as_secs_f64(),
                per_iter.len()
            );
        }
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = benches::criterion();
    targets = seed
}
criterion_main!(benches);
