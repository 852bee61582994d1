//! Validation queries at scale: each of the twelve checks alone and all twelve together (on one
//! and on two connections), the archive -> canonical parity and STEP_6, on generated worlds of
//! 10^4, 10^5 and 10^6 fills, each beside its floor (the scan and hash work it cannot avoid;
//! `benches/scale/mod.rs`), with the log-log slope of time against rows over the sizes.
//!
//! ```text
//! cargo bench -p benches --bench scale                       # 10^4 and 10^5 fills
//! SCALE_FILLS=1000000 SCALE_PASSES=1 SCALE_SAMPLES=0 cargo bench -p benches --bench scale
//! ```
//!
//! - `SCALE_FILLS`: comma-separated sizes (default `10000,100000`; 10^6 takes about half an
//!   hour here, most of it building its world once).
//! - `SCALE_PASSES`: report passes (default 3): each pass times every query and then its floor,
//!   so a query and its floor are always measured side by side; the report is their medians.
//! - `SCALE_SAMPLES`: criterion samples of every query and floor after the passes (default 10,
//!   criterion's minimum; `0` skips criterion, which `--save-baseline` / `--baseline` need).
//! - `SCALE_README=1`: also rewrite the README's scale section and `docs/bench/scaling.png`.
//! - `SCALE_OUT`: where to write instead of `target/bench-scale/` (ci/test's smoke run).
//!
//! `cargo test -p benches --bench scale` runs every criterion benchmark once (criterion's test
//! mode) after the report passes: ci/test does that on a 2,000-fill world.
//!
//! Each size's worlds are cached as templates (the world through STEP_5 and, derived from it,
//! the migrated world): on a persistent server (`HARNESS_DATABASE_URL`, e.g. `harness serve`)
//! a second run does not build them again. Everything is written under `target/bench-scale/`:
//! `results/<fills>.json` (every pass), `plans/<fills>/<check>.txt` (`EXPLAIN (ANALYZE,
//! BUFFERS)` of each check, with its floor's tables), `builds/<fills>.json`, `measured.md` (the
//! README section, from every saved size) and `scaling.png`.

// criterion_group! defines a public function it cannot document.
#![allow(missing_docs)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use benches::scale::{self, ms, BuildLog, Floor, Measurement, SizeResult};
use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};
use harness::provision::Server;
use harness::TestDb;
use invariants::{TableSet, CHECK_NAMES};
use sqlx::PgConnection;
use tokio::runtime::Runtime;

const SET: TableSet = TableSet::CanonicalAfterCutover;

fn env_number(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(v) => v
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v} is not a number")),
        Err(_) => default,
    }
}

fn sizes() -> Vec<u64> {
    let raw = std::env::var("SCALE_FILLS").unwrap_or_else(|_| "10000,100000".to_string());
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.replace('_', "")
                .parse::<u64>()
                .ok()
                .filter(|n| *n >= 100)
                .unwrap_or_else(|| panic!("SCALE_FILLS: {s} is not a fill count >= 100"))
        })
        .collect()
}

fn replay_hint(fills: u64) -> String {
    let p = scale::world_params(fills);
    format!(
        "seed {}: replay with `harness run --seed {} --accounts {} --instruments {} --hours {} --fills {}`",
        scale::SEED,
        scale::SEED,
        p.accounts,
        p.instruments,
        p.hours,
        p.target_fills
    )
}

/// A size's world, migrated, with the floors of its checks.
struct Size {
    fills: u64,
    step5: harness::template::TemplateSpec,
    _db: TestDb,
    conn: PgConnection,
    helper: PgConnection,
    floors: BTreeMap<&'static str, Floor>,
    /// Every table of the floors once, hashed where any check hashes it.
    union: Floor,
    result: SizeResult,
}

fn or_die<T>(what: &str, fills: u64, r: Result<T, String>) -> T {
    r.unwrap_or_else(|e| {
        panic!(
            "scale bench, {fills} fills: {what}: {e}\n{}",
            replay_hint(fills)
        )
    })
}

async fn prepare(server: &Arc<dyn Server>, fills: u64, passes: usize, samples: usize) -> Size {
    let log = Arc::new(Mutex::new(BuildLog::default()));
    let (step5, migrated) = scale::templates(fills, log.clone());
    let t = Instant::now();
    let db = or_die(
        "building or cloning the migrated template",
        fills,
        TestDb::on_server(server.clone(), &migrated)
            .await
            .map_err(|e| e.to_string()),
    );
    let built = log.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let build_path = scale::out_dir()
        .join("builds")
        .join(format!("{fills}.json"));
    let template = migrated.name();
    // A build log belongs to the templates it measured: on a persistent server another
    // commit's templates (other names) must not lend theirs.
    let build = if built.rows_seeded > 0 {
        let built = BuildLog {
            template: template.clone(),
            ..built
        };
        eprintln!(
            "scale [{fills}]: templates built in {:.1} s: seeded {} rows at {:.0} rows/s, peak RSS {:.0} MiB",
            t.elapsed().as_secs_f64(),
            built.rows_seeded,
            built.seed_rows_per_s,
            built.peak_rss_mib
        );
        let _ = std::fs::create_dir_all(build_path.parent().unwrap_or(&build_path));
        if let Ok(json) = serde_json::to_string_pretty(&built) {
            let _ = std::fs::write(&build_path, json);
        }
        Some(built)
    } else {
        eprintln!(
            "scale [{fills}]: templates found already built (figures of the build that made them)"
        );
        std::fs::read_to_string(&build_path)
            .ok()
            .and_then(|s| serde_json::from_str::<BuildLog>(&s).ok())
            .filter(|b| b.template == template)
    };
    let mut conn = or_die(
        "connect",
        fills,
        db.connect().await.map_err(|e| e.to_string()),
    );
    let helper = or_die(
        "connect",
        fills,
        db.connect().await.map_err(|e| e.to_string()),
    );
    let (real_fills, rows): (i64, i64) = or_die(
        "counting rows",
        fills,
        sqlx::query_as(
            "SELECT (SELECT count(*) FROM order_fill), \
                    (SELECT coalesce(sum(reltuples), 0)::bigint FROM pg_class \
                     WHERE relkind = 'r' AND relnamespace IN ('public'::regnamespace, '_timescaledb_internal'::regnamespace))",
        )
        .fetch_one(&mut conn)
        .await
        .map_err(|e| e.to_string()),
    );
    // A bench of a world that fails its checks would time the wrong thing.
    let outcomes = or_die(
        "the checks",
        fills,
        invariants::run_checks(&mut conn, SET, 10)
            .await
            .map_err(|e| e.to_string()),
    );
    for o in &outcomes {
        if o.violations.unwrap_or(0) != 0 {
            panic!(
                "scale bench, {fills} fills: {} found {:?} violations: {:?}\n{}",
                o.check,
                o.violations,
                o.sample,
                replay_hint(fills)
            );
        }
    }
    let mut floors = BTreeMap::new();
    let mut counts = BTreeMap::new();
    for name in CHECK_NAMES {
        let floor = or_die(
            "a check's floor",
            fills,
            scale::check_floor(&mut conn, name, &mut counts).await,
        );
        floors.insert(name, floor);
    }
    let mut union = Floor::union(floors.values());
    union.rows = or_die(
        "rows of the union floor",
        fills,
        scale::counted_rows(
            &mut conn,
            union.scanned.iter().chain(&union.hashed),
            &mut counts,
        )
        .await,
    );
    let server_version: String = sqlx::query_scalar(
        "SELECT current_setting('server_version') || ', TimescaleDB ' || \
         (SELECT extversion FROM pg_extension WHERE extname = 'timescaledb')",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap_or_default();
    let result = SizeResult {
        target_fills: fills,
        fills: u64::try_from(real_fills).unwrap_or(0),
        rows: u64::try_from(rows).unwrap_or(0),
        passes,
        measurements: Vec::new(),
        build,
        measured_at: chrono_now(),
        server: server_version,
        command: command(passes, samples),
    };
    Size {
        fills,
        step5,
        _db: db,
        conn,
        helper,
        floors,
        union,
        result,
    }
}

/// The command line of this run, with the environment that shapes its figures.
fn command(passes: usize, samples: usize) -> String {
    let mut env = String::new();
    for var in [
        "HARNESS_PG_BASE_DIR",
        "HARNESS_DATABASE_URL",
        "HARNESS_BACKEND",
    ] {
        if let Ok(v) = std::env::var(var) {
            let v = match var {
                "HARNESS_DATABASE_URL" => harness::redact::redact_url(&v),
                _ => v,
            };
            env.push_str(&format!("{var}={v} "));
        }
    }
    let fills = std::env::var("SCALE_FILLS").unwrap_or_else(|_| "10000,100000".to_string());
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let args = if args.is_empty() {
        String::new()
    } else {
        format!(" -- {}", args.join(" "))
    };
    format!(
        "{env}SCALE_FILLS={fills} SCALE_PASSES={passes} SCALE_SAMPLES={samples} cargo bench -p benches --bench scale{args}"
    )
}

fn chrono_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    format!("{secs} (unix seconds)")
}

fn push(size: &mut Size, name: &str, rows: u64, run: Duration, floor: Option<Duration>) {
    let m = match size.result.measurements.iter_mut().find(|m| m.name == name) {
        Some(m) => m,
        None => {
            size.result.measurements.push(Measurement {
                name: name.to_string(),
                rows,
                runs_ms: Vec::new(),
                floor_runs_ms: Vec::new(),
            });
            let last = size.result.measurements.len() - 1;
            &mut size.result.measurements[last]
        }
    };
    m.runs_ms.push(ms(run));
    if let Some(f) = floor {
        m.floor_runs_ms.push(ms(f));
    }
}

async fn timed<T, E: std::fmt::Display>(
    fills: u64,
    what: &str,
    f: impl std::future::Future<Output = Result<T, E>>,
) -> Duration {
    let t = Instant::now();
    or_die(what, fills, f.await.map_err(|e| e.to_string()));
    t.elapsed()
}

/// A fresh clone of the size's world stopped after STEP_5, and a connection to it.
async fn step5_clone(server: &Arc<dyn Server>, size: &Size) -> (TestDb, PgConnection) {
    let fills = size.fills;
    let clone = or_die(
        "clone through STEP_5",
        fills,
        TestDb::on_server(server.clone(), &size.step5)
            .await
            .map_err(|e| e.to_string()),
    );
    let c = or_die(
        "connect",
        fills,
        clone.connect().await.map_err(|e| e.to_string()),
    );
    (clone, c)
}

/// One report pass: every query, each followed by its floor.
async fn pass(server: &Arc<dyn Server>, size: &mut Size) {
    let fills = size.fills;
    for name in CHECK_NAMES {
        let run = timed(
            fills,
            name,
            invariants::run_check(&mut size.conn, name, SET, 10),
        )
        .await;
        let floor = &size.floors[name];
        let f = or_die(
            "floor",
            fills,
            scale::time_floors(&mut size.conn, &[floor]).await,
        );
        let rows = floor.rows;
        push(size, name, rows, run, Some(f));
    }
    let all_rows = size.floors.values().map(|f| f.rows).sum();
    let run = timed(
        fills,
        "all twelve",
        invariants::run_checks(&mut size.conn, SET, 10),
    )
    .await;
    let floors: Vec<&Floor> = size.floors.values().collect();
    let f = or_die(
        "floors",
        fills,
        scale::time_floors(&mut size.conn, &floors).await,
    );
    push(size, "all_twelve", all_rows, run, Some(f));
    let u = or_die(
        "union floor",
        fills,
        scale::time_floors(&mut size.conn, &[&size.union]).await,
    );
    let run = timed(
        fills,
        "all twelve on two connections",
        invariants::run_checks_parallel(
            &mut size.conn,
            std::slice::from_mut(&mut size.helper),
            SET,
            10,
        ),
    )
    .await;
    push(size, "all_twelve_two_connections", all_rows, run, None);
    let union_rows = size.union.rows;
    push(size, "every_table_once_floor", union_rows, u, None);
    let parity_rows = or_die(
        "parity rows",
        fills,
        scale::parity_rows(&mut size.conn).await,
    );
    let run = or_die("parity", fills, scale::time_parity(&mut size.conn).await);
    let f = or_die(
        "parity floor",
        fills,
        scale::time_parity_floor(&mut size.conn).await,
    );
    push(size, "parity", parity_rows, run, Some(f));

    // STEP_6 and its floor, each on its own clone of the world stopped after STEP_5 (a floor's
    // rolled-back UPDATE leaves dead rows STEP_6 would then have to skip).
    // Both start cold: the rows are counted after the floor (its rollback changes no count).
    let (clone, mut c) = step5_clone(server, size).await;
    let f = or_die(
        "STEP_6 floor",
        fills,
        scale::time_step_6_floor(&mut c).await,
    );
    let rows = or_die("STEP_6 rows", fills, scale::step_6_rows(&mut c).await);
    drop(c);
    drop(clone);
    let (clone, mut c) = step5_clone(server, size).await;
    let run = or_die("STEP_6", fills, scale::time_step_6(&mut c).await);
    drop(c);
    drop(clone);
    push(size, "step_6", rows, run, Some(f));
}

async fn write_plans(size: &mut Size) {
    let dir = scale::out_dir().join("plans").join(size.fills.to_string());
    or_die(
        "plans directory",
        size.fills,
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display())),
    );
    for name in CHECK_NAMES {
        let plan = or_die(
            "EXPLAIN",
            size.fills,
            invariants::explain_check(&mut size.conn, name, SET, true)
                .await
                .map_err(|e| e.to_string()),
        );
        let floor = &size.floors[name];
        let text = format!(
            "-- {name} after the cutover, {} fills (seed {}), EXPLAIN (ANALYZE, BUFFERS, COSTS OFF)\n\
             -- floor: scans {:?}, hashes {:?} ({} rows)\n{plan}\n",
            size.result.fills,
            scale::SEED,
            floor.scanned,
            floor.hashed,
            floor.rows
        );
        let path = dir.join(format!("{name}.txt"));
        or_die(
            "writing a plan",
            size.fills,
            std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display())),
        );
    }
    eprintln!("scale [{}]: plans in {}", size.fills, dir.display());
}

fn report(size: &SizeResult) {
    eprintln!(
        "scale [{}]: {} fills, {} rows, {} pass(es), medians:",
        size.target_fills, size.fills, size.rows, size.passes
    );
    eprintln!(
        "  {:<30} {:>12} {:>12} {:>12} {:>7}",
        "query", "rows read", "median ms", "floor ms", "ratio"
    );
    for m in &size.measurements {
        eprintln!(
            "  {:<30} {:>12} {:>12.1} {:>12} {:>7}",
            m.name,
            m.rows,
            m.median_ms(),
            m.floor_ms().map_or("-".to_string(), |f| format!("{f:.1}")),
            m.ratio().map_or("-".to_string(), |r| format!("{r:.2}"))
        );
    }
}

/// Criterion's samples of every query and floor of a size (after its report passes).
fn sample(
    c: &mut Criterion,
    rt: &Runtime,
    server: &Arc<dyn Server>,
    size: &mut Size,
    samples: usize,
) {
    let mut g = c.benchmark_group(format!("scale_{}", size.fills));
    g.sampling_mode(SamplingMode::Flat);
    g.sample_size(samples.max(10));
    g.warm_up_time(Duration::from_millis(1));
    let budget = |name: &str| {
        let median = size.result.get(name).map_or(1.0, |m| m.median_ms());
        Duration::from_secs_f64((median * samples.max(10) as f64 / 1e3).max(0.1))
    };
    for name in CHECK_NAMES {
        let floor = size.floors[name].clone();
        g.throughput(Throughput::Elements(floor.rows.max(1)));
        g.measurement_time(budget(name));
        let conn = &mut size.conn;
        g.bench_function(name, |b| {
            b.iter(|| {
                rt.block_on(invariants::run_check(conn, name, SET, 10))
                    .unwrap_or_else(|e| panic!("{name}: {e}"))
            })
        });
        g.bench_function(format!("{name}_floor"), |b| {
            b.iter(|| {
                rt.block_on(scale::time_floors(conn, &[&floor]))
                    .unwrap_or_else(|e| panic!("{name} floor: {e}"))
            })
        });
    }
    let all_rows: u64 = size.floors.values().map(|f| f.rows).sum();
    g.throughput(Throughput::Elements(all_rows.max(1)));
    g.measurement_time(budget("all_twelve"));
    let floors: Vec<Floor> = size.floors.values().cloned().collect();
    let (conn, helper) = (&mut size.conn, &mut size.helper);
    g.bench_function("all_twelve", |b| {
        b.iter(|| {
            rt.block_on(invariants::run_checks(conn, SET, 10))
                .unwrap_or_else(|e| panic!("all twelve: {e}"))
        })
    });
    g.bench_function("all_twelve_floor", |b| {
        let refs: Vec<&Floor> = floors.iter().collect();
        b.iter(|| {
            rt.block_on(scale::time_floors(conn, &refs))
                .unwrap_or_else(|e| panic!("floors: {e}"))
        })
    });
    g.bench_function("all_twelve_two_connections", |b| {
        b.iter(|| {
            rt.block_on(invariants::run_checks_parallel(
                conn,
                std::slice::from_mut(helper),
                SET,
                10,
            ))
            .unwrap_or_else(|e| panic!("all twelve on two connections: {e}"))
        })
    });
    let parity_rows = size.result.get("parity").map_or(1, |m| m.rows);
    g.throughput(Throughput::Elements(parity_rows.max(1)));
    g.measurement_time(budget("parity"));
    g.bench_function("parity", |b| {
        b.iter(|| {
            rt.block_on(scale::time_parity(conn))
                .unwrap_or_else(|e| panic!("parity: {e}"))
        })
    });
    g.bench_function("parity_floor", |b| {
        b.iter(|| {
            rt.block_on(scale::time_parity_floor(conn))
                .unwrap_or_else(|e| panic!("parity floor: {e}"))
        })
    });
    let step6_rows = size.result.get("step_6").map_or(1, |m| m.rows);
    g.throughput(Throughput::Elements(step6_rows.max(1)));
    g.measurement_time(budget("step_6"));
    let step5 = size.step5.clone();
    for (id, floor) in [("step_6", false), ("step_6_floor", true)] {
        g.bench_function(id, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    total += rt.block_on(async {
                        let db = TestDb::on_server(server.clone(), &step5)
                            .await
                            .unwrap_or_else(|e| panic!("clone: {e}"));
                        let mut c = db
                            .connect()
                            .await
                            .unwrap_or_else(|e| panic!("connect: {e}"));
                        let d = if floor {
                            scale::time_step_6_floor(&mut c).await
                        } else {
                            scale::time_step_6(&mut c).await
                        };
                        d.unwrap_or_else(|e| panic!("{id}: {e}"))
                    });
                }
                total
            })
        });
    }
    g.finish();
}

fn summary() {
    let results = scale::load_all();
    if results.is_empty() {
        return;
    }
    eprintln!("scale: log-log slope of median time against rows read, over every saved size:");
    for (name, slope) in scale::slopes(&results) {
        eprintln!(
            "  {:<30} {}",
            name,
            slope.map_or("- (one size)".to_string(), |s| format!("{s:.3}"))
        );
    }
    let commands: Vec<String> = results.iter().map(|r| r.command.clone()).collect();
    let md = scale::measured_markdown(&results, &commands);
    let dir = scale::out_dir();
    let md_path = dir.join("measured.md");
    match std::fs::write(&md_path, &md) {
        Ok(()) => eprintln!("scale: README section in {}", md_path.display()),
        Err(e) => eprintln!("scale: cannot write {}: {e}", md_path.display()),
    }
    let png = dir.join("scaling.png");
    let plotted = match scale::plot::draw(&results, &png) {
        Ok(()) => {
            eprintln!("scale: plot in {}", png.display());
            true
        }
        Err(e) => {
            eprintln!("scale: no plot: {e}");
            false
        }
    };
    let rewrite = match std::env::var("SCALE_README").as_deref() {
        Ok("1") | Ok("true") => true,
        Ok("") | Ok("0") | Ok("false") | Err(_) => false,
        Ok(other) => panic!("SCALE_README={other}: use 1 (rewrite the README section) or 0"),
    };
    if rewrite {
        let root = scale::workspace_root();
        let readme_path = root.join("README.md");
        let spliced = std::fs::read_to_string(&readme_path)
            .map_err(|e| format!("{}: {e}", readme_path.display()))
            .and_then(|readme| scale::splice_readme(&readme, &md));
        match spliced.and_then(|text| {
            std::fs::write(&readme_path, text)
                .map_err(|e| format!("{}: {e}", readme_path.display()))
        }) {
            Ok(()) => eprintln!("scale: README section rewritten"),
            Err(e) => panic!("SCALE_README: {e}"),
        }
        if plotted {
            let docs = root.join("docs").join("bench");
            let copied = std::fs::create_dir_all(&docs)
                .and_then(|()| std::fs::copy(&png, docs.join("scaling.png")));
            if let Err(e) = copied {
                panic!("SCALE_README: copying the plot to {}: {e}", docs.display());
            }
        }
    }
}

fn scale_bench(c: &mut Criterion) {
    let rt = Runtime::new().unwrap_or_else(|e| panic!("tokio runtime: {e}"));
    let server: Arc<dyn Server> = rt
        .block_on(harness::shared_server())
        .unwrap_or_else(|e| panic!("database server: {e}"));
    let passes = env_number("SCALE_PASSES", 3).max(1);
    let samples = env_number("SCALE_SAMPLES", 10);
    for fills in sizes() {
        let mut size = rt.block_on(prepare(&server, fills, passes, samples));
        for p in 0..passes {
            let t = Instant::now();
            rt.block_on(pass(&server, &mut size));
            eprintln!(
                "scale [{fills}]: pass {}/{passes} in {:.1} s",
                p + 1,
                t.elapsed().as_secs_f64()
            );
        }
        rt.block_on(write_plans(&mut size));
        report(&size.result);
        match scale::save(&size.result) {
            Ok(path) => eprintln!("scale [{fills}]: results in {}", path.display()),
            Err(e) => panic!("scale [{fills}]: saving results: {e}"),
        }
        if samples > 0 {
            sample(c, &rt, &server, &mut size, samples);
        }
    }
    summary();
}

criterion_group! {
    name = benches;
    config = benches::criterion();
    targets = scale_bench
}
criterion_main!(benches);
