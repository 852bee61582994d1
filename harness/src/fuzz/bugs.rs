//! Planted bugs: mistakes a real Phase 1B/1C change could ship, each an edit of the migration's
//! own SQL ([`migrations::SqlEdit`]). `harness fuzz --inject-bug NAME` runs the migration with
//! one of them; the fuzzer must find it, and its replay must reproduce it. A planted bug whose
//! text no longer matches the SQL fails the run at once (the edit is refused), so the catalogue
//! cannot rot silently.

use migrations::SqlEdit;

/// One planted bug.
#[derive(Debug, Clone, Copy)]
pub struct PlantedBug {
    /// Its name (lower case, `a-z0-9_-`).
    pub name: &'static str,
    /// What the mistake is, in one line.
    pub description: &'static str,
    /// The edits that plant it.
    pub edits: &'static [SqlEdit],
    /// Failure signatures (prefixes) that count as finding it: the checks, confirmations or
    /// stages that see this mistake.
    pub caught_by: &'static [&'static str],
}

const BACKFILL: &str = "phase_1b/004_backfill.sql";
const DUAL_WRITE: &str = "phase_1b/003_dual_write.sql";
const V2_TABLES: &str = "phase_1b/002_v2_tables.sql";
const IDENTITY: &str = "phase_1c/step_2_identity_tables.sql";
const M7: &str = "phase_1c/step_4_revised_m7.sql";
const M9: &str = "phase_1c/step_6_m9_hash_additions.sql";
const CUTOVER: &str = "phase_1c/step_7_m10_cutover.sql";

/// The catalogue, in `--list-bugs` order.
pub const BUGS: &[PlantedBug] = &[
    PlantedBug {
        name: "backfill-drops-last-hour",
        description: "the cash_ledger backfill walks hour windows up to the last entry's hour, exclusive, and so drops that final hour's entries",
        edits: &[SqlEdit {
            file: BACKFILL,
            find: "        cols, p_source, cond, keylist, p_batch,",
            replace: "        cols, p_source, cond || CASE WHEN p_source = 'cash_ledger' THEN ' AND t.entry_ts < date_trunc(''hour'', (SELECT max(entry_ts) FROM cash_ledger))' ELSE '' END, keylist, p_batch,",
        }],
        caught_by: &["check:", "confirmation:archive_parity", "lost:"],
    },
    PlantedBug {
        name: "hash-numeric-wrong-scale",
        description: "the order_fill row_hash backfill renders the fee at scale 2 instead of the column's scale 8",
        edits: &[SqlEdit {
            file: M9,
            find: "round(t.fee, 8)::text, round(t.slippage_cost, 8)::text, o.row_hash",
            replace: "round(t.fee, 2)::text, round(t.slippage_cost, 8)::text, o.row_hash",
        }],
        // STEP_6's own spot check compares its inline canon with the contract's hash functions
        // and refuses; an oracle check would see the same rows as row_hash_mismatch.
        caught_by: &["migration:STEP_6_M9_HASH_ADDITIONS", "check:missing_hash/row_hash_mismatch"],
    },
    PlantedBug {
        name: "dual-write-ignores-updates",
        description: "the Phase 1B dual-write trigger mirrors INSERTs and DELETEs but drops UPDATEs",
        edits: &[SqlEdit {
            file: DUAL_WRITE,
            find: "    ELSIF TG_OP = 'UPDATE' THEN\n",
            replace: "    ELSIF TG_OP = 'UPDATE' THEN\n        RETURN NULL;\n",
        }],
        caught_by: &["check:", "confirmation:archive_parity", "lost:"],
    },
    PlantedBug {
        name: "cutover-leaves-table-out",
        description: "the rename cutover forgets risk_event: its legacy table stays canonical and risk_event_v2 is left behind",
        edits: &[
            SqlEdit {
                file: CUTOVER,
                find: "'cash_ledger', 'risk_event'];",
                replace: "'cash_ledger'];",
            },
            SqlEdit {
                file: CUTOVER,
                find: "IF v2 = 0 AND cardinality(archives) = 10 THEN",
                replace: "IF v2 = 0 AND cardinality(archives) = 9 THEN",
            },
            SqlEdit {
                file: CUTOVER,
                find: "IF v2 <> 10 THEN",
                replace: "IF v2 <> 9 THEN",
            },
        ],
        caught_by: &["migration:", "confirmation:cutover", "check:"],
    },
    PlantedBug {
        name: "identity-sync-trigger-missing",
        description: "STEP_2 creates the identity sync trigger on portfolio_hourly_state but not on risk_hourly_state",
        edits: &[SqlEdit {
            file: IDENTITY,
            find: "CREATE TRIGGER trg_risk_hourly_state_identity_sync_ins\n    AFTER INSERT ON risk_hourly_state\n    FOR EACH ROW EXECUTE FUNCTION identity_sync_insert('risk_hourly_state_identity');\n",
            replace: "",
        }],
        caught_by: &["confirmation:triggers", "check:identity_bijection", "migration:"],
    },
    PlantedBug {
        name: "ledger-chain-restarts-daily",
        description: "the cash_ledger prev_hash chain backfill restarts from the genesis hash every UTC day",
        edits: &[
            SqlEdit {
                file: M9,
                find: "    n         bigint;\nBEGIN\n    FOR r IN EXECUTE format(",
                replace: "    n         bigint;\n    day_seen  timestamptz;\nBEGIN\n    FOR r IN EXECUTE format(",
            },
            SqlEdit {
                file: M9,
                find: "t.fill_id::text], ''|'', ''\\N'') AS fields,",
                replace: "t.fill_id::text], ''|'', ''\\N'') AS fields, date_trunc(''day'', t.entry_ts) AS day,",
            },
            SqlEdit {
                file: M9,
                find: "IF acct IS DISTINCT FROM r.account_id OR r.ledger_seq IS DISTINCT FROM expect THEN",
                replace: "IF acct IS DISTINCT FROM r.account_id OR r.ledger_seq IS DISTINCT FROM expect OR r.day IS DISTINCT FROM day_seen THEN",
            },
            SqlEdit {
                file: M9,
                find: "prev := CASE WHEN r.ledger_seq = 1 THEN genesis_hash() ELSE r.stored_prev END;",
                replace: "prev := genesis_hash(); day_seen := r.day;",
            },
        ],
        caught_by: &["check:missing_hash/prev_hash_mismatch", "check:ledger_continuity"],
    },
    PlantedBug {
        name: "cluster-exposure-previous-hour",
        description: "STEP_4 derives each cluster exposure row from the positions of the hour before",
        edits: &[
            SqlEdit {
                file: M7,
                find: "SELECT p.account_id, p.hour_ts, ic.cluster_id, sum(p.market_value) AS exposure\n                   FROM step_4_batch b2\n                   JOIN position_hourly_state p ON p.account_id = b2.account_id AND p.hour_ts = b2.hour_ts\n                   JOIN instrument_cluster ic ON ic.instrument_id = p.instrument_id\n                  GROUP BY p.account_id, p.hour_ts, ic.cluster_id",
                replace: "SELECT p.account_id, b2.hour_ts, ic.cluster_id, sum(p.market_value) AS exposure\n                   FROM step_4_batch b2\n                   JOIN position_hourly_state p ON p.account_id = b2.account_id AND p.hour_ts = b2.hour_ts - interval '1 hour'\n                   JOIN instrument_cluster ic ON ic.instrument_id = p.instrument_id\n                  GROUP BY p.account_id, b2.hour_ts, ic.cluster_id",
            },
            SqlEdit {
                file: M7,
                find: "WHERE p.account_id = p_account_id AND p.hour_ts = p_hour_ts\n",
                replace: "WHERE p.account_id = p_account_id AND p.hour_ts = p_hour_ts - interval '1 hour'\n",
            },
        ],
        caught_by: &["check:cluster_cap"],
    },
    PlantedBug {
        name: "v2-slippage-cost-low-scale",
        description: "order_fill_v2.slippage_cost is declared numeric(20,4), so the backfill rounds it",
        edits: &[SqlEdit {
            file: V2_TABLES,
            find: "    slippage_cost   numeric(20,8) NOT NULL,",
            replace: "    slippage_cost   numeric(20,4) NOT NULL,",
        }],
        caught_by: &["check:slippage_formula", "confirmation:archive_parity", "lost:"],
    },
    PlantedBug {
        name: "backfill-skips-executed-trade",
        description: "the Phase 1B backfill leaves out executed_trade: its history never reaches executed_trade_v2",
        edits: &[SqlEdit {
            file: BACKFILL,
            find: "SELECT set_config('migrations.batch_rows', migration_backfill_batch('phase_1b:executed_trade', 'executed_trade', 'executed_trade_v2', ARRAY['executed_trade_id'], current_setting('migrations.batch_size')::int, true)::text, true);",
            replace: "SELECT set_config('migrations.batch_rows', '0', true);",
        }],
        caught_by: &["check:", "confirmation:archive_parity", "lost:"],
    },
];

/// The planted bug named `name`.
pub fn bug(name: &str) -> Option<&'static PlantedBug> {
    BUGS.iter().find(|b| b.name == name)
}

/// Every name, for error messages.
pub fn names() -> String {
    BUGS.iter().map(|b| b.name).collect::<Vec<_>>().join(", ")
}

/// `--list-bugs`: one line per planted bug, its name, a space, its description.
pub fn list() -> String {
    BUGS.iter()
        .map(|b| format!("{} {}\n", b.name, b.description))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_well_formed_and_every_edit_applies() {
        assert!(BUGS.len() >= 8);
        let mut seen = std::collections::BTreeSet::new();
        for b in BUGS {
            assert!(seen.insert(b.name), "{} twice", b.name);
            assert!(
                b.name.bytes().all(|c| c.is_ascii_lowercase()
                    || c.is_ascii_digit()
                    || c == b'_'
                    || c == b'-'),
                "{}",
                b.name
            );
            assert!(!b.description.contains('\n'));
            assert!(!b.caught_by.is_empty());
            let files: std::collections::BTreeSet<_> = b.edits.iter().map(|e| e.file).collect();
            for file in files {
                let sql = migrations::embedded_sql(file)
                    .unwrap_or_else(|| panic!("{}: no embedded file {file}", b.name));
                let edited = migrations::edited_sql(file, sql, b.edits)
                    .unwrap_or_else(|e| panic!("{}: {e}", b.name));
                assert_ne!(edited, sql, "{}: {file} unchanged", b.name);
                migrations::parse_stages(file, edited)
                    .unwrap_or_else(|e| panic!("{}: edited file does not parse: {e}", b.name));
            }
        }
        assert!(list().lines().all(|l| l.split_once(' ').is_some()));
    }
}
