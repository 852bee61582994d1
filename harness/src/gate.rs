//! The gate the harness gives STEP_8: [`invariants::AuditGate`], wrapped in run options.

use std::sync::Arc;

pub use invariants::gate::{verdict, AuditGate, GATE_SAMPLE};
use migrations::RunOptions;

/// Run options with the audit gate on the migration's connection alone.
pub fn audit_options() -> RunOptions {
    RunOptions {
        gate: Some(Arc::new(AuditGate::new())),
        ..RunOptions::default()
    }
}
