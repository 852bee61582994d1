//! The twelve validation checks of CONTRACT.md section 5 and the structural confirmations.
//!
//! Every check is one read-only SQL query (in `invariants/sql/<check_name>.sql`) that returns the
//! violating rows with their keys and the name of the sub-rule each breaks. The files are
//! templates over the table set (see [`template`]): `{{order_fill}}` becomes `order_fill` or
//! `order_fill_v2`, and sub-rules whose columns or tables do not exist yet (hashes before M9,
//! identity tables before STEP_2, the cluster exposure table before STEP_4) are left out and
//! listed as not applicable. A check none of whose sub-rules applies reports `n/a` (`None`).
//!
//! Every check query returns exactly four columns: `rule text, account_id bigint, key jsonb,
//! detail jsonb`; the runner counts the rows and keeps a deterministic sample ordered by
//! (rule, account_id, key, detail).

pub mod audit;
pub mod corruptions;
pub mod gate;
pub mod migration_state;
pub mod parity;
mod runner;
pub mod structure;
pub mod template;

pub use audit::{audit, audit_within, Audit, AuditPurpose, Confirmation, GridFigures};
pub use contract::{CHECK_NAMES, EVENT_TABLES};
pub use gate::AuditGate;
pub use runner::{
    check_rules, check_settings, check_sql, explain_check, load_catalog, render_check, run_check,
    run_checks, run_checks_parallel, run_checks_within,
};
pub use structure::{confirm_structure, Structure};

/// Which tables a check reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum TableSet {
    /// Phase 1A canonical event tables (legacy shape, no hashes).
    Phase1a,
    /// The `*_v2` tables before the cutover.
    V2BeforeCutover,
    /// The canonical tables after the cutover (the former `*_v2`).
    CanonicalAfterCutover,
}

impl TableSet {
    /// All three table sets, in migration order.
    pub const ALL: [TableSet; 3] = [
        TableSet::Phase1a,
        TableSet::V2BeforeCutover,
        TableSet::CanonicalAfterCutover,
    ];

    /// The real name of event table `base` in this set (`order_fill` -> `order_fill_v2` before cutover).
    pub fn table(self, base: &str) -> String {
        match self {
            TableSet::Phase1a | TableSet::CanonicalAfterCutover => base.to_string(),
            TableSet::V2BeforeCutover => format!("{base}_v2"),
        }
    }
}

impl std::fmt::Display for TableSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TableSet::Phase1a => "Phase 1A canonical",
            TableSet::V2BeforeCutover => "*_v2 before cutover",
            TableSet::CanonicalAfterCutover => "canonical after cutover",
        })
    }
}

/// One check's result on one table set.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CheckOutcome {
    /// Check name from [`CHECK_NAMES`].
    pub check: &'static str,
    /// The table set it ran on.
    pub set: TableSet,
    /// Violation count; `None` when the check cannot apply to the table set (`n/a`).
    pub violations: Option<i64>,
    /// Up to `sample` violating rows, each with its keys and the sub-rule it breaks.
    pub sample: Vec<serde_json::Value>,
    /// Violations per sub-rule (every violating row counted, not only the sampled ones).
    pub rule_counts: std::collections::BTreeMap<String, i64>,
    /// Sub-rules this run checked.
    pub rules_checked: Vec<String>,
    /// Sub-rules that cannot apply to this database yet (their columns or tables do not exist).
    pub rules_not_applicable: Vec<String>,
    /// Wall time of the query, in microseconds.
    pub elapsed_us: u64,
}

impl CheckOutcome {
    /// Number of sampled rows that broke `rule`.
    pub fn sampled_rule_count(&self, rule: &str) -> usize {
        self.sample
            .iter()
            .filter(|row| row.get("rule").and_then(|r| r.as_str()) == Some(rule))
            .count()
    }

    /// Distinct sub-rules seen in the sample, sorted.
    pub fn sampled_rules(&self) -> Vec<String> {
        let mut rules: Vec<String> = self
            .sample
            .iter()
            .filter_map(|row| row.get("rule").and_then(|r| r.as_str()).map(str::to_string))
            .collect();
        rules.sort();
        rules.dedup();
        rules
    }
}

/// `; at line N of the SQL below: <that line>` (the rendered, wrapped SQL the error carries) when the server said where in the query it failed.
fn query_position(source: &sqlx::Error, sql: &str) -> String {
    let Some(db) = source.as_database_error() else {
        return String::new();
    };
    let Some(pg) = db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() else {
        return String::new();
    };
    let Some(sqlx::postgres::PgErrorPosition::Original(pos)) = pg.position() else {
        return String::new();
    };
    // The position counts characters from 1.
    let before: String = sql.chars().take(pos.saturating_sub(1)).collect();
    let line = before.matches('\n').count() + 1;
    let text = sql.lines().nth(line - 1).unwrap_or_default().trim();
    format!("; at line {line} of the SQL below: {text}")
}

/// Errors running checks.
#[derive(Debug, thiserror::Error)]
pub enum InvariantsError {
    /// A check's query failed: which check, where its SQL lives, the SQL it ran.
    #[error("check {check} on {set} failed: {source}{at}\n  file: invariants/sql/{check}.sql (rendered for {set})\n  SQL it ran:\n{sql}", at = query_position(source, sql))]
    Query {
        /// The check.
        check: &'static str,
        /// The table set it ran on.
        set: TableSet,
        /// The SQL sent to the server (the rendered check, wrapped for its count and sample).
        sql: String,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
    /// A check file could not be rendered (a bug in the file, reported with its line).
    #[error("check {check} on {set:?}: template error: {source}")]
    Template {
        /// The check.
        check: &'static str,
        /// The table set it was rendered for.
        set: TableSet,
        /// Where the file is wrong.
        #[source]
        source: template::TemplateError,
    },
    /// No check has this name.
    #[error("unknown check '{name}' (expected one of the twelve of the contract)")]
    UnknownCheck {
        /// The name asked for.
        name: String,
    },
    /// The table set's event tables are not (all) in the database.
    #[error("table set {set:?} is not present: missing {missing:?}")]
    TableSetMissing {
        /// The table set asked for.
        set: TableSet,
        /// Its tables that do not exist.
        missing: Vec<String>,
    },
    /// Opening, configuring or closing the read-only transaction, or reading the catalog, failed.
    #[error("{what} (table set {set:?}): {source}")]
    Session {
        /// What was being done.
        what: &'static str,
        /// The table set.
        set: TableSet,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
    /// A structural confirmation query failed.
    #[error("structural confirmation '{what}' failed: {source}")]
    Structure {
        /// What was being read.
        what: &'static str,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
    /// A parity query failed.
    #[error("archive parity of {table}: {what}: {source}")]
    Parity {
        /// The event table compared.
        table: &'static str,
        /// What was being done.
        what: &'static str,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
}
