//! The whole pipeline on a 1,000-fill world (issue 5 target: <= 150 ms median): clone a
//! Phase 1A database, seed the world, the twelve checks on Phase 1A, Phase 1B, the twelve
//! checks on `*_v2`, Phase 1C Revision B (whose STEP_8 runs the twelve checks on the canonical
//! tables after cutover), drop.
//!
//! `cargo bench -p benches --bench pipeline`. Criterion times clone..Phase 1C (the drop runs
//! after the clock stops); the per-stage medians are printed, and STEP_8's share of Phase 1C
//! separately, so it is visible where the time goes.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode};
use generators::{generate_world, seed_world, WorldParams};
use harness::provision::Server;
use harness::template::TemplateSpec;
use harness::TestDb;
use invariants::{run_checks, TableSet};
use migrations::{apply_phase_1b, run_phase_1c, RunOptions, StepName};

const STAGES: [&str; 8] = [
    "clone",
    "seed",
    "checks_phase_1a",
    "phase_1b",
    "checks_v2",
    "phase_1c_steps_0_7b",
    "phase_1c_step_8_checks_canonical",
    "phase_1c_step_9_and_overhead",
];

fn pipeline(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    let server: Arc<dyn Server> = rt
        .block_on(harness::shared_server())
        .expect("database server");
    let spec = TemplateSpec::phase_1a();
    // The CLI's default world (seed 0, 3 accounts, 4 instruments, 168 hours, ~1,000 fills).
    let world = generate_world(0, &WorldParams::default());
    eprintln!(
        "pipeline bench: {} fills, {} rows",
        world.order_fill.len(),
        world.total_rows()
    );
    // Build the template before timing anything.
    drop(
        rt.block_on(TestDb::on_server(server.clone(), &spec))
            .expect("template"),
    );

    let mut stages: BTreeMap<&str, Vec<Duration>> = BTreeMap::new();
    let mut totals = Vec::new();
    let mut g = c.benchmark_group("pipeline");
    g.sampling_mode(SamplingMode::Flat);
    g.sample_size(20);
    g.warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(10));
    g.bench_function("world_1000_fills_clone_seed_migrate_check", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let (t, db, laps) = rt.block_on(async {
                    let mut laps = Vec::with_capacity(STAGES.len());
                    let t0 = Instant::now();
                    let mut lap = Instant::now();
                    let mut mark = |laps: &mut Vec<Duration>| {
                        laps.push(lap.elapsed());
                        lap = Instant::now();
                    };
                    let db = TestDb::on_server(server.clone(), &spec)
                        .await
                        .expect("clone");
                    let mut conn = db.connect().await.expect("connect");
                    mark(&mut laps);
                    seed_world(&mut conn, &world).await.expect("seed");
                    mark(&mut laps);
                    let a = run_checks(&mut conn, TableSet::Phase1a, 10)
                        .await
                        .expect("checks");
                    assert!(a.iter().all(|o| o.violations.unwrap_or(0) == 0));
                    mark(&mut laps);
                    apply_phase_1b(&mut conn).await.expect("phase 1b");
                    mark(&mut laps);
                    let v = run_checks(&mut conn, TableSet::V2BeforeCutover, 10)
                        .await
                        .expect("checks");
                    assert!(v.iter().all(|o| o.violations.unwrap_or(0) == 0));
                    mark(&mut laps);
                    let outcome = run_phase_1c(&mut conn, &RunOptions::default())
                        .await
                        .expect("phase 1c");
                    let p1c = lap.elapsed();
                    assert!(outcome.completed());
                    let step = |n: StepName| {
                        outcome
                            .steps
                            .iter()
                            .filter(|s| s.step == n)
                            .map(|s| s.duration)
                            .sum::<Duration>()
                    };
                    let step8 = step(StepName::Step8FullValidation);
                    let before8: Duration = outcome
                        .steps
                        .iter()
                        .filter(|s| s.step < StepName::Step8FullValidation)
                        .map(|s| s.duration)
                        .sum();
                    laps.push(before8);
                    laps.push(step8);
                    laps.push(p1c.saturating_sub(before8 + step8));
                    (t0.elapsed(), db, laps)
                });
                total += t;
                totals.push(t);
                for (name, d) in STAGES.iter().zip(laps) {
                    stages.entry(name).or_default().push(d);
                }
                drop(db);
            }
            total
        })
    });
    g.finish();
    let median = |v: &mut Vec<Duration>| {
        v.sort();
        v.get(v.len() / 2).copied().unwrap_or_default()
    };
    eprintln!(
        "pipeline bench: median total {:.1} ms over {} runs (target <= 150 ms)",
        median(&mut totals).as_secs_f64() * 1e3,
        totals.len()
    );
    for name in STAGES {
        if let Some(v) = stages.get_mut(name) {
            eprintln!(
                "pipeline bench:   {name:<34} median {:>7.1} ms",
                median(v).as_secs_f64() * 1e3
            );
        }
    }
}

criterion_group!(benches, pipeline);
criterion_main!(benches);
