//! The `harness` command line.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};
use harness::provision::{docker, native, BackendChoice, BackendKind};
use harness::report::{ImplementationLog, ReportFormat};
use harness::run::{LiveConfig, RunConfig, RunReport, Scenario, StopAfter, WorldSource};
use migrations::RunOutcome;

mod fuzz_cmd;

#[derive(Parser)]
#[command(
    name = "harness",
    version,
    about = "Invariant-checking harness for the Phase 1 TimescaleDB migration"
)]
struct Cli {
    /// Where databases come from (every subcommand that makes one honours it).
    #[arg(
        long,
        global = true,
        env = "HARNESS_BACKEND",
        value_enum,
        default_value_t = Backend::Auto,
        ignore_case = true
    )]
    backend: Backend,
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
    #[arg(long, conflicts_with_all = ["seed", "accounts", "instruments", "hours", "fills", "script"])]
    fixture: bool,
    /// Replay a `{seed, shape, script}` JSON file (what a failing property test writes).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["accounts", "instruments", "hours", "fills"])]
    script: Option<std::path::PathBuf>,
    /// Accounts in the generated world (1 to 10,000).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    accounts: Option<u64>,
    /// Instruments in the generated world (1 to 10,000).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    instruments: Option<u64>,
    /// Hours in the generated world (2 to 100,000; accounts x hours at most 20,000,000).
    #[arg(long, value_parser = clap::value_parser!(u32).range(2..=100_000))]
    hours: Option<u32>,
    /// Fills to aim for in the generated world (1 to 10,000,000).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
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
    /// Live writers: the world's last hours are written by this many concurrent writers while
    /// the migration runs (instead of being seeded); afterwards every acknowledged write is
    /// verified in the final tables and the audit runs again over old and new rows.
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=64))]
    writers: Option<u16>,
    /// Writes (transactions) per second over all writers; without it they write as fast as
    /// the database takes them. Needs --writers.
    #[arg(long, requires = "writers", value_parser = parse_rate, allow_negative_numbers = true)]
    write_rate: Option<f64>,
    /// How many of the world's last hours are written live (default: half of them). Needs
    /// --writers.
    #[arg(long, requires = "writers", value_parser = clap::value_parser!(u32).range(1..))]
    live_hours: Option<u32>,
    /// Write every acknowledged write and every failed attempt of the live writers to this
    /// file, one JSON object per line (`{"ack": ...}` / `{"failure": ...}`). Needs --writers.
    #[arg(long, value_name = "PATH", requires = "writers")]
    writer_log: Option<std::path::PathBuf>,
    /// Stop after `seed`, `phase-1b` or a Phase 1C step (e.g. STEP_6_M9_HASH_ADDITIONS); with
    /// --keep the database is left there (the lock held), to prepare any state.
    #[arg(long, value_name = "POINT", value_parser = parse_stop_after)]
    stop_after: Option<StopAfter>,
}

fn parse_rate(s: &str) -> std::result::Result<f64, String> {
    match s.parse::<f64>() {
        Ok(r) if r.is_finite() && r > 0.0 => Ok(r),
        _ => Err(format!(
            "`{s}` is not a positive number of writes per second"
        )),
    }
}

fn parse_stop_after(s: &str) -> std::result::Result<StopAfter, String> {
    s.parse()
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

#[derive(clap::Args, Debug, Clone)]
struct MigrateArgs {
    /// postgres://user[:password]@host[:port]/database
    url: String,
    /// Rows per batch of the batched backfills (Phase 1B, STEP_2, STEP_3, STEP_4, STEP_6).
    #[arg(long, default_value_t = migrations::DEFAULT_BATCH_SIZE, value_parser = clap::value_parser!(u32).range(1..))]
    batch_size: u32,
    /// lock_timeout of every migration transaction, in milliseconds: a stage that cannot get
    /// its locks within it rolls back, backs off and retries, so writers never queue behind it.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=60_000))]
    lock_timeout_ms: u64,
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
    /// Run whatever remains of the migration on an existing database named by URL: Phase 1B
    /// if it is not applied (a Phase 1A database) or was interrupted, then Phase 1C, resuming
    /// where an earlier run stopped; a finished migration is a no-op that says so.
    Migrate(MigrateArgs),
    /// Print what can serve databases here and how fast: one `key: value` line per fact.
    Doctor,
    /// Stop native servers and remove containers kept for failed tests (and any left by killed
    /// runs; containers when an engine answers or with --backend docker); with
    /// --database-url, drop the databases dead runs of this machine left on that server.
    Reap,
    /// Start a throw-away server with a fresh TimescaleDB database, print `database: <url>`,
    /// and keep it until stdin closes or Ctrl-C; then stop it and remove its data.
    Serve,
    /// The fuzz job: generated worlds through the whole pipeline (checks on Phase 1A, `*_v2`
    /// and after the cutover, nothing lost, replay parity) until the budget; failures shrunk,
    /// written out with their replay command, deduplicated. Exit 0 clean, 1 a failure found,
    /// 2 usage error, 3 infrastructure failure.
    Fuzz(fuzz_cmd::FuzzArgs),
}

/// `--backend` / `HARNESS_BACKEND`.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    /// external with a URL, else native if TimescaleDB is installed, else docker
    Auto,
    /// a private local cluster from the PostgreSQL server binaries
    Native,
    /// a TimescaleDB container
    Docker,
    /// the server named by --database-url
    External,
}

fn choice(cli: &Cli) -> Result<BackendChoice> {
    Ok(BackendChoice {
        kind: match cli.backend {
            Backend::Auto => BackendKind::Auto,
            Backend::Native => BackendKind::Native,
            Backend::Docker => BackendKind::Docker,
            Backend::External => BackendKind::External,
        },
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
    let matches = <Cli as clap::CommandFactory>::command().get_matches();
    let cli = match <Cli as clap::FromArgMatches>::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    // An exported HARNESS_BACKEND applies where it can; one typed on the command line must.
    let backend_typed =
        matches.value_source("backend") == Some(clap::parser::ValueSource::CommandLine);
    if let (true, Some(name)) = (backend_typed, url_command(&cli.command)) {
        if !matches!(cli.backend, Backend::Auto | Backend::External) {
            eprintln!(
                "error: --backend {} does not apply to `{name}`: it works on the database its URL names",
                format!("{:?}", cli.backend).to_lowercase()
            );
            return ExitCode::from(2);
        }
    }
    match run(cli).await {
        Ok(code) => code,
        Err(e) => {
            // library errors carry their causes in their own message
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

/// The subcommands that take the database itself by URL, where no backend makes one.
fn url_command(command: &Command) -> Option<&'static str> {
    match command {
        Command::Migrate(_) => Some("migrate"),
        Command::Validate(_) => Some("validate"),
        _ => None,
    }
}

async fn run(cli: Cli) -> Result<ExitCode> {
    match &cli.command {
        Command::Run(args) => cmd_run(&cli, args).await,
        Command::Fuzz(args) => {
            let c = choice(&cli)?;
            fuzz_cmd::cmd_fuzz(args, move || async move {
                let server: std::sync::Arc<dyn harness::provision::Server> =
                    std::sync::Arc::from(c.start().await?);
                Ok(server)
            })
            .await
        }
        Command::Migrate(args) => cmd_migrate(args).await,
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
            let server: std::sync::Arc<dyn harness::provision::Server> =
                std::sync::Arc::from(choice(&cli)?.start().await?);
            let db = harness::TestDb::on_server(
                server.clone(),
                &harness::template::TemplateSpec::phase_1a(),
            )
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
            let c = choice(&cli)?;
            let mut n = 0;
            let mut failed = 0;
            if matches!(c.kind, BackendKind::Auto | BackendKind::Native) {
                let (base, _) = native::base_dir();
                n += native::reap_all(&base.join("harness-pg/run"));
            }
            // docker: asked for, or auto and an engine answers (auto never fails for lack of one)
            let docker = match c.kind {
                BackendKind::Docker => true,
                BackendKind::Auto => docker::engine_reachable().await.is_ok(),
                _ => false,
            };
            if docker {
                let r = docker::reap_containers(true).await?;
                for name in &r.removed {
                    println!("removed container: {name}");
                }
                for (name, why) in &r.failed {
                    println!("not removed: {name}: {why}");
                }
                failed += r.failed.len();
                println!(
                    "left: {} containers of live runs, {} of other machines",
                    r.alive, r.other_machines
                );
                n += r.removed.len();
            }
            let external = match (c.kind, &c.database_url) {
                (BackendKind::Auto | BackendKind::External, Some(url)) => Some(url),
                (BackendKind::External, None) => {
                    return Err(harness::ProvisionError::ExternalWithoutUrl.into())
                }
                _ => None,
            };
            if let Some(url) = external {
                let server = harness::provision::external::ExternalServer::attach(url).await?;
                let r = harness::provision::external::reap_dead_runs(&server).await?;
                for name in &r.dropped {
                    println!("dropped: {name}");
                }
                for (name, why) in &r.failed {
                    println!("not dropped: {name}: {why}");
                }
                failed += r.failed.len();
                println!(
                    "left: {} of live runs, {} of other machines, {} unstamped",
                    r.alive, r.other_hosts, r.unstamped
                );
                n += r.dropped.len();
            }
            println!("reaped: {n}");
            // what could not be removed is still there: say so in the exit code too
            Ok(if failed == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}

/// Largest accounts x hours (each an hourly portfolio and risk state, plus positions) and
/// instruments x hours (each an hourly feature snapshot) a world may have: it is built in
/// memory before it is seeded, about 10 GB at the limit.
const MAX_ACCOUNT_HOURS: u64 = 20_000_000;

/// Refuse a world too large to build, naming the product that is.
fn check_size(accounts: usize, instruments: usize, hours: u32) -> Result<()> {
    for (what, n) in [("--accounts", accounts), ("--instruments", instruments)] {
        let product = n as u64 * u64::from(hours);
        if product > MAX_ACCOUNT_HOURS {
            anyhow::bail!(
                "world too large: {what} {n} x --hours {hours} = {product} {}-hours, at most {MAX_ACCOUNT_HOURS}",
                what.trim_start_matches("--").trim_end_matches('s')
            );
        }
    }
    Ok(())
}

fn world_source(args: &RunArgs) -> Result<(WorldSource, String)> {
    if args.fixture {
        return Ok((WorldSource::Fixture, "fixture".into()));
    }
    if let Some(path) = &args.script {
        let file = generators::ReplayFile::load(path)?;
        check_size(
            file.shape.accounts.len(),
            file.shape.instruments.len(),
            file.shape.hours,
        )?;
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
    // clap bounds both to 10,000, which fits any usize
    if let Some(v) = args.accounts {
        params.accounts = usize::try_from(v)?;
    }
    if let Some(v) = args.instruments {
        params.instruments = usize::try_from(v)?;
    }
    if let Some(v) = args.hours {
        params.hours = v;
    }
    if let Some(v) = args.fills {
        params.target_fills = v;
    }
    check_size(params.accounts, params.instruments, params.hours)?;
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
    if let Some(n) = args.writers {
        c.push_str(&format!(" --writers {n}"));
    }
    if let Some(r) = args.write_rate {
        c.push_str(&format!(" --write-rate {r}"));
    }
    if let Some(h) = args.live_hours {
        c.push_str(&format!(" --live-hours {h}"));
    }
    if let Some(p) = args.stop_after {
        c.push_str(&format!(" --stop-after {p}"));
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
    // Outputs are checked before any work: a path that cannot be written fails now, not after
    // the migration.
    for (flag, path) in [
        ("--report", &args.report),
        ("--writer-log", &args.writer_log),
    ] {
        if let Some(p) = path {
            fuzz_cmd::check_writable(flag, p)?;
        }
    }
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
    let world = harness::run::build_world(&source)?;
    let hours = u32::try_from(world.feature_hours().len())?;
    let live = args.writers.map(|n| LiveConfig {
        writers: harness::writers::WriterOptions {
            writers: usize::from(n),
            rate: args.write_rate,
        },
        live_hours: args.live_hours.unwrap_or((hours / 2).max(1)),
    });
    if let Some(l) = &live {
        writeln!(
            out,
            "writers: {} at {}, over the last {} of {hours} hours",
            l.writers.writers,
            l.writers
                .rate
                .map_or_else(|| "full speed".to_string(), |r| format!("{r} writes/s")),
            l.live_hours
        )?;
    }
    let config = RunConfig {
        scenario: args.scenario,
        live,
        stop_after: args.stop_after,
    };
    let hook = fault_hook_from_env(json_on_stdout)?;
    let server = std::sync::Arc::from(choice(cli)?.start().await?);
    let report = match harness::run::run_with_hook(server, &world, &config, hook).await {
        Ok(report) => report,
        Err(harness::run::RunError::Kept { database, source }) => {
            // Every failed run keeps its database and says how to get it back.
            writeln!(out, "error: {source}")?;
            writeln!(out, "database: {database}")?;
            writeln!(out, "result: FAILED")?;
            writeln!(out, "replay: {}", replay_command(args))?;
            writeln!(out, "fingerprint: n/a (the run failed)")?;
            return Ok(ExitCode::FAILURE);
        }
        Err(e) => return Err(e.into()),
    };
    print_report(out, &report)?;
    if let (Some(path), Some(l)) = (&args.writer_log, &report.live) {
        write_writer_log(path, &l.log)?;
        writeln!(out, "writer log: {}", path.display())?;
    }
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

/// One JSON object per line: every ack, then every failed attempt.
fn write_writer_log(path: &std::path::Path, log: &harness::writers::WriterLog) -> Result<()> {
    let mut text = String::new();
    for a in &log.acks {
        text.push_str(&serde_json::json!({ "ack": a }).to_string());
        text.push('\n');
    }
    for f in &log.failures {
        text.push_str(&serde_json::json!({ "failure": f }).to_string());
        text.push('\n');
    }
    std::fs::write(path, text)
        .map_err(|e| anyhow::anyhow!("writing the writer log to {}: {e}", path.display()))
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
                if let Some(seal) = &t.sealed {
                    let _ = write!(
                        s,
                        "; cutover record {} rows, archive {} rows: {}",
                        seal.recorded_rows,
                        seal.archive_rows,
                        if seal.holds() { "sealed" } else { "BROKEN" }
                    );
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
    if r.stopped_after == Some(StopAfter::Seed) {
        return writeln!(
            out,
            "stopped after: seed (Phase 1A database, nothing migrated)"
        );
    }
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
    if let Some(p) = r.stopped_after {
        writeln!(out, "stopped after: {p} (migration_lock stays held)")?;
    }
    if let Some(l) = &r.live {
        print_live(out, l)?;
    }
    writeln!(out, "migration: {:.1} ms", ms(r.migration_time))?;
    writeln!(
        out,
        "total: {:.1} ms (provision + seed + migrate)",
        ms(r.total_time)
    )
}

fn print_live(out: &mut dyn Write, l: &harness::run::LiveRun) -> std::io::Result<()> {
    let o = &l.overall;
    writeln!(
        out,
        "writers: {} writes ({} rows) of {} available, {} live hours written{}; errors {}, deadlocks {} (server: {})",
        o.writes,
        o.rows,
        l.units_available,
        l.log.hours_written,
        if l.log.exhausted { " (all of them: the writers ran out before the migration ended)" } else { "" },
        o.errors,
        o.deadlocks,
        l.server_deadlocks
    )?;
    writeln!(
        out,
        "  {:<31} {:>7} {:>7} {:>10} {:>10} {:>10}",
        "window", "writes", "errors", "p50 ms", "p99 ms", "max ms"
    )?;
    let rows = l.windows.iter().map(|(name, s)| (name.clone(), s)).chain(
        l.by_kind
            .iter()
            .map(|(kind, s)| (format!("all {kind} units"), s)),
    );
    for (name, s) in rows {
        writeln!(
            out,
            "  {:<31} {:>7} {:>7} {:>10.1} {:>10.1} {:>10.1}",
            name,
            s.writes,
            s.errors,
            ms(s.p50),
            ms(s.p99),
            ms(s.max)
        )?;
    }
    for f in l.log.failures.iter().take(5) {
        writeln!(
            out,
            "  write error (writer {}, hour {} unit {}): {}",
            f.writer, f.unit.hour, f.unit.unit, f.message
        )?;
    }
    let v = &l.verification;
    writeln!(
        out,
        "acknowledged writes: {} lost, {} unexpected rows{}",
        v.lost(),
        v.unexpected(),
        if v.is_exact() {
            String::new()
        } else {
            format!(": {}", v.describe())
        }
    )?;
    if l.final_audit_failures.is_empty() {
        writeln!(
            out,
            "audit after the writers stopped: PASS (old and new rows)"
        )
    } else {
        writeln!(
            out,
            "audit after the writers stopped: FAIL: {}",
            l.final_audit_failures.join(", ")
        )
    }
}

/// `HARNESS_FAULT_POINT=<point>` (test hook): `run` and `migrate` stop at that fault point (exact name,
/// or a prefix ending in `*`), prints `fault point reached: <name> backend_pid=<pid>` and waits
/// for a line on stdin (or its end) before it goes on, so a test can kill it, terminate its
/// backend or crash the server while the migration stands exactly there.
fn fault_hook_from_env(to_stderr: bool) -> Result<Option<std::sync::Arc<migrations::FaultHook>>> {
    let Ok(point) = std::env::var("HARNESS_FAULT_POINT") else {
        return Ok(None);
    };
    let known = migrations::fault_points();
    if !known.iter().any(|p| migrations::point_matches(&point, p)) {
        anyhow::bail!(
            "HARNESS_FAULT_POINT={point} names no fault point of this migration ({} points, e.g. {} or {})",
            known.len(),
            known.first().map_or("", String::as_str),
            known.last().map_or("", String::as_str)
        );
    }
    let pause =
        migrations::PointAction::Call(std::sync::Arc::new(move |p: &migrations::FaultPoint| {
            // stdout, unless it carries a JSON document alone
            let line = format!(
                "fault point reached: {} backend_pid={}",
                p.name, p.backend_pid
            );
            if to_stderr {
                eprintln!("{line}");
            } else {
                let mut out = std::io::stdout();
                let _ = writeln!(out, "{line}");
                let _ = out.flush();
            }
            let mut line = String::new();
            let _ = std::io::stdin().read_line(&mut line);
        }));
    Ok(Some(std::sync::Arc::new(
        migrations::FaultHook::new().at_point(point, pause),
    )))
}

async fn cmd_migrate(args: &MigrateArgs) -> Result<ExitCode> {
    let url = args.url.as_str();
    let fault = fault_hook_from_env(false)?;
    let mut conn = migrations::connect(url).await?;
    // STEP_8's audit also uses a second connection to the same database when the URL parses
    // (it always does once `connect` succeeded); the gate falls back to one connection itself.
    let gate = match url.parse::<sqlx::postgres::PgConnectOptions>() {
        Ok(options) => harness::gate::AuditGate::with_helper(options),
        Err(_) => harness::gate::AuditGate::new(),
    };
    let options = migrations::RunOptions {
        gate: Some(std::sync::Arc::new(gate)),
        fault,
        batch_size: args.batch_size,
        lock_timeout: std::time::Duration::from_millis(args.lock_timeout_ms),
        ..migrations::RunOptions::default()
    };
    let mut out = std::io::stdout();
    match migrations::run_migration(&mut conn, &options).await {
        Ok(m) => {
            if let Some(p) = &m.phase_1b {
                print_scripts(&mut out, p)?;
            }
            match &m.phase_1c {
                Some(o) if o.noop => {
                    println!(
                        "{}; nothing changed",
                        o.noop_reason
                            .as_deref()
                            .unwrap_or("already migrated: Phase 1C completed earlier")
                    );
                }
                Some(o) => {
                    print_steps(&mut out, o)?;
                    println!("result: SUCCESS");
                }
                None => println!("result: SUCCESS (stopped after Phase 1B)"),
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            if let Some(o) = e.outcome() {
                print_steps(&mut out, o)?;
            }
            println!("result: FAILED: {e}");
            Ok(ExitCode::FAILURE)
        }
    }
}

fn print_scripts(out: &mut dyn Write, p: &migrations::Phase1bOutcome) -> std::io::Result<()> {
    for s in &p.scripts {
        writeln!(
            out,
            "  {:<31} {:<40} {:>9.1} ms  {}",
            s.script,
            s.status.as_str(),
            s.duration_us as f64 / 1000.0,
            s.notes
        )?;
    }
    Ok(())
}
