//! `harness fuzz`: the nightly fuzz job. Cases from one run seed (each its own derived seed and
//! swarm choices) go through the whole pipeline ([`case`]) on `--jobs` workers; a failure is
//! shrunk, written out with its replay command, added to the corpus and deduplicated by
//! signature (check and rule). The corpus is replayed first on every run.
//!
//! * [`bugs`]: the planted-bug catalogue (`--inject-bug`, `--list-bugs`);
//! * [`coverage`]: the rule edges the worlds reached;
//! * [`mutate`]: `--mutate`, a corruption per case that its own check must catch;
//! * [`facts`]: nothing-lost and replay-parity comparisons;
//! * [`report`]: the summary, `--json` and `--junit`.

pub mod bugs;
pub mod case;
pub mod coverage;
pub mod facts;
pub mod mutate;
pub mod report;

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use generators::strategy::{WorldCase, WorldCaseTree};
use generators::{ReplayFile, WorldParams};
use proptest::strategy::ValueTree;
use serde::{Deserialize, Serialize};

use crate::provision::Server;
use bugs::PlantedBug;
use case::{CaseOptions, CaseResult, Finding, ShapeKind, Verdict};

/// The format tag of a fuzz script (a failing case, replayable on its own).
pub const SCRIPT_FORMAT: &str = "harness-fuzz-script/1";

/// How long a run goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget {
    /// Until this much time has passed (cases started before the end finish).
    Duration(Duration),
    /// This many generated cases (the corpus comes on top).
    Cases(u64),
}

/// Everything a fuzz run was asked for.
#[derive(Debug, Clone)]
pub struct FuzzConfig {
    /// The run's seed; every case's seed derives from it.
    pub seed: u64,
    /// Where the seed came from (`--seed`, the git commit, the clock).
    pub seed_source: String,
    /// Time or case budget.
    pub budget: Budget,
    /// Cases at once.
    pub jobs: usize,
    /// (I, N): this machine runs cases with `index % N == I`.
    pub shard: (u64, u64),
    /// World sizes.
    pub shape: ShapeKind,
    /// Concurrent writers during every case's migration.
    pub writers: u8,
    /// Where failures' artifacts go.
    pub artifacts: PathBuf,
    /// Failing scripts, replayed first and added to.
    pub corpus: Option<PathBuf>,
    /// How long one failure may be shrunk.
    pub shrink_time: Duration,
    /// A file whose appearance ends the run cleanly.
    pub stop_file: Option<PathBuf>,
    /// A corruption per case that its check must catch.
    pub mutate: bool,
    /// The planted bug, if any.
    pub bug: Option<&'static PlantedBug>,
    /// Keep going after the first failure (distinct failures are deduplicated).
    pub keep_going: bool,
    /// Keep failing databases (their URLs in the artifacts) instead of dumping them.
    pub keep_failed: bool,
    /// A case still running after this long is a failure (`timeout:case`): a hang is a bug.
    pub case_timeout: Duration,
}

/// A failing case, replayable on its own (`harness fuzz --replay <file>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FuzzScript {
    /// Always [`SCRIPT_FORMAT`].
    pub format: String,
    /// What it failed with when it was written (`None`: not known).
    pub signature: Option<String>,
    /// The planted bug it ran with.
    pub bug: Option<String>,
    /// The run's seed and the case's index in it (for the record).
    pub run_seed: u64,
    /// Index of the case in its run.
    pub case_index: u64,
    /// The params the case was generated with.
    pub params: WorldParams,
    /// Shrink edits applied (0: the generated world of `world.seed` and `params`).
    pub shrink_steps: u32,
    /// The case's options.
    pub options: CaseOptions,
    /// The (shrunk) world.
    pub world: ReplayFile,
}

impl FuzzScript {
    /// The case it replays.
    pub fn case(&self) -> WorldCase {
        WorldCase {
            seed: self.world.seed,
            params: self.params.clone(),
            shape: self.world.shape.clone(),
            script: self.world.script.clone(),
            shrink_steps: self.shrink_steps,
        }
    }

    /// Reads a script, naming the file in every error.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("fuzz script {}: {e}", path.display()))?;
        let s: Self = serde_json::from_str(&text)
            .map_err(|e| format!("fuzz script {}: not a fuzz script: {e}", path.display()))?;
        if s.format != SCRIPT_FORMAT {
            return Err(format!(
                "fuzz script {}: format {:?}, expected {SCRIPT_FORMAT:?}",
                path.display(),
                s.format
            ));
        }
        Ok(s)
    }
}

/// One distinct failure of a run.
#[derive(Debug, Clone, Serialize)]
pub struct FailureRecord {
    /// `kind:what`.
    pub signature: String,
    /// The stage that saw it.
    pub stage: &'static str,
    /// What it saw (of the shrunk case).
    pub detail: String,
    /// Cases that failed with it.
    pub count: u64,
    /// Seed of the first case that did.
    pub seed: u64,
    /// Its index in the run (`corpus` cases: none).
    pub case_index: Option<u64>,
    /// Shrink edits that still fail the same way.
    pub shrink_steps: u32,
    /// Shrink wall time, seconds.
    pub shrink_seconds: f64,
    /// The artifact directory.
    pub artifacts: String,
    /// The command that reproduces it.
    pub replay: String,
}

/// Counters of a run, updated by the workers.
#[derive(Debug, Default)]
pub struct Tally {
    /// Generated cases finished.
    pub cases: u64,
    /// Corpus cases finished.
    pub corpus_cases: u64,
    /// Cases that passed.
    pub passed: u64,
    /// Rows seeded or written over all cases.
    pub rows: u64,
    /// Fills per finished case.
    pub fills: Vec<u64>,
    /// Wall time per case, seconds.
    pub case_seconds: Vec<f64>,
    /// Per stage: total wall time and how many cases ran it.
    pub stages: BTreeMap<&'static str, (Duration, u64)>,
    /// Edge -> cases that reached it.
    pub coverage: BTreeMap<&'static str, u64>,
    /// Check or confirmation -> (applied, killed), with `--mutate`.
    pub kills: BTreeMap<&'static str, (u64, u64)>,
    /// Cases whose world no corruption's precondition suited, with `--mutate`.
    pub mutation_skipped: u64,
    /// Distinct failures by signature.
    pub failures: BTreeMap<String, FailureRecord>,
    /// Failing cases (duplicates included).
    pub failing_cases: u64,
    /// Cases that failed with a signature while its first case was being shrunk.
    pub seen_while_shrinking: BTreeMap<String, u64>,
    /// Checks that ran clean at least once (JUnit testcases).
    pub checks_clean: BTreeMap<&'static str, u64>,
    /// The infrastructure failure that ended the run, if one did.
    pub infra: Option<String>,
}

/// What a run did.
#[derive(Debug)]
pub struct Outcome {
    /// The counters.
    pub tally: Tally,
    /// Wall time of the whole run.
    pub elapsed: Duration,
    /// Why it ended before its budget (`SIGINT`, the stop file, the first failure).
    pub stopped: Option<String>,
}

impl Outcome {
    /// 0 clean, 1 a failure found, 3 an infrastructure failure.
    pub fn exit_code(&self) -> u8 {
        if self.tally.infra.is_some() {
            3
        } else if !self.tally.failures.is_empty() {
            1
        } else {
            0
        }
    }
}

struct Shared {
    config: FuzzConfig,
    server: Arc<dyn Server>,
    tally: Mutex<Tally>,
    next: AtomicU64,
    stop: AtomicBool,
    stop_reason: Mutex<Option<String>>,
    started: Instant,
    /// Failures being shrunk (their signature), so a second case with it is only counted.
    shrinking: Mutex<Vec<String>>,
    artifact_seq: AtomicU64,
    /// Becomes true when the run stops: cases in flight are abandoned (not counted).
    cancel: tokio::sync::watch::Sender<bool>,
    /// SIGINT or the stop file: shrinking stops too (what it found so far is written).
    interrupted: AtomicBool,
    /// Becomes true with `interrupted`: a shrink candidate in flight is abandoned.
    interrupt: tokio::sync::watch::Sender<bool>,
}

impl Shared {
    fn halt(&self, why: &str) {
        let mut r = self.stop_reason.lock().unwrap_or_else(|p| p.into_inner());
        if r.is_none() {
            *r = Some(why.to_string());
        }
        self.stop.store(true, Ordering::SeqCst);
        self.cancel.send_replace(true);
    }

    fn interrupt(&self) {
        self.interrupted.store(true, Ordering::SeqCst);
        self.interrupt.send_replace(true);
    }

    fn stopped(&self) -> bool {
        if self.stop.load(Ordering::SeqCst) {
            return true;
        }
        if let Some(f) = &self.config.stop_file {
            if f.exists() {
                self.interrupt();
                self.halt(&format!("stop file {} appeared", f.display()));
                return true;
            }
        }
        false
    }

    fn tally(&self) -> std::sync::MutexGuard<'_, Tally> {
        self.tally.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Where a case comes from.
enum Source {
    Corpus(PathBuf, Box<FuzzScript>),
    Generated(u64),
}

/// The corpus's scripts, sorted by file name; unreadable ones are errors (nothing is skipped
/// silently).
pub fn load_corpus(dir: &Path) -> Result<Vec<(PathBuf, FuzzScript)>, String> {
    if !dir.exists() {
        return Ok(Vec::new());
    }
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("corpus {}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|p| FuzzScript::load(&p).map(|s| (p, s)))
        .collect()
}

/// The script of a generated case.
pub fn generated_script(config: &FuzzConfig, index: u64) -> Result<FuzzScript, String> {
    let seed = case::case_seed(config.seed, index);
    let (params, options) = case::draw(seed, config.shape, config.writers, config.mutate);
    let wc = WorldCase::generated(seed, &params)
        .map_err(|e| format!("generator: seed {seed} {params:?}: {e}"))?;
    Ok(script_of(config, index, &wc, options, None))
}

fn script_of(
    config: &FuzzConfig,
    index: u64,
    wc: &WorldCase,
    options: CaseOptions,
    signature: Option<String>,
) -> FuzzScript {
    FuzzScript {
        format: SCRIPT_FORMAT.to_string(),
        signature,
        bug: config.bug.map(|b| b.name.to_string()),
        run_seed: config.seed,
        case_index: index,
        params: wc.params.clone(),
        shrink_steps: wc.shrink_steps,
        options,
        world: wc.replay_file(),
    }
}

/// Runs the fuzz job: the corpus first, then generated cases until the budget, a stop request
/// or (without `keep_going`) the first failure. Progress goes to `progress` (stderr).
pub async fn run(config: FuzzConfig, server: Arc<dyn Server>) -> Result<Outcome, String> {
    let corpus = match &config.corpus {
        Some(dir) => load_corpus(dir)?,
        None => Vec::new(),
    };
    std::fs::create_dir_all(&config.artifacts)
        .map_err(|e| format!("--artifacts {}: {e}", config.artifacts.display()))?;
    let shared = Arc::new(Shared {
        server,
        tally: Mutex::new(Tally::default()),
        next: AtomicU64::new(0),
        stop: AtomicBool::new(false),
        stop_reason: Mutex::new(None),
        started: Instant::now(),
        shrinking: Mutex::new(Vec::new()),
        artifact_seq: AtomicU64::new(0),
        cancel: tokio::sync::watch::channel(false).0,
        interrupted: AtomicBool::new(false),
        interrupt: tokio::sync::watch::channel(false).0,
        config,
    });
    let corpus = Arc::new(Mutex::new(
        corpus
            .into_iter()
            .map(|(p, s)| Source::Corpus(p, Box::new(s)))
            .collect::<Vec<_>>(),
    ));
    {
        let s = shared.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                s.interrupt();
                s.halt("interrupted (SIGINT)");
            }
            // A second SIGINT does not wait for the clean end.
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!("fuzz: interrupted twice; exiting at once");
                std::process::exit(130);
            }
        });
    }
    let progress = tokio::spawn(progress_loop(shared.clone()));
    // The workers share one task: their futures are not Send (template builders borrow their
    // connection), and what they wait on is the server, not this process's CPU.
    let workers = (0..shared.config.jobs.max(1)).map(|_| worker(shared.clone(), corpus.clone()));
    futures::future::join_all(workers).await;
    progress.abort();
    let _ = progress.await;
    if std::io::stderr().is_terminal() {
        eprintln!();
    }
    let elapsed = shared.started.elapsed();
    let stopped = shared
        .stop_reason
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    // The SIGINT task still holds the state; the workers are done with it.
    let tally = std::mem::take(&mut *shared.tally());
    Ok(Outcome {
        tally,
        elapsed,
        stopped,
    })
}

/// Takes the next case: corpus first, then this shard's generated cases within the budget.
fn next_case(shared: &Shared, corpus: &Mutex<Vec<Source>>) -> Option<Source> {
    if shared.stopped() {
        return None;
    }
    if let Some(c) = corpus.lock().unwrap_or_else(|p| p.into_inner()).pop() {
        return Some(c);
    }
    let (i, n) = shared.config.shard;
    match shared.config.budget {
        Budget::Duration(d) => {
            if shared.started.elapsed() >= d {
                return None;
            }
        }
        Budget::Cases(_) => {}
    }
    let k = shared.next.fetch_add(1, Ordering::SeqCst);
    if let Budget::Cases(max) = shared.config.budget {
        if k >= max {
            return None;
        }
    }
    // The k-th case of this shard is the (k * N + I)-th of the run's seed space.
    Some(Source::Generated(k * n + i))
}

async fn worker(shared: Arc<Shared>, corpus: Arc<Mutex<Vec<Source>>>) {
    while let Some(source) = next_case(&shared, &corpus) {
        let (script, from_corpus) = match source {
            Source::Corpus(path, s) => {
                tracing::info!(file = %path.display(), "replaying corpus script");
                (*s, true)
            }
            Source::Generated(index) => match generated_script(&shared.config, index) {
                Ok(s) => (s, false),
                Err(e) => {
                    shared.tally().infra = Some(e);
                    shared.halt("infrastructure failure");
                    return;
                }
            },
        };
        let bug = shared
            .config
            .bug
            .or_else(|| script.bug.as_deref().and_then(bugs::bug));
        let wc = script.case();
        let t0 = Instant::now();
        let mut cancelled = shared.cancel.subscribe();
        let result = tokio::select! {
            r = timed_case(&shared, &wc, &script.options, bug) => r,
            _ = cancelled.wait_for(|c| *c) => break,
        };
        let secs = t0.elapsed().as_secs_f64();
        let CaseResult {
            verdict,
            fills,
            rows,
            stages,
            coverage,
            mutation,
            checks_run,
        } = result;
        {
            let mut t = shared.tally();
            if from_corpus {
                t.corpus_cases += 1;
            } else {
                t.cases += 1;
            }
            t.rows += rows;
            t.fills.push(fills);
            t.case_seconds.push(secs);
            for (name, d) in &stages {
                let e = t.stages.entry(name).or_insert((Duration::ZERO, 0));
                e.0 += *d;
                e.1 += 1;
            }
            for name in coverage.keys() {
                *t.coverage.entry(name).or_insert(0) += 1;
            }
            // A check clean on two table sets of one case counts once: cases, not runs.
            let mut clean = checks_run;
            clean.sort_unstable();
            clean.dedup();
            for c in clean {
                *t.checks_clean.entry(c).or_insert(0) += 1;
            }
            match &mutation {
                Some(m) => {
                    let k = t.kills.entry(m.check).or_insert((0, 0));
                    k.0 += 1;
                    k.1 += u64::from(m.killed);
                }
                None if shared.config.mutate && matches!(verdict, Verdict::Pass) => {
                    t.mutation_skipped += 1
                }
                None => {}
            }
            if matches!(verdict, Verdict::Pass) {
                t.passed += 1;
            }
        }
        match verdict {
            Verdict::Pass => {}
            Verdict::Infra(why) => {
                tracing::error!(%why, seed = wc.seed, "infrastructure failure");
                shared.tally().infra = Some(why);
                shared.halt("infrastructure failure");
            }
            Verdict::Fail(finding) => {
                if !shared.config.keep_going {
                    // The other workers stop now; this one shrinks and writes the failure.
                    shared.halt("first failure (use --keep-going to go on)");
                }
                on_failure(&shared, script, wc, *finding, from_corpus).await;
            }
        }
    }
}

async fn on_failure(
    shared: &Arc<Shared>,
    script: FuzzScript,
    wc: WorldCase,
    finding: Finding,
    from_corpus: bool,
) {
    let signature = finding.signature.clone();
    let duplicate = {
        let mut t = shared.tally();
        t.failing_cases += 1;
        if let Some(rec) = t.failures.get_mut(&signature) {
            rec.count += 1;
            true
        } else {
            let mut busy = shared.shrinking.lock().unwrap_or_else(|p| p.into_inner());
            if busy.contains(&signature) {
                *t.seen_while_shrinking.entry(signature.clone()).or_insert(0) += 1;
                true
            } else {
                busy.push(signature.clone());
                false
            }
        }
    };
    if duplicate {
        dispose(finding.db).await;
        return;
    }
    eprintln!(
        "fuzz: FAILURE {signature} (seed {}, case {}{}): {}",
        wc.seed,
        script.case_index,
        if from_corpus { ", corpus" } else { "" },
        first_line(&finding.detail)
    );
    let bug = shared
        .config
        .bug
        .or_else(|| script.bug.as_deref().and_then(bugs::bug));
    let t0 = Instant::now();
    let (small, finding) = shrink(shared, wc, &script.options, bug, finding).await;
    let shrink_seconds = t0.elapsed().as_secs_f64();
    let mut out = script.clone();
    out.signature = Some(signature.clone());
    out.params = small.params.clone();
    out.shrink_steps = small.shrink_steps;
    out.world = small.replay_file();
    let n = shared.artifact_seq.fetch_add(1, Ordering::SeqCst) + 1;
    let (dir, replay) = match write_artifacts(shared, n, &out, &finding).await {
        Ok(x) => x,
        Err(e) => {
            eprintln!("fuzz: could not write the artifacts of {signature}: {e}");
            (String::new(), String::new())
        }
    };
    let Finding {
        stage, detail, db, ..
    } = finding;
    dispose(db).await;
    if let Some(corpus) = &shared.config.corpus {
        let path = corpus.join(format!("{}-{}.json", slug(&signature), out.world.seed));
        let written =
            std::fs::create_dir_all(corpus).and_then(|_| std::fs::write(&path, to_json(&out)));
        if let Err(e) = written {
            eprintln!("fuzz: could not add {} to the corpus: {e}", path.display());
        }
    }
    eprintln!("fuzz: replay: {replay}");
    let rec = FailureRecord {
        signature: signature.clone(),
        stage,
        detail,
        count: 1,
        seed: out.world.seed,
        case_index: (!from_corpus).then_some(script.case_index),
        shrink_steps: small.shrink_steps,
        shrink_seconds,
        artifacts: dir,
        replay,
    };
    let mut t = shared.tally();
    let mut rec = rec;
    rec.count += t.seen_while_shrinking.remove(&signature).unwrap_or(0);
    t.failures.insert(signature.clone(), rec);
    shared
        .shrinking
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .retain(|s| s != &signature);
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}

/// Drops a failing case's database without blocking the other workers (unless it was kept).
async fn dispose(db: Option<crate::TestDb>) {
    if let Some(db) = db {
        if db.is_kept() {
            return;
        }
        if let Err(e) = db.dispose().await {
            tracing::warn!(error = %e, "could not drop a failing case's database");
        }
    }
}

/// [`case::run_case`] within `--case-timeout`: a case that hangs is a failure, not a stall.
async fn timed_case(
    shared: &Shared,
    wc: &WorldCase,
    options: &CaseOptions,
    bug: Option<&'static PlantedBug>,
) -> CaseResult {
    let limit = shared.config.case_timeout;
    match tokio::time::timeout(
        limit,
        case::run_case(shared.server.clone(), wc, options, bug),
    )
    .await
    {
        Ok(r) => r,
        Err(_) => CaseResult {
            verdict: Verdict::Fail(Box::new(Finding {
                signature: "timeout:case".into(),
                stage: "timeout",
                detail: format!(
                    "the case did not finish within {:.0} s",
                    limit.as_secs_f64()
                ),
                samples: serde_json::Value::Null,
                db: None,
            })),
            fills: 0,
            rows: 0,
            stages: Vec::new(),
            coverage: Default::default(),
            mutation: None,
            checks_run: Vec::new(),
        },
    }
}

/// Shrinks toward a smaller case that fails with the same signature, within `--shrink-time`.
async fn shrink(
    shared: &Arc<Shared>,
    wc: WorldCase,
    options: &CaseOptions,
    bug: Option<&'static PlantedBug>,
    finding: Finding,
) -> (WorldCase, Finding) {
    let deadline = Instant::now() + shared.config.shrink_time;
    let mut best = (wc.clone(), finding);
    let mut tree = WorldCaseTree::new(wc);
    let mut tries = 0u32;
    // proptest's protocol: simplify after a failing case, complicate after a passing one;
    // either returning false means no edit is left to try.
    let mut more = tree.simplify();
    let mut interrupted = shared.interrupt.subscribe();
    while more && Instant::now() < deadline && !shared.interrupted.load(Ordering::SeqCst) {
        tries += 1;
        let candidate = tree.current();
        // A candidate gets what is left of the shrink time, and stops on an interrupt.
        let left = deadline.saturating_duration_since(Instant::now());
        let limit = left.min(shared.config.case_timeout);
        let run = tokio::time::timeout(
            limit,
            case::run_case(shared.server.clone(), &candidate, options, bug),
        );
        let r = tokio::select! {
            r = run => match r {
                Ok(r) => r,
                Err(_) => break,
            },
            _ = interrupted.wait_for(|i| *i) => break,
        };
        more = match r.verdict {
            Verdict::Fail(f) if f.signature == best.1.signature => {
                let old = std::mem::replace(&mut best, (candidate, *f));
                dispose(old.1.db).await;
                tree.simplify()
            }
            Verdict::Fail(f) => {
                dispose(f.db).await;
                tree.complicate()
            }
            Verdict::Infra(why) => {
                // The server went away: what was found stands, the run ends as exit 3.
                shared.tally().infra = Some(why);
                shared.halt("infrastructure failure");
                break;
            }
            Verdict::Pass => tree.complicate(),
        };
    }
    tracing::info!(tries, steps = best.0.shrink_steps, "shrunk");
    best
}

fn slug(signature: &str) -> String {
    signature
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect::<String>()
        .trim_matches('-')
        .to_string()
}

fn to_json<T: Serialize>(v: &T) -> String {
    serde_json::to_string_pretty(v).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

/// The command `replay.sh` runs: this very binary, on the script beside it.
fn replay_command(script: &Path) -> String {
    let exe = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "harness".to_string());
    format!("{exe} fuzz --replay {}", script.display())
}

async fn write_artifacts(
    shared: &Arc<Shared>,
    n: u64,
    script: &FuzzScript,
    finding: &Finding,
) -> Result<(String, String), String> {
    let signature = script.signature.clone().unwrap_or_default();
    let dir = shared.config.artifacts.join(format!(
        "{:016x}-{n:03}-{}",
        shared.config.seed,
        slug(&signature)
    ));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let dir = std::fs::canonicalize(&dir).unwrap_or(dir);
    let w = |name: &str, text: String| {
        std::fs::write(dir.join(name), text)
            .map_err(|e| format!("{}: {e}", dir.join(name).display()))
    };
    let script_path = dir.join("script.json");
    w("script.json", to_json(script))?;
    let replay = replay_command(&script_path);
    w(
        "replay.sh",
        format!(
            "#!/bin/sh\n# Reproduces {signature} (exits 1 while it still fails).\n\
             # HARNESS overrides the binary.\nexec \"${{HARNESS:-{}}}\" fuzz --replay \"$(dirname \"$0\")/script.json\" \"$@\"\n",
            std::env::current_exe()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|_| "harness".to_string())
        ),
    )?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(
            dir.join("replay.sh"),
            std::fs::Permissions::from_mode(0o755),
        );
    }
    w(
        "failure.json",
        to_json(&serde_json::json!({
            "signature": signature,
            "stage": finding.stage,
            "detail": finding.detail,
            "samples": finding.samples,
        })),
    )?;
    if let Some(db) = &finding.db {
        let url = db.url();
        let log = match db.connect().await {
            Ok(mut conn) => {
                crate::report::gather_database(&mut conn, crate::report::DEFAULT_SAMPLE)
                    .await
                    .map_err(|e| e.to_string())
            }
            Err(e) => Err(e.to_string()),
        };
        match log {
            Ok(log) => {
                w("implementation-log.md", log.to_markdown())?;
                w("implementation-log.json", log.to_json())?;
            }
            Err(e) => w(
                "implementation-log.txt",
                format!("could not gather the log: {e}\n"),
            )?,
        }
        if shared.config.keep_failed {
            db.keep_quietly();
            w("database.txt", format!("{url}\n"))?;
        } else {
            match dump(db, &dir.join("database.sql")).await {
                Ok(()) => {}
                Err(e) => {
                    // Kept only while its server answers: a dead server (the infrastructure
                    // failure that may have caused this) has nothing left to keep.
                    if db.connect().await.is_ok() {
                        db.keep_quietly();
                        w(
                            "database.txt",
                            format!("{url}\n(pg_dump failed: {e}; the database was kept instead: `harness reap` stops its server)\n"),
                        )?;
                    } else {
                        w(
                            "database.txt",
                            format!("{url}\n(pg_dump failed: {e}; the server no longer answers, nothing was kept)\n"),
                        )?;
                    }
                }
            }
        }
    }
    Ok((dir.display().to_string(), replay))
}

/// `pg_dump` of the failing database (plain SQL), with the server's own binaries when known.
async fn dump(db: &crate::TestDb, path: &Path) -> Result<(), String> {
    let opts = db.connect_options();
    let bin = pg_dump_binary().await;
    let out = tokio::process::Command::new(&bin)
        .arg("--no-owner")
        .arg("--no-password")
        .arg("--file")
        .arg(path)
        .arg("--host")
        .arg(opts.get_host())
        .arg("--port")
        .arg(opts.get_port().to_string())
        .arg("--username")
        .arg(opts.get_username())
        .arg(opts.get_database().unwrap_or("postgres"))
        .output()
        .await
        .map_err(|e| format!("{}: {e}", bin.display()))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}

async fn pg_dump_binary() -> PathBuf {
    let pg_config = std::env::var_os("HARNESS_PG_CONFIG").unwrap_or_else(|| "pg_config".into());
    tokio::process::Command::new(pg_config)
        .arg("--bindir")
        .output()
        .await
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()).join("pg_dump"))
        .filter(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from("pg_dump"))
}

/// Replays one script: 0 when it passes, 1 when it fails (with its signature), 3 on an
/// infrastructure failure.
pub async fn replay(
    script: &FuzzScript,
    bug: Option<&'static PlantedBug>,
    server: Arc<dyn Server>,
    case_timeout: Duration,
    out: &mut dyn Write,
) -> Result<u8, String> {
    let wc = script.case();
    let w = |out: &mut dyn Write, s: String| writeln!(out, "{s}").map_err(|e| e.to_string());
    w(
        out,
        format!(
            "seed: {} (replay, {} shrink steps)",
            wc.seed, wc.shrink_steps
        ),
    )?;
    w(
        out,
        format!(
            "options: {}",
            serde_json::to_string(&script.options).unwrap_or_default()
        ),
    )?;
    if let Some(b) = bug {
        w(out, format!("planted bug: {}", b.name))?;
    }
    let r = match tokio::time::timeout(
        case_timeout,
        case::run_case(server, &wc, &script.options, bug),
    )
    .await
    {
        Ok(r) => r,
        Err(_) => {
            w(out, "failure: timeout:case".into())?;
            w(
                out,
                format!(
                    "detail: the case did not finish within {:.0} s",
                    case_timeout.as_secs_f64()
                ),
            )?;
            w(out, "result: FAILED".into())?;
            return Ok(1);
        }
    };
    match r.verdict {
        Verdict::Pass => {
            w(out, "result: PASS".into())?;
            Ok(0)
        }
        Verdict::Fail(f) => {
            w(out, format!("failure: {}", f.signature))?;
            w(out, format!("stage: {}", f.stage))?;
            w(out, format!("detail: {}", f.detail))?;
            if let Some(expected) = &script.signature {
                if expected != &f.signature {
                    w(out, format!("note: the script was written for {expected}"))?;
                }
            }
            w(out, "result: FAILED".into())?;
            Ok(1)
        }
        Verdict::Infra(why) => {
            w(out, format!("infrastructure failure: {why}"))?;
            Ok(3)
        }
    }
}

/// Progress: a bar redrawn on a terminal, a plain line every 10 s otherwise. It also watches
/// the stop file, so a run ends within half a second of it appearing.
async fn progress_loop(shared: Arc<Shared>) {
    let tty = std::io::stderr().is_terminal();
    let every = if tty { 1 } else { 20 };
    let mut tick = 0u64;
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        tick += 1;
        let _ = shared.stopped();
        if tick % every != 0 {
            continue;
        }
        let line = progress_line(&shared, tty);
        if tty {
            eprint!("\r{line}\x1b[K");
        } else {
            eprintln!("fuzz: {line}");
        }
    }
}

fn progress_line(shared: &Shared, tty: bool) -> String {
    let t = shared.tally();
    let secs = shared.started.elapsed().as_secs_f64().max(1e-9);
    let done = t.cases + t.corpus_cases;
    let fraction = match shared.config.budget {
        Budget::Duration(d) => secs / d.as_secs_f64().max(1e-9),
        Budget::Cases(n) => t.cases as f64 / (n.max(1)) as f64,
    }
    .clamp(0.0, 1.0);
    let text = format!(
        "{done} cases, {:.2} cases/s, {:.0} rows/s, {} failures, {}/{} edges, {:.0} s",
        done as f64 / secs,
        t.rows as f64 / secs,
        t.failures.len() + usize::from(t.failing_cases > 0 && t.failures.is_empty()),
        t.coverage.len(),
        coverage::EDGES.len(),
        secs
    );
    if tty {
        let width = 24;
        let filled = (fraction * width as f64).round() as usize;
        format!(
            "[{}{}] {text}",
            "#".repeat(filled),
            ".".repeat(width - filled)
        )
    } else {
        text
    }
}
