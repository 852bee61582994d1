//! The `harness` command line.

use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};
use harness::provision::{native, BackendChoice, BackendKind};

#[derive(Parser)]
#[command(name = "harness", version, about = "Invariant-checking harness for the Phase 1 TimescaleDB migration")]
struct Cli {
    /// auto | native | docker | external
    #[arg(long, global = true, env = "HARNESS_BACKEND", default_value = "auto")]
    backend: String,
    /// Server for the external backend (the harness only creates and drops its own databases).
    #[arg(long, global = true, env = "HARNESS_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
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
            tracing_subscriber::EnvFilter::try_from_env("HARNESS_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,sqlx::postgres::notice=error")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match run(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn run(cli: Cli) -> Result<ExitCode> {
    match &cli.command {
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
            let db = harness::TestDb::from_template(&harness::template::TemplateSpec::phase_1a()).await?;
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
