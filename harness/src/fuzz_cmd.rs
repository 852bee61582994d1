//! `harness fuzz`: arguments, validation (exit 2 before any work), and the run.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use harness::fuzz::case::ShapeKind;
use harness::fuzz::{bugs, Budget, FuzzConfig, FuzzScript};

/// `harness fuzz` options.
#[derive(clap::Args, Debug, Clone)]
pub struct FuzzArgs {
    /// Run for this long (`90s`, `10m`, `1h`, or seconds); the default budget is 10m.
    #[arg(long, value_parser = parse_duration, conflicts_with = "cases")]
    duration: Option<Duration>,
    /// Run this many generated cases (the corpus comes on top).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    cases: Option<u64>,
    /// Cases at once (default: the number of cores).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=64))]
    jobs: Option<u16>,
    /// The run's seed (u64, 0x-hex or a 40-hex git SHA); default: from the clock. Printed first.
    #[arg(long, conflicts_with = "seed_from_git")]
    seed: Option<String>,
    /// Use the commit under test as the seed (`GITHUB_SHA`, else `git rev-parse HEAD`).
    #[arg(long)]
    seed_from_git: bool,
    /// Run every N-th case starting at I (`I/N`, 0 <= I < N): machines split one seed space.
    #[arg(long, value_parser = parse_shard, default_value = "0/1")]
    shard: (u64, u64),
    /// World sizes.
    #[arg(long, value_enum, default_value = "mixed")]
    shape: ShapeKind,
    /// Concurrent writers during every case's migration (0: none; the last hours are then
    /// written through the dual write between Phase 1B and Phase 1C).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=16))]
    writers: u8,
    /// Where a failure's artifacts go (one directory per distinct failure).
    #[arg(long, value_name = "DIR", default_value = "target/fuzz/artifacts")]
    artifacts: PathBuf,
    /// Failing scripts: replayed first, and every new failure is added.
    #[arg(long, value_name = "DIR")]
    corpus: Option<PathBuf>,
    /// Write the summary as JSON here.
    #[arg(long, value_name = "PATH")]
    json: Option<PathBuf>,
    /// Write a JUnit report here (one testcase per check, confirmation and failure).
    #[arg(long, value_name = "PATH")]
    junit: Option<PathBuf>,
    /// How long one failure may be shrunk.
    #[arg(long, value_parser = parse_duration, default_value = "60s")]
    shrink_time: Duration,
    /// A case still running after this long fails the run as `timeout:case` (a hang is a bug).
    #[arg(long, value_parser = parse_duration, default_value = "10m")]
    case_timeout: Duration,
    /// End the run cleanly (with its summary) when this file appears.
    #[arg(long, value_name = "PATH")]
    stop_file: Option<PathBuf>,
    /// Every case also applies a corruption after the cutover that its own check must catch.
    #[arg(long)]
    mutate: bool,
    /// Plant a bug in the migration (`--list-bugs` names them).
    #[arg(long, value_name = "NAME")]
    inject_bug: Option<String>,
    /// Print the planted bugs, one `name description` line each, and exit.
    #[arg(long)]
    list_bugs: bool,
    /// Fail (exit 1) when a rule edge was reached by no case.
    #[arg(long)]
    min_coverage: bool,
    /// Go on after a failure (distinct failures are reported once each); default: stop at
    /// the first.
    #[arg(long)]
    keep_going: bool,
    /// Keep failing databases (their URLs in the artifacts; `harness reap` stops their
    /// servers) instead of writing a pg_dump.
    #[arg(long)]
    keep_failed: bool,
    /// Replay one failing case from its `script.json` (what `replay.sh` runs): exit 1 while it
    /// still fails, 0 once it passes.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["duration", "cases", "seed", "seed_from_git", "corpus", "mutate", "list_bugs"])]
    replay: Option<PathBuf>,
}

/// `90s`, `10m`, `1h`, `250ms`, or plain seconds.
fn parse_duration(s: &str) -> std::result::Result<Duration, String> {
    let t = s.trim();
    let (num, unit) = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .map_or((t, ""), |i| t.split_at(i));
    let n: f64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a duration (e.g. 90s, 10m, 1h)"))?;
    let secs = match unit {
        "" | "s" => n,
        "ms" => n / 1000.0,
        "m" | "min" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("`{s}`: unknown unit `{unit}` (ms, s, m, h)")),
    };
    if !secs.is_finite() || secs <= 0.0 || secs > 7.0 * 24.0 * 3600.0 {
        return Err(format!(
            "`{s}`: a duration must be above 0 and at most 7 days"
        ));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// `I/N` with `N >= 1` and `I < N`.
fn parse_shard(s: &str) -> std::result::Result<(u64, u64), String> {
    let (i, n) = s
        .split_once('/')
        .ok_or_else(|| format!("`{s}`: a shard is I/N, e.g. 0/4"))?;
    let i: u64 = i
        .trim()
        .parse()
        .map_err(|_| format!("`{s}`: I is not a number"))?;
    let n: u64 = n
        .trim()
        .parse()
        .map_err(|_| format!("`{s}`: N is not a number"))?;
    if n == 0 || i >= n {
        return Err(format!("`{s}`: a shard needs 0 <= I < N"));
    }
    Ok((i, n))
}

fn git_seed() -> Result<(u64, String)> {
    let sha = match std::env::var("GITHUB_SHA") {
        Ok(s) if !s.trim().is_empty() => s,
        _ => {
            let out = std::process::Command::new("git")
                .args(["rev-parse", "HEAD"])
                .output()
                .context("--seed-from-git: running `git rev-parse HEAD`")?;
            if !out.status.success() {
                bail!(
                    "--seed-from-git: `git rev-parse HEAD` failed: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                );
            }
            String::from_utf8_lossy(&out.stdout).trim().to_string()
        }
    };
    let seed = generators::parse_seed(&sha).with_context(|| format!("--seed-from-git: {sha:?}"))?;
    Ok((seed, format!("git commit {sha}")))
}

/// Creates (or opens for append) `path` now, so a bad output path fails before any work; an
/// existing file keeps its content, and one this check created is removed again, so a refused
/// run leaves nothing.
pub fn check_writable(flag: &str, path: &Path) -> Result<()> {
    let existed = path.exists();
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .map_err(|e| anyhow::anyhow!("cannot write {flag} {}: {e}", path.display()))?;
    if !existed {
        let _ = std::fs::remove_file(path);
    }
    Ok(())
}

/// Usage problems found before any work: exit 2 with the message.
pub fn validate(args: &FuzzArgs) -> Result<Option<&'static bugs::PlantedBug>> {
    let bug = match &args.inject_bug {
        Some(name) => Some(bugs::bug(name).ok_or_else(|| {
            anyhow::anyhow!(
                "unknown planted bug `{name}`; `harness fuzz --list-bugs` lists them: {}",
                bugs::names()
            )
        })?),
        None => None,
    };
    for (flag, path) in [("--json", &args.json), ("--junit", &args.junit)] {
        if let Some(p) = path {
            check_writable(flag, p)?;
        }
    }
    if let Some(c) = &args.corpus {
        if c.exists() && !c.is_dir() {
            bail!("--corpus {}: not a directory", c.display());
        }
    }
    if args.artifacts.exists() && !args.artifacts.is_dir() {
        bail!("--artifacts {}: not a directory", args.artifacts.display());
    }
    Ok(bug)
}

/// Runs `harness fuzz`; `start` makes the server (its failure is an infrastructure failure,
/// exit 3).
pub async fn cmd_fuzz<F, Fut>(args: &FuzzArgs, start: F) -> Result<ExitCode>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<std::sync::Arc<dyn harness::provision::Server>>>,
{
    if args.list_bugs {
        print!("{}", bugs::list());
        return Ok(ExitCode::SUCCESS);
    }
    let bug = validate(args)?;
    let mut out = std::io::stdout();
    if let Some(path) = &args.replay {
        let script = FuzzScript::load(path).map_err(anyhow::Error::msg)?;
        let bug = match (bug, &script.bug) {
            (Some(b), _) => Some(b),
            (None, Some(name)) => Some(bugs::bug(name).ok_or_else(|| {
                anyhow::anyhow!(
                    "{}: planted bug `{name}` is not in this build's catalogue ({})",
                    path.display(),
                    bugs::names()
                )
            })?),
            (None, None) => None,
        };
        let server = match start().await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("error: {e:#}");
                return Ok(ExitCode::from(3));
            }
        };
        let code = harness::fuzz::replay(&script, bug, server, args.case_timeout, &mut out)
            .await
            .map_err(anyhow::Error::msg)?;
        return Ok(ExitCode::from(code));
    }
    let (seed, seed_source) = match (&args.seed, args.seed_from_git) {
        (Some(s), _) => (generators::parse_seed(s)?, "--seed".to_string()),
        (None, true) => git_seed()?,
        (None, false) => {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0);
            (
                harness::fuzz::case::splitmix(nanos),
                "the clock".to_string(),
            )
        }
    };
    let jobs = args
        .jobs
        .map(usize::from)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let budget = match (args.duration, args.cases) {
        (Some(d), _) => Budget::Duration(d),
        (None, Some(n)) => Budget::Cases(n),
        (None, None) => Budget::Duration(Duration::from_secs(600)),
    };
    let config = FuzzConfig {
        seed,
        seed_source: seed_source.clone(),
        budget,
        jobs,
        shard: args.shard,
        shape: args.shape,
        writers: args.writers,
        artifacts: args.artifacts.clone(),
        corpus: args.corpus.clone(),
        shrink_time: args.shrink_time,
        stop_file: args.stop_file.clone(),
        mutate: args.mutate,
        bug,
        keep_going: args.keep_going,
        keep_failed: args.keep_failed,
        case_timeout: args.case_timeout,
    };
    writeln!(out, "seed: {seed} (from {seed_source})")?;
    writeln!(
        out,
        "budget: {}",
        match budget {
            Budget::Duration(d) => format!("{:.0} s", d.as_secs_f64()),
            Budget::Cases(n) => format!("{n} cases"),
        }
    )?;
    writeln!(
        out,
        "jobs: {jobs}; shard: {}/{}; shape: {}; writers: {}; mutate: {}; shrink time: {:.0} s",
        args.shard.0,
        args.shard.1,
        args.shape.as_str(),
        args.writers,
        args.mutate,
        args.shrink_time.as_secs_f64()
    )?;
    writeln!(
        out,
        "planted bug: {}",
        bug.map_or("none".to_string(), |b| format!(
            "{} ({})",
            b.name, b.description
        ))
    )?;
    writeln!(out, "artifacts: {}", args.artifacts.display())?;
    if let Some(c) = &args.corpus {
        let n = harness::fuzz::load_corpus(c)
            .map_err(anyhow::Error::msg)?
            .len();
        writeln!(out, "corpus: {} ({n} scripts, replayed first)", c.display())?;
    }
    writeln!(
        out,
        "case k: seed = splitmix(run seed, k); one case replays with its artifacts' replay.sh"
    )?;
    out.flush()?;
    let server = match start().await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e:#}");
            return Ok(ExitCode::from(3));
        }
    };
    let outcome = harness::fuzz::run(config.clone(), server)
        .await
        .map_err(anyhow::Error::msg)?;
    write!(
        out,
        "{}",
        harness::fuzz::report::summary_text(&config, &outcome)
    )?;
    let mut code = outcome.exit_code();
    let missed = harness::fuzz::report::missed_edges(&outcome);
    if args.min_coverage && !missed.is_empty() && code == 0 {
        writeln!(
            out,
            "coverage: FAILED, no case reached: {}",
            missed.join(", ")
        )?;
        code = 1;
    }
    // A report that cannot be written is said, but never hides what the run found.
    let mut report_failed = false;
    if let Some(p) = &args.json {
        let mut doc = harness::fuzz::report::summary_json(&config, &outcome);
        doc["exit_code"] = serde_json::json!(code);
        let text = serde_json::to_string_pretty(&doc).unwrap_or_default();
        match std::fs::write(p, text) {
            Ok(()) => writeln!(out, "json: {}", p.display())?,
            Err(e) => {
                eprintln!("error: --json {}: {e}", p.display());
                report_failed = true;
            }
        }
    }
    if let Some(p) = &args.junit {
        match std::fs::write(p, harness::fuzz::report::junit(&config, &outcome)) {
            Ok(()) => writeln!(out, "junit: {}", p.display())?,
            Err(e) => {
                eprintln!("error: --junit {}: {e}", p.display());
                report_failed = true;
            }
        }
    }
    if report_failed && code == 0 {
        code = 2;
    }
    writeln!(
        out,
        "result: {}",
        match code {
            0 => "PASS",
            1 => "FAILED",
            2 => "REPORT NOT WRITTEN",
            _ => "INFRASTRUCTURE FAILURE",
        }
    )?;
    Ok(ExitCode::from(code))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_shards_parse_and_bad_ones_are_refused() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("5"), Ok(Duration::from_secs(5)));
        for bad in ["", "0s", "-1s", "10x", "abc", "8d", "9999h"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_shard("0/1"), Ok((0, 1)));
        assert_eq!(parse_shard("3/4"), Ok((3, 4)));
        for bad in ["4/4", "1/0", "1", "a/2", "1/b"] {
            assert!(parse_shard(bad).is_err(), "{bad}");
        }
    }
}
