//! The end of a fuzz run: the summary printed, the `--json` document and the `--junit` file.

use std::fmt::Write as _;

use serde_json::json;

use super::coverage::EDGES;
use super::{FuzzConfig, Outcome};

/// (min, median, p90, max) of `v`, or `None` when empty.
pub fn spread(v: &[u64]) -> Option<(u64, u64, u64, u64)> {
    if v.is_empty() {
        return None;
    }
    let mut s = v.to_vec();
    s.sort_unstable();
    let at = |q: f64| s[((s.len() - 1) as f64 * q).round() as usize];
    Some((s[0], at(0.5), at(0.9), s[s.len() - 1]))
}

/// Cases per hour at this run's pace (generated and corpus cases).
pub fn cases_per_hour(o: &Outcome) -> f64 {
    let n = (o.tally.cases + o.tally.corpus_cases) as f64;
    n * 3600.0 / o.elapsed.as_secs_f64().max(1e-9)
}

/// Edges no world reached.
pub fn missed_edges(o: &Outcome) -> Vec<&'static str> {
    EDGES
        .iter()
        .map(|e| e.name)
        .filter(|n| !o.tally.coverage.contains_key(n))
        .collect()
}

/// Kill rate per check: killed / applied.
pub fn kill_rates(o: &Outcome) -> Vec<(&'static str, u64, u64, f64)> {
    o.tally
        .kills
        .iter()
        .map(|(c, (a, k))| {
            (
                *c,
                *a,
                *k,
                if *a == 0 { 0.0 } else { *k as f64 / *a as f64 },
            )
        })
        .collect()
}

/// The summary, as printed at the end of a run.
pub fn summary_text(config: &FuzzConfig, o: &Outcome) -> String {
    let t = &o.tally;
    let mut s = String::new();
    let secs = o.elapsed.as_secs_f64();
    let _ = writeln!(s, "summary:");
    let _ = writeln!(
        s,
        "  cases: {} generated + {} corpus in {secs:.1} s ({} passed, {} failing)",
        t.cases, t.corpus_cases, t.passed, t.failing_cases
    );
    let _ = writeln!(
        s,
        "  speed: {:.0} cases/hour, {:.0} rows/s, {} jobs",
        cases_per_hour(o),
        t.rows as f64 / secs.max(1e-9),
        config.jobs
    );
    if let Some((min, p50, p90, max)) = spread(&t.fills) {
        let _ = writeln!(
            s,
            "  world sizes (fills): min {min}, median {p50}, p90 {p90}, max {max}"
        );
    }
    let secs_ms: Vec<u64> = t.case_seconds.iter().map(|x| (x * 1000.0) as u64).collect();
    if let Some((min, p50, p90, max)) = spread(&secs_ms) {
        let _ = writeln!(
            s,
            "  case time (ms): min {min}, median {p50}, p90 {p90}, max {max}"
        );
    }
    if !t.stages.is_empty() {
        let total: f64 = t.stages.values().map(|(d, _)| d.as_secs_f64()).sum();
        let mut parts: Vec<_> = t.stages.iter().collect();
        parts.sort_by_key(|p| std::cmp::Reverse(p.1 .0));
        let line = parts
            .iter()
            .map(|(name, (d, n))| {
                format!(
                    "{name} {:.0} ms ({:.0}%)",
                    d.as_secs_f64() * 1000.0 / (*n).max(1) as f64,
                    d.as_secs_f64() * 100.0 / total.max(1e-9)
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        let _ = writeln!(s, "  stages (mean per case, share of case time): {line}");
    }
    let missed = missed_edges(o);
    let _ = writeln!(
        s,
        "  coverage: {}/{} rule edges reached",
        EDGES.len() - missed.len(),
        EDGES.len()
    );
    for e in EDGES {
        let n = t.coverage.get(e.name).copied().unwrap_or(0);
        let _ = writeln!(s, "    {:<34} {n:>6} cases  {}", e.name, e.description);
    }
    if config.mutate {
        let _ = writeln!(
            s,
            "  mutations (kill rate per check, caught / applied; {} cases had no applicable corruption):",
            t.mutation_skipped
        );
        for (c, a, k, r) in kill_rates(o) {
            let _ = writeln!(s, "    {c:<28} {k:>5} / {a:<5} {r:.2}");
        }
    }
    if t.failures.is_empty() {
        let _ = writeln!(s, "  failures: none");
    } else {
        let _ = writeln!(s, "  failures: {} distinct", t.failures.len());
        for f in t.failures.values() {
            let _ = writeln!(
                s,
                "    {} ({} cases; seed {}, shrunk {} steps in {:.1} s)\n      artifacts: {}\n      replay: {}",
                f.signature, f.count, f.seed, f.shrink_steps, f.shrink_seconds, f.artifacts, f.replay
            );
        }
    }
    if let Some(why) = &t.infra {
        let _ = writeln!(s, "  infrastructure failure: {why}");
    }
    if let Some(why) = &o.stopped {
        let _ = writeln!(s, "  stopped: {why}");
    }
    s
}

/// The `--json` summary.
pub fn summary_json(config: &FuzzConfig, o: &Outcome) -> serde_json::Value {
    let t = &o.tally;
    let size = |v: Option<(u64, u64, u64, u64)>| {
        v.map(|(min, p50, p90, max)| json!({"min": min, "median": p50, "p90": p90, "max": max}))
    };
    let mut per_check = serde_json::Map::new();
    for c in contract::CHECK_NAMES {
        let found = t
            .failures
            .values()
            .filter(|f| f.signature.starts_with(&format!("check:{c}/")))
            .map(|f| f.count)
            .sum::<u64>();
        per_check.insert(
            c.to_string(),
            json!({"clean_cases": t.checks_clean.get(c).copied().unwrap_or(0), "failures": found}),
        );
    }
    json!({
        "seed": config.seed,
        "seed_source": config.seed_source,
        "shard": format!("{}/{}", config.shard.0, config.shard.1),
        "shape": config.shape.as_str(),
        "jobs": config.jobs,
        "writers": config.writers,
        "bug": config.bug.map(|b| b.name),
        "cases": t.cases,
        "corpus_cases": t.corpus_cases,
        "passed": t.passed,
        "failing_cases": t.failing_cases,
        "failures": t.failures.values().collect::<Vec<_>>(),
        "per_check": per_check,
        "elapsed_seconds": o.elapsed.as_secs_f64(),
        "cases_per_hour": cases_per_hour(o),
        "rows_per_second": t.rows as f64 / o.elapsed.as_secs_f64().max(1e-9),
        "world_fills": size(spread(&t.fills)),
        "stage_mean_ms": t.stages.iter().map(|(k, (d, n))| (k.to_string(), json!(d.as_secs_f64() * 1000.0 / (*n).max(1) as f64))).collect::<serde_json::Map<_, _>>(),
        "coverage": EDGES.iter().map(|e| (e.name.to_string(), json!(t.coverage.get(e.name).copied().unwrap_or(0)))).collect::<serde_json::Map<_, _>>(),
        "coverage_missed": missed_edges(o),
        "kill_rate": config.mutate.then(|| kill_rates(o).into_iter().map(|(c, a, k, r)| (c.to_string(), json!({"applied": a, "killed": k, "rate": r}))).collect::<serde_json::Map<_, _>>()),
        "mutation_skipped": t.mutation_skipped,
        "infrastructure_failure": t.infra,
        "stopped": o.stopped,
        "exit_code": o.exit_code(),
    })
}

fn xml(s: &str) -> String {
    s.chars()
        .filter(|c| *c == '\n' || *c == '\t' || !c.is_control())
        .map(|c| match c {
            '&' => "&amp;".to_string(),
            '<' => "&lt;".to_string(),
            '>' => "&gt;".to_string(),
            '"' => "&quot;".to_string(),
            '\'' => "&apos;".to_string(),
            c => c.to_string(),
        })
        .collect()
}

/// The `--junit` report: one testcase per check and confirmation (failed when a failure
/// carries its name) and one per distinct failure.
pub fn junit(config: &FuzzConfig, o: &Outcome) -> String {
    let t = &o.tally;
    let mut cases = Vec::new();
    let names = contract::CHECK_NAMES.iter().map(|c| ("check", *c)).chain(
        contract::CONFIRMATION_NAMES
            .iter()
            .map(|c| ("confirmation", *c)),
    );
    for (kind, name) in names {
        let prefix = match kind {
            "check" => format!("check:{name}/"),
            _ => format!("confirmation:{name}"),
        };
        let failed: Vec<_> = t
            .failures
            .values()
            .filter(|f| f.signature.starts_with(&prefix))
            .collect();
        let body = failed
            .iter()
            .map(|f| {
                format!(
                    "<failure message=\"{}\" type=\"{}\">{}\nreplay: {}</failure>",
                    xml(&f.signature),
                    xml(f.stage),
                    xml(&f.detail),
                    xml(&f.replay)
                )
            })
            .collect::<String>();
        // A check that never ran clean and never failed was not exercised: skipped, not passed.
        let body = if body.is_empty() && kind == "check" && !t.checks_clean.contains_key(name) {
            "<skipped message=\"no case ran this check to completion\"/>".to_string()
        } else {
            body
        };
        cases.push((format!("{kind}.{name}"), body));
    }
    for f in t.failures.values() {
        cases.push((
            format!("failure.{}", f.signature),
            format!(
                "<failure message=\"{}\" type=\"{}\">seed {}, {} cases\n{}\nartifacts: {}\nreplay: {}</failure>",
                xml(&f.signature),
                xml(f.stage),
                f.seed,
                f.count,
                xml(&f.detail),
                xml(&f.artifacts),
                xml(&f.replay)
            ),
        ));
    }
    if let Some(why) = &t.infra {
        cases.push((
            "infrastructure".into(),
            format!("<error message=\"{}\"/>", xml(why)),
        ));
    }
    let failures = cases.iter().filter(|(_, b)| b.contains("<failure")).count();
    let errors = usize::from(t.infra.is_some());
    let mut s = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        s,
        "<testsuites name=\"harness fuzz\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\" time=\"{:.3}\">",
        cases.len(),
        o.elapsed.as_secs_f64()
    );
    let _ = writeln!(
        s,
        "  <testsuite name=\"harness fuzz seed {} shard {}/{}\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\" time=\"{:.3}\">",
        config.seed,
        config.shard.0,
        config.shard.1,
        cases.len(),
        o.elapsed.as_secs_f64()
    );
    for (name, body) in cases {
        let _ = writeln!(
            s,
            "    <testcase classname=\"harness.fuzz\" name=\"{}\">{body}</testcase>",
            xml(&name)
        );
    }
    s.push_str("  </testsuite>\n</testsuites>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_takes_min_median_p90_max() {
        assert_eq!(spread(&[]), None);
        assert_eq!(spread(&[5]), Some((5, 5, 5, 5)));
        assert_eq!(
            spread(&[10, 1, 9, 2, 8, 3, 7, 4, 6, 5, 11]),
            Some((1, 6, 10, 11))
        );
    }

    #[test]
    fn xml_escapes_markup_and_drops_control_characters() {
        assert_eq!(xml("a<b>&\"c'\u{1}"), "a&lt;b&gt;&amp;&quot;c&apos;");
    }
}
