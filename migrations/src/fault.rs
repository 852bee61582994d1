//! Test-only fault injection.
//!
//! Two kinds:
//! * **step faults** ([`FaultKind`]), armed per step and firing once, reproduce the seed run's
//!   history without editing the SQL files: the two SQL-level faults set the
//!   transaction-local setting `migrations.fault`, which the step's SQL file documents and
//!   honours, so the failure is PostgreSQL's / TimescaleDB's real error;
//! * **fault points**: the runner calls the hook at every boundary inside every step
//!   (`<step>/begin`, `<step>/<stage>/stmt-<k>` after statement k of a stage's transaction,
//!   `<step>/<stage>/committed`, `<step>/<stage>/batch-<n>` after batch n committed,
//!   `<step>/end` after its work committed and before its log row is completed). A test arms
//!   a point with a callback (pause the process so it can be killed, fail there, ...).
//!   [`crate::fault_points`] lists every point of the migration.

use std::sync::{Arc, Mutex};

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
    /// The step raises this message inside its first transaction.
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

/// Where a run stands when it reaches a fault point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultPoint {
    /// The point's name (`STEP_6_M9_HASH_ADDITIONS/hash_order_fill/batch-1`).
    pub name: String,
    /// The backend pid of the migration's connection.
    pub backend_pid: i32,
}

/// What to do at an armed fault point.
#[derive(Clone)]
pub enum PointAction {
    /// Fail the step there with this message (as a database error would).
    Fail(String),
    /// Call this (it may block: a test pauses the run to kill it, terminate its backend or
    /// crash the server while the run stands at the point).
    Call(Arc<dyn Fn(&FaultPoint) + Send + Sync>),
}

impl std::fmt::Debug for PointAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PointAction::Fail(m) => write!(f, "Fail({m:?})"),
            PointAction::Call(_) => f.write_str("Call(..)"),
        }
    }
}

#[derive(Debug)]
struct Armed {
    step: StepName,
    kind: FaultKind,
    fired: bool,
}

#[derive(Debug)]
struct ArmedPoint {
    /// The point's name, or a prefix ending in `*`.
    pattern: String,
    action: PointAction,
    fired: bool,
}

/// Whether fault point `point` is named by `pattern`: its exact name, or a prefix ending in `*`.
pub fn point_matches(pattern: &str, point: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => point.starts_with(prefix),
        None => pattern == point,
    }
}

/// Faults armed per step and per point, each firing once (test-only; public so the harness can
/// reproduce the seed log's scenario and the fault-point tests can drive the CLI).
#[derive(Debug, Default)]
pub struct FaultHook {
    armed: Mutex<Vec<Armed>>,
    points: Mutex<Vec<ArmedPoint>>,
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

    /// Arm `action` at the fault point `pattern` (exact name, or a prefix ending in `*`), once.
    pub fn at_point(self, pattern: impl Into<String>, action: PointAction) -> Self {
        if let Ok(mut points) = self.points.lock() {
            points.push(ArmedPoint {
                pattern: pattern.into(),
                action,
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

    /// The action armed at `point` (marking it fired), if any.
    pub(crate) fn take_point(&self, point: &str) -> Option<PointAction> {
        let mut points = self.points.lock().ok()?;
        let p = points
            .iter_mut()
            .find(|p| !p.fired && point_matches(&p.pattern, point))?;
        p.fired = true;
        Some(p.action.clone())
    }

    /// Step faults armed and not fired yet.
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

    /// Fault points armed and not reached yet.
    pub fn pending_points(&self) -> Vec<String> {
        self.points
            .lock()
            .map(|p| {
                p.iter()
                    .filter(|p| !p.fired)
                    .map(|p| p.pattern.clone())
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

    #[test]
    fn points_match_exactly_or_by_prefix_and_fire_once() {
        let hook = FaultHook::new()
            .at_point(
                "STEP_6_M9_HASH_ADDITIONS/begin",
                PointAction::Fail("a".into()),
            )
            .at_point("STEP_2_IDENTITY_TABLES/*", PointAction::Fail("b".into()));
        assert!(hook.take_point("STEP_6_M9_HASH_ADDITIONS/end").is_none());
        assert!(matches!(
            hook.take_point("STEP_6_M9_HASH_ADDITIONS/begin"),
            Some(PointAction::Fail(m)) if m == "a"
        ));
        assert!(hook.take_point("STEP_6_M9_HASH_ADDITIONS/begin").is_none());
        assert!(hook
            .take_point("STEP_2_IDENTITY_TABLES/tables/stmt-1")
            .is_some());
        assert!(hook.pending_points().is_empty());
    }
}
