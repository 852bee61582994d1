//! The whole pipeline on a 1,000-fill world (issue 5 target: <= 150 ms median): clone a
//! Phase 1A database, seed the world, the twelve checks on Phase 1A, Phase 1B, the twelve
//! checks on `*_v2`, Phase 1C Revision B (whose STEP_8 runs the twelve checks on the canonical
//! tables after cutover), drop.
//!
//! The same pipeline also runs on an EMPTY Phase 1A database (nothing seeded): its time is the
//! fixed cost of the migration's DDL and of the checks' planning and catalog work, i.e. the
//! floor under any world, however small.
//!
//! Seeding verifies foreign keys in bulk (as `harness run` does), and every set of checks runs on
//! two connections over one snapshot (`run_checks_parallel`; STEP_8 through the gate's helper);
//! `PIPELINE_ONE_CONNECTION=1` runs them on the pipeline's one connection instead.
//!
//! `cargo bench -p benches --bench pipeline`. Criterion times clone..Phase 1C (the drop runs
//! after the clock stops, the helper connection is opened inside the clone stage); the
//! per-stage medians are printed for each case, and STEP_8's share of Phase 1C separately, so
//! it is visible where the time goes.

// criterion_group! defines a public function it cannot document.
#![allow(missing_docs)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode};
use generators::{generate_world, seed_world_with, SeedOptions, World, WorldParams};
use harness::gate::AuditGate;
use harness::provision::Server;
use harness::template::TemplateSpec;
use harness::TestDb;
use invariants::{run_checks_parallel, TableSet};
use migrations::{apply_phase_1b, run_phase_1c, RunOptions, StepName};
use tokio::runtime::Runtime;

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

/// One pass: the total and the per-stage laps, plus the database (dropped after the clock).
async fn pass(
    server: &Arc<dyn Server>,
    spec: &TemplateSpec,
    world: Option<&World>,
    parallel: bool,
) -> (Duration, TestDb, Vec<Duration>) {
    let mut laps = Vec::with_capacity(STAGES.len());
    let t0 = Instant::now();
    let mut lap = Instant::now();
    let mut mark = |laps: &mut Vec<Duration>| {
        laps.push(lap.elapsed());
        lap = Instant::now();
    };
    let db = TestDb::on_server(server.clone(), spec)
        .await
        .expect("clone");
    let mut conn = db.connect().await.expect("connect");
    let mut helpers = if parallel {
        vec![db.connect().await.expect("connect helper")]
    } else {
        Vec::new()
    };
    mark(&mut laps);
    if let Some(world) = world {
        let bulk = SeedOptions {
            verify_foreign_keys_in_bulk: true,
        };
        seed_world_with(&mut conn, world, &bulk)
            .await
            .expect("seed");
    }
    mark(&mut laps);
    let a = run_checks_parallel(&mut conn, &mut helpers, TableSet::Phase1a, 10)
        .await
        .expect("checks");
    assert!(a.iter().all(|o| o.violations.unwrap_or(0) == 0));
    mark(&mut laps);
    apply_phase_1b(&mut conn).await.expect("phase 1b");
    mark(&mut laps);
    let v = run_checks_parallel(&mut conn, &mut helpers, TableSet::V2BeforeCutover, 10)
        .await
        .expect("checks");
    assert!(v.iter().all(|o| o.violations.unwrap_or(0) == 0));
    mark(&mut laps);
    let gate = match parallel {
        true => AuditGate::with_helper(db.connect_options()),
        false => AuditGate::new(),
    };
    let options = RunOptions {
        gate: Some(Arc::new(gate)),
        ..RunOptions::default()
    };
    let outcome = run_phase_1c(&mut conn, &options).await.expect("phase 1c");
    let p1c = lap.elapsed();
    assert!(outcome.completed());
    let step8: Duration = outcome
        .steps
        .iter()
        .filter(|s| s.step == StepName::Step8FullValidation)
        .map(|s| s.duration)
        .sum();
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
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

fn case(
    c: &mut Criterion,
    rt: &Runtime,
    server: &Arc<dyn Server>,
    name: &str,
    world: Option<&World>,
) {
    let spec = TemplateSpec::phase_1a();
    // Build the template before timing anything.
    drop(
        rt.block_on(TestDb::on_server(server.clone(), &spec))
            .expect("template"),
    );
    let parallel = std::env::var_os("PIPELINE_ONE_CONNECTION").is_none();
    let mut stages: BTreeMap<&str, Vec<Duration>> = BTreeMap::new();
    let mut totals = Vec::new();
    let mut g = c.benchmark_group("pipeline");
    g.sampling_mode(SamplingMode::Flat);
    g.sample_size(20);
    g.warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(10));
    g.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let (t, db, laps) = rt.block_on(pass(server, &spec, world, parallel));
                total += t;
                totals.push(t);
                for (stage, d) in STAGES.iter().zip(laps) {
                    stages.entry(stage).or_default().push(d);
                }
                drop(db);
            }
            total
        })
    });
    g.finish();
    eprintln!(
        "pipeline bench [{name}]: median total {:.1} ms over {} runs (target <= 150 ms for the 1,000-fill world)",
        median(&mut totals).as_secs_f64() * 1e3,
        totals.len()
    );
    for stage in STAGES {
        if let Some(v) = stages.get_mut(stage) {
            eprintln!(
                "pipeline bench [{name}]:   {stage:<34} median {:>7.1} ms",
                median(v).as_secs_f64() * 1e3
            );
        }
    }
}

fn pipeline(c: &mut Criterion) {
    let rt = Runtime::new().expect("tokio runtime");
    let server: Arc<dyn Server> = rt
        .block_on(harness::shared_server())
        .expect("database server");
    // The CLI's default world (seed 0, 3 accounts, 4 instruments, 168 hours, ~1,000 fills).
    let world = generate_world(0, &WorldParams::default());
    eprintln!(
        "pipeline bench: {} fills, {} rows",
        world.order_fill.len(),
        world.total_rows()
    );
    case(
        c,
        &rt,
        &server,
        "world_1000_fills_clone_seed_migrate_check",
        Some(&world),
    );
    case(c, &rt, &server, "empty_database_fixed_cost", None);
}

criterion_group! {
    name = benches;
    config = benches::criterion();
    targets = pipeline
}
criterion_main!(benches);
