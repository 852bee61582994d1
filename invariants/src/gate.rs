//! The validation gate STEP_8 runs: the [`audit`](crate::audit) (the same one `harness
//! validate` runs), turned into the contract's verdict. The full audit of the last validation
//! is kept for the implementation log. The gate interface is the contract's, so this crate
//! never depends on the migration it judges.

use std::sync::Mutex;

use contract::gate::{
    GateCheck, GateConfirmation, GateError, GateVerdict, ValidationFuture, ValidationGate,
};

use crate::{Audit, AuditPurpose};
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, PgConnection};

/// Violating rows kept per check and per parity table.
pub const GATE_SAMPLE: usize = 10;

/// 16 hex digits of SHA-256 over the audit's sources: the twelve check files and the Rust that
/// runs them, the parity, the structural confirmations and the migration-state rules.
pub fn audit_fingerprint() -> &'static str {
    static FP: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    FP.get_or_init(|| {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        for source in crate::runner::check_sources().chain([
            include_str!("audit.rs"),
            include_str!("parity.rs"),
            include_str!("structure.rs"),
            include_str!("migration_state.rs"),
            include_str!("runner.rs"),
            include_str!("template.rs"),
        ]) {
            h.update(source.as_bytes());
            h.update([0u8]);
        }
        hex::encode(h.finalize())[..16].to_string()
    })
}

/// STEP_8's gate: [`crate::audit`] with [`AuditPurpose::Gate`], on the migration's
/// connection plus, when `helper` is set, one more connection to the same database over the
/// same snapshot.
#[derive(Debug, Default)]
pub struct AuditGate {
    /// Violating rows kept per check.
    pub sample: usize,
    /// How to open the helper connection; `None`: the migration's connection alone.
    pub helper: Option<PgConnectOptions>,
    last: Mutex<Option<Audit>>,
}

impl AuditGate {
    /// A gate on the migration's connection alone.
    pub fn new() -> Self {
        Self {
            sample: GATE_SAMPLE,
            helper: None,
            last: Mutex::new(None),
        }
    }

    /// A gate that also uses one helper connection opened with `options`.
    pub fn with_helper(options: PgConnectOptions) -> Self {
        Self {
            helper: Some(options),
            ..Self::new()
        }
    }

    /// The audit of the last validation this gate ran, if any.
    pub fn last_audit(&self) -> Option<Audit> {
        self.last.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// The runner's verdict of an audit: every check's count and every confirmation.
pub fn verdict(audit: &Audit) -> GateVerdict {
    GateVerdict {
        checks: audit
            .checks
            .iter()
            .map(|o| GateCheck {
                name: o.check.to_string(),
                violations: o.violations,
            })
            .collect(),
        confirmations: audit
            .confirmations
            .iter()
            .map(|c| GateConfirmation {
                name: c.name.to_string(),
                passed: c.passed,
                detail: c.detail.clone(),
            })
            .collect(),
    }
}

impl ValidationGate for AuditGate {
    fn name(&self) -> String {
        // The audit's fingerprint is part of the name: a template migrated under this gate is
        // named by it, so a stricter check can never be served an older verdict's database.
        let fp = audit_fingerprint();
        match self.helper {
            None => format!("invariants::audit {fp} (STEP_8 gate)"),
            Some(_) => format!("invariants::audit {fp} (STEP_8 gate, 2 connections)"),
        }
    }

    fn validate<'a>(&'a self, conn: &'a mut PgConnection) -> ValidationFuture<'a> {
        Box::pin(async move {
            // The helper only buys speed: when it cannot connect (e.g. the server's connection
            // limit), the audit runs on the migration's connection alone rather than failing
            // the validation for a reason that is not the data's.
            let mut helpers: Vec<PgConnection> = match &self.helper {
                None => Vec::new(),
                Some(options) => match options.connect().await {
                    Ok(h) => vec![h],
                    Err(e) => {
                        tracing::warn!(error = %e, "STEP_8 helper connection failed: the audit runs on one connection");
                        Vec::new()
                    }
                },
            };
            let result = crate::audit(conn, &mut helpers, AuditPurpose::Gate, self.sample).await;
            for h in helpers {
                let _ = h.close().await;
            }
            let audit = result.map_err(|e| GateError {
                gate: self.name(),
                message: e.to_string(),
            })?;
            let v = verdict(&audit);
            *self.last.lock().unwrap_or_else(|p| p.into_inner()) = Some(audit);
            Ok(v)
        })
    }
}
