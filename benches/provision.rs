//! Provisioning speed: cold start, per-test clone and drop on the native backend and, where a
//! Docker engine answers, on the docker backend in the same run, with the docker/native ratios.
//!
//! `cargo bench -p benches --bench provision` (the docker part uses `HARNESS_TSDB_IMAGE`,
//! default the official image; here `ci/build-images` and
//! `HARNESS_TSDB_IMAGE=harness-timescaledb:2.19.3-pg15`; `BENCH_DOCKER=0` leaves it out).
//! Targets: native cold start <= 500 ms median on tmpfs with the cached initdb, container cold
//! start (to the first successful query) <= 1.5 s, clone <= 25 ms on both, drop <= 15 ms.

// criterion_group! defines a public function it cannot document.
#![allow(missing_docs)]

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, SamplingMode};
use harness::doctor::median;
use harness::provision::docker::{self, DockerConfig, DockerServer};
use harness::provision::native::{NativeConfig, NativeServer};
use harness::provision::Server;
use harness::template::{self, TemplateSpec};

type Group<'a> = BenchmarkGroup<'a, criterion::measurement::WallTime>;

/// Every timed iteration of each benchmark, for the medians and ratios printed at the end
/// (criterion's own estimates are per-iteration means of samples).
#[derive(Default)]
struct Samples(RefCell<HashMap<String, Vec<Duration>>>);

impl Samples {
    fn add(&self, name: &str, d: Duration) {
        self.0
            .borrow_mut()
            .entry(name.to_string())
            .or_default()
            .push(d);
    }

    fn median_ms(&self, name: &str) -> Option<f64> {
        let mut all = self.0.borrow_mut();
        let v = all.get_mut(name).filter(|v| !v.is_empty())?;
        Some(median(v).as_secs_f64() * 1000.0)
    }
}

fn cold_start<S>(g: &mut Group, samples: &Samples, name: &str, start: impl Fn() -> S) {
    g.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let t0 = Instant::now();
                let s = start();
                let d = t0.elapsed();
                total += d;
                samples.add(name, d);
                drop(s);
            }
            total
        })
    });
}

/// Clone of the Phase 1A template and its drop, each timed alone.
fn clone_and_drop(
    g: &mut Group,
    samples: &Samples,
    rt: &tokio::runtime::Runtime,
    server: &dyn Server,
    backend: &str,
) {
    let tmpl = rt
        .block_on(template::ensure_template(server, &TemplateSpec::phase_1a()))
        .expect("template");
    let mut admin = rt
        .block_on(template::admin_connection(server))
        .expect("admin connection");
    let mut n = 0u64;
    let clone_name = format!("{backend}_clone_phase_1a_template");
    g.bench_function(&clone_name, |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                n += 1;
                let name = format!("{}bench_clone_{n}", server.db_prefix());
                let d = rt
                    .block_on(template::clone_database(&mut admin, &tmpl, &name))
                    .expect("clone");
                total += d;
                samples.add(&clone_name, d);
                rt.block_on(template::drop_database(&mut admin, &name))
                    .expect("drop");
            }
            total
        })
    });
    let drop_name = format!("{backend}_drop_database");
    g.bench_function(&drop_name, |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                n += 1;
                let name = format!("{}bench_drop_{n}", server.db_prefix());
                rt.block_on(template::clone_database(&mut admin, &tmpl, &name))
                    .expect("clone");
                let d = rt
                    .block_on(template::drop_database(&mut admin, &name))
                    .expect("drop");
                total += d;
                samples.add(&drop_name, d);
            }
            total
        })
    });
}

/// Why the docker part cannot run here, if it cannot.
fn docker_unavailable(rt: &tokio::runtime::Runtime) -> Option<String> {
    match std::env::var("BENCH_DOCKER").as_deref() {
        Ok("0") | Ok("false") => return Some("BENCH_DOCKER=0".into()),
        Ok("1") | Ok("true") | Err(_) => {}
        Ok(other) => panic!("BENCH_DOCKER must be 1, true, 0 or false, not {other:?}"),
    }
    rt.block_on(docker::engine_reachable())
        .err()
        .map(|e| e.to_string())
}

fn provision(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    // testcontainers removes a dropped container through the current runtime
    let _entered = rt.enter();
    let samples = Samples::default();
    let cfg = NativeConfig::from_env().expect("native backend (run ci/install-timescaledb)");
    // warm the initdb cache so cold start measures what every test process pays
    drop(NativeServer::start(&cfg).expect("start server"));

    let mut g = c.benchmark_group("provision");
    g.sample_size(20);
    cold_start(&mut g, &samples, "native_cold_start", || {
        NativeServer::start(&cfg).expect("start server")
    });
    let server: Arc<dyn Server> = Arc::new(NativeServer::start(&cfg).expect("start server"));
    g.sample_size(50);
    clone_and_drop(&mut g, &samples, &rt, server.as_ref(), "native");
    drop(server);

    let docker_skipped = docker_unavailable(&rt);
    let dcfg = DockerConfig::from_env();
    if docker_skipped.is_none() {
        // each start is a container (~0.5 s): one per sample, ten samples
        g.sample_size(10);
        g.sampling_mode(SamplingMode::Flat);
        g.warm_up_time(Duration::from_secs(1));
        cold_start(&mut g, &samples, "docker_cold_start", || {
            rt.block_on(DockerServer::start(&dcfg))
                .unwrap_or_else(|e| panic!("{e}"))
        });
        g.sampling_mode(SamplingMode::Auto);
        g.warm_up_time(Duration::from_secs(3));
        let server: Arc<dyn Server> = Arc::new(
            rt.block_on(DockerServer::start(&dcfg))
                .unwrap_or_else(|e| panic!("{e}")),
        );
        g.sample_size(50);
        clone_and_drop(&mut g, &samples, &rt, server.as_ref(), "docker");
        drop(server);
    }
    g.finish();

    println!("\nprovision medians of every timed iteration (ms):");
    for name in [
        "native_cold_start",
        "native_clone_phase_1a_template",
        "native_drop_database",
        "docker_cold_start",
        "docker_clone_phase_1a_template",
        "docker_drop_database",
    ] {
        if let Some(m) = samples.median_ms(name) {
            println!("  {name:32} {m:9.1}");
        }
    }
    match docker_skipped {
        Some(why) => println!("  docker: not measured ({why})"),
        None => {
            println!("  docker image: {}", dcfg.image);
            for what in ["cold_start", "clone_phase_1a_template", "drop_database"] {
                if let (Some(d), Some(n)) = (
                    samples.median_ms(&format!("docker_{what}")),
                    samples.median_ms(&format!("native_{what}")),
                ) {
                    println!("  ratio docker/native {what:24} {:6.2}x", d / n);
                }
            }
        }
    }
}

criterion_group! {
    name = benches;
    config = benches::criterion();
    targets = provision
}
criterion_main!(benches);
