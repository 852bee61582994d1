//! Test-only fault injection for Phase 1C runs.
//!
//! Reproducing the seed run's history (STEP_3 aborting on a missing 3-column unique target,
//! STEP_7's compression stage failing after the cutover committed) must not require editing the
//! SQL files. A [`FaultHook`] arms faults per step; each fires at most once, so the same hook can
//! be passed to the failing run and to the resuming one. The two SQL-level faults set the
//! transaction-local setting `migrations.fault`, which the step's SQL file documents and honours;
//! the failure itself is then PostgreSQL's / TimescaleDB's real error.

use std::sync::Mutex;

use crate::StepName;

/// A fault to inject into one step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultKind {
    /// STEP_3_REVISED_M6 runs without creating `uq_risk_hourly_state_identity_hour`, so adding
    /// the order -> identity FK fails with "there is no unique constraint matching given keys".
    OmitIdentityUnique,
    /// STEP_7_M10_CUTOVER's post-commit compression stage calls `add_compression_policy` on
    /// every target hypertable without checking, so it fails after the cutover committed
    /// (`FAILED (post-commit compression stage)`).
    UnsafeCompressionPolicy,
    /// The step raises this message inside its transaction before running its SQL.
    Fail(String),
}

impl FaultKind {
    /// The value of `migrations.fault` this fault sets, for the SQL-level faults.
    pub(crate) fn setting(&self) -> Option<&'static str> {
        match self {
            FaultKind::OmitIdentityUnique => Some("omit_identity_unique"),
            FaultKind::UnsafeCompressionPolicy => Some("unsafe_compression_policy"),
            FaultKind::Fail(_) => None,
        }
    }
}

#[derive(Debug)]
struct Armed {
    step: StepName,
    kind: FaultKind,
    fired: bool,
}

/// Faults armed per step, each firing once (test-only; public so the harness can reproduce
/// the seed log's scenario).
#[derive(Debug, Default)]
pub struct FaultHook {
    armed: Mutex<Vec<Armed>>,
}

impl FaultHook {
    /// A hook with no fault armed.
    pub fn new() -> Self {
        Self::default()
    }

    /// Arm `kind` to fire the next time `step` runs (once).
    pub fn fail_once(self, step: StepName, kind: FaultKind) -> Self {
        if let Ok(mut armed) = self.armed.lock() {
            armed.push(Armed {
                step,
                kind,
                fired: false,
            });
        }
        self
    }

    /// The seed log's history: STEP_3 aborts once on the missing 3-column unique target, and
    /// STEP_7's compression stage fails once after the cutover commits.
    pub fn seed_log_scenario() -> Self {
        Self::new()
            .fail_once(StepName::Step3RevisedM6, FaultKind::OmitIdentityUnique)
            .fail_once(
                StepName::Step7M10Cutover,
                FaultKind::UnsafeCompressionPolicy,
            )
    }

    /// Take the armed, not yet fired fault of `step`, marking it fired.
    pub(crate) fn take(&self, step: StepName) -> Option<FaultKind> {
        let mut armed = self.armed.lock().ok()?;
        let a = armed.iter_mut().find(|a| a.step == step && !a.fired)?;
        a.fired = true;
        Some(a.kind.clone())
    }

    /// Faults armed and not fired yet.
    pub fn pending(&self) -> Vec<(StepName, FaultKind)> {
        self.armed
            .lock()
            .map(|a| {
                a.iter()
                    .filter(|a| !a.fired)
                    .map(|a| (a.step, a.kind.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_fault_fires_once() {
        let hook = FaultHook::seed_log_scenario();
        assert_eq!(hook.take(StepName::Step0VerifyLock), None);
        assert_eq!(
            hook.take(StepName::Step3RevisedM6),
            Some(FaultKind::OmitIdentityUnique)
        );
        assert_eq!(hook.take(StepName::Step3RevisedM6), None);
        assert_eq!(
            hook.pending(),
            vec![(
                StepName::Step7M10Cutover,
                FaultKind::UnsafeCompressionPolicy
            )]
        );
        assert_eq!(
            hook.take(StepName::Step7M10Cutover),
            Some(FaultKind::UnsafeCompressionPolicy)
        );
        assert!(hook.pending().is_empty());
    }
}
