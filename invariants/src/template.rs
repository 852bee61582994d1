//! Rendering of a check's SQL template for one table set and one database catalog.
//!
//! A check file is plain SQL plus three kinds of directive comment, so it stays runnable by hand
//! once rendered and readable by a DBA before:
//!
//! * `{{name}}` names one of the ten event tables; it becomes `name` (Phase 1A, canonical after
//!   cutover) or `name_v2` (before cutover). Every other table is written literally.
//! * `--@rule r1,r2 [TERM ...]` declares sub-rules and what they need to apply (all TERMs).
//! * `--@if TERM ...` / `--@endif` keep the enclosed lines only when every TERM holds. Blocks nest.
//!
//! TERMs: `table:NAME`, `column:TABLE.COLUMN`, `ext:NAME` (an installed extension),
//! `rule:NAME` (that sub-rule applies), each optionally negated with a leading `!`.
//! A check applies to a database when at least one of its sub-rules does; otherwise it is `n/a`.

use std::collections::{BTreeSet, HashSet};

use crate::{TableSet, EVENT_TABLES};

/// What exists in the database the checks will read (tables, columns, extensions).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Catalog {
    tables: HashSet<String>,
    columns: HashSet<(String, String)>,
    extensions: HashSet<String>,
}

impl Catalog {
    /// An empty catalog (nothing exists).
    pub fn new() -> Self {
        Self::default()
    }

    /// Record a table (or view) with its columns.
    pub fn add_table<I, S>(&mut self, table: &str, columns: I)
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.tables.insert(table.to_string());
        for c in columns {
            self.columns
                .insert((table.to_string(), c.as_ref().to_string()));
        }
    }

    /// Record an installed extension.
    pub fn add_extension(&mut self, name: &str) {
        self.extensions.insert(name.to_string());
    }

    /// Does this table (or view) exist?
    pub fn has_table(&self, table: &str) -> bool {
        self.tables.contains(table)
    }

    /// Does this column exist on this table?
    pub fn has_column(&self, table: &str, column: &str) -> bool {
        self.columns
            .contains(&(table.to_string(), column.to_string()))
    }

    /// Is this extension installed?
    pub fn has_extension(&self, name: &str) -> bool {
        self.extensions.contains(name)
    }
}

/// A template that cannot be rendered: always a bug in a check file, reported with its line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct TemplateError {
    /// 1-based line of the check file.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// A rendered check: the SQL to run and which sub-rules it covers on this database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// The query, placeholders substituted and inapplicable blocks removed.
    pub sql: String,
    /// Sub-rules the query checks, in declaration order.
    pub applicable_rules: Vec<String>,
    /// Sub-rules that cannot apply to this database (`n/a`), in declaration order.
    pub not_applicable_rules: Vec<String>,
}

impl Rendered {
    /// `false` when no sub-rule applies: the check reports `n/a`.
    pub fn applies(&self) -> bool {
        !self.applicable_rules.is_empty()
    }
}

/// Replace every `{{event_table}}` placeholder with its name in `set`.
pub fn substitute(sql: &str, set: TableSet) -> Result<String, TemplateError> {
    let mut out = String::with_capacity(sql.len() + 64);
    for (idx, line) in sql.lines().enumerate() {
        let mut rest = line;
        while let Some(start) = rest.find("{{") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after.find("}}").ok_or_else(|| TemplateError {
                line: idx + 1,
                message: "unclosed '{{'".to_string(),
            })?;
            let name = &after[..end];
            if !EVENT_TABLES.contains(&name) {
                return Err(TemplateError {
                    line: idx + 1,
                    message: format!("'{{{{{name}}}}}' is not one of the ten event tables"),
                });
            }
            out.push_str(&set.table(name));
            rest = &after[end + 2..];
        }
        out.push_str(rest);
        out.push('\n');
    }
    Ok(out)
}

/// The sub-rules a check file declares, in order (no catalog needed).
pub fn declared_rules(template: &str) -> Vec<String> {
    let mut rules = Vec::new();
    for line in template.lines() {
        if let Some(rest) = line.trim_start().strip_prefix("--@rule ") {
            if let Some(names) = rest.split_whitespace().next() {
                rules.extend(
                    names
                        .split(',')
                        .filter(|n| !n.is_empty())
                        .map(str::to_string),
                );
            }
        }
    }
    rules
}

enum Term<'a> {
    Table(&'a str),
    Column(&'a str, &'a str),
    Extension(&'a str),
    Rule(&'a str),
}

fn parse_term(raw: &str, line: usize) -> Result<(bool, Term<'_>), TemplateError> {
    let (negated, body) = match raw.strip_prefix('!') {
        Some(b) => (true, b),
        None => (false, raw),
    };
    let err = |m: &str| TemplateError {
        line,
        message: format!("term '{raw}': {m}"),
    };
    let (kind, arg) = body
        .split_once(':')
        .ok_or_else(|| err("expected KIND:ARG"))?;
    if arg.is_empty() {
        return Err(err("empty argument"));
    }
    let term = match kind {
        "table" => Term::Table(arg),
        "column" => {
            let (t, c) = arg
                .split_once('.')
                .ok_or_else(|| err("expected TABLE.COLUMN"))?;
            Term::Column(t, c)
        }
        "ext" => Term::Extension(arg),
        "rule" => Term::Rule(arg),
        _ => return Err(err("unknown kind (table, column, ext, rule)")),
    };
    Ok((negated, term))
}

fn eval_terms(
    terms: &str,
    line: usize,
    catalog: &Catalog,
    rules: &[(String, bool)],
    allow_rule_terms: bool,
) -> Result<bool, TemplateError> {
    let mut all = true;
    for raw in terms.split_whitespace() {
        let (negated, term) = parse_term(raw, line)?;
        let holds = match term {
            Term::Table(t) => catalog.has_table(t),
            Term::Column(t, c) => catalog.has_column(t, c),
            Term::Extension(e) => catalog.has_extension(e),
            Term::Rule(r) => {
                if !allow_rule_terms {
                    return Err(TemplateError {
                        line,
                        message: format!("'{raw}': a --@rule line cannot depend on another rule"),
                    });
                }
                rules
                    .iter()
                    .find(|(name, _)| name == r)
                    .map(|(_, ok)| *ok)
                    .ok_or_else(|| TemplateError {
                        line,
                        message: format!("'{raw}': rule '{r}' is not declared"),
                    })?
            }
        };
        all &= holds != negated;
    }
    Ok(all)
}

/// Render a check template for `set` against `catalog`.
pub fn render(template: &str, set: TableSet, catalog: &Catalog) -> Result<Rendered, TemplateError> {
    let sql = substitute(template, set)?;

    // Rule declarations first, so blocks may refer to rules declared anywhere in the file.
    let mut rules: Vec<(String, bool)> = Vec::new();
    let mut seen = BTreeSet::new();
    for (idx, line) in sql.lines().enumerate() {
        if let Some(rest) = line.trim_start().strip_prefix("--@rule ") {
            let mut parts = rest.splitn(2, char::is_whitespace);
            let names = parts.next().unwrap_or_default();
            let terms = parts.next().unwrap_or_default();
            let ok = eval_terms(terms, idx + 1, catalog, &rules, false)?;
            for name in names.split(',').filter(|n| !n.is_empty()) {
                if !seen.insert(name.to_string()) {
                    return Err(TemplateError {
                        line: idx + 1,
                        message: format!("rule '{name}' declared twice"),
                    });
                }
                rules.push((name.to_string(), ok));
            }
        }
    }

    let mut out = String::with_capacity(sql.len());
    // Each entry: is the enclosing text kept?
    let mut stack: Vec<bool> = Vec::new();
    for (idx, line) in sql.lines().enumerate() {
        let trimmed = line.trim_start();
        let active = stack.iter().all(|k| *k);
        if let Some(terms) = trimmed.strip_prefix("--@if ") {
            // Evaluate even inside a dropped block so typos are caught on every database.
            let holds = eval_terms(terms, idx + 1, catalog, &rules, true)?;
            stack.push(holds);
        } else if trimmed.starts_with("--@endif") {
            if stack.pop().is_none() {
                return Err(TemplateError {
                    line: idx + 1,
                    message: "--@endif without --@if".to_string(),
                });
            }
        } else if trimmed.starts_with("--@rule ") {
            // declarations are not SQL
        } else if trimmed.starts_with("--@") {
            return Err(TemplateError {
                line: idx + 1,
                message: format!(
                    "unknown directive '{}'",
                    trimmed.split_whitespace().next().unwrap_or_default()
                ),
            });
        } else if active {
            out.push_str(line);
            out.push('\n');
        }
    }
    if !stack.is_empty() {
        return Err(TemplateError {
            line: sql.lines().count(),
            message: "unclosed --@if".to_string(),
        });
    }
    let (applicable_rules, not_applicable_rules): (Vec<_>, Vec<_>) =
        rules.into_iter().partition(|(_, ok)| *ok);
    Ok(Rendered {
        sql: out,
        applicable_rules: applicable_rules.into_iter().map(|(n, _)| n).collect(),
        not_applicable_rules: not_applicable_rules.into_iter().map(|(n, _)| n).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn phase1a_catalog() -> Catalog {
        let mut c = Catalog::new();
        c.add_extension("timescaledb");
        for t in EVENT_TABLES {
            c.add_table(t, ["id"]);
        }
        c.add_table("cash_ledger", ["account_id", "ledger_seq"]);
        c
    }

    #[test]
    fn placeholders_follow_the_table_set() {
        let sql = "SELECT * FROM {{order_fill}} f JOIN {{cash_ledger}} l USING (fill_id)";
        assert_eq!(
            substitute(sql, TableSet::V2BeforeCutover).unwrap(),
            "SELECT * FROM order_fill_v2 f JOIN cash_ledger_v2 l USING (fill_id)\n"
        );
        assert_eq!(
            substitute(sql, TableSet::CanonicalAfterCutover).unwrap(),
            "SELECT * FROM order_fill f JOIN cash_ledger l USING (fill_id)\n"
        );
        assert_eq!(
            substitute(sql, TableSet::Phase1a).unwrap(),
            substitute(sql, TableSet::CanonicalAfterCutover).unwrap()
        );
    }

    #[test]
    fn unknown_or_unclosed_placeholder_is_an_error() {
        let e = substitute("SELECT 1\nFROM {{risk_hourly_state}}", TableSet::Phase1a).unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.contains("not one of the ten"), "{e}");
        let e = substitute("FROM {{order_fill", TableSet::Phase1a).unwrap_err();
        assert!(e.message.contains("unclosed"), "{e}");
    }

    const TEMPLATE: &str = "\
--@rule always_on
--@rule needs_prev_hash column:{{cash_ledger}}.prev_hash
--@rule needs_identity table:risk_hourly_state_identity
SELECT 1
--@if rule:needs_prev_hash
UNION ALL SELECT prev_hash FROM {{cash_ledger}}
--@endif
--@if !column:{{cash_ledger}}.prev_hash
-- no hashes yet
--@endif
--@if table:risk_hourly_state_identity
UNION ALL SELECT 3
--@if rule:needs_prev_hash
UNION ALL SELECT 4
--@endif
--@endif
";

    #[test]
    fn blocks_follow_the_catalog() {
        let c = phase1a_catalog();
        let r = render(TEMPLATE, TableSet::Phase1a, &c).unwrap();
        assert_eq!(r.sql, "SELECT 1\n-- no hashes yet\n");
        assert_eq!(r.applicable_rules, vec!["always_on"]);
        assert_eq!(
            r.not_applicable_rules,
            vec!["needs_prev_hash", "needs_identity"]
        );
        assert!(r.applies());

        let mut c = phase1a_catalog();
        c.add_table("cash_ledger_v2", ["prev_hash"]);
        c.add_table("risk_hourly_state_identity", ["state_hash"]);
        let r = render(TEMPLATE, TableSet::V2BeforeCutover, &c).unwrap();
        assert_eq!(
            r.sql,
            "SELECT 1\nUNION ALL SELECT prev_hash FROM cash_ledger_v2\nUNION ALL SELECT 3\nUNION ALL SELECT 4\n"
        );
        assert!(r.not_applicable_rules.is_empty());
    }

    #[test]
    fn a_check_whose_rules_all_need_missing_objects_does_not_apply() {
        let t = "--@rule a,b column:{{order_fill}}.row_hash\nSELECT 1\n";
        let r = render(t, TableSet::Phase1a, &phase1a_catalog()).unwrap();
        assert!(!r.applies());
        assert_eq!(r.not_applicable_rules, vec!["a", "b"]);
    }

    #[test]
    fn malformed_directives_are_errors() {
        let c = phase1a_catalog();
        for (t, needle) in [
            ("--@if table:x\nSELECT 1\n", "unclosed --@if"),
            ("SELECT 1\n--@endif\n", "without --@if"),
            ("--@if rule:nope\n--@endif\n", "not declared"),
            ("--@if tabel:x\n--@endif\n", "unknown kind"),
            ("--@rule a\n--@rule a\n", "declared twice"),
            ("--@rule a rule:b\n", "cannot depend"),
            ("--@fi\n", "unknown directive"),
        ] {
            let e = render(t, TableSet::Phase1a, &c).unwrap_err();
            assert!(e.message.contains(needle), "{t:?}: {e}");
        }
    }

    #[test]
    fn declared_rules_lists_every_name_in_order() {
        assert_eq!(
            declared_rules(TEMPLATE),
            vec!["always_on", "needs_prev_hash", "needs_identity"]
        );
    }
}
