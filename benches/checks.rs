//! The twelve validation checks' total time, after the cutover, on the
//! fixture world and on a generated world with ~100k fills, both seeded and migrated by the real
//! pipeline (generators -> Phase 1B -> Phase 1C, whose STEP_8 already runs the checks once).
//!
//! `cargo bench -p benches --bench checks`. `CHECKS_BENCH_FILLS` (default 100000) sets the
//! generated world's target fill count (40 accounts x 20 instruments x 720 hours); each check's
//! own time on the first run is printed to stderr before the timed iterations. Each world is
//! timed on one connection (`run_checks`) and on two over one snapshot (`run_checks_parallel`),
//! and the whole audit `harness validate` runs (the twelve checks, archive parity, hour-grid
//! figures, structure and migration state: `invariants::audit`) on two connections beside it,
//! so the cost of parity and the confirmations reads off one run.

// criterion_group! defines a public function it cannot document.
#![allow(missing_docs)]

use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion};
use harness::template::TemplateSpec;
use harness::TestDb;
use invariants::TableSet;
use sqlx::PgConnection;

/// Seed `world` into a fresh Phase 1A database and migrate it through Phase 1C.
async fn migrated(world: &generators::World) -> (TestDb, PgConnection, PgConnection) {
    let server = harness::shared_server()
        .await
        .expect("server (run ci/install-timescaledb)");
    let db = TestDb::on_server(server, &TemplateSpec::phase_1a())
        .await
        .expect("database");
    let mut conn = db.connect().await.expect("connect");
    generators::seed_world_with(
        &mut conn,
        world,
        &generators::SeedOptions {
            verify_foreign_keys_in_bulk: true,
        },
    )
    .await
    .expect("seed");
    migrations::apply_phase_1b(&mut conn)
        .await
        .expect("phase 1b");
    migrations::run_phase_1c(&mut conn, &harness::gate::audit_options())
        .await
        .expect("phase 1c");
    sqlx::query("VACUUM ANALYZE")
        .execute(&mut conn)
        .await
        .expect("vacuum analyze");
    let helper = db.connect().await.expect("connect helper");
    (db, conn, helper)
}

/// Run the twelve checks once, assert a clean world, print each one's time.
async fn once(conn: &mut PgConnection, label: &str) {
    let outcomes = invariants::run_checks(conn, TableSet::CanonicalAfterCutover, 10)
        .await
        .expect("checks");
    let total: u64 = outcomes.iter().map(|o| o.elapsed_us).sum();
    for o in &outcomes {
        assert_eq!(o.violations, Some(0), "{label}: {} {:?}", o.check, o.sample);
        eprintln!(
            "{label}: {:<28} {:>9.1} ms",
            o.check,
            o.elapsed_us as f64 / 1000.0
        );
    }
    eprintln!("{label}: {:<28} {:>9.1} ms", "total", total as f64 / 1000.0);
}

fn checks(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    let fills: u64 = std::env::var("CHECKS_BENCH_FILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);

    let (_fixture_db, mut fixture, fixture_helper) =
        rt.block_on(migrated(&generators::fixture_world()));
    rt.block_on(once(&mut fixture, "fixture"));
    let params = generators::WorldParams {
        accounts: 40,
        instruments: 20,
        hours: 720,
        target_fills: fills,
    };
    let (_big_db, mut big, big_helper) =
        rt.block_on(migrated(&generators::generate_world(11, &params)));
    let n: i64 = rt
        .block_on(sqlx::query_scalar("SELECT count(*) FROM order_fill").fetch_one(&mut big))
        .expect("count fills");
    let label = format!("{n} fills");
    rt.block_on(once(&mut big, &label));

    let mut g = c.benchmark_group("checks");
    g.sample_size(20);
    let mut helper = [fixture_helper];
    time(
        &mut g,
        &rt,
        "all_twelve_fixture_world",
        &mut fixture,
        &mut [],
    );
    let name = "all_twelve_fixture_world_two_connections";
    time(&mut g, &rt, name, &mut fixture, &mut helper);
    g.sample_size(10);
    g.measurement_time(std::time::Duration::from_secs(60));
    let mut helper = [big_helper];
    let name = format!("all_twelve_{fills}_fill_world");
    time(&mut g, &rt, &name, &mut big, &mut []);
    time(
        &mut g,
        &rt,
        &format!("{name}_two_connections"),
        &mut big,
        &mut helper,
    );
    g.bench_function(format!("audit_{fills}_fill_world_two_connections"), |b| {
        b.iter(|| {
            let audit = rt
                .block_on(invariants::audit(
                    &mut big,
                    &mut helper,
                    invariants::AuditPurpose::Validate,
                    10,
                ))
                .expect("audit");
            assert!(audit.passed, "{:?}", audit.failures);
        })
    });
    g.finish();
}

/// Time the twelve checks after the cutover on `conn` and `helpers` (none: `run_checks`).
fn time(
    g: &mut BenchmarkGroup<'_, WallTime>,
    rt: &tokio::runtime::Runtime,
    name: &str,
    conn: &mut PgConnection,
    helpers: &mut [PgConnection],
) {
    g.bench_function(name, |b| {
        b.iter(|| {
            rt.block_on(invariants::run_checks_parallel(
                conn,
                helpers,
                TableSet::CanonicalAfterCutover,
                10,
            ))
            .expect("checks")
        })
    });
}

criterion_group! {
    name = benches;
    config = benches::criterion();
    targets = checks
}
criterion_main!(benches);
