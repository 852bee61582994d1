//! Provisioning speed: native cold start, per-test clone, drop.
//!
//! `cargo bench -p benches --bench provision`. Targets: cold start <= 500 ms median
//! on tmpfs with the cached initdb, clone <= 25 ms, drop <= 15 ms.

// criterion_group! defines a public function it cannot document.
#![allow(missing_docs)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use harness::provision::native::{NativeConfig, NativeServer};
use harness::provision::Server;
use harness::template::{self, TemplateSpec};

fn provision(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    let cfg = NativeConfig::from_env().expect("native backend (run ci/install-timescaledb)");
    // warm the initdb cache so cold start measures what every test process pays
    drop(NativeServer::start(&cfg).expect("start server"));

    let mut g = c.benchmark_group("provision");
    g.sample_size(20);
    g.bench_function("native_cold_start", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let t0 = Instant::now();
                let s = NativeServer::start(&cfg).expect("start server");
                total += t0.elapsed();
                drop(s);
            }
            total
        })
    });

    let server: Arc<dyn Server> = Arc::new(NativeServer::start(&cfg).expect("start server"));
    let spec = TemplateSpec::phase_1a();
    let tmpl = rt
        .block_on(template::ensure_template(server.as_ref(), &spec))
        .expect("template");
    let mut admin = rt
        .block_on(template::admin_connection(server.as_ref()))
        .expect("admin connection");
    let mut n = 0u64;
    g.sample_size(50);
    g.bench_function("clone_phase_1a_template", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                n += 1;
                let name = format!("bench_clone_{n}");
                total += rt
                    .block_on(template::clone_database(&mut admin, &tmpl, &name))
                    .expect("clone");
                rt.block_on(template::drop_database(&mut admin, &name))
                    .expect("drop");
            }
            total
        })
    });
    g.bench_function("drop_database", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                n += 1;
                let name = format!("bench_drop_{n}");
                rt.block_on(template::clone_database(&mut admin, &tmpl, &name))
                    .expect("clone");
                total += rt
                    .block_on(template::drop_database(&mut admin, &name))
                    .expect("drop");
            }
            total
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = benches::criterion();
    targets = provision
}
criterion_main!(benches);
