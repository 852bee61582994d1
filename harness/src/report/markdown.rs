//! The seed log's markdown, section for section and in its phrasing, plus this project's
//! sections (hour grid, archive parity) between the seed's.

use std::fmt::Write;

use invariants::parity::{kind_text, ParityDirection, ParityStatus};

use super::{fmt_ts, parity_text, ImplementationLog, ValidationSource};

/// Escape a value for one markdown table cell.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace(['\n', '\r'], " ")
}

fn yes_no(b: bool) -> &'static str {
    if b {
        "YES"
    } else {
        "NO"
    }
}

fn upper_bool(b: bool) -> &'static str {
    if b {
        "TRUE"
    } else {
        "FALSE"
    }
}

/// "portfolio_hourly_state_identity" -> "Portfolio".
fn identity_label(table: &str) -> String {
    let first = table.split('_').next().unwrap_or(table);
    let mut c = first.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

fn ticked(items: &[String]) -> String {
    items
        .iter()
        .map(|t| format!("`{t}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Render the implementation log as the seed log's markdown.
pub fn render(log: &ImplementationLog) -> String {
    let mut s = String::new();
    // fmt::Write into a String never fails; the results are discarded on purpose.
    let _ = render_into(&mut s, log);
    s
}

fn render_into(s: &mut String, log: &ImplementationLog) -> std::fmt::Result {
    writeln!(s, "# {}", log.title)?;
    writeln!(s)?;

    let t = &log.timestamps;
    let ts = |v: &Option<chrono::DateTime<chrono::Utc>>| {
        v.as_ref().map_or_else(|| "not started".to_string(), fmt_ts)
    };
    writeln!(s, "## Migration Timestamps")?;
    writeln!(s, "- Execution start (UTC): {}", ts(&t.execution_start_utc))?;
    writeln!(
        s,
        "- Execution stop (UTC): {}",
        t.execution_stop_utc
            .as_ref()
            .map_or_else(|| "not stopped".to_string(), fmt_ts)
    )?;
    writeln!(s, "- Resume mode: {}", t.resume_mode)?;
    if t.aborts.is_empty() {
        writeln!(s, "- Intermediate aborts handled under lock: none")?;
    } else {
        writeln!(s, "- Intermediate aborts handled under lock:")?;
        for a in &t.aborts {
            let mut line = format!("{}: `{}` {}", fmt_ts(&a.at_utc), a.step, a.status);
            if let Some(e) = &a.error {
                write!(line, ": {}", e.trim())?;
            }
            if let Some(n) = &a.notes {
                write!(line, " ({})", n.trim())?;
            }
            writeln!(s, "  - {}; {}.", cell(&line), a.resolution)?;
        }
    }
    writeln!(s)?;

    writeln!(s, "## Phase-by-Phase Status (Revision B Resume)")?;
    writeln!(s, "| Step | Start (UTC) | End (UTC) | Status | Notes |")?;
    writeln!(s, "|---|---|---|---|---|")?;
    for p in &log.phases {
        let mut notes = p.notes.trim().to_string();
        if let Some(e) = &p.error {
            if notes.is_empty() {
                notes = format!("error: {}", e.trim());
            } else {
                notes = format!("{notes}; error: {}", e.trim());
            }
        }
        writeln!(
            s,
            "| {} | {} | {} | {} | {} |",
            p.step,
            p.started_at_utc
                .as_ref()
                .map_or_else(|| "-".to_string(), fmt_ts),
            p.ended_at_utc
                .as_ref()
                .map_or_else(|| "-".to_string(), fmt_ts),
            cell(&p.status),
            cell(&notes)
        )?;
    }
    writeln!(s)?;

    writeln!(s, "## Identity Table Counts")?;
    writeln!(s, "| Table | Count |")?;
    writeln!(s, "|---|---|")?;
    let count = |n: Option<i64>| n.map_or_else(|| "missing".to_string(), |n| n.to_string());
    for i in &log.identity {
        writeln!(s, "| {} | {} |", i.identity_table, count(i.identity_rows))?;
        writeln!(s, "| {} | {} |", i.hypertable, count(i.hypertable_rows))?;
    }
    writeln!(s)?;
    writeln!(s, "Count parity status:")?;
    for i in &log.identity {
        writeln!(
            s,
            "- {} identity parity: {}",
            identity_label(&i.identity_table),
            parity_text(i.parity)
        )?;
    }
    writeln!(s)?;

    let fk = &log.fk_legality;
    writeln!(s, "## FK Legality Confirmation")?;
    writeln!(
        s,
        "- Structural legality check (`FK -> hypertable`): **{} rows**",
        fk.count
    )?;
    for r in &fk.rows {
        writeln!(
            s,
            "  - `{}.{}` -> `{}`",
            r.table, r.constraint, r.references
        )?;
    }
    writeln!(
        s,
        "- Final `FK -> hypertable` violation count: **{}**",
        fk.check_violations
            .map_or_else(|| "n/a".to_string(), |n| n.to_string())
    )?;
    writeln!(s)?;

    let v = &log.validation;
    writeln!(s, "## Validation Results")?;
    writeln!(s, "| Check | Violations |")?;
    writeln!(s, "|---|---|")?;
    for name in contract::CHECK_NAMES {
        let count = match v.checks.iter().find(|o| o.check == name) {
            Some(o) => check_count(o),
            None => "not run".to_string(),
        };
        writeln!(s, "| {name} | {} |", cell(&count))?;
    }
    writeln!(s)?;
    writeln!(s, "Validation gate result:")?;
    if v.passed {
        writeln!(s, "- **PASS** (all checks zero)")?;
    } else {
        writeln!(s, "- **FAIL** ({})", v.failing.join(", "))?;
        for o in v.checks.iter().filter(|o| o.violations != Some(0)) {
            for row in &o.sample {
                writeln!(s, "  - `{}` sample: `{}`", o.check, row)?;
            }
        }
    }
    if matches!(v.source, ValidationSource::ReadOnlyRerun) {
        writeln!(
            s,
            "- Source: the twelve checks rerun read-only on the {} table set",
            v.table_set
        )?;
    }
    writeln!(s)?;

    render_grid(s, log)?;

    let c = &log.cutover;
    writeln!(s, "## Cutover Status")?;
    writeln!(
        s,
        "- Atomic cutover transaction executed: **{}**",
        yes_no(c.transaction_committed)
    )?;
    writeln!(
        s,
        "- Canonical -> `*_phase1a_archive` rename: **{}**",
        yes_no(c.archive_rename)
    )?;
    writeln!(
        s,
        "- `*_v2` -> canonical rename: **{}**",
        yes_no(c.v2_rename)
    )?;
    if c.archives_present.is_empty() {
        writeln!(s, "- Archive tables present: **NONE**")?;
    } else {
        writeln!(s, "- Archive tables present:")?;
        for a in &c.archives_present {
            writeln!(s, "  - `{a}`")?;
        }
    }
    if !c.archives_missing.is_empty() {
        writeln!(s, "- Archive tables MISSING:")?;
        for a in &c.archives_missing {
            writeln!(s, "  - `{a}`")?;
        }
    }
    if c.v2_remaining.is_empty() {
        writeln!(s, "- Remaining `*_v2` migration target tables: **NONE**")?;
    } else {
        writeln!(
            s,
            "- Remaining `*_v2` migration target tables: **{}**",
            ticked(&c.v2_remaining)
        )?;
    }
    writeln!(s)?;

    render_parity(s, log)?;

    let tr = &log.triggers;
    writeln!(s, "## Trigger Status")?;
    if tr.all_ok {
        writeln!(
            s,
            "Confirmed present and enabled on canonical/identity path:"
        )?;
    } else {
        let ok = tr
            .triggers
            .iter()
            .filter(|t| t.present && t.enabled)
            .count();
        writeln!(
            s,
            "NOT all present and enabled on canonical/identity path ({ok} of {} OK):",
            tr.triggers.len()
        )?;
    }
    for t in &tr.triggers {
        let mark = if !t.present {
            " **MISSING**".to_string()
        } else if !t.enabled && t.tgenabled.as_deref() == Some("R") {
            " **ENABLED ONLY FOR REPLICA SESSIONS** (`tgenabled = R`)".to_string()
        } else if !t.enabled {
            format!(
                " **DISABLED** (`tgenabled = {}`)",
                t.tgenabled.as_deref().unwrap_or("?")
            )
        } else {
            String::new()
        };
        writeln!(s, "- `{}.{}`{mark}", t.table, t.trigger)?;
    }
    writeln!(s)?;

    let cp = &log.compression;
    writeln!(s, "## Compression Confirmation")?;
    let targets: Vec<String> = cp.targets.iter().map(|t| t.table.clone()).collect();
    writeln!(s, "Target list checked ({}):", ticked(&targets))?;
    match &cp.license {
        Some(l) if cp.available => writeln!(
            s,
            "- `timescaledb.license = {l}`: compression is available in this build"
        )?,
        Some(l) => writeln!(
            s,
            "- `timescaledb.license = {l}`: compression is not available in this build"
        )?,
        None => writeln!(s, "- TimescaleDB is not installed: no compression")?,
    }
    writeln!(
        s,
        "- Hypertables present in this environment from target list: {}",
        if cp.hypertables.is_empty() {
            "**NONE**".to_string()
        } else {
            ticked(&cp.hypertables)
        }
    )?;
    let present: Vec<_> = cp.targets.iter().filter(|t| t.is_hypertable).collect();
    let flags: Vec<Option<bool>> = present.iter().map(|t| t.compression_enabled).collect();
    match flags.first() {
        None => writeln!(s, "- `compression_enabled`: no target hypertable present")?,
        Some(first) if flags.iter().all(|f| f == first) => writeln!(
            s,
            "- `compression_enabled = {}` on all present targets",
            first.map_or("NULL", upper_bool)
        )?,
        Some(_) => writeln!(
            s,
            "- `compression_enabled` per present target: {}",
            present
                .iter()
                .map(|t| format!(
                    "`{}` = {}",
                    t.table,
                    t.compression_enabled.map_or("NULL", upper_bool)
                ))
                .collect::<Vec<_>>()
                .join(", ")
        )?,
    }
    writeln!(
        s,
        "- Compression policy jobs on target list: **{}**",
        cp.policy_jobs
    )?;
    writeln!(s)?;

    writeln!(s, "## Final Lock State")?;
    match &log.lock {
        Some(l) => {
            writeln!(s, "- `migration_name`: `{}`", l.migration_name)?;
            writeln!(s, "- `locked`: `{}`", upper_bool(l.locked))?;
            writeln!(s, "- `lock_reason`: `{}`", l.lock_reason)?;
            writeln!(
                s,
                "- `locked_at_utc`: `{}`",
                l.locked_at_utc.as_deref().unwrap_or("NULL")
            )?;
            writeln!(
                s,
                "- `unlocked_at_utc`: `{}`",
                l.unlocked_at_utc.as_deref().unwrap_or("NULL")
            )?;
        }
        None => writeln!(s, "- no `phase_1b_schema` row in `migration_lock`")?,
    }
    writeln!(s)?;

    writeln!(s, "## Final Result")?;
    writeln!(s, "- Migration result: **{}**", log.result.migration_result)?;
    writeln!(
        s,
        "- Contract action taken: **{}**",
        log.result.contract_action
    )?;
    let failing: Vec<_> = log.confirmations.iter().filter(|c| !c.passed).collect();
    if !failing.is_empty() {
        writeln!(s, "- Confirmations that do not hold:")?;
        for c in failing {
            writeln!(s, "  - `{}`: {}", c.name, cell(&c.detail))?;
        }
    }
    Ok(())
}

/// `0`, `3`, `n/a`, or `0 (n/a: rule, ...)` when some sub-rules could not apply.
fn check_count(o: &invariants::CheckOutcome) -> String {
    match o.violations {
        None => "n/a".to_string(),
        Some(n) if o.rules_not_applicable.is_empty() => n.to_string(),
        Some(n) => format!("{n} (n/a: {})", o.rules_not_applicable.join(", ")),
    }
}

fn opt(n: Option<i64>) -> String {
    n.map_or_else(|| "n/a".to_string(), |n| n.to_string())
}

fn render_grid(s: &mut String, log: &ImplementationLog) -> std::fmt::Result {
    let g = &log.hour_grid;
    writeln!(s, "## Hour Grid Completeness")?;
    writeln!(
        s,
        "Every hour from each account's first event to the last feature hour has its portfolio and risk state, a position state wherever the recomputed quantity is non-zero, and (after `STEP_4_REVISED_M7`) one cluster exposure row per risk state and cluster."
    )?;
    writeln!(s, "| States | Rows | Missing |")?;
    writeln!(s, "|---|---|---|")?;
    writeln!(
        s,
        "| portfolio_hourly_state | {} | {} |",
        g.portfolio_states,
        opt(g.portfolio_missing)
    )?;
    writeln!(
        s,
        "| risk_hourly_state | {} | {} |",
        g.risk_states,
        opt(g.risk_missing)
    )?;
    writeln!(
        s,
        "| position_hourly_state | {} | {} |",
        g.position_states,
        opt(g.position_missing)
    )?;
    match (g.exposure_rows, g.exposure_expected) {
        (Some(rows), Some(expected)) => writeln!(
            s,
            "| cluster_exposure_hourly_state (expected {expected} = risk states x {} clusters) | {rows} | {} |",
            g.clusters,
            opt(g.exposure_missing)
        )?,
        _ => writeln!(s, "| cluster_exposure_hourly_state | n/a (before STEP_4) | n/a |")?,
    }
    writeln!(s, "- Accounts with hourly states: {}", g.accounts)?;
    writeln!(s)
}

fn render_parity(s: &mut String, log: &ImplementationLog) -> std::fmt::Result {
    let p = &log.parity;
    writeln!(s, "## Archive Parity")?;
    let (source, target) = match p.direction {
        None => {
            writeln!(
                s,
                "- n/a: no `*_v2` or `*_phase1a_archive` tables to compare yet (Phase 1A)"
            )?;
            writeln!(s, "- Parity result: **FAIL** (not verified)")?;
            return writeln!(s);
        }
        Some(ParityDirection::ArchiveToCanonical) => {
            writeln!(
                s,
                "Every archived fact is present, unchanged, in its canonical successor, and every archive still matches what STEP_7B recorded when the cutover sealed it (rows, hash sum); canonical rows beyond the archive were written after the cutover. Progress columns `filled_quantity` / `remaining_qty` are proven by `quantity_conservation`."
            )?;
            ("Archived", "Canonical")
        }
        Some(ParityDirection::CanonicalToV2) => {
            writeln!(
                s,
                "Before the cutover every canonical row is mirrored in its `*_v2` table, column for column, and nothing else."
            )?;
            ("Canonical", "`*_v2`")
        }
    };
    writeln!(
        s,
        "| Table | {source} rows | {target} rows | Missing | Changed | Extra | Written after | Result | First differing keys |"
    )?;
    writeln!(s, "|---|---|---|---|---|---|---|---|---|")?;
    for t in &p.tables {
        let broken_seal = t.sealed.as_ref().filter(|x| !x.holds()).map(|x| {
            format!(
                "archive no longer matches its cutover record ({} rows recorded, {} now)",
                x.recorded_rows, x.archive_rows
            )
        });
        let first = if let Some(e) = &t.error {
            e.clone()
        } else if let Some(b) = broken_seal {
            b
        } else if t.first_differences.is_empty() {
            "-".to_string()
        } else {
            t.first_differences
                .iter()
                .map(|d| format!("{} `{}`", kind_text(d.kind), d.key))
                .collect::<Vec<_>>()
                .join(", ")
        };
        writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            t.table,
            t.source_rows,
            t.target_rows,
            t.missing,
            t.changed,
            t.extra,
            t.written_after,
            match t.status {
                ParityStatus::Pass => "PASS",
                ParityStatus::Fail => "FAIL",
            },
            cell(&first)
        )?;
    }
    writeln!(
        s,
        "- Parity result: **{}**",
        if p.passed { "PASS" } else { "FAIL" }
    )?;
    for t in p.tables.iter().filter(|t| t.status == ParityStatus::Fail) {
        for d in &t.first_differences {
            writeln!(
                s,
                "  - `{}` {} `{}`: {} `{}` / {} `{}`",
                t.table,
                kind_text(d.kind),
                d.key,
                source.trim_matches('`'),
                d.source_row
                    .as_ref()
                    .map_or_else(|| "absent".to_string(), |r| r.to_string()),
                target.trim_matches('`'),
                d.target_row
                    .as_ref()
                    .map_or_else(|| "absent".to_string(), |r| r.to_string())
            )?;
        }
    }
    writeln!(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_cannot_break_the_table() {
        assert_eq!(cell("a|b\nc"), "a\\|b c");
    }

    #[test]
    fn identity_labels_match_the_seed() {
        assert_eq!(
            identity_label("portfolio_hourly_state_identity"),
            "Portfolio"
        );
        assert_eq!(identity_label("risk_hourly_state_identity"), "Risk");
    }
}
