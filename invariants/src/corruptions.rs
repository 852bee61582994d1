//! The corruption catalogue: SQL that breaks a valid database in exactly one documented way,
//! the way a careless superuser or a bad backfill would (triggers and foreign keys bypassed with
//! `session_replication_role = replica`, CHECK / UNIQUE / NOT NULL constraints that would refuse
//! the bad row dropped first).
//!
//! Each corruption is a file `invariants/corruptions/<target>/<name>.sql`:
//! * `<target>` is a check (`fee_formula`) or a structural confirmation (`archive_parity`,
//!   `lock`, `triggers`, `migration_state`, ...);
//! * for a check, `<name>` is the sub-rule it must be reported under, optionally followed by
//!   `.<variant>` when a rule has several corruptions;
//! * the file starts with `--` comment lines: the first says what it does; directives follow:
//!   - `--@drop-checks TABLE.COLUMN`: CHECK constraints of TABLE mentioning COLUMN are dropped;
//!   - `--@drop-uniques TABLE.COLUMN`: PRIMARY KEY / UNIQUE constraints covering COLUMN are
//!     dropped (CASCADE);
//!   - `--@needs SELECT <boolean>`: the world must have the rows it needs (otherwise: any world
//!     with a deposit, a BUY and a SELL does);
//!   - `--@key SELECT <jsonb>`: evaluated on the clean database before the corruption, the key
//!     of the row it breaks; the report must name it (every sampled row the target reports
//!     under the rule is searched for a row containing this object);
//!   - `--@expect TEXT` (confirmations): the confirmation's detail must contain TEXT;
//!   - `--@sets phase_1a,v2,after_cutover` (confirmations): the table sets it applies to.
//!
//! The SQL is templated like the checks (`{{order_fill}}` -> `order_fill` or `order_fill_v2`)
//! and generic: it picks the first suitable row with `ORDER BY ... LIMIT 1`, so it works on any
//! valid world that has such rows. Run it in a transaction you roll back, then assert that its
//! target reports it. Other checks may fire as well: a wrong fee also breaks the ledger and the
//! row hash; only the named target is the claim.

use std::sync::OnceLock;

use crate::template::{self, Catalog, TemplateError};
use crate::{render_check, InvariantsError, TableSet, CHECK_NAMES};

include!(concat!(env!("OUT_DIR"), "/corruption_files.rs"));

/// What must catch a corruption.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// A check and its sub-rule.
    Check,
    /// A structural confirmation, whose detail must contain the text.
    Confirmation {
        /// Text the confirmation's detail must contain.
        expect: &'static str,
    },
}

/// A way to break one sub-rule of one check, or one structural confirmation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Corruption {
    /// The check (or confirmation) that must catch it.
    pub check: &'static str,
    /// The sub-rule it must be reported under (for a confirmation: the file's name).
    pub rule: &'static str,
    /// The file's variant suffix (`portfolio_state_missing.whole_hour.sql` -> `whole_hour`).
    pub variant: Option<&'static str>,
    /// Check or confirmation.
    pub target: Target,
    /// What it does, in one line.
    pub what: &'static str,
    /// (table, column): CHECK constraints of the table that mention the column are dropped first.
    pub drop_checks: Vec<(&'static str, &'static str)>,
    /// (table, column): PRIMARY KEY / UNIQUE constraints covering the column are dropped first
    /// (CASCADE, so foreign keys that depend on them go too).
    pub drop_uniques: Vec<(&'static str, &'static str)>,
    /// `SELECT <boolean>`: does the world have the rows this corruption needs? `None`: any
    /// world with a deposit, a BUY and a SELL does.
    pub precondition: Option<&'static str>,
    /// `SELECT <jsonb>`: the key of the row it breaks, read before it runs.
    pub key: Option<&'static str>,
    /// For confirmations: the table sets it applies to.
    pub sets: Vec<TableSet>,
    /// The corrupting statements (templated).
    pub sql: &'static str,
    /// The file, relative to `invariants/corruptions/`.
    pub file: String,
}

/// A corruption file that cannot be read: always a bug in the file, reported with its path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("corruption file {file}: {message}")]
pub struct CatalogueError {
    /// The file.
    pub file: String,
    /// What is wrong.
    pub message: String,
}

fn parse(
    target: &'static str,
    stem: &'static str,
    text: &'static str,
) -> Result<Corruption, CatalogueError> {
    let file = format!("{target}/{stem}.sql");
    let err = |message: String| CatalogueError {
        file: file.clone(),
        message,
    };
    let (rule, variant) = match stem.split_once('.') {
        Some((r, v)) => (r, Some(v)),
        None => (stem, None),
    };
    let mut what = None;
    let mut c = Corruption {
        check: target,
        rule,
        variant,
        target: Target::Check,
        what: "",
        drop_checks: Vec::new(),
        drop_uniques: Vec::new(),
        precondition: None,
        key: None,
        sets: Vec::new(),
        sql: "",
        file: file.clone(),
    };
    let mut expect = None;
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim();
        if !trimmed.starts_with("--") {
            break;
        }
        offset += line.len();
        if let Some(d) = trimmed.strip_prefix("--@") {
            let (name, value) = d.split_once(' ').unwrap_or((d, ""));
            let value = value.trim();
            let column = |v: &'static str| {
                v.rsplit_once('.')
                    .ok_or_else(|| err(format!("`{name} {v}` is not TABLE.COLUMN")))
            };
            match name {
                "drop-checks" => c.drop_checks.push(column(value)?),
                "drop-uniques" => c.drop_uniques.push(column(value)?),
                "needs" => c.precondition = Some(value),
                "key" => c.key = Some(value),
                "expect" => expect = Some(value),
                "sets" => {
                    for s in value.split(',') {
                        c.sets.push(match s.trim() {
                            "phase_1a" => TableSet::Phase1a,
                            "v2" => TableSet::V2BeforeCutover,
                            "after_cutover" => TableSet::CanonicalAfterCutover,
                            other => return Err(err(format!("unknown table set `{other}`"))),
                        });
                    }
                }
                other => return Err(err(format!("unknown directive `--@{other}`"))),
            }
        } else if what.is_none() {
            what = Some(trimmed.trim_start_matches('-').trim());
        }
    }
    c.what = what.ok_or_else(|| err("no `-- what it does` first line".to_string()))?;
    c.sql = text[offset..].trim();
    if c.sql.is_empty() {
        return Err(err("no SQL after the header".to_string()));
    }
    if CHECK_NAMES.contains(&target) {
        if expect.is_some() || !c.sets.is_empty() {
            return Err(err(
                "`--@expect` / `--@sets` are for confirmations".to_string()
            ));
        }
    } else if contract::CONFIRMATION_NAMES.contains(&target) {
        c.target = Target::Confirmation {
            expect: expect
                .ok_or_else(|| err("a confirmation's corruption needs `--@expect`".to_string()))?,
        };
        if c.sets.is_empty() {
            return Err(err(
                "a confirmation's corruption needs `--@sets`".to_string()
            ));
        }
    } else {
        return Err(err(format!(
            "`{target}` is neither a check nor a confirmation"
        )));
    }
    Ok(c)
}

/// Every corruption file, parsed (checks and confirmations), in path order.
pub fn catalogue() -> Result<&'static [Corruption], CatalogueError> {
    static CATALOGUE: OnceLock<Result<Vec<Corruption>, CatalogueError>> = OnceLock::new();
    CATALOGUE
        .get_or_init(|| {
            CORRUPTION_FILES
                .iter()
                .map(|(t, s, text)| parse(t, s, text))
                .collect()
        })
        .as_deref()
        .map_err(Clone::clone)
}

/// The corruptions of the twelve checks.
pub fn check_corruptions() -> Result<Vec<&'static Corruption>, CatalogueError> {
    Ok(catalogue()?
        .iter()
        .filter(|c| c.target == Target::Check)
        .collect())
}

/// The corruptions of the structural confirmations.
pub fn confirmation_corruptions() -> Result<Vec<&'static Corruption>, CatalogueError> {
    Ok(catalogue()?
        .iter()
        .filter(|c| c.target != Target::Check)
        .collect())
}

impl Corruption {
    /// `check/rule` (with `.variant`).
    pub fn label(&self) -> String {
        match self.variant {
            Some(v) => format!("{}/{}.{v}", self.check, self.rule),
            None => format!("{}/{}", self.check, self.rule),
        }
    }

    /// The full script for `set`: replica role on, constraint drops, the corruption, role reset.
    pub fn sql_for(&self, set: TableSet) -> Result<String, TemplateError> {
        let mut out = String::from("SET session_replication_role = replica;\n");
        for (table, column) in &self.drop_checks {
            out.push_str(&format!(
                "DO $drop$ DECLARE r record; BEGIN
  FOR r IN SELECT conname FROM pg_constraint
           WHERE conrelid = to_regclass('{table}') AND contype = 'c'
             AND pg_get_constraintdef(oid) ~ '\\m{column}\\M'
  LOOP EXECUTE format('ALTER TABLE {table} DROP CONSTRAINT %I', r.conname); END LOOP;
END $drop$;\n"
            ));
        }
        for (table, column) in &self.drop_uniques {
            out.push_str(&format!(
                "DO $drop$ DECLARE r record; BEGIN
  FOR r IN SELECT c.conname FROM pg_constraint c
           JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attname = '{column}'
           WHERE c.conrelid = to_regclass('{table}') AND c.contype IN ('p', 'u') AND a.attnum = ANY (c.conkey)
  LOOP EXECUTE format('ALTER TABLE {table} DROP CONSTRAINT %I CASCADE', r.conname); END LOOP;
END $drop$;\n"
            ));
        }
        out.push_str(self.sql);
        out.push_str("\nRESET session_replication_role;\n");
        template::substitute(&out, set)
    }

    /// The precondition query for `set`, if any.
    pub fn precondition_for(&self, set: TableSet) -> Result<Option<String>, TemplateError> {
        self.precondition
            .map(|p| template::substitute(p, set))
            .transpose()
    }

    /// The key query for `set`, if any.
    pub fn key_for(&self, set: TableSet) -> Result<Option<String>, TemplateError> {
        self.key.map(|k| template::substitute(k, set)).transpose()
    }

    /// Can the target be checked on this database and set? For a check: its sub-rule applies
    /// (its columns and tables exist); for a confirmation: the set is one of its `--@sets`.
    pub fn applies(&self, set: TableSet, catalog: &Catalog) -> Result<bool, InvariantsError> {
        match self.target {
            Target::Check => {
                let rendered = render_check(self.check, set, catalog)?;
                Ok(rendered.applicable_rules.iter().any(|r| r == self.rule))
            }
            Target::Confirmation { .. } => Ok(self.sets.contains(&set)),
        }
    }
}

/// Does `row` contain every field of `expected` (recursively, objects by key, other values by
/// equality; numbers compared by value)?
pub fn json_contains(row: &serde_json::Value, expected: &serde_json::Value) -> bool {
    use serde_json::Value;
    match (row, expected) {
        (Value::Object(r), Value::Object(e)) => e
            .iter()
            .all(|(k, v)| r.get(k).is_some_and(|rv| json_contains(rv, v))),
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (a, b) => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check_rules;

    fn all() -> &'static [Corruption] {
        catalogue().unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn every_declared_rule_has_a_corruption() {
        for check in CHECK_NAMES {
            for rule in check_rules(check).unwrap_or_default() {
                assert!(
                    all().iter().any(|c| c.check == check && c.rule == rule),
                    "no corruption for {check}/{rule}"
                );
            }
        }
    }

    #[test]
    fn every_corruption_names_a_declared_rule_or_a_confirmation() {
        for c in all() {
            match c.target {
                Target::Check => {
                    let rules = check_rules(c.check).unwrap_or_default();
                    assert!(
                        rules.iter().any(|r| r == c.rule),
                        "{} is not declared",
                        c.label()
                    );
                }
                Target::Confirmation { expect } => {
                    assert!(
                        contract::CONFIRMATION_NAMES.contains(&c.check),
                        "{}",
                        c.label()
                    );
                    assert!(!expect.is_empty(), "{}", c.label());
                }
            }
        }
    }

    #[test]
    fn every_confirmation_that_can_fail_on_data_has_a_corruption() {
        for name in ["archive_parity", "lock", "triggers", "migration_state"] {
            assert!(
                all().iter().any(|c| c.check == name),
                "no corruption breaks the {name} confirmation"
            );
        }
    }

    #[test]
    fn scripts_render_for_every_set() {
        for c in all() {
            for set in TableSet::ALL {
                let sql = c.sql_for(set).unwrap_or_default();
                assert!(
                    sql.starts_with("SET session_replication_role = replica;"),
                    "{}",
                    c.label()
                );
                assert!(
                    sql.trim_end().ends_with("RESET session_replication_role;"),
                    "{}",
                    c.label()
                );
                assert!(!sql.contains("{{"), "{}", c.label());
                if set == TableSet::V2BeforeCutover && c.sql.contains("{{cash_ledger}}") {
                    assert!(sql.contains("cash_ledger_v2"), "{}", c.label());
                }
                assert!(c.precondition_for(set).is_ok());
                assert!(c.key_for(set).is_ok());
            }
        }
    }

    #[test]
    fn headers_are_parsed_and_bad_files_are_refused() {
        let c = parse(
            "fee_formula",
            "fee_mismatch.big",
            "-- a big fee\n--@drop-checks {{order_fill}}.fee\n--@needs SELECT true\n--@key SELECT '{}'::jsonb\nUPDATE x SET y = 1;\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (c.rule, c.variant, c.what),
            ("fee_mismatch", Some("big"), "a big fee")
        );
        assert_eq!(c.drop_checks, [("{{order_fill}}", "fee")]);
        assert_eq!(c.precondition, Some("SELECT true"));
        assert_eq!(c.sql, "UPDATE x SET y = 1;");
        assert!(
            parse("fee_formula", "r", "UPDATE x;").is_err(),
            "no what line"
        );
        assert!(parse("fee_formula", "r", "-- w\n--@bogus 1\nUPDATE x;").is_err());
        assert!(parse("nope", "r", "-- w\nUPDATE x;").is_err());
        assert!(
            parse("lock", "r", "-- w\nUPDATE x;").is_err(),
            "needs --@expect"
        );
        assert!(
            parse("lock", "r", "-- w\n--@expect held\nUPDATE x;").is_err(),
            "needs --@sets"
        );
        let l = parse(
            "lock",
            "r",
            "-- w\n--@expect held\n--@sets after_cutover\nUPDATE x;",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(l.target, Target::Confirmation { expect: "held" });
        assert_eq!(l.sets, [TableSet::CanonicalAfterCutover]);
    }

    #[test]
    fn json_containment_matches_nested_objects_and_numbers_by_value() {
        let row =
            serde_json::json!({"rule": "x", "account_id": 1, "key": {"fill_id": 17, "t": "a"}});
        assert!(json_contains(
            &row,
            &serde_json::json!({"key": {"fill_id": 17}})
        ));
        assert!(json_contains(&row, &serde_json::json!({"account_id": 1.0})));
        assert!(!json_contains(
            &row,
            &serde_json::json!({"key": {"fill_id": 18}})
        ));
        assert!(!json_contains(&row, &serde_json::json!({"nope": 1})));
    }
}
