//! The STEP_8 validation gate, the one interface between the migration and its oracle: whoever
//! runs the migration passes a gate in (the harness passes `invariants::AuditGate`), and the
//! migration only judges the verdict it returns. Living here, it lets the migration and the
//! checks meet without either depending on the other.
//!
//! A verdict passes only when it reports every one of the twelve contract checks exactly once
//! with zero violations, and every structural confirmation of the contract exactly once as
//! holding. A gate that returns fewer outcomes, or none, fails STEP_8: STEP_9 can never unlock
//! on a verdict that did not look.

use std::future::Future;
use std::pin::Pin;

use crate::{CHECK_NAMES, CONFIRMATION_NAMES};
use sqlx::PgConnection;

/// Why the gate could not produce a verdict (distinct from a verdict with violations).
#[derive(Debug, thiserror::Error)]
#[error("validation gate {gate}: {message}")]
pub struct GateError {
    /// The gate's name.
    pub gate: String,
    /// What failed.
    pub message: String,
}

/// One check as the gate reports it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct GateCheck {
    /// The check's contract name.
    pub name: String,
    /// Violations; `None` when the check did not apply (`n/a`), which fails STEP_8.
    pub violations: Option<i64>,
}

/// One structural confirmation as the gate reports it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct GateConfirmation {
    /// The confirmation's contract name.
    pub name: String,
    /// Holds?
    pub passed: bool,
    /// What was found.
    pub detail: String,
}

/// What a gate found.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct GateVerdict {
    /// The checks it ran.
    pub checks: Vec<GateCheck>,
    /// The confirmations it made.
    pub confirmations: Vec<GateConfirmation>,
}

impl GateVerdict {
    /// A verdict of all twelve checks at zero and every confirmation holding (test-only helper
    /// for runner tests that isolate the runner from the checks).
    pub fn all_pass() -> Self {
        Self {
            checks: CHECK_NAMES
                .iter()
                .map(|n| GateCheck {
                    name: n.to_string(),
                    violations: Some(0),
                })
                .collect(),
            confirmations: CONFIRMATION_NAMES
                .iter()
                .map(|n| GateConfirmation {
                    name: n.to_string(),
                    passed: true,
                    detail: "static".to_string(),
                })
                .collect(),
        }
    }
}

/// The future a gate returns.
pub type ValidationFuture<'a> =
    Pin<Box<dyn Future<Output = Result<GateVerdict, GateError>> + Send + 'a>>;

/// Validates the database for STEP_8 on the migration's connection (not inside a transaction;
/// the runner holds the lock). STEP_8 fails unless [`gate_failures`] of the verdict is empty.
pub trait ValidationGate: Send + Sync {
    /// A short name for logs and errors.
    fn name(&self) -> String;
    /// Validate.
    fn validate<'a>(&'a self, conn: &'a mut PgConnection) -> ValidationFuture<'a>;
}

/// A gate that returns a fixed verdict without querying (test-only: isolates runner tests from
/// the checks, e.g. to make STEP_8 fail with known violations).
#[derive(Debug, Clone, Default)]
pub struct StaticGate {
    /// The verdict to return.
    pub verdict: GateVerdict,
}

impl ValidationGate for StaticGate {
    fn name(&self) -> String {
        // The name says what it answers: a template named by its gate must not serve a
        // refusing gate's caller the state a passing gate made.
        let failures = gate_failures(&self.verdict);
        if failures.is_empty() {
            "static (test-only): passes".to_string()
        } else {
            format!("static (test-only): refuses {}", failures.join(", "))
        }
    }

    fn validate<'a>(&'a self, _conn: &'a mut PgConnection) -> ValidationFuture<'a> {
        let verdict = self.verdict.clone();
        Box::pin(async move { Ok(verdict) })
    }
}

/// Why a verdict fails STEP_8, one line each (empty: it passes): every check of the contract
/// must be reported exactly once with 0 violations (`name=count`, `name=n/a`, `name=not
/// reported`, `name=reported twice`), every confirmation exactly once as holding (`name: detail`,
/// `name: not reported`), and nothing outside the contract may be reported (a misspelled name
/// would otherwise stand in for a missing one).
pub fn gate_failures(verdict: &GateVerdict) -> Vec<String> {
    let mut out = Vec::new();
    for name in CHECK_NAMES {
        let found: Vec<&GateCheck> = verdict.checks.iter().filter(|c| c.name == name).collect();
        match found.as_slice() {
            [] => out.push(format!("{name}=not reported")),
            [c] => match c.violations {
                Some(0) => {}
                Some(n) => out.push(format!("{name}={n}")),
                None => out.push(format!("{name}=n/a")),
            },
            _ => out.push(format!("{name}=reported {} times", found.len())),
        }
    }
    for c in &verdict.checks {
        if !CHECK_NAMES.contains(&c.name.as_str()) {
            out.push(format!("{}=not a contract check", c.name));
        }
    }
    for name in CONFIRMATION_NAMES {
        let found: Vec<&GateConfirmation> = verdict
            .confirmations
            .iter()
            .filter(|c| c.name == name)
            .collect();
        match found.as_slice() {
            [] => out.push(format!("{name}: not reported")),
            [c] if c.passed => {}
            [c] => out.push(format!("{name}: {}", c.detail)),
            _ => out.push(format!("{name}: reported {} times", found.len())),
        }
    }
    for c in &verdict.confirmations {
        if !CONFIRMATION_NAMES.contains(&c.name.as_str()) {
            out.push(format!("{}: not a contract confirmation", c.name));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_complete_clean_verdict_passes() {
        assert!(gate_failures(&GateVerdict::all_pass()).is_empty());
    }

    #[test]
    fn failures_name_each_failing_check_and_confirmation() {
        let mut v = GateVerdict::all_pass();
        v.checks[4].violations = Some(2);
        v.checks[10].violations = None;
        v.confirmations[4].passed = false;
        v.confirmations[4].detail = "order_fill: 1 missing".into();
        assert_eq!(
            gate_failures(&v),
            [
                "fee_formula=2",
                "missing_hash=n/a",
                "archive_parity: order_fill: 1 missing"
            ]
        );
    }

    #[test]
    fn a_verdict_that_reports_less_never_passes() {
        let empty = GateVerdict::default();
        let f = gate_failures(&empty);
        assert_eq!(f.len(), 12 + CONFIRMATION_NAMES.len(), "{f:?}");
        assert!(f.contains(&"long_only=not reported".to_string()));
        let mut v = GateVerdict::all_pass();
        v.checks.pop();
        assert_eq!(
            gate_failures(&v),
            ["deterministic_replay_parity=not reported"]
        );
        let mut v = GateVerdict::all_pass();
        v.confirmations.retain(|c| c.name != "lock");
        assert_eq!(gate_failures(&v), ["lock: not reported"]);
        let mut v = GateVerdict::all_pass();
        v.checks[0].name = "no_hypertable_fks".into();
        assert_eq!(
            gate_failures(&v),
            [
                "no_hypertable_fk=not reported",
                "no_hypertable_fks=not a contract check"
            ]
        );
        let mut v = GateVerdict::all_pass();
        let dup = v.checks[1].clone();
        v.checks.push(dup);
        assert_eq!(gate_failures(&v), ["identity_bijection=reported 2 times"]);
    }
}
