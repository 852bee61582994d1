//! Running the checks: render for the database's catalog, count and sample inside one READ ONLY
//! transaction.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use sqlx::{Connection, PgConnection, Postgres, Row, Transaction};

use crate::parity::{table_parity, ParityDirection, ParityTable, TableParity};
use crate::template::{self, Catalog, Rendered};
use crate::{CheckOutcome, InvariantsError, TableSet, CHECK_NAMES, EVENT_TABLES};

/// The twelve check files' SQL, in [`CHECK_FILES`] order.
pub(crate) fn check_sources() -> impl Iterator<Item = &'static str> {
    CHECK_FILES.iter().map(|(_, sql)| *sql)
}

const CHECK_FILES: [(&str, &str); 12] = [
    (
        "no_hypertable_fk",
        include_str!("../sql/no_hypertable_fk.sql"),
    ),
    (
        "identity_bijection",
        include_str!("../sql/identity_bijection.sql"),
    ),
    (
        "cross_account_isolation",
        include_str!("../sql/cross_account_isolation.sql"),
    ),
    (
        "ledger_continuity",
        include_str!("../sql/ledger_continuity.sql"),
    ),
    ("fee_formula", include_str!("../sql/fee_formula.sql")),
    (
        "slippage_formula",
        include_str!("../sql/slippage_formula.sql"),
    ),
    (
        "quantity_conservation",
        include_str!("../sql/quantity_conservation.sql"),
    ),
    ("long_only", include_str!("../sql/long_only.sql")),
    ("cluster_cap", include_str!("../sql/cluster_cap.sql")),
    (
        "walk_forward_contamination",
        include_str!("../sql/walk_forward_contamination.sql"),
    ),
    ("missing_hash", include_str!("../sql/missing_hash.sql")),
    (
        "deterministic_replay_parity",
        include_str!("../sql/deterministic_replay_parity.sql"),
    ),
];

/// The SQL template of check `name` (the file's text, before rendering), or `None`.
pub fn check_sql(name: &str) -> Option<&'static str> {
    CHECK_FILES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, sql)| *sql)
}

/// Every sub-rule check `name` declares, in file order, or `None` for an unknown check.
pub fn check_rules(name: &str) -> Option<Vec<String>> {
    check_sql(name).map(template::declared_rules)
}

fn static_name(name: &str) -> Result<&'static str, InvariantsError> {
    CHECK_NAMES
        .iter()
        .copied()
        .find(|n| *n == name)
        .ok_or_else(|| InvariantsError::UnknownCheck {
            name: name.to_string(),
        })
}

/// Render check `name` for `set` against `catalog` (what [`run_check`] would run).
pub fn render_check(
    name: &str,
    set: TableSet,
    catalog: &Catalog,
) -> Result<Rendered, InvariantsError> {
    let check = static_name(name)?;
    let sql = check_sql(check).ok_or_else(|| InvariantsError::UnknownCheck {
        name: name.to_string(),
    })?;
    template::render(sql, set, catalog).map_err(|source| InvariantsError::Template {
        check,
        set,
        source,
    })
}

/// Read the tables, columns and extensions visible on the search path.
pub async fn load_catalog(conn: &mut PgConnection) -> Result<Catalog, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT c.relname::text AS tbl, a.attname::text AS col
         FROM pg_class c
         JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
         WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND pg_table_is_visible(c.oid)
         ORDER BY 1, 2",
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut catalog = Catalog::new();
    let mut current: Option<(String, Vec<String>)> = None;
    for row in rows {
        let table: String = row.try_get("tbl")?;
        let column: String = row.try_get("col")?;
        match current.as_mut() {
            Some((t, cols)) if *t == table => cols.push(column),
            _ => {
                if let Some((t, cols)) = current.take() {
                    catalog.add_table(&t, cols);
                }
                current = Some((table, vec![column]));
            }
        }
    }
    if let Some((t, cols)) = current {
        catalog.add_table(&t, cols);
    }
    for ext in sqlx::query_scalar::<_, String>("SELECT extname::text FROM pg_extension")
        .fetch_all(&mut *conn)
        .await?
    {
        catalog.add_extension(&ext);
    }
    Ok(catalog)
}

pub(crate) fn verify_set_present(set: TableSet, catalog: &Catalog) -> Result<(), InvariantsError> {
    let missing: Vec<String> = EVENT_TABLES
        .iter()
        .map(|t| set.table(t))
        .filter(|t| !catalog.has_table(t))
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(InvariantsError::TableSetMissing { set, missing })
    }
}

async fn run_rendered(
    conn: &mut PgConnection,
    check: &'static str,
    set: TableSet,
    rendered: Rendered,
    sample: usize,
) -> Result<CheckOutcome, InvariantsError> {
    let started = Instant::now();
    if !rendered.applies() {
        return Ok(CheckOutcome {
            check,
            set,
            violations: None,
            sample: Vec::new(),
            rule_counts: Default::default(),
            rules_checked: Vec::new(),
            rules_not_applicable: rendered.not_applicable_rules,
            elapsed_us: 0,
        });
    }
    // MATERIALIZED: the check body runs once even though the count and the sample both read it.
    let wrapped = format!(
        "WITH v AS MATERIALIZED (\n{body}\n)
         SELECT (SELECT count(*) FROM v)::bigint AS n,
                coalesce((SELECT jsonb_object_agg(c.rule, c.n)
                          FROM (SELECT v.rule, count(*) AS n FROM v GROUP BY v.rule) c), '{{}}'::jsonb) AS rule_counts,
                coalesce((SELECT jsonb_agg(s.j ORDER BY s.rule, s.account_id NULLS FIRST, s.key, s.detail)
                          FROM (SELECT v.rule, v.account_id, v.key, v.detail, jsonb_strip_nulls(to_jsonb(v)) AS j
                                FROM v
                                ORDER BY v.rule, v.account_id NULLS FIRST, v.key, v.detail
                                LIMIT $1) s),
                         '[]'::jsonb) AS sample",
        body = rendered.sql
    );
    let limit = i64::try_from(sample).unwrap_or(i64::MAX);
    let row = sqlx::query(&wrapped)
        .persistent(false)
        .bind(limit)
        .fetch_one(&mut *conn)
        .await
        .map_err(query_failed(check, set, &wrapped))?;
    let n: i64 = row
        .try_get("n")
        .map_err(query_failed(check, set, &wrapped))?;
    let sample_json: serde_json::Value = row
        .try_get("sample")
        .map_err(query_failed(check, set, &wrapped))?;
    let sample = match sample_json {
        serde_json::Value::Array(rows) => rows,
        other => vec![other],
    };
    let counts: serde_json::Value = row
        .try_get("rule_counts")
        .map_err(query_failed(check, set, &wrapped))?;
    let rule_counts = counts
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(rule, n)| (rule.clone(), n.as_i64().unwrap_or(0)))
                .collect()
        })
        .unwrap_or_default();
    let elapsed_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    tracing::debug!(check, %set, violations = n, elapsed_us, "check ran");
    Ok(CheckOutcome {
        check,
        set,
        violations: Some(n),
        sample,
        rule_counts,
        rules_checked: rendered.applicable_rules,
        rules_not_applicable: rendered.not_applicable_rules,
        elapsed_us,
    })
}

/// Transaction-local settings for the checks (`SET LOCAL`: they end with the transaction).
const SESSION_SETTINGS: [(&str, &str); 4] = [
    // UTC so that timestamps in samples read the same on every machine.
    ("setting the time zone", "SET LOCAL TimeZone = 'UTC'"),
    // The checks are long analytic queries with hundreds of expressions: compiling them with
    // LLVM cost more than it saved (missing_hash 24 s -> 9 s on 100k fills with JIT off and the
    // work_mem below, before any SQL change).
    ("disabling JIT", "SET LOCAL jit = off"),
    // Sorts and hash tables over every position / ledger row of a large world stay in memory
    // instead of spilling to disk (the 4MB default is sized for OLTP, not a full audit).
    ("raising work_mem", "SET LOCAL work_mem = '128MB'"),
    // An audit reads the same tables twelve times, so they are cached: reading an index in
    // order (merge joins, windows in primary-key order) costs what the SSD default says.
    (
        "setting random_page_cost",
        "SET LOCAL random_page_cost = 1.1",
    ),
];

/// The transaction-local settings every check runs under (`SET LOCAL` statements, each with
/// what it does): a benchmark measuring a check's floor runs it under the same ones.
pub fn check_settings() -> &'static [(&'static str, &'static str)] {
    &SESSION_SETTINGS
}

/// A session-level refusal (no database error behind it), e.g. a connection in the wrong state.
fn refusal(set: TableSet, what: &'static str, detail: String) -> InvariantsError {
    InvariantsError::Session {
        what,
        set,
        source: sqlx::Error::Protocol(detail),
    }
}

pub(crate) async fn apply_settings(
    conn: &mut PgConnection,
    set: TableSet,
) -> Result<(), InvariantsError> {
    for (what, sql) in SESSION_SETTINGS {
        sqlx::query(sql)
            .execute(&mut *conn)
            .await
            .map_err(|source| InvariantsError::Session { what, set, source })?;
    }
    Ok(())
}

pub(crate) async fn prepare(
    conn: &mut PgConnection,
    set: TableSet,
) -> Result<Catalog, InvariantsError> {
    apply_settings(conn, set).await?;
    let catalog = load_catalog(conn)
        .await
        .map_err(|source| InvariantsError::Session {
            what: "reading the catalog",
            set,
            source,
        })?;
    verify_set_present(set, &catalog)?;
    Ok(catalog)
}

async fn within(
    conn: &mut PgConnection,
    set: TableSet,
    names: &[&'static str],
    sample: usize,
) -> Result<Vec<CheckOutcome>, InvariantsError> {
    let catalog = prepare(conn, set).await?;
    let mut outcomes = Vec::with_capacity(names.len());
    for &check in names {
        let rendered = render_check(check, set, &catalog)?;
        outcomes.push(run_rendered(conn, check, set, rendered, sample).await?);
    }
    Ok(outcomes)
}

/// Open a read-only transaction on `conn` with `begin` (a `BEGIN ... READ ONLY` statement),
/// refusing a connection sqlx knows to be inside a transaction, and verifying the mode: a raw
/// BEGIN issued earlier on the connection would make ours a no-op.
pub(crate) async fn begin_read_only<'c>(
    conn: &'c mut PgConnection,
    set: TableSet,
    begin: &'static str,
) -> Result<Transaction<'c, Postgres>, InvariantsError> {
    if conn.is_in_transaction() {
        return Err(refusal(
            set,
            "BEGIN READ ONLY (connection already in a transaction; use run_checks_within)",
            "connection already in a transaction".to_string(),
        ));
    }
    // Dropping the transaction on an early return rolls it back.
    let mut tx = conn
        .begin_with(begin)
        .await
        .map_err(|source| InvariantsError::Session {
            what: begin,
            set,
            source,
        })?;
    let mode: String = sqlx::query_scalar("SELECT current_setting('transaction_read_only')")
        .fetch_one(&mut *tx)
        .await
        .map_err(|source| InvariantsError::Session {
            what: "reading transaction_read_only",
            set,
            source,
        })?;
    if mode != "on" {
        return Err(refusal(
            set,
            "BEGIN READ ONLY (the connection was already inside a read-write transaction block)",
            format!("transaction_read_only = {mode}"),
        ));
    }
    Ok(tx)
}

async fn read_only(
    conn: &mut PgConnection,
    set: TableSet,
    names: &[&'static str],
    sample: usize,
) -> Result<Vec<CheckOutcome>, InvariantsError> {
    let mut tx = begin_read_only(conn, set, "BEGIN READ ONLY").await?;
    let outcomes = within(&mut tx, set, names, sample).await?;
    tx.rollback()
        .await
        .map_err(|source| InvariantsError::Session {
            what: "ROLLBACK of the read-only transaction",
            set,
            source,
        })?;
    Ok(outcomes)
}

/// Run all twelve checks on `set` inside one READ ONLY transaction (opened and closed here).
pub async fn run_checks(
    conn: &mut PgConnection,
    set: TableSet,
    sample: usize,
) -> Result<Vec<CheckOutcome>, InvariantsError> {
    read_only(conn, set, &CHECK_NAMES, sample).await
}

/// The checks from the most to the least expensive on generated worlds (measured with
/// `cargo bench -p benches --bench checks`): handing them out in this order to parallel
/// connections keeps the longest one from starting last.
const COST_ORDER: [&str; 12] = [
    "deterministic_replay_parity",
    "missing_hash",
    "walk_forward_contamination",
    "cluster_cap",
    "ledger_continuity",
    "quantity_conservation",
    "cross_account_isolation",
    "long_only",
    "slippage_formula",
    "fee_formula",
    "identity_bijection",
    "no_hypertable_fk",
];

/// Run all twelve checks on `set` spread over `main` and `helpers` (other connections to the
/// same database, not inside a transaction), all reading ONE snapshot: `main` opens a
/// REPEATABLE READ, READ ONLY transaction and exports its snapshot, each helper imports it, and
/// each connection takes the next check (most expensive first) until none is left. Outcomes
/// come back in [`CHECK_NAMES`] order, exactly as [`run_checks`] would return them; with no
/// helper this is [`run_checks`].
pub async fn run_checks_parallel(
    main: &mut PgConnection,
    helpers: &mut [PgConnection],
    set: TableSet,
    sample: usize,
) -> Result<Vec<CheckOutcome>, InvariantsError> {
    if helpers.is_empty() {
        return run_checks(main, set, sample).await;
    }
    let mut session = SharedSnapshot::open(main, helpers, set).await?;
    let catalog = prepare(&mut session.main, set).await?;
    let jobs = check_jobs(set, &catalog)?;
    let results = session.run(jobs, set, &catalog, sample).await?;
    session.close(set).await?;
    Ok(results.checks)
}

/// A check's query failed: the error names the check and carries the SQL sent.
fn query_failed(
    check: &'static str,
    set: TableSet,
    sql: &str,
) -> impl FnOnce(sqlx::Error) -> InvariantsError {
    let sql = sql.to_string();
    move |source| InvariantsError::Query {
        check,
        set,
        sql,
        source,
    }
}

/// Rendered checks as jobs, most expensive first.
pub(crate) fn check_jobs(set: TableSet, catalog: &Catalog) -> Result<Vec<Job>, InvariantsError> {
    COST_ORDER
        .iter()
        .map(|check| Ok(Job::Check(check, render_check(check, set, catalog)?)))
        .collect()
}

/// One unit of work of an audit over one snapshot.
#[derive(Debug, Clone)]
pub(crate) enum Job {
    /// A rendered check.
    Check(&'static str, Rendered),
    /// One table's parity in one direction.
    Parity(&'static ParityTable, ParityDirection),
}

/// What the jobs produced: check outcomes in [`CHECK_NAMES`] order, parity in table order.
#[derive(Debug, Default)]
pub(crate) struct JobResults {
    pub(crate) checks: Vec<CheckOutcome>,
    pub(crate) parity: Vec<TableParity>,
}

/// A REPEATABLE READ, READ ONLY transaction on the main connection and, when there are helpers,
/// one on each helper importing the main one's snapshot: every job reads the same data.
pub(crate) struct SharedSnapshot<'c> {
    pub(crate) main: Transaction<'c, Postgres>,
    pub(crate) helpers: Vec<Transaction<'c, Postgres>>,
}

/// Run `jobs` (in the given order) over `main` and the helper transactions (which share
/// `main`'s snapshot), each connection taking the next job until none is left.
pub(crate) async fn run_jobs(
    main: &mut PgConnection,
    helpers: &mut [Transaction<'_, Postgres>],
    jobs: Vec<Job>,
    set: TableSet,
    catalog: &Catalog,
    sample: usize,
) -> Result<JobResults, InvariantsError> {
    let next = AtomicUsize::new(0);
    let mut workers = Vec::with_capacity(helpers.len() + 1);
    workers.push(drain(main, &next, &jobs, set, catalog, sample));
    for htx in helpers.iter_mut() {
        workers.push(drain(htx, &next, &jobs, set, catalog, sample));
    }
    let mut results = JobResults::default();
    for done in futures::future::try_join_all(workers).await? {
        results.checks.extend(done.checks);
        results.parity.extend(done.parity);
    }
    results
        .checks
        .sort_by_key(|o| CHECK_NAMES.iter().position(|n| *n == o.check));
    results.parity.sort_by_key(|p| {
        crate::parity::PARITY_TABLES
            .iter()
            .position(|t| t.table == p.table)
    });
    Ok(results)
}

impl<'c> SharedSnapshot<'c> {
    pub(crate) async fn open(
        main: &'c mut PgConnection,
        helpers: &'c mut [PgConnection],
        set: TableSet,
    ) -> Result<SharedSnapshot<'c>, InvariantsError> {
        let session =
            |what: &'static str| move |source| InvariantsError::Session { what, set, source };
        if helpers.iter().any(|h| h.is_in_transaction()) {
            return Err(refusal(
                set,
                "BEGIN (a helper connection given to run_checks_parallel is already in a transaction)",
                "connection already in a transaction".to_string(),
            ));
        }
        let mut tx =
            begin_read_only(main, set, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY").await?;
        let mut helper_txs = Vec::with_capacity(helpers.len());
        if !helpers.is_empty() {
            let snapshot: String = sqlx::query_scalar("SELECT pg_export_snapshot()")
                .fetch_one(&mut *tx)
                .await
                .map_err(session("exporting the snapshot"))?;
            for h in helpers.iter_mut() {
                let mut htx = h
                    .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                    .await
                    .map_err(session(
                        "BEGIN REPEATABLE READ READ ONLY on a helper connection",
                    ))?;
                // Fails on a helper connected to another database: the snapshot is per database.
                sqlx::query(&format!("SET TRANSACTION SNAPSHOT '{snapshot}'"))
                    .execute(&mut *htx)
                    .await
                    .map_err(session(
                        "importing the snapshot on a helper connection (is it on the same database?)",
                    ))?;
                // A BEGIN the caller sent as raw SQL would make ours a no-op: verify what we got.
                let mode: (String, String) = sqlx::query_as(
                    "SELECT current_setting('transaction_isolation'), current_setting('transaction_read_only')",
                )
                .fetch_one(&mut *htx)
                .await
                .map_err(session("reading a helper's transaction mode"))?;
                if mode.0 != "repeatable read" || mode.1 != "on" {
                    return Err(refusal(
                        set,
                        "BEGIN REPEATABLE READ READ ONLY on a helper connection",
                        format!(
                            "helper transaction is {} with read_only = {}",
                            mode.0, mode.1
                        ),
                    ));
                }
                apply_settings(&mut htx, set).await?;
                helper_txs.push(htx);
            }
        }
        Ok(SharedSnapshot {
            main: tx,
            helpers: helper_txs,
        })
    }

    /// Run `jobs` (in the given order) over the main connection and the helpers.
    pub(crate) async fn run(
        &mut self,
        jobs: Vec<Job>,
        set: TableSet,
        catalog: &Catalog,
        sample: usize,
    ) -> Result<JobResults, InvariantsError> {
        run_jobs(
            &mut self.main,
            &mut self.helpers,
            jobs,
            set,
            catalog,
            sample,
        )
        .await
    }

    /// Roll every transaction back (they only read).
    pub(crate) async fn close(self, set: TableSet) -> Result<(), InvariantsError> {
        let session =
            |what: &'static str| move |source| InvariantsError::Session { what, set, source };
        for htx in self.helpers {
            htx.rollback()
                .await
                .map_err(session("ROLLBACK of a helper's read-only transaction"))?;
        }
        self.main
            .rollback()
            .await
            .map_err(session("ROLLBACK of the read-only transaction"))
    }
}

/// One worker: run the next unclaimed job until none is left.
async fn drain(
    conn: &mut PgConnection,
    next: &AtomicUsize,
    jobs: &[Job],
    set: TableSet,
    catalog: &Catalog,
    sample: usize,
) -> Result<JobResults, InvariantsError> {
    let mut done = JobResults::default();
    while let Some(job) = jobs.get(next.fetch_add(1, Ordering::Relaxed)) {
        match job {
            Job::Check(check, r) => done
                .checks
                .push(run_rendered(conn, check, set, r.clone(), sample).await?),
            Job::Parity(spec, direction) => done
                .parity
                .push(table_parity(conn, spec, *direction, catalog, sample).await?),
        }
    }
    Ok(done)
}

/// Run one check on `set` inside its own READ ONLY transaction.
pub async fn run_check(
    conn: &mut PgConnection,
    name: &str,
    set: TableSet,
    sample: usize,
) -> Result<CheckOutcome, InvariantsError> {
    let check = static_name(name)?;
    let mut outcomes = read_only(conn, set, &[check], sample).await?;
    outcomes.pop().ok_or_else(|| InvariantsError::UnknownCheck {
        name: name.to_string(),
    })
}

/// Run all twelve checks in the caller's already open transaction (which the caller owns, and
/// should make READ ONLY unless it deliberately wrote first, e.g. a corruption under test).
pub async fn run_checks_within(
    conn: &mut PgConnection,
    set: TableSet,
    sample: usize,
) -> Result<Vec<CheckOutcome>, InvariantsError> {
    within(conn, set, &CHECK_NAMES, sample).await
}

/// `EXPLAIN (ANALYZE, BUFFERS)` (or plain `EXPLAIN` when `analyze` is false) of check `name` on
/// `set`, inside its own READ ONLY transaction: the plan text, one line per row.
pub async fn explain_check(
    conn: &mut PgConnection,
    name: &str,
    set: TableSet,
    analyze: bool,
) -> Result<String, InvariantsError> {
    let check = static_name(name)?;
    let session = |what: &'static str| move |source| InvariantsError::Session { what, set, source };
    let mut tx = begin_read_only(conn, set, "BEGIN READ ONLY").await?;
    let catalog = prepare(&mut tx, set).await?;
    let rendered = render_check(check, set, &catalog)?;
    if !rendered.applies() {
        return Ok(format!("{check}: n/a on {set}"));
    }
    let options = if analyze {
        "(ANALYZE, BUFFERS, COSTS OFF)"
    } else {
        "(COSTS OFF)"
    };
    let explain = format!("EXPLAIN {options}\n{}", rendered.sql);
    let lines: Vec<String> = sqlx::query_scalar(&explain)
        .persistent(false)
        .fetch_all(&mut *tx)
        .await
        .map_err(query_failed(check, set, &explain))?;
    tx.rollback()
        .await
        .map_err(session("ROLLBACK of the read-only transaction"))?;
    Ok(lines.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_check_has_a_file_and_rules() {
        for name in CHECK_NAMES {
            let sql = check_sql(name).unwrap_or_default();
            assert!(sql.contains("rule"), "{name} has no file");
            let rules = check_rules(name).unwrap_or_default();
            assert!(!rules.is_empty(), "{name} declares no rule");
        }
        assert!(check_sql("no_such_check").is_none());
    }

    #[test]
    fn rule_names_are_unique_within_a_check_and_snake_case() {
        for name in CHECK_NAMES {
            let rules = check_rules(name).unwrap_or_default();
            let mut sorted = rules.clone();
            sorted.sort();
            sorted.dedup();
            assert_eq!(sorted.len(), rules.len(), "{name} declares a rule twice");
            for r in rules {
                assert!(
                    r.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
                    "{name}: rule {r}"
                );
                // every declared rule is emitted somewhere in the file as a string literal
                assert!(
                    check_sql(name)
                        .unwrap_or_default()
                        .contains(&format!("'{r}'")),
                    "{name}: rule {r} never emitted"
                );
            }
        }
    }

    fn catalog_with(
        v2: bool,
        hashes: bool,
        identity: bool,
        cluster: bool,
        suffix: &str,
    ) -> Catalog {
        let mut c = Catalog::new();
        c.add_extension("timescaledb");
        for t in EVENT_TABLES {
            let mut cols = vec!["x"];
            if hashes {
                cols.extend(["row_hash"]);
                match t {
                    "order_request" => cols.extend(["parent_signal_hash", "risk_state_hash"]),
                    "order_fill" => cols.push("parent_order_hash"),
                    "position_lot" => cols.push("parent_fill_hash"),
                    "executed_trade" => cols.extend(["parent_fill_hash", "parent_lot_hash"]),
                    "cash_ledger" => cols.push("prev_hash"),
                    "risk_event" => cols.push("parent_state_hash"),
                    _ => {}
                }
            }
            c.add_table(&format!("{t}{suffix}"), cols);
            if v2 {
                c.add_table(t, ["x"]);
            }
        }
        if identity {
            c.add_table("portfolio_hourly_state_identity", ["state_hash"]);
            c.add_table("risk_hourly_state_identity", ["state_hash"]);
        }
        if cluster {
            c.add_table("cluster_exposure_hourly_state", ["parent_risk_hash"]);
        }
        c
    }

    fn applicability(set: TableSet, c: &Catalog) -> Vec<(&'static str, bool)> {
        CHECK_NAMES
            .iter()
            .map(|n| {
                (
                    *n,
                    render_check(n, set, c)
                        .map(|r| r.applies())
                        .unwrap_or(false),
                )
            })
            .collect()
    }

    #[test]
    fn phase1a_has_no_hash_or_identity_checks() {
        let c = catalog_with(false, false, false, false, "");
        let a = applicability(TableSet::Phase1a, &c);
        for (name, applies) in a {
            let expected = !matches!(name, "identity_bijection" | "missing_hash");
            assert_eq!(applies, expected, "{name}");
        }
        let r = render_check("ledger_continuity", TableSet::Phase1a, &c).unwrap();
        assert_eq!(r.not_applicable_rules, vec!["prev_hash_mismatch"]);
        assert!(!r.sql.contains("l.prev_hash"));
        let r = render_check("cluster_cap", TableSet::Phase1a, &c).unwrap();
        assert_eq!(
            r.not_applicable_rules,
            vec![
                "cluster_exposure_mismatch",
                "cluster_cap_value_mismatch",
                "cluster_exposure_missing"
            ]
        );
        assert!(!r.sql.contains("JOIN cluster_exposure_hourly_state"));
    }

    #[test]
    fn after_cutover_everything_applies() {
        let c = catalog_with(false, true, true, true, "");
        for (name, applies) in applicability(TableSet::CanonicalAfterCutover, &c) {
            assert!(applies, "{name}");
            let r = render_check(name, TableSet::CanonicalAfterCutover, &c).unwrap();
            assert!(
                r.not_applicable_rules.is_empty(),
                "{name}: {:?}",
                r.not_applicable_rules
            );
            assert!(!r.sql.contains("_v2"), "{name}");
        }
    }

    #[test]
    fn v2_before_m9_reports_missing_hash_na_but_identity_applies() {
        let c = catalog_with(true, false, true, true, "_v2");
        let a = applicability(TableSet::V2BeforeCutover, &c);
        assert!(
            a.iter()
                .all(|(n, applies)| *applies == (*n != "missing_hash")),
            "{a:?}"
        );
        let r = render_check("fee_formula", TableSet::V2BeforeCutover, &c).unwrap();
        assert!(r.sql.contains("order_fill_v2"));
        let c = catalog_with(true, true, true, true, "_v2");
        let r = render_check("missing_hash", TableSet::V2BeforeCutover, &c).unwrap();
        assert!(r.applies() && r.not_applicable_rules.is_empty());
        assert!(r.sql.contains("FROM cash_ledger_v2 t"));
    }

    #[test]
    fn unknown_check_is_an_error() {
        let c = Catalog::new();
        assert!(matches!(
            render_check("nope", TableSet::Phase1a, &c),
            Err(InvariantsError::UnknownCheck { .. })
        ));
    }

    #[test]
    fn missing_table_set_is_reported() {
        let c = catalog_with(false, false, false, false, "");
        assert!(verify_set_present(TableSet::Phase1a, &c).is_ok());
        match verify_set_present(TableSet::V2BeforeCutover, &c) {
            Err(InvariantsError::TableSetMissing { missing, .. }) => assert_eq!(missing.len(), 10),
            other => panic!("{other:?}"),
        }
    }
}

#[cfg(test)]
mod contract_names {
    use super::*;

    /// The check names are the contract's: the file table and the cost order hold each of
    /// them exactly once and nothing else.
    #[test]
    fn check_files_and_cost_order_are_the_contract_checks() {
        let mut files: Vec<&str> = CHECK_FILES.iter().map(|(n, _)| *n).collect();
        let mut cost = COST_ORDER.to_vec();
        let mut contract = CHECK_NAMES.to_vec();
        files.sort_unstable();
        cost.sort_unstable();
        contract.sort_unstable();
        assert_eq!(files, contract);
        assert_eq!(cost, contract);
    }
}
