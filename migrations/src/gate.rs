//! The STEP_8 validation gate: the twelve checks, injectable so tests can isolate the runner.

use std::future::Future;
use std::pin::Pin;

use invariants::{CheckOutcome, TableSet};
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, PgConnection};

/// Why the gate could not produce outcomes (distinct from checks that found violations).
#[derive(Debug, thiserror::Error)]
#[error("validation gate {gate}: {message}")]
pub struct GateError {
    /// The gate's name.
    pub gate: String,
    /// What failed.
    pub message: String,
}

/// The future a gate returns.
pub type ValidationFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Vec<CheckOutcome>, GateError>> + Send + 'a>>;

/// Runs the validation checks for STEP_8 on a connection that is not inside a transaction.
/// STEP_8 fails when any outcome has violations > 0 or is `n/a` after the cutover.
pub trait ValidationGate: Send + Sync {
    /// A short name for logs and errors.
    fn name(&self) -> String;
    /// Run the checks.
    fn validate<'a>(&'a self, conn: &'a mut PgConnection) -> ValidationFuture<'a>;
}

/// The real gate: `invariants::run_checks(conn, TableSet::CanonicalAfterCutover, sample)`, or
/// with a helper, [`invariants::run_checks_parallel`] over the migration's connection and one
/// more connection to the same database (same snapshot, about 1.5x faster on two cores).
#[derive(Debug, Clone)]
pub struct InvariantsGate {
    /// Violating rows sampled per check.
    pub sample: usize,
    /// How to open the helper connection (the database being migrated); `None`: the
    /// migration's connection alone.
    pub helper: Option<PgConnectOptions>,
}

impl Default for InvariantsGate {
    fn default() -> Self {
        Self {
            sample: 10,
            helper: None,
        }
    }
}

impl ValidationGate for InvariantsGate {
    fn name(&self) -> String {
        match self.helper {
            None => "invariants::run_checks(CanonicalAfterCutover)".to_string(),
            Some(_) => {
                "invariants::run_checks_parallel(CanonicalAfterCutover, 2 connections)".to_string()
            }
        }
    }

    fn validate<'a>(&'a self, conn: &'a mut PgConnection) -> ValidationFuture<'a> {
        Box::pin(async move {
            let fail = |message: String| GateError {
                gate: self.name(),
                message,
            };
            let set = TableSet::CanonicalAfterCutover;
            match &self.helper {
                None => invariants::run_checks(conn, set, self.sample)
                    .await
                    .map_err(|e| fail(e.to_string())),
                Some(options) => {
                    // The helper only buys speed: when it cannot connect (e.g. the server's
                    // connection limit), the checks run on the migration's connection alone
                    // rather than failing the validation for a reason that is not the data's.
                    let mut helpers: Vec<PgConnection> = match options.connect().await {
                        Ok(helper) => vec![helper],
                        Err(e) => {
                            tracing::warn!(error = %e, "STEP_8 helper connection failed: checks run on one connection");
                            Vec::new()
                        }
                    };
                    let outcomes =
                        invariants::run_checks_parallel(conn, &mut helpers, set, self.sample)
                            .await
                            .map_err(|e| fail(e.to_string()));
                    for helper in helpers {
                        let _ = helper.close().await;
                    }
                    outcomes
                }
            }
        })
    }
}

/// A gate that returns fixed outcomes without querying (test-only: isolates runner tests from
/// the checks, e.g. to make STEP_8 fail with known violations).
#[derive(Debug, Clone, Default)]
pub struct StaticGate {
    /// The outcomes to return.
    pub outcomes: Vec<CheckOutcome>,
}

impl ValidationGate for StaticGate {
    fn name(&self) -> String {
        "static (test-only)".to_string()
    }

    fn validate<'a>(&'a self, _conn: &'a mut PgConnection) -> ValidationFuture<'a> {
        let outcomes = self.outcomes.clone();
        Box::pin(async move { Ok(outcomes) })
    }
}

/// The failing checks of a gate's outcomes as "name=count" (or "name=n/a"), empty when all pass:
/// what STEP_8's error message lists.
pub fn gate_failures(outcomes: &[CheckOutcome]) -> Vec<String> {
    outcomes
        .iter()
        .filter_map(|o| match o.violations {
            Some(0) => None,
            Some(n) => Some(format!("{}={n}", o.check)),
            None => Some(format!("{}=n/a", o.check)),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(check: &'static str, violations: Option<i64>) -> CheckOutcome {
        CheckOutcome {
            check,
            set: TableSet::CanonicalAfterCutover,
            violations,
            sample: Vec::new(),
            rules_checked: Vec::new(),
            rules_not_applicable: Vec::new(),
            elapsed_us: 0,
        }
    }

    #[test]
    fn failures_name_each_failing_check_with_its_count_or_na() {
        let outcomes = [
            outcome("fee_formula", Some(2)),
            outcome("long_only", Some(0)),
            outcome("missing_hash", None),
        ];
        assert_eq!(
            gate_failures(&outcomes),
            ["fee_formula=2", "missing_hash=n/a"]
        );
        assert!(gate_failures(&[outcome("long_only", Some(0))]).is_empty());
    }
}
