//! The implementation log as JSON: the model itself, so tools read the same values the markdown
//! shows (plus the full step log and every check's sample).

use super::ImplementationLog;

/// Pretty JSON of the whole model.
pub fn render(log: &ImplementationLog) -> String {
    // Serializing plain structs with string keys cannot fail; keep a readable fallback anyway.
    serde_json::to_string_pretty(log)
        .unwrap_or_else(|e| format!("{{\"error\": \"serializing the report: {e}\"}}"))
}

#[cfg(test)]
mod tests {
    use super::super::*;
    use invariants::migration_state::assess;
    use invariants::parity::ParityReport;
    use invariants::structure::{CompressionStatus, CutoverStatus};
    use invariants::{Structure, TableSet};

    fn empty_structure() -> Structure {
        Structure {
            fk_to_hypertable: Vec::new(),
            fk_to_hypertable_count: 0,
            identity: Vec::new(),
            cutover: CutoverStatus {
                archives_present: Vec::new(),
                archives_missing: vec!["order_fill_phase1a_archive".into()],
                v2_remaining: Vec::new(),
                complete: false,
            },
            triggers: Vec::new(),
            triggers_ok: true,
            compression: CompressionStatus {
                targets: Vec::new(),
                hypertables: Vec::new(),
                policy_jobs: 0,
                license: None,
                available: false,
            },
            lock: None,
        }
    }

    #[test]
    fn a_database_without_phase_1c_renders_failure_not_success() {
        let facts = DatabaseFacts {
            structure: empty_structure(),
            migration: assess(false, None, false, Vec::new()),
        };
        let outcomes = AuditOutcomes {
            source: ValidationSource::ReadOnlyRerun,
            table_set: TableSet::Phase1a,
            checks: Vec::new(),
            parity: ParityReport::new(None, Vec::new()),
            grid: Default::default(),
        };
        let log = assemble(Origin::Database, facts, outcomes);
        assert!(!log.result.success);
        assert_eq!(log.result.migration_result, "FAILED (Phase 1C never ran)");
        assert!(!log.validation.passed, "no checks run must not pass");
        assert!(!log.audit_passed());
        assert!(
            log.audit_failures()
                .iter()
                .any(|f| f.starts_with("migration_state: the migration has not started")),
            "{:?}",
            log.audit_failures()
        );
        let md = log.to_markdown();
        assert!(md.contains("- **FAIL** ("), "{md}");
        assert!(
            md.contains("- Atomic cutover transaction executed: **NO**"),
            "{md}"
        );
        assert!(
            md.contains("| STEP_0_VERIFY_LOCK | - | - | NOT RUN |  |"),
            "{md}"
        );
        let json: serde_json::Value =
            serde_json::from_str(&log.to_json()).unwrap_or(serde_json::Value::Null);
        assert_eq!(json["title"], "IMPLEMENTATION_LOG_PHASE_1C");
        assert_eq!(json["result"]["success"], false);
        assert_eq!(json["origin"]["kind"], "database");
    }
}
