//! The scale benchmark's parts (`benches/scale_bench.rs`): the world of each size and its cached
//! templates, the floor of each measured query, the log-log slope, the result files, the
//! generated README section and the plot.
//!
//! A floor is the work a query cannot avoid on the tables it reads: a sequential scan of every
//! table its plan reads, plus, for the tables whose rows it hashes, SHA-256 of each row's text.
//! It runs under the checks' own settings (`invariants::check_settings`) in a READ ONLY
//! transaction of its own, like each check.

pub mod plot;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use generators::{StreamOptions, WorldParams};
use harness::template::TemplateSpec;
use invariants::TableSet;
use migrations::{RunOptions, StepName};
use serde::{Deserialize, Serialize};
use sqlx::{Connection, PgConnection};

/// The seed of every scale world.
pub const SEED: u64 = 11;

/// The world of `fills` fills: 40 accounts, 20 instruments, 720 hours per 100,000 fills (the
/// world of the issue that asked for this bench at 10^5), so every table grows with the size.
pub fn world_params(fills: u64) -> WorldParams {
    WorldParams {
        accounts: 40,
        instruments: 20,
        hours: u32::try_from((fills * 720 / 100_000).max(24)).unwrap_or(u32::MAX),
        target_fills: fills,
    }
}

/// The workspace's root directory.
pub fn workspace_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.parent().unwrap_or(here).to_path_buf()
}

/// `SCALE_OUT` (relative to the workspace), else `target/bench-scale` (honouring `CARGO_TARGET_DIR`).
pub fn out_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("SCALE_OUT") {
        // cargo runs a bench in its package's directory: a relative path means the workspace's.
        return workspace_root().join(dir);
    }
    // A relative CARGO_TARGET_DIR is the workspace's too (cargo resolved it there).
    workspace_root()
        .join(std::env::var_os("CARGO_TARGET_DIR").unwrap_or_else(|| "target".into()))
        .join("bench-scale")
}

/// What building a size's templates measured: seeding and each migration step.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct BuildLog {
    /// The migrated template these figures are of.
    #[serde(default)]
    pub template: String,
    /// Fills of the world.
    pub fills: u64,
    /// Rows seeded.
    pub rows_seeded: u64,
    /// Seeding (generation streamed to COPY, FK verification, COMMIT), ms.
    pub seed_ms: f64,
    /// Of which the bulk foreign-key verification, ms.
    pub seed_verify_ms: f64,
    /// Rows per second of the whole seeding.
    pub seed_rows_per_s: f64,
    /// Most rows the generator held at once.
    pub peak_rows_held: u64,
    /// The bench process's peak RSS after seeding, MiB.
    pub peak_rss_mib: f64,
    /// Phase 1B, ms.
    pub phase_1b_ms: f64,
    /// Each Phase 1C step, ms, in run order.
    pub steps_ms: Vec<(String, f64)>,
}

/// The two templates of a size: the world seeded, Phase 1B applied and Phase 1C run through
/// STEP_5 (what STEP_6 is measured on), and, derived from it, the migrated world (Phase 1C run
/// to the end, then `VACUUM ANALYZE`). `log` receives what the builds measured; a template
/// found already built (on a persistent server) leaves it untouched.
pub fn templates(fills: u64, log: Arc<Mutex<BuildLog>>) -> (TemplateSpec, TemplateSpec) {
    let params = world_params(fills);
    // Code cannot be hashed: a small world of the same generator stands for it (any change of
    // the simulator changes its rows), and the migration's SQL names the migration.
    let probe = generators::generate_world(
        SEED,
        &WorldParams {
            hours: 24,
            target_fills: 200,
            ..params.clone()
        },
    );
    let key = format!(
        "scale:{SEED}:{}:{}:{}:{}:{}:{}",
        params.accounts,
        params.instruments,
        params.hours,
        params.target_fills,
        probe.fingerprint(),
        migrations::sql_fingerprint()
    );
    let seed_log = log.clone();
    let step5 = TemplateSpec::phase_1a_with(
        format!("{key}:through_step_5"),
        Arc::new(move |conn| {
            let log = seed_log.clone();
            let params = params.clone();
            Box::pin(async move {
                let stats =
                    generators::seed_streamed(conn, SEED, &params, &StreamOptions::default())
                        .await
                        .map_err(|e| e.to_string())?;
                let t = Instant::now();
                migrations::apply_phase_1b(conn)
                    .await
                    .map_err(|e| e.to_string())?;
                let phase_1b = t.elapsed();
                let options = RunOptions {
                    stop_after: Some(StepName::Step5M8Guardrail),
                    ..harness::gate::audit_options()
                };
                let outcome = migrations::run_phase_1c(conn, &options)
                    .await
                    .map_err(|e| e.to_string())?;
                if outcome.stopped_after != Some(StepName::Step5M8Guardrail) {
                    return Err(format!("Phase 1C did not stop after STEP_5: {outcome:?}"));
                }
                let mut log = log.lock().unwrap_or_else(|p| p.into_inner());
                log.fills = stats.generated.fills;
                log.rows_seeded = stats.total_rows;
                log.seed_ms = ms(stats.elapsed);
                log.seed_verify_ms = ms(stats.verify_elapsed);
                log.seed_rows_per_s = stats.rows_per_second();
                log.peak_rows_held = stats.generated.peak_rows_held;
                log.peak_rss_mib = generators::stream::peak_rss_bytes().unwrap_or(0) as f64
                    / f64::from(1u32 << 20);
                log.phase_1b_ms = ms(phase_1b);
                log.steps_ms = outcome
                    .steps
                    .iter()
                    .map(|s| (s.step.to_string(), ms(s.duration)))
                    .collect();
                Ok(())
            })
        }),
    );
    let migrated = TemplateSpec::derived(
        step5.clone(),
        "migrated",
        Arc::new(move |conn| {
            let log = log.clone();
            Box::pin(async move {
                let outcome = migrations::run_phase_1c(conn, &harness::gate::audit_options())
                    .await
                    .map_err(|e| e.to_string())?;
                if !outcome.completed() {
                    return Err(format!("Phase 1C did not complete: {outcome:?}"));
                }
                sqlx::raw_sql("VACUUM ANALYZE")
                    .execute(&mut *conn)
                    .await
                    .map_err(|e| e.to_string())?;
                let mut log = log.lock().unwrap_or_else(|p| p.into_inner());
                log.steps_ms.extend(
                    outcome
                        .steps
                        .iter()
                        .filter(|s| s.step > StepName::Step5M8Guardrail)
                        .map(|s| (s.step.to_string(), ms(s.duration))),
                );
                Ok(())
            })
        }),
    );
    (step5, migrated)
}

/// Milliseconds of `d`.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The tables whose rows each hashing check recomputes SHA-256 hashes of, by check (base
/// names; read from the check files: `missing_hash` re-derives every event row's hashes,
/// `deterministic_replay_parity` the three hourly states', `walk_forward_contamination` the
/// feature snapshots'). A test keeps this in step with the files.
pub fn hashed_tables(check: &str) -> Vec<&'static str> {
    match check {
        "missing_hash" => invariants::EVENT_TABLES.to_vec(),
        "deterministic_replay_parity" => vec![
            "position_hourly_state",
            "portfolio_hourly_state",
            "risk_hourly_state",
        ],
        "walk_forward_contamination" => vec!["feature_snapshot"],
        _ => Vec::new(),
    }
}

/// What a floor reads: tables scanned, tables scanned and hashed, and their rows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Floor {
    /// Tables read by a plain sequential scan.
    pub scanned: Vec<String>,
    /// Tables whose every row is hashed (SHA-256 of the row's text).
    pub hashed: Vec<String>,
    /// Rows in all of them.
    pub rows: u64,
}

impl Floor {
    /// The floor as one statement returning one bigint.
    pub fn sql(&self) -> String {
        let mut parts: Vec<String> = self
            .scanned
            .iter()
            .map(|t| format!("(SELECT count(*) FROM {t})"))
            .collect();
        parts.extend(self.hashed.iter().map(|t| {
            format!(
                "(SELECT count(*) FROM {t} t WHERE encode(sha256(convert_to(t::text, 'UTF8')), 'hex') IS NOT NULL)"
            )
        }));
        if parts.is_empty() {
            "SELECT 0::bigint".to_string()
        } else {
            format!("SELECT ({})::bigint", parts.join("\n     + "))
        }
    }

    /// The union of several floors: each table once, hashed where any of them hashes it.
    pub fn union<'a>(floors: impl IntoIterator<Item = &'a Floor>) -> Floor {
        let mut hashed = BTreeSet::new();
        let mut scanned = BTreeSet::new();
        for f in floors {
            hashed.extend(f.hashed.iter().cloned());
            scanned.extend(f.scanned.iter().cloned());
        }
        let scanned: Vec<String> = scanned.difference(&hashed).cloned().collect();
        Floor {
            scanned,
            hashed: hashed.into_iter().collect(),
            rows: 0,
        }
    }
}

/// Every relation a plan (`EXPLAIN (FORMAT JSON)`) reads, `schema.relation`.
pub fn plan_relations(plan: &serde_json::Value, out: &mut BTreeSet<String>) {
    match plan {
        serde_json::Value::Object(map) => {
            if let Some(serde_json::Value::String(rel)) = map.get("Relation Name") {
                let schema = map
                    .get("Schema")
                    .and_then(|s| s.as_str())
                    .unwrap_or("public");
                out.insert(format!("{schema}.{rel}"));
            }
            for v in map.values() {
                plan_relations(v, out);
            }
        }
        serde_json::Value::Array(items) => {
            for v in items {
                plan_relations(v, out);
            }
        }
        _ => {}
    }
}

/// Open a READ ONLY transaction under the checks' settings.
async fn read_only(
    conn: &mut PgConnection,
) -> Result<sqlx::Transaction<'_, sqlx::Postgres>, String> {
    let mut tx = conn
        .begin_with("BEGIN READ ONLY")
        .await
        .map_err(|e| format!("BEGIN READ ONLY: {e}"))?;
    for (what, sql) in invariants::check_settings() {
        sqlx::raw_sql(sql)
            .execute(&mut *tx)
            .await
            .map_err(|e| format!("{what}: {e}"))?;
    }
    Ok(tx)
}

/// Hypertable chunk (`schema.chunk`) -> its hypertable's name.
async fn chunk_parents(conn: &mut PgConnection) -> Result<BTreeMap<String, String>, String> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT c.schema_name::text || '.' || c.table_name::text, h.table_name::text \
         FROM _timescaledb_catalog.chunk c \
         JOIN _timescaledb_catalog.hypertable h ON h.id = c.hypertable_id",
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(|e| format!("reading the chunk catalog: {e}"))?;
    Ok(rows.into_iter().collect())
}

/// The floor of check `name` after the cutover: the tables its plan reads (a chunk counted as
/// its hypertable), the ones it hashes hashed.
pub async fn check_floor(
    conn: &mut PgConnection,
    name: &str,
    counts: &mut BTreeMap<String, u64>,
) -> Result<Floor, String> {
    let set = TableSet::CanonicalAfterCutover;
    let parents = chunk_parents(conn).await?;
    let mut tx = read_only(conn).await?;
    let catalog = invariants::load_catalog(&mut tx)
        .await
        .map_err(|e| format!("catalog: {e}"))?;
    let rendered = invariants::render_check(name, set, &catalog).map_err(|e| e.to_string())?;
    let mut relations = BTreeSet::new();
    if rendered.applies() {
        let plan: serde_json::Value =
            sqlx::query_scalar(&format!("EXPLAIN (VERBOSE, FORMAT JSON)\n{}", rendered.sql))
                .persistent(false)
                .fetch_one(&mut *tx)
                .await
                .map_err(|e| format!("EXPLAIN {name}: {e}"))?;
        plan_relations(&plan, &mut relations);
    }
    let _ = tx.rollback().await;
    let mut tables: BTreeSet<String> = relations
        .iter()
        .map(|r| match parents.get(r) {
            Some(h) => h.clone(),
            None => r.strip_prefix("public.").unwrap_or(r).to_string(),
        })
        .collect();
    let hashed: Vec<String> = hashed_tables(name).iter().map(|t| set.table(t)).collect();
    for h in &hashed {
        tables.remove(h);
    }
    let mut floor = Floor {
        scanned: tables.into_iter().collect(),
        hashed,
        rows: 0,
    };
    floor.rows = counted_rows(conn, floor.scanned.iter().chain(&floor.hashed), counts).await?;
    Ok(floor)
}

/// Rows in `tables`, each table counted once per `counts` (several checks read the same ones).
pub async fn counted_rows<'a>(
    conn: &mut PgConnection,
    tables: impl IntoIterator<Item = &'a String>,
    counts: &mut BTreeMap<String, u64>,
) -> Result<u64, String> {
    let mut total = 0;
    for t in tables {
        let n = match counts.get(t) {
            Some(n) => *n,
            None => {
                let n = rows_in(&mut *conn, [t]).await?;
                counts.insert(t.clone(), n);
                n
            }
        };
        total += n;
    }
    Ok(total)
}

/// Rows in `tables` (exact counts).
pub async fn rows_in<'a>(
    conn: &mut PgConnection,
    tables: impl IntoIterator<Item = &'a String>,
) -> Result<u64, String> {
    let mut total = 0u64;
    for t in tables {
        let n: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {t}"))
            .fetch_one(&mut *conn)
            .await
            .map_err(|e| format!("count {t}: {e}"))?;
        total += u64::try_from(n).unwrap_or(0);
    }
    Ok(total)
}

/// Run floor statements in one READ ONLY transaction under the checks' settings, with index
/// scans off so that every table is read whole; the wall time from BEGIN to ROLLBACK.
pub async fn time_floors(conn: &mut PgConnection, floors: &[&Floor]) -> Result<Duration, String> {
    let t = Instant::now();
    let mut tx = read_only(conn).await?;
    sqlx::raw_sql(
        "SET LOCAL enable_indexscan = off; SET LOCAL enable_indexonlyscan = off; \
         SET LOCAL enable_bitmapscan = off",
    )
    .execute(&mut *tx)
    .await
    .map_err(|e| format!("floor settings: {e}"))?;
    for floor in floors {
        let sql = floor.sql();
        sqlx::query_scalar::<_, i64>(&sql)
            .persistent(false)
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| format!("floor {sql}: {e}"))?;
    }
    tx.rollback().await.map_err(|e| format!("ROLLBACK: {e}"))?;
    Ok(t.elapsed())
}

/// Every parity table compared archive -> canonical in one READ ONLY transaction, as the audit
/// after the cutover does; fails unless every table passes.
pub async fn time_parity(conn: &mut PgConnection) -> Result<Duration, String> {
    let t = Instant::now();
    let mut tx = read_only(conn).await?;
    let catalog = invariants::load_catalog(&mut tx)
        .await
        .map_err(|e| format!("catalog: {e}"))?;
    for spec in &invariants::parity::PARITY_TABLES {
        let p = invariants::parity::table_parity(
            &mut tx,
            spec,
            invariants::parity::ParityDirection::ArchiveToCanonical,
            &catalog,
            10,
        )
        .await
        .map_err(|e| e.to_string())?;
        if p.status != invariants::parity::ParityStatus::Pass {
            return Err(format!("parity of {} failed: {p:?}", spec.table));
        }
    }
    tx.rollback().await.map_err(|e| format!("ROLLBACK: {e}"))?;
    Ok(t.elapsed())
}

/// The parity's floor: each archive and canonical table read once with a 64-bit hash of every
/// row, the per-row work of the parity's first pass.
pub async fn time_parity_floor(conn: &mut PgConnection) -> Result<Duration, String> {
    let t = Instant::now();
    let mut tx = read_only(conn).await?;
    for spec in &invariants::parity::PARITY_TABLES {
        for table in [contract::archive_name(spec.table), spec.table.to_string()] {
            sqlx::query(&format!(
                "SELECT count(*), sum(hash_record_extended(t.*, 0)::numeric) FROM {table} t"
            ))
            .persistent(false)
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| format!("parity floor {table}: {e}"))?;
        }
    }
    tx.rollback().await.map_err(|e| format!("ROLLBACK: {e}"))?;
    Ok(t.elapsed())
}

/// Rows the parity reads: every archive and canonical table.
pub async fn parity_rows(conn: &mut PgConnection) -> Result<u64, String> {
    let tables: Vec<String> = invariants::parity::PARITY_TABLES
        .iter()
        .flat_map(|s| [contract::archive_name(s.table), s.table.to_string()])
        .collect();
    rows_in(conn, &tables).await
}

/// STEP_6 on a database stopped after STEP_5: its duration as the runner measured it.
pub async fn time_step_6(conn: &mut PgConnection) -> Result<Duration, String> {
    let options = RunOptions {
        stop_after: Some(StepName::Step6M9HashAdditions),
        ..harness::gate::audit_options()
    };
    let outcome = migrations::run_phase_1c(conn, &options)
        .await
        .map_err(|e| e.to_string())?;
    outcome
        .steps
        .iter()
        .find(|s| s.step == StepName::Step6M9HashAdditions)
        .filter(|s| s.status == migrations::StepStatus::Success)
        .map(|s| s.duration)
        .ok_or_else(|| format!("STEP_6 did not succeed: {outcome:?}"))
}

/// STEP_6's floor on a database stopped after STEP_5: every `*_v2` event row hashed (SHA-256
/// of its text) and written into a new column of its row, triggers off, rolled back.
pub async fn time_step_6_floor(conn: &mut PgConnection) -> Result<Duration, String> {
    let t = Instant::now();
    let mut tx = conn.begin().await.map_err(|e| format!("BEGIN: {e}"))?;
    sqlx::raw_sql("SET LOCAL session_replication_role = replica; SET LOCAL jit = off")
        .execute(&mut *tx)
        .await
        .map_err(|e| format!("floor settings: {e}"))?;
    for table in invariants::EVENT_TABLES {
        let v2 = contract::v2_name(table);
        sqlx::raw_sql(&format!(
            "ALTER TABLE {v2} ADD COLUMN bench_floor_hash text; \
             UPDATE {v2} t SET bench_floor_hash = encode(sha256(convert_to(t::text, 'UTF8')), 'hex')"
        ))
        .execute(&mut *tx)
        .await
        .map_err(|e| format!("STEP_6 floor on {v2}: {e}"))?;
    }
    let elapsed = t.elapsed();
    tx.rollback().await.map_err(|e| format!("ROLLBACK: {e}"))?;
    Ok(elapsed)
}

/// Rows STEP_6 rewrites: every `*_v2` event row.
pub async fn step_6_rows(conn: &mut PgConnection) -> Result<u64, String> {
    let tables: Vec<String> = invariants::EVENT_TABLES
        .iter()
        .map(|t| contract::v2_name(t))
        .collect();
    rows_in(conn, &tables).await
}

/// One measured query at one size.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Measurement {
    /// What was measured (a check's name, `all_twelve`, `parity`, `step_6`, ...).
    pub name: String,
    /// Rows of the tables it reads.
    pub rows: u64,
    /// Each pass, ms.
    pub runs_ms: Vec<f64>,
    /// Its floor in each pass, ms (none for what has no floor of its own).
    pub floor_runs_ms: Vec<f64>,
}

impl Measurement {
    /// Median of the passes, ms.
    pub fn median_ms(&self) -> f64 {
        median(&self.runs_ms)
    }

    /// Median of the floor's passes, ms.
    pub fn floor_ms(&self) -> Option<f64> {
        (!self.floor_runs_ms.is_empty()).then(|| median(&self.floor_runs_ms))
    }

    /// Median over median floor.
    pub fn ratio(&self) -> Option<f64> {
        self.floor_ms()
            .filter(|f| *f > 0.0)
            .map(|f| self.median_ms() / f)
    }
}

/// The median of `v` (0 for none).
pub fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    match s.len() {
        0 => 0.0,
        n if n % 2 == 1 => s[n / 2],
        n => (s[n / 2 - 1] + s[n / 2]) / 2.0,
    }
}

/// Everything measured at one size.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SizeResult {
    /// Fills asked for.
    pub target_fills: u64,
    /// Fills in the world.
    pub fills: u64,
    /// Rows of the migrated database's tables (canonical, archives, identity and state tables).
    pub rows: u64,
    /// Report passes.
    pub passes: usize,
    /// The measurements.
    pub measurements: Vec<Measurement>,
    /// The template builds' figures (from this run, or the run that built them).
    pub build: Option<BuildLog>,
    /// When measured (UTC).
    pub measured_at: String,
    /// PostgreSQL and TimescaleDB versions.
    pub server: String,
    /// The command that measured it.
    pub command: String,
}

impl SizeResult {
    /// The measurement `name`.
    pub fn get(&self, name: &str) -> Option<&Measurement> {
        self.measurements.iter().find(|m| m.name == name)
    }
}

/// Where the result of `fills` is saved.
pub fn result_path(fills: u64) -> PathBuf {
    out_dir().join("results").join(format!("{fills}.json"))
}

/// Write `result` to its file.
pub fn save(result: &SizeResult) -> Result<PathBuf, String> {
    let path = result_path(result.target_fills);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let json = serde_json::to_string_pretty(result).map_err(|e| e.to_string())?;
    std::fs::write(&path, json).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(path)
}

/// Every saved result, smallest first.
pub fn load_all() -> Vec<SizeResult> {
    let dir = out_dir().join("results");
    let mut out: Vec<SizeResult> = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
        .filter_map(|s| serde_json::from_str(&s).ok())
        .collect();
    out.sort_by_key(|r| r.target_fills);
    out
}

/// Least-squares slope of ln(y) against ln(x); `None` under two distinct points.
pub fn log_log_slope(points: &[(f64, f64)]) -> Option<f64> {
    let pts: Vec<(f64, f64)> = points
        .iter()
        .filter(|(x, y)| *x > 0.0 && *y > 0.0)
        .map(|(x, y)| (x.ln(), y.ln()))
        .collect();
    let n = pts.len() as f64;
    if pts.len() < 2 {
        return None;
    }
    let mx = pts.iter().map(|p| p.0).sum::<f64>() / n;
    let my = pts.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = pts.iter().map(|p| (p.0 - mx).powi(2)).sum();
    if sxx == 0.0 {
        return None;
    }
    let sxy: f64 = pts.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    Some(sxy / sxx)
}

/// The slope of each measurement over the sizes in `results`, by name, in first-seen order.
pub fn slopes(results: &[SizeResult]) -> Vec<(String, Option<f64>)> {
    let mut names: Vec<String> = Vec::new();
    for r in results {
        for m in &r.measurements {
            if !names.contains(&m.name) {
                names.push(m.name.clone());
            }
        }
    }
    names
        .into_iter()
        .map(|name| {
            let pts: Vec<(f64, f64)> = results
                .iter()
                .filter_map(|r| r.get(&name))
                .map(|m| (m.rows as f64, m.median_ms()))
                .collect();
            let slope = log_log_slope(&pts);
            (name, slope)
        })
        .collect()
}

fn fmt_ms(v: f64) -> String {
    if v >= 10_000.0 {
        format!("{:.1} s", v / 1e3)
    } else if v >= 100.0 {
        format!("{v:.0} ms")
    } else {
        format!("{v:.1} ms")
    }
}

fn fmt_ratio(r: Option<f64>) -> String {
    r.map_or("-".to_string(), |r| format!("{r:.2}"))
}

/// The README's scale section, from the saved results.
pub fn measured_markdown(results: &[SizeResult], commands: &[String]) -> String {
    let mut s = String::new();
    s.push_str("Produced by:\n\n```\n");
    let mut seen: Vec<&String> = Vec::new();
    for c in commands {
        if seen.contains(&c) {
            continue;
        }
        seen.push(c);
        s.push_str(c);
        s.push('\n');
    }
    s.push_str("```\n\n");
    let sizes: Vec<String> = results
        .iter()
        .map(|r| {
            format!(
                "{} fills ({} rows, {} pass{})",
                thousands(r.fills),
                thousands(r.rows),
                r.passes,
                if r.passes == 1 { "" } else { "es" }
            )
        })
        .collect();
    s.push_str(&format!("Sizes: {}.\n\n", sizes.join("; ")));
    s.push_str(
        "Median time / floor (ratio) per size, and the log-log slope of time against rows:\n\n",
    );
    s.push_str("| query |");
    for r in results {
        s.push_str(&format!(" {} fills |", thousands(r.fills)));
    }
    s.push_str(" slope |\n|---|");
    for _ in results {
        s.push_str("---|");
    }
    s.push_str("---|\n");
    for (name, slope) in slopes(results) {
        s.push_str(&format!("| {name} |"));
        for r in results {
            match r.get(&name) {
                Some(m) => match m.floor_ms() {
                    Some(f) => s.push_str(&format!(
                        " {} / {} ({}) |",
                        fmt_ms(m.median_ms()),
                        fmt_ms(f),
                        fmt_ratio(m.ratio())
                    )),
                    None => s.push_str(&format!(" {} |", fmt_ms(m.median_ms()))),
                },
                None => s.push_str(" - |"),
            }
        }
        s.push_str(&format!(
            " {} |\n",
            slope.map_or("-".to_string(), |v| format!("{v:.2}"))
        ));
    }
    s.push('\n');
    s.push_str("Seeding (streamed generator -> COPY, FK verification included) and the migration, from the template builds:\n\n");
    s.push_str("| fills | rows seeded | seeding | rows/s | peak RSS | Phase 1B | STEP_6 | STEP_7 | STEP_8 | Phase 1C total |\n|---|---|---|---|---|---|---|---|---|---|\n");
    for r in results {
        if let Some(b) = &r.build {
            let step = |prefix: &str| {
                b.steps_ms
                    .iter()
                    .filter(|(n, _)| n.starts_with(prefix))
                    .map(|(_, v)| *v)
                    .sum::<f64>()
            };
            let total: f64 = b.steps_ms.iter().map(|(_, v)| v).sum();
            s.push_str(&format!(
                "| {} | {} | {} | {} | {:.0} MiB | {} | {} | {} | {} | {} |\n",
                thousands(b.fills),
                thousands(b.rows_seeded),
                fmt_ms(b.seed_ms),
                thousands(b.seed_rows_per_s as u64),
                b.peak_rss_mib,
                fmt_ms(b.phase_1b_ms),
                fmt_ms(step("STEP_6")),
                fmt_ms(step("STEP_7")),
                fmt_ms(step("STEP_8")),
                fmt_ms(total),
            ));
        }
    }
    s
}

/// `1234567` -> `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Replace the text between `<!-- scale:begin -->` and `<!-- scale:end -->` in `readme`.
pub fn splice_readme(readme: &str, section: &str) -> Result<String, String> {
    const BEGIN: &str = "<!-- scale:begin -->";
    const END: &str = "<!-- scale:end -->";
    let a = readme
        .find(BEGIN)
        .ok_or_else(|| format!("README has no {BEGIN} marker"))?;
    let b = readme
        .find(END)
        .filter(|b| *b > a)
        .ok_or_else(|| format!("README has no {END} marker after {BEGIN}"))?;
    Ok(format!(
        "{}{BEGIN}\n{section}{}",
        &readme[..a],
        &readme[b..]
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slope_of_a_power_law_is_its_exponent() {
        let pts: Vec<(f64, f64)> = [1e4_f64, 1e5, 1e6]
            .iter()
            .map(|x| (*x, 3.0 * x * x.sqrt()))
            .collect();
        let s = log_log_slope(&pts).unwrap_or(0.0);
        assert!((s - 1.5).abs() < 1e-9, "{s}");
        assert_eq!(log_log_slope(&[(1.0, 2.0)]), None);
        assert_eq!(log_log_slope(&[(5.0, 2.0), (5.0, 3.0)]), None);
    }

    #[test]
    fn the_hashing_checks_are_exactly_those_whose_sql_hashes() {
        for name in invariants::CHECK_NAMES {
            let sql = invariants::check_sql(name).unwrap_or_default();
            let hashes = sql.contains("sha256(");
            assert_eq!(
                hashes,
                !hashed_tables(name).is_empty(),
                "{name}: hashes in SQL {hashes}, hashed tables {:?}",
                hashed_tables(name)
            );
            for t in hashed_tables(name) {
                assert!(sql.contains(t), "{name} hashes {t} but never names it");
            }
        }
    }

    #[test]
    fn a_floor_scans_once_and_hashes_what_it_must() {
        let a = Floor {
            scanned: vec!["a".into(), "b".into()],
            hashed: vec!["c".into()],
            rows: 0,
        };
        let b = Floor {
            scanned: vec!["c".into(), "d".into()],
            hashed: vec!["b".into()],
            rows: 0,
        };
        let u = Floor::union([&a, &b]);
        assert_eq!(u.scanned, vec!["a".to_string(), "d".to_string()]);
        assert_eq!(u.hashed, vec!["b".to_string(), "c".to_string()]);
        let sql = a.sql();
        assert!(
            sql.contains("(SELECT count(*) FROM a)") && sql.contains("sha256"),
            "{sql}"
        );
        assert_eq!(Floor::default().sql(), "SELECT 0::bigint");
    }

    #[test]
    fn plan_relations_are_found_at_any_depth() {
        let plan = serde_json::json!([{"Plan": {"Node Type": "Hash Join", "Plans": [
            {"Node Type": "Seq Scan", "Relation Name": "order_fill", "Schema": "public"},
            {"Node Type": "Append", "Plans": [
                {"Node Type": "Seq Scan", "Relation Name": "_hyper_1_2_chunk", "Schema": "_timescaledb_internal"}
            ]}
        ]}}]);
        let mut out = BTreeSet::new();
        plan_relations(&plan, &mut out);
        let got: Vec<&str> = out.iter().map(String::as_str).collect();
        assert_eq!(
            got,
            vec![
                "_timescaledb_internal._hyper_1_2_chunk",
                "public.order_fill"
            ]
        );
    }

    #[test]
    fn the_readme_section_is_spliced_between_its_markers() {
        let readme = "a\n<!-- scale:begin -->\nold\n<!-- scale:end -->\nb\n";
        let out = splice_readme(readme, "new\n").unwrap_or_default();
        assert_eq!(out, "a\n<!-- scale:begin -->\nnew\n<!-- scale:end -->\nb\n");
        assert!(splice_readme("no markers", "x").is_err());
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(12), "12");
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
    }
}
