//! The `harness` command line.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};
use harness::provision::{native, BackendChoice, BackendKind};
use harness::report::{ImplementationLog, ReportFormat};
use harness::run::{RunReport, Scenario, WorldSource};
use migrations::RunOutcome;

#[derive(Parser)]
#[command(
    name = "harness",
    version,
    about = "Invariant-checking harness for the Phase 1 TimescaleDB migration"
)]
struct Cli {
    /// auto | native | docker | external
    #[arg(long, global = true, env = "HARNESS_BACKEND", default_value = "auto")]
    backend: String,
    /// A PostgreSQL URL (postgres://user[:password]@host[:port]/database). For `run`, `doctor`
    /// and `serve` with the external backend: the server the harness creates and drops its own
    /// databases on. For `validate`: the database to audit itself (read-only).
    #[arg(
        long,
        global = true,
        env = "HARNESS_DATABASE_URL",
        hide_env_values = true
    )]
    database_url: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args, Debug, Clone)]
struct RunArgs {
    /// World seed: a u64, 0x-hex, or a 40-hex git SHA. Printed first; replays the world.
    #[arg(long, default_value = "0")]
    seed: String,
    /// Seed the small hand-scripted fixture world instead of a generated one.
    #[arg(long, conflicts_with_all = ["accounts", "instruments", "hours", "fills", "script"])]
    fixture: bool,
    /// Replay a `{seed, shape, script}` JSON file (what a failing property test writes).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["accounts", "instruments", "hours", "fills"])]
    script: Option<std::path::PathBuf>,
    /// Accounts in the generated world.
    #[arg(long)]
    accounts: Option<usize>,
    /// Instruments in the generated world.
    #[arg(long)]
    instruments: Option<usize>,
    /// Hours in the generated world.
    #[arg(long)]
    hours: Option<u32>,
    /// Fills to aim for in the generated world.
    #[arg(long)]
    fills: Option<u64>,
    /// Migration history to play.
    #[arg(long, value_enum, default_value = "clean")]
    scenario: Scenario,
    /// Keep the database afterwards and print `database: <url>`.
    #[arg(long)]
    keep: bool,
    /// Write the implementation log to this file instead of stdout.
    #[arg(long, value_name = "PATH")]
    report: Option<std::path::PathBuf>,
    /// Implementation log format.
    #[arg(long, value_enum, default_value = "md")]
    format: ReportFormat,
}

#[derive(clap::Args, Debug, Clone)]
struct ValidateArgs {
    /// The database to audit (postgres://user[:password]@host[:port]/database); defaults to
    /// `--database-url` / `HARNESS_DATABASE_URL`.
    url: Option<String>,
    /// Print the full implementation log in this format instead of the check lines.
    #[arg(long, value_enum)]
    format: Option<ReportFormat>,
    /// Violating rows sampled per check.
    #[arg(long, default_value_t = harness::report::DEFAULT_SAMPLE)]
    sample: usize,
}

#[derive(Subcommand)]
enum Command {
    /// Provision a fresh database, seed a world, run the whole migration (Phase 1B, Phase 1C
    /// Revision B), print every step; exit 0 only on success.
    Run(RunArgs),
    /// Audit an existing database (URL argument, else `--database-url`), read-only: the twelve checks
    /// (`<check_name>: <count>` or `n/a`), their samples, the structural confirmations. Exits 0
    /// only when all twelve are zero (and, past the cutover, every confirmation holds), 1 on
    /// violations, 2 when the database cannot be read.
    Validate(ValidateArgs),
    /// Run (or resume) Phase 1C on an existing database named by URL; a finished migration is
    /// a no-op that says so.
    Migrate {
        /// postgres://user[:password]@host[:port]/database
        url: String,
    },
    /// Print what can serve databases here and how fast: one `key: value` line per fact.
    Doctor,
    /// Stop native servers kept for failed tests (and any left by killed runs).
    Reap,
    /// Start a throw-away server with a fresh TimescaleDB database, print `database: <url>`,
    /// and keep it until stdin closes or Ctrl-C; then stop it and remove its data.
    Serve,
}

fn choice(cli: &Cli) -> Result<BackendChoice> {
    Ok(BackendChoice {
        kind: cli.backend.parse::<BackendKind>()?,
        database_url: cli.database_url.clone().filter(|s| !s.trim().is_empty()),
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("HARNESS_LOG").unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new(
                    "warn,sqlx::postgres::notice=error,sqlx::query=error",
                )
            }),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match run(cli).await {
        Ok(code) => code,
        Err(e) => {
            // library errors carry their causes in their own message
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

async fn run(cli: Cli) -> Result<ExitCode> {
    match &cli.command {
        Command::Run(args) => cmd_run(&cli, args).await,
        Command::Migrate { url } => cmd_migrate(url).await,
        Command::Validate(args) => cmd_validate(&cli, args).await,
        Command::Doctor => {
            let report = harness::doctor::run(&choice(&cli)?).await;
            print!("{}", report.render());
            Ok(if report.fatal.is_some() {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::Serve => {
            let server = harness::shared_server().await?;
            let db = harness::TestDb::from_template(&harness::template::TemplateSpec::phase_1a())
                .await?;
            println!("database: {}", db.url());
            let mut stdin = tokio::io::BufReader::new(tokio::io::stdin());
            let mut line = String::new();
            tokio::select! {
                _ = tokio::io::AsyncBufReadExt::read_line(&mut stdin, &mut line) => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            drop(db);
            drop(server);
            Ok(ExitCode::SUCCESS)
        }
        Command::Reap => {
            let (base, _) = native::base_dir();
            let n = native::reap_all(&base.join("harness-pg/run"));
            println!("reaped: {n}");
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn world_source(args: &RunArgs) -> Result<(WorldSource, String)> {
    if args.fixture {
        return Ok((WorldSource::Fixture, "fixture".into()));
    }
    if let Some(path) = &args.script {
        let file = generators::ReplayFile::load(path)?;
        let desc = format!(
            "replay of {} ({} actions, seed {})",
            path.display(),
            file.script.actions.len(),
            file.seed
        );
        return Ok((WorldSource::Replay(Box::new(file)), desc));
    }
    let seed = generators::parse_seed(&args.seed)?;
    let mut params = generators::WorldParams::default();
    if let Some(v) = args.accounts {
        params.accounts = v;
    }
    if let Some(v) = args.instruments {
        params.instruments = v;
    }
    if let Some(v) = args.hours {
        params.hours = v;
    }
    if let Some(v) = args.fills {
        params.target_fills = v;
    }
    let desc = format!(
        "generated (accounts {}, instruments {}, hours {}, target fills {})",
        params.accounts, params.instruments, params.hours, params.target_fills
    );
    Ok((WorldSource::Generated { seed, params }, desc))
}

fn replay_command(args: &RunArgs) -> String {
    let mut c = String::from("harness run");
    if args.fixture {
        c.push_str(" --fixture");
    } else if let Some(path) = &args.script {
        c.push_str(&format!(" --script {}", path.display()));
    } else {
        c.push_str(&format!(" --seed {}", args.seed));
        for (flag, v) in [
            ("--accounts", args.accounts.map(|v| v.to_string())),
            ("--instruments", args.instruments.map(|v| v.to_string())),
            ("--hours", args.hours.map(|v| v.to_string())),
            ("--fills", args.fills.map(|v| v.to_string())),
        ] {
            if let Some(v) = v {
                c.push_str(&format!(" {flag} {v}"));
            }
        }
    }
    if args.scenario != Scenario::Clean {
        c.push_str(&format!(" --scenario {}", scenario_name(args.scenario)));
    }
    c
}

fn scenario_name(s: Scenario) -> String {
    clap::ValueEnum::to_possible_value(&s)
        .map(|v| v.get_name().to_string())
        .unwrap_or_default()
}

fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn print_steps(out: &mut dyn Write, outcome: &RunOutcome) -> std::io::Result<()> {
    for s in &outcome.steps {
        writeln!(
            out,
            "  {:<31} {:<40} {:>9.1} ms  {}",
            s.step.as_str(),
            s.status.as_str(),
            ms(s.duration),
            s.notes
        )?;
        if let Some(e) = &s.error {
            writeln!(out, "  {:<31} error: {e}", "")?;
        }
    }
    Ok(())
}

async fn cmd_run(cli: &Cli, args: &RunArgs) -> Result<ExitCode> {
    // With the JSON log on stdout, stdout carries that document alone: the progress lines
    // (fingerprint included) go to stderr so `harness run --format json | jq` works.
    let json_on_stdout = args.format == ReportFormat::Json && args.report.is_none();
    let (mut stdout, mut stderr) = (std::io::stdout(), std::io::stderr());
    let out: &mut dyn Write = if json_on_stdout {
        &mut stderr
    } else {
        &mut stdout
    };
    let (source, desc) = world_source(args)?;
    match &source {
        WorldSource::Generated { seed, .. } => writeln!(out, "seed: {seed}")?,
        WorldSource::Fixture => {
            writeln!(out, "seed: {} (fixture world)", generators::FIXTURE_SEED)?
        }
        WorldSource::Replay(file) => writeln!(out, "seed: {} (replay file)", file.seed)?,
    }
    writeln!(out, "world: {desc}")?;
    writeln!(out, "scenario: {}", scenario_name(args.scenario))?;
    let server = std::sync::Arc::from(choice(cli)?.start().await?);
    let world = harness::run::build_world(&source)?;
    let report = harness::run::run(server, &world, args.scenario).await?;
    print_report(out, &report)?;
    let ok = report.succeeded();
    if args.keep || !ok {
        report.db.keep_quietly();
    }
    let log = harness::report::gather_run(&report, &desc, &scenario_name(args.scenario)).await?;
    emit_log(out, &log, args.format, args.report.as_deref())?;
    let mut conn = report.db.connect().await?;
    let fingerprint = harness::fingerprint::fingerprint(&mut conn).await?;
    let _ = sqlx::Connection::close(conn).await;
    if args.keep || !ok {
        writeln!(out, "database: {}", report.db.url())?;
    }
    let code = if ok {
        writeln!(out, "result: SUCCESS")?;
        ExitCode::SUCCESS
    } else {
        writeln!(out, "result: FAILED")?;
        writeln!(out, "replay: {}", replay_command(args))?;
        ExitCode::FAILURE
    };
    // Last line by contract: scripts compare runs by it.
    writeln!(out, "fingerprint: {fingerprint}")?;
    Ok(code)
}

/// Print the implementation log on stdout, or write it to `path` and say so on `out`.
fn emit_log(
    out: &mut dyn Write,
    log: &ImplementationLog,
    format: ReportFormat,
    path: Option<&std::path::Path>,
) -> Result<()> {
    let text = log.render(format);
    match path {
        Some(p) => {
            std::fs::write(p, &text)
                .map_err(|e| anyhow::anyhow!("writing the report to {}: {e}", p.display()))?;
            writeln!(out, "report: {}", p.display())?;
        }
        None if format == ReportFormat::Json => {
            let mut stdout = std::io::stdout();
            write!(stdout, "{text}")?;
            if !text.ends_with('\n') {
                writeln!(stdout)?;
            }
        }
        None => {
            writeln!(out)?;
            write!(out, "{text}")?;
            if !text.ends_with('\n') {
                writeln!(out)?;
            }
            writeln!(out)?;
        }
    }
    Ok(())
}

async fn cmd_validate(cli: &Cli, args: &ValidateArgs) -> Result<ExitCode> {
    let given = args.url.as_deref().or(cli.database_url.as_deref());
    let Some(url) = given.filter(|u| !u.trim().is_empty()) else {
        anyhow::bail!(
            "validate needs the database to audit: `harness validate URL` (or --database-url / HARNESS_DATABASE_URL)"
        );
    };
    let mut conn = harness::report::connect_database(url).await?;
    // A second connection halves the checks' time on two cores; without one (e.g. the server's
    // connection limit is reached) the audit runs on the first alone.
    let mut helpers = match harness::report::connect_database(url).await {
        Ok(helper) => vec![helper],
        Err(e) => {
            tracing::warn!(error = %e, "no helper connection: the checks run on one connection");
            Vec::new()
        }
    };
    let log = harness::report::gather_database_on(&mut conn, &mut helpers, args.sample).await?;
    let _ = sqlx::Connection::close(conn).await;
    for helper in helpers {
        let _ = sqlx::Connection::close(helper).await;
    }
    match args.format {
        Some(format) => {
            let text = log.render(format);
            print!("{text}");
            if !text.ends_with('\n') {
                println!();
            }
        }
        None => print!("{}", validate_lines(&log)),
    }
    Ok(if log.audit_passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `harness validate`'s plain output: check counts, samples, parity, the hour grid, the
/// structural confirmations, the migration's state, and why the audit fails.
fn validate_lines(log: &ImplementationLog) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let v = &log.validation;
    for o in &v.checks {
        let n = match o.violations {
            None => "n/a".to_string(),
            Some(n) if o.rules_not_applicable.is_empty() => n.to_string(),
            Some(n) => format!("{n} (n/a: {})", o.rules_not_applicable.join(", ")),
        };
        let _ = writeln!(s, "{}: {n}", o.check);
    }
    let _ = writeln!(s, "table_set: {}", v.table_set);
    let sampled: Vec<_> = v.checks.iter().filter(|o| !o.sample.is_empty()).collect();
    if sampled.is_empty() {
        let _ = writeln!(s, "samples: none");
    } else {
        let _ = writeln!(s, "samples:");
        for o in sampled {
            for row in &o.sample {
                let rule = row.get("rule").and_then(|r| r.as_str()).unwrap_or("?");
                let _ = writeln!(s, "  {} [{rule}]: {row}", o.check);
            }
        }
    }
    let p = &log.parity;
    match p.direction {
        None => {
            let _ = writeln!(s, "parity: n/a (Phase 1A: nothing to compare yet)");
        }
        Some(d) => {
            let dir = match d {
                invariants::parity::ParityDirection::ArchiveToCanonical => "archive -> canonical",
                invariants::parity::ParityDirection::CanonicalToV2 => "canonical -> *_v2",
            };
            let _ = writeln!(
                s,
                "parity: {dir}: {}",
                if p.passed { "PASS" } else { "FAIL" }
            );
            for t in &p.tables {
                let status = match t.status {
                    invariants::parity::ParityStatus::Pass => "PASS",
                    invariants::parity::ParityStatus::Fail => "FAIL",
                };
                let _ = write!(
                    s,
                    "  {}: {} -> {} rows, missing {}, changed {}, extra {}, written after {}: {status}",
                    t.table, t.source_rows, t.target_rows, t.missing, t.changed, t.extra, t.written_after
                );
                if let Some(e) = &t.error {
                    let _ = write!(s, " ({e})");
                }
                let _ = writeln!(s);
                for d in &t.first_differences {
                    let _ = writeln!(
                        s,
                        "    {} {}: source {} target {}",
                        invariants::parity::kind_text(d.kind),
                        d.key,
                        d.source_row
                            .as_ref()
                            .map_or_else(|| "absent".to_string(), |r| r.to_string()),
                        d.target_row
                            .as_ref()
                            .map_or_else(|| "absent".to_string(), |r| r.to_string())
                    );
                }
            }
        }
    }
    let g = &log.hour_grid;
    let opt = |n: Option<i64>| n.map_or_else(|| "n/a".to_string(), |n| n.to_string());
    let _ = writeln!(
        s,
        "hour_grid: accounts {}; portfolio {} (missing {}); risk {} (missing {}); positions {} (missing {}); cluster exposure {} of {} (missing {})",
        g.accounts,
        g.portfolio_states,
        opt(g.portfolio_missing),
        g.risk_states,
        opt(g.risk_missing),
        g.position_states,
        opt(g.position_missing),
        opt(g.exposure_rows),
        opt(g.exposure_expected),
        opt(g.exposure_missing)
    );
    let _ = writeln!(s, "fk_to_hypertable: {}", log.fk_legality.count);
    for i in &log.identity {
        let n = |v: Option<i64>| v.map_or_else(|| "missing".to_string(), |n| n.to_string());
        let _ = writeln!(
            s,
            "identity {}: {} / {} {}: {}",
            i.identity_table,
            n(i.identity_rows),
            i.hypertable,
            n(i.hypertable_rows),
            harness::report::parity_text(i.parity)
        );
    }
    let c = &log.cutover;
    let _ = writeln!(
        s,
        "cutover: archives {} of 10, *_v2 left {}",
        c.archives_present.len(),
        if c.v2_remaining.is_empty() {
            "none".to_string()
        } else {
            c.v2_remaining.join(", ")
        }
    );
    let ok = log
        .triggers
        .triggers
        .iter()
        .filter(|t| t.present && t.enabled)
        .count();
    let _ = writeln!(
        s,
        "triggers: {ok} of {} present and enabled",
        log.triggers.triggers.len()
    );
    for t in log
        .triggers
        .triggers
        .iter()
        .filter(|t| !(t.present && t.enabled))
    {
        let why = match (t.present, t.tgenabled.as_deref()) {
            (false, _) => "MISSING",
            (true, Some("R")) => "ENABLED ONLY FOR REPLICA SESSIONS",
            _ => "DISABLED",
        };
        let _ = writeln!(s, "  {}.{}: {why}", t.table, t.trigger);
    }
    let cp = &log.compression;
    let _ = writeln!(
        s,
        "compression: hypertables {}; compression_enabled {}; policy jobs {}",
        if cp.hypertables.is_empty() {
            "none".to_string()
        } else {
            cp.hypertables.join(", ")
        },
        cp.targets
            .iter()
            .filter(|t| t.is_hypertable)
            .map(|t| format!("{}={}", t.table, t.compression_enabled.unwrap_or(false)))
            .collect::<Vec<_>>()
            .join(", "),
        cp.policy_jobs
    );
    match &log.lock {
        Some(l) => {
            let _ = writeln!(
                s,
                "lock: {} locked={} locked_at_utc={} unlocked_at_utc={}",
                l.migration_name,
                l.locked,
                l.locked_at_utc.as_deref().unwrap_or("NULL"),
                l.unlocked_at_utc.as_deref().unwrap_or("NULL")
            );
        }
        None => {
            let _ = writeln!(s, "lock: no {} row", contract::LOCK_NAME);
        }
    }
    for a in &log.timestamps.aborts {
        let _ = writeln!(
            s,
            "attempt {} (log_id {}): {}: {}",
            a.step, a.log_id, a.status, a.resolution
        );
    }
    let m = &log.migration;
    if m.finished {
        let _ = writeln!(s, "migration: finished");
    } else {
        let _ = writeln!(s, "migration: NOT FINISHED: {}", m.problems.join("; "));
    }
    for c in &log.confirmations {
        let _ = writeln!(
            s,
            "confirmation {}: {}: {}",
            c.name,
            if c.passed { "PASS" } else { "FAIL" },
            c.detail
        );
    }
    let _ = writeln!(s, "migration_result: {}", log.result.migration_result);
    let failures = log.audit_failures();
    if !failures.is_empty() {
        let _ = writeln!(s, "failing:");
        for f in &failures {
            let _ = writeln!(s, "  {f}");
        }
    }
    let _ = writeln!(
        s,
        "result: {}",
        if log.audit_passed() { "PASS" } else { "FAIL" }
    );
    s
}

fn print_report(out: &mut dyn Write, r: &RunReport) -> std::io::Result<()> {
    let rows: u64 = r.row_counts.iter().map(|(_, n)| n).sum();
    writeln!(
        out,
        "seeded: {rows} rows in {:.1} ms ({:.0} rows/s)",
        ms(r.seed_time),
        rows as f64 / r.seed_time.as_secs_f64().max(1e-9)
    )?;
    writeln!(out, "phase_1b: SUCCESS in {:.1} ms", ms(r.phase_1b_time))?;
    for (i, a) in r.attempts.iter().enumerate() {
        writeln!(out, "phase_1c attempt {}:", i + 1)?;
        if let Some(o) = &a.outcome {
            print_steps(out, o)?;
            writeln!(out, "  total: {:.1} ms", ms(o.total_duration()))?;
        }
        if let Some(e) = &a.error {
            writeln!(out, "  aborted under lock: {e}")?;
        }
    }
    writeln!(
        out,
        "total: {:.1} ms (provision + seed + migrate)",
        ms(r.total_time)
    )
}

async fn cmd_migrate(url: &str) -> Result<ExitCode> {
    let mut conn = migrations::connect(url).await?;
    // STEP_8's audit also uses a second connection to the same database when the URL parses
    // (it always does once `connect` succeeded); the gate falls back to one connection itself.
    let gate = match url.parse::<sqlx::postgres::PgConnectOptions>() {
        Ok(options) => harness::gate::AuditGate::with_helper(options),
        Err(_) => harness::gate::AuditGate::new(),
    };
    let options = migrations::RunOptions {
        gate: Some(std::sync::Arc::new(gate)),
        ..migrations::RunOptions::default()
    };
    match migrations::run_phase_1c(&mut conn, &options).await {
        Ok(o) if o.noop => {
            println!(
                "{}; nothing changed",
                o.noop_reason
                    .as_deref()
                    .unwrap_or("already migrated: Phase 1C completed earlier")
            );
            Ok(ExitCode::SUCCESS)
        }
        Ok(o) => {
            print_steps(&mut std::io::stdout(), &o)?;
            println!("result: SUCCESS");
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            if let Some(o) = e.outcome() {
                print_steps(&mut std::io::stdout(), o)?;
            }
            println!("result: FAILED: {e}");
            Ok(ExitCode::FAILURE)
        }
    }
}
