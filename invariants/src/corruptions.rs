//! One corruption per sub-rule: SQL that breaks a valid migrated database in exactly the way the
//! sub-rule describes, the way a careless superuser or a bad backfill would (triggers and foreign
//! keys bypassed with `session_replication_role = replica`, CHECK / UNIQUE / NOT NULL
//! constraints that would refuse the bad row dropped first).
//!
//! Each corruption's SQL is templated like the checks (`{{order_fill}}` -> `order_fill` or
//! `order_fill_v2`) and generic: it picks the first suitable row with `ORDER BY ... LIMIT 1`, so
//! it works on any valid world that has such rows ([`Corruption::precondition`] says which
//! rarer shapes it needs). Run it in a transaction you roll back, then assert that
//! [`Corruption::check`] reports [`Corruption::rule`]. Other checks may fire as well: a wrong
//! fee also breaks the ledger and the row hash; only the named check+rule is the claim.

use crate::template::{self, Catalog, TemplateError};
use crate::{render_check, InvariantsError, TableSet};

/// A way to break one sub-rule of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Corruption {
    /// The check that must catch it.
    pub check: &'static str,
    /// The sub-rule it must be reported under.
    pub rule: &'static str,
    /// What it does, in one line.
    pub what: &'static str,
    /// (table, column): CHECK constraints of the table that mention the column are dropped first.
    pub drop_checks: &'static [(&'static str, &'static str)],
    /// (table, column): PRIMARY KEY / UNIQUE constraints covering the column are dropped first
    /// (CASCADE, so foreign keys that depend on them go too).
    pub drop_uniques: &'static [(&'static str, &'static str)],
    /// `SELECT <boolean>`: does the world have the rows this corruption needs? `None`: any
    /// world with a deposit, a BUY and a SELL does.
    pub precondition: Option<&'static str>,
    /// The corrupting statements (templated).
    pub sql: &'static str,
}

impl Corruption {
    const fn new(
        check: &'static str,
        rule: &'static str,
        what: &'static str,
        sql: &'static str,
    ) -> Self {
        Self {
            check,
            rule,
            what,
            drop_checks: &[],
            drop_uniques: &[],
            precondition: None,
            sql,
        }
    }

    const fn checks(mut self, drop: &'static [(&'static str, &'static str)]) -> Self {
        self.drop_checks = drop;
        self
    }

    const fn uniques(mut self, drop: &'static [(&'static str, &'static str)]) -> Self {
        self.drop_uniques = drop;
        self
    }

    const fn needs(mut self, precondition: &'static str) -> Self {
        self.precondition = Some(precondition);
        self
    }

    /// The full script for `set`: replica role on, constraint drops, the corruption, role reset.
    pub fn sql_for(&self, set: TableSet) -> Result<String, TemplateError> {
        let mut out = String::from("SET session_replication_role = replica;\n");
        for (table, column) in self.drop_checks {
            out.push_str(&format!(
                "DO $drop$ DECLARE r record; BEGIN
  FOR r IN SELECT conname FROM pg_constraint
           WHERE conrelid = to_regclass('{table}') AND contype = 'c'
             AND pg_get_constraintdef(oid) ~ '\\m{column}\\M'
  LOOP EXECUTE format('ALTER TABLE {table} DROP CONSTRAINT %I', r.conname); END LOOP;
END $drop$;\n"
            ));
        }
        for (table, column) in self.drop_uniques {
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

    /// Can the target sub-rule be checked on this database and set (its columns/tables exist)?
    pub fn applies(&self, set: TableSet, catalog: &Catalog) -> Result<bool, InvariantsError> {
        let rendered = render_check(self.check, set, catalog)?;
        Ok(rendered.applicable_rules.iter().any(|r| r == self.rule))
    }
}

// Frequently used row pickers.
// The first fill / order / ... by key; the first account with fills; etc. are written inline so
// that each script reads on its own.

/// Every corruption, at least one per declared sub-rule of every check.
pub const CORRUPTIONS: &[Corruption] = &[
    // ---------------------------------------------------------------- no_hypertable_fk
    Corruption::new("no_hypertable_fk", "fk_to_hypertable", "a FK from order_request to the risk_hourly_state hypertable",
        "ALTER TABLE {{order_request}} ADD CONSTRAINT corrupt_fk_risk_hypertable
           FOREIGN KEY (account_id, risk_hour_ts) REFERENCES risk_hourly_state (account_id, hour_ts) NOT VALID;"),
    Corruption::new("no_hypertable_fk", "fk_to_chunk", "a FK from risk_event to a chunk of risk_hourly_state",
        "DO $c$ DECLARE c text; BEGIN
           SELECT format('%I.%I', chunk_schema, chunk_name) INTO c FROM timescaledb_information.chunks
            WHERE hypertable_name = 'risk_hourly_state' ORDER BY range_start LIMIT 1;
           EXECUTE format('ALTER TABLE {{risk_event}} ADD CONSTRAINT corrupt_fk_chunk FOREIGN KEY (account_id, hour_ts) REFERENCES %s (account_id, hour_ts) NOT VALID', c);
         END $c$;"),
    // ---------------------------------------------------------------- identity_bijection
    Corruption::new("identity_bijection", "portfolio_identity_missing", "an identity row deleted",
        "DELETE FROM portfolio_hourly_state_identity WHERE (account_id, hour_ts) =
           (SELECT account_id, hour_ts FROM portfolio_hourly_state_identity ORDER BY account_id, hour_ts LIMIT 1);"),
    Corruption::new("identity_bijection", "portfolio_identity_orphan", "an identity row without a source row",
        "INSERT INTO portfolio_hourly_state_identity (account_id, hour_ts, state_hash)
         SELECT account_id, hour_ts + interval '100000 hours', state_hash FROM portfolio_hourly_state_identity
         ORDER BY account_id, hour_ts LIMIT 1;"),
    Corruption::new("identity_bijection", "portfolio_identity_duplicate", "a second identity row for one state",
        "INSERT INTO portfolio_hourly_state_identity
         SELECT * FROM portfolio_hourly_state_identity ORDER BY account_id, hour_ts LIMIT 1;")
        .uniques(&[("portfolio_hourly_state_identity", "hour_ts")]),
    Corruption::new("identity_bijection", "portfolio_identity_hash_mismatch", "an identity row's hash changed",
        "UPDATE portfolio_hourly_state_identity SET state_hash = repeat('a', 64) WHERE (account_id, hour_ts) =
           (SELECT account_id, hour_ts FROM portfolio_hourly_state_identity ORDER BY account_id, hour_ts LIMIT 1);"),
    Corruption::new("identity_bijection", "risk_identity_missing", "an identity row deleted",
        "DELETE FROM risk_hourly_state_identity WHERE (account_id, hour_ts) =
           (SELECT account_id, hour_ts FROM risk_hourly_state_identity ORDER BY account_id, hour_ts LIMIT 1);"),
    Corruption::new("identity_bijection", "risk_identity_orphan", "an identity row without a source row",
        "INSERT INTO risk_hourly_state_identity (account_id, hour_ts, state_hash)
         SELECT account_id, hour_ts + interval '100000 hours', state_hash FROM risk_hourly_state_identity
         ORDER BY account_id, hour_ts LIMIT 1;"),
    Corruption::new("identity_bijection", "risk_identity_duplicate", "a second identity row for one state",
        "INSERT INTO risk_hourly_state_identity
         SELECT * FROM risk_hourly_state_identity ORDER BY account_id, hour_ts LIMIT 1;")
        .uniques(&[("risk_hourly_state_identity", "hour_ts")]),
    Corruption::new("identity_bijection", "risk_identity_hash_mismatch", "an identity row's hash changed",
        "UPDATE risk_hourly_state_identity SET state_hash = repeat('a', 64) WHERE (account_id, hour_ts) =
           (SELECT account_id, hour_ts FROM risk_hourly_state_identity ORDER BY account_id, hour_ts LIMIT 1);"),
    // ---------------------------------------------------------------- cross_account_isolation
    Corruption::new("cross_account_isolation", "fill_order_missing", "a fill naming an order that does not exist",
        "UPDATE {{order_fill}} SET order_id = order_id + 1000000000000
         WHERE fill_id = (SELECT min(fill_id) FROM {{order_fill}});"),
    Corruption::new("cross_account_isolation", "fill_order_account_mismatch", "a fill naming another account's order",
        "UPDATE {{order_fill}} f SET order_id =
           (SELECT o.order_id FROM {{order_request}} o WHERE o.account_id <> f.account_id ORDER BY o.order_id LIMIT 1)
         WHERE f.fill_id = (SELECT min(fill_id) FROM {{order_fill}});")
        .needs("SELECT EXISTS (SELECT 1 FROM {{order_fill}}) AND (SELECT count(DISTINCT account_id) > 1 FROM {{order_request}})"),
    Corruption::new("cross_account_isolation", "order_signal_missing", "an order naming a signal that does not exist",
        "UPDATE {{order_request}} SET signal_id = signal_id + 1000000000000
         WHERE order_id = (SELECT min(order_id) FROM {{order_request}});"),
    Corruption::new("cross_account_isolation", "order_signal_account_mismatch", "an order naming another account's signal",
        "UPDATE {{order_request}} o SET signal_id =
           (SELECT s.signal_id FROM {{trade_signal}} s WHERE s.account_id <> o.account_id ORDER BY s.signal_id LIMIT 1)
         WHERE o.order_id = (SELECT min(order_id) FROM {{order_request}});")
        .needs("SELECT EXISTS (SELECT 1 FROM {{order_request}}) AND (SELECT count(DISTINCT account_id) > 1 FROM {{trade_signal}})"),
    Corruption::new("cross_account_isolation", "order_risk_state_missing", "an order bound to an hour without a risk state",
        "UPDATE {{order_request}} SET requested_ts = requested_ts - interval '100000 hours',
                                      risk_hour_ts = risk_hour_ts - interval '100000 hours'
         WHERE order_id = (SELECT min(order_id) FROM {{order_request}});")
        .checks(&[("{{order_request}}", "risk_hour_ts")]),
    Corruption::new("cross_account_isolation", "order_risk_hour_wrong", "an order bound to the hour it was requested in",
        "UPDATE {{order_request}} SET requested_ts = requested_ts + interval '1 hour'
         WHERE order_id = (SELECT min(order_id) FROM {{order_request}});")
        .checks(&[("{{order_request}}", "risk_hour_ts")]),
    Corruption::new("cross_account_isolation", "order_risk_state_account_mismatch", "an order bound to another account's risk state hash",
        "UPDATE {{order_request}} o SET risk_state_hash =
           (SELECT r.state_hash FROM risk_hourly_state r WHERE r.account_id <> o.account_id ORDER BY r.account_id, r.hour_ts LIMIT 1)
         WHERE o.order_id = (SELECT min(order_id) FROM {{order_request}});")
        .needs("SELECT EXISTS (SELECT 1 FROM {{order_request}}) AND (SELECT count(DISTINCT account_id) > 1 FROM risk_hourly_state)"),
    Corruption::new("cross_account_isolation", "lot_fill_missing", "a lot opened by a fill that does not exist",
        "UPDATE {{position_lot}} SET opening_fill_id = opening_fill_id + 1000000000000
         WHERE lot_id = (SELECT min(lot_id) FROM {{position_lot}});"),
    Corruption::new("cross_account_isolation", "lot_fill_account_mismatch", "a lot opened by another account's fill",
        "UPDATE {{position_lot}} l SET opening_fill_id =
           (SELECT f.fill_id FROM {{order_fill}} f WHERE f.account_id <> l.account_id ORDER BY f.fill_id LIMIT 1)
         WHERE l.lot_id = (SELECT min(lot_id) FROM {{position_lot}});")
        .uniques(&[("{{position_lot}}", "opening_fill_id")])
        .needs("SELECT count(DISTINCT account_id) > 1 FROM {{order_fill}}"),
    Corruption::new("cross_account_isolation", "trade_lot_missing", "an executed trade naming a lot that does not exist",
        "UPDATE {{executed_trade}} SET lot_id = lot_id + 1000000000000
         WHERE executed_trade_id = (SELECT min(executed_trade_id) FROM {{executed_trade}});"),
    Corruption::new("cross_account_isolation", "trade_lot_account_mismatch", "an executed trade naming another account's lot",
        "UPDATE {{executed_trade}} t SET lot_id =
           (SELECT l.lot_id FROM {{position_lot}} l WHERE l.account_id <> t.account_id ORDER BY l.lot_id LIMIT 1)
         WHERE t.executed_trade_id = (SELECT min(executed_trade_id) FROM {{executed_trade}});")
        .needs("SELECT EXISTS (SELECT 1 FROM {{executed_trade}})
                  AND (SELECT count(DISTINCT account_id) > 1 FROM {{position_lot}})"),
    Corruption::new("cross_account_isolation", "trade_fill_missing", "an executed trade naming a fill that does not exist",
        "UPDATE {{executed_trade}} SET sell_fill_id = sell_fill_id + 1000000000000
         WHERE executed_trade_id = (SELECT min(executed_trade_id) FROM {{executed_trade}});"),
    Corruption::new("cross_account_isolation", "trade_fill_account_mismatch", "an executed trade naming another account's fill",
        "UPDATE {{executed_trade}} t SET sell_fill_id =
           (SELECT f.fill_id FROM {{order_fill}} f WHERE f.account_id <> t.account_id ORDER BY f.fill_id LIMIT 1)
         WHERE t.executed_trade_id = (SELECT min(executed_trade_id) FROM {{executed_trade}});")
        .needs("SELECT EXISTS (SELECT 1 FROM {{executed_trade}})
                  AND (SELECT count(DISTINCT account_id) > 1 FROM {{order_fill}})"),
    Corruption::new("cross_account_isolation", "ledger_fill_missing", "a TRADE entry naming a fill that does not exist",
        "UPDATE {{cash_ledger}} SET fill_id = fill_id + 1000000000000 WHERE (account_id, ledger_seq) =
           (SELECT account_id, ledger_seq FROM {{cash_ledger}} WHERE fill_id IS NOT NULL ORDER BY account_id, ledger_seq LIMIT 1);"),
    Corruption::new("cross_account_isolation", "ledger_fill_account_mismatch", "a TRADE entry naming another account's fill",
        "UPDATE {{cash_ledger}} l SET fill_id =
           (SELECT f.fill_id FROM {{order_fill}} f WHERE f.account_id <> l.account_id ORDER BY f.fill_id LIMIT 1)
         WHERE (l.account_id, l.ledger_seq) =
           (SELECT account_id, ledger_seq FROM {{cash_ledger}} WHERE fill_id IS NOT NULL ORDER BY account_id, ledger_seq LIMIT 1);")
        .needs("SELECT count(DISTINCT account_id) > 1 FROM {{order_fill}}"),
    Corruption::new("cross_account_isolation", "risk_event_state_missing", "a risk event at an hour without a risk state",
        "UPDATE {{risk_event}} SET hour_ts = hour_ts + interval '100000 hours'
         WHERE risk_event_id = (SELECT min(risk_event_id) FROM {{risk_event}});")
        .needs("SELECT EXISTS (SELECT 1 FROM {{risk_event}})"),
    Corruption::new("cross_account_isolation", "risk_event_state_account_mismatch", "a risk event naming another account's state hash",
        "UPDATE {{risk_event}} e SET parent_state_hash =
           (SELECT r.state_hash FROM risk_hourly_state r WHERE r.account_id <> e.account_id ORDER BY r.account_id, r.hour_ts LIMIT 1)
         WHERE e.risk_event_id = (SELECT min(risk_event_id) FROM {{risk_event}});")
        .needs("SELECT EXISTS (SELECT 1 FROM {{risk_event}}) AND (SELECT count(DISTINCT account_id) > 1 FROM risk_hourly_state)"),
    Corruption::new("cross_account_isolation", "cluster_exposure_state_missing", "a cluster exposure row at an hour without a risk state",
        "UPDATE cluster_exposure_hourly_state SET hour_ts = hour_ts + interval '100000 hours'
         WHERE (account_id, cluster_id, hour_ts) = (SELECT account_id, cluster_id, hour_ts FROM cluster_exposure_hourly_state
                                                    ORDER BY account_id, cluster_id, hour_ts LIMIT 1);"),
    Corruption::new("cross_account_isolation", "cluster_exposure_state_account_mismatch", "a cluster exposure row naming another account's state hash",
        "UPDATE cluster_exposure_hourly_state c SET parent_risk_hash =
           (SELECT r.state_hash FROM risk_hourly_state r WHERE r.account_id <> c.account_id ORDER BY r.account_id, r.hour_ts LIMIT 1)
         WHERE (c.account_id, c.cluster_id, c.hour_ts) = (SELECT account_id, cluster_id, hour_ts FROM cluster_exposure_hourly_state
                                                          ORDER BY account_id, cluster_id, hour_ts LIMIT 1);")
        .needs("SELECT count(DISTINCT account_id) > 1 FROM risk_hourly_state"),
    // ---------------------------------------------------------------- ledger_continuity
    Corruption::new("ledger_continuity", "ledger_seq_gap", "the last entry of an account renumbered one up",
        "UPDATE {{cash_ledger}} SET ledger_seq = ledger_seq + 1 WHERE (account_id, ledger_seq) =
           (SELECT account_id, max(ledger_seq) FROM {{cash_ledger}} GROUP BY account_id ORDER BY account_id LIMIT 1);"),
    Corruption::new("ledger_continuity", "ledger_seq_duplicate", "an entry written twice under the same ledger_seq",
        "INSERT INTO {{cash_ledger}} SELECT * FROM {{cash_ledger}} ORDER BY account_id, ledger_seq LIMIT 1;")
        .uniques(&[("{{cash_ledger}}", "ledger_seq")]),
    Corruption::new("ledger_continuity", "balance_after_mismatch", "the last entry's balance_after off by 0.00000001",
        "UPDATE {{cash_ledger}} SET balance_after = balance_after + 0.00000001 WHERE (account_id, ledger_seq) =
           (SELECT account_id, max(ledger_seq) FROM {{cash_ledger}} GROUP BY account_id ORDER BY account_id LIMIT 1);"),
    Corruption::new("ledger_continuity", "ledger_entry_type_invalid", "a deposit relabelled BONUS",
        "UPDATE {{cash_ledger}} SET entry_type = 'BONUS' WHERE (account_id, ledger_seq) =
           (SELECT account_id, ledger_seq FROM {{cash_ledger}} WHERE entry_type = 'DEPOSIT' ORDER BY account_id, ledger_seq LIMIT 1);")
        .checks(&[("{{cash_ledger}}", "entry_type")]),
    Corruption::new("ledger_continuity", "fill_trade_entry_missing", "a fill's TRADE entry deleted",
        "DELETE FROM {{cash_ledger}} WHERE (account_id, ledger_seq) =
           (SELECT account_id, ledger_seq FROM {{cash_ledger}} WHERE entry_type = 'TRADE' ORDER BY account_id, ledger_seq LIMIT 1);"),
    Corruption::new("ledger_continuity", "fill_trade_entry_duplicate", "a fill's TRADE entry written twice (at the end of the ledger)",
        "INSERT INTO {{cash_ledger}}
         SELECT (jsonb_populate_record(NULL::{{cash_ledger}}, to_jsonb(l) || jsonb_build_object('ledger_seq',
                   (SELECT max(ledger_seq) + 1 FROM {{cash_ledger}} m WHERE m.account_id = l.account_id)))).*
         FROM {{cash_ledger}} l WHERE l.entry_type = 'TRADE' ORDER BY l.account_id, l.ledger_seq LIMIT 1;"),
    Corruption::new("ledger_continuity", "fill_trade_amount_mismatch", "a TRADE entry's amount off by 0.00000001",
        "UPDATE {{cash_ledger}} SET amount = amount - 0.00000001 WHERE (account_id, ledger_seq) =
           (SELECT account_id, ledger_seq FROM {{cash_ledger}} WHERE entry_type = 'TRADE' ORDER BY account_id, ledger_seq LIMIT 1);"),
    Corruption::new("ledger_continuity", "fill_fee_entry_missing", "a fill's FEE entry deleted",
        "DELETE FROM {{cash_ledger}} WHERE (account_id, ledger_seq) =
           (SELECT account_id, ledger_seq FROM {{cash_ledger}} WHERE entry_type = 'FEE' ORDER BY account_id, ledger_seq LIMIT 1);"),
    Corruption::new("ledger_continuity", "fill_fee_entry_duplicate", "a fill's FEE entry written twice (at the end of the ledger)",
        "INSERT INTO {{cash_ledger}}
         SELECT (jsonb_populate_record(NULL::{{cash_ledger}}, to_jsonb(l) || jsonb_build_object('ledger_seq',
                   (SELECT max(ledger_seq) + 1 FROM {{cash_ledger}} m WHERE m.account_id = l.account_id)))).*
         FROM {{cash_ledger}} l WHERE l.entry_type = 'FEE' ORDER BY l.account_id, l.ledger_seq LIMIT 1;"),
    Corruption::new("ledger_continuity", "fill_fee_amount_mismatch", "a FEE entry's amount off by 0.00000001",
        "UPDATE {{cash_ledger}} SET amount = amount - 0.00000001 WHERE (account_id, ledger_seq) =
           (SELECT account_id, ledger_seq FROM {{cash_ledger}} WHERE entry_type = 'FEE' ORDER BY account_id, ledger_seq LIMIT 1);"),
    Corruption::new("ledger_continuity", "fill_entries_out_of_order", "a fill's FEE entry written before its TRADE entry",
        "UPDATE {{cash_ledger}} l
            SET ledger_seq = CASE l.entry_type WHEN 'TRADE' THEN l.ledger_seq + 1 ELSE l.ledger_seq - 1 END
          WHERE l.fill_id = (SELECT fill_id FROM {{cash_ledger}} WHERE entry_type = 'TRADE' ORDER BY account_id, ledger_seq LIMIT 1);")
        .uniques(&[("{{cash_ledger}}", "ledger_seq")]),
    Corruption::new("ledger_continuity", "fill_entry_ts_mismatch", "a FEE entry dated one second after its fill",
        "UPDATE {{cash_ledger}} SET entry_ts = entry_ts + interval '1 second' WHERE (account_id, ledger_seq) =
           (SELECT account_id, ledger_seq FROM {{cash_ledger}} WHERE entry_type = 'FEE' ORDER BY account_id, ledger_seq LIMIT 1);"),
    Corruption::new("ledger_continuity", "prev_hash_mismatch", "a ledger entry's prev_hash not the previous row_hash",
        "UPDATE {{cash_ledger}} SET prev_hash = repeat('b', 64) WHERE (account_id, ledger_seq) =
           (SELECT account_id, ledger_seq FROM {{cash_ledger}} WHERE ledger_seq > 1 ORDER BY account_id, ledger_seq LIMIT 1);"),
    // ---------------------------------------------------------------- fee_formula
    Corruption::new("fee_formula", "no_fee_schedule", "an account's fee schedules deleted",
        "DELETE FROM fee_schedule WHERE account_id = (SELECT min(account_id) FROM {{order_fill}});"),
    Corruption::new("fee_formula", "fee_mismatch", "a fee off by 0.00000001",
        "UPDATE {{order_fill}} SET fee = fee + 0.00000001 WHERE fill_id = (SELECT min(fill_id) FROM {{order_fill}});"),
    // ---------------------------------------------------------------- slippage_formula
    Corruption::new("slippage_formula", "fill_side_invalid", "a fill whose side is HOLD",
        "UPDATE {{order_fill}} SET side = 'HOLD' WHERE fill_id = (SELECT min(fill_id) FROM {{order_fill}});")
        .checks(&[("{{order_fill}}", "side")]),
    Corruption::new("slippage_formula", "fill_price_mismatch", "a fill price off by 0.00000001",
        "UPDATE {{order_fill}} SET fill_price = fill_price + 0.00000001 WHERE fill_id = (SELECT min(fill_id) FROM {{order_fill}});"),
    Corruption::new("slippage_formula", "slippage_cost_mismatch", "a slippage cost off by 0.00000001",
        "UPDATE {{order_fill}} SET slippage_cost = slippage_cost + 0.00000001 WHERE fill_id = (SELECT min(fill_id) FROM {{order_fill}});"),
    Corruption::new("slippage_formula", "reference_price_mismatch", "an order's reference price changed after its fills",
        "UPDATE {{order_request}} SET reference_price = reference_price + 1
         WHERE order_id = (SELECT order_id FROM {{order_fill}} ORDER BY fill_id LIMIT 1);"),
    // ---------------------------------------------------------------- quantity_conservation
    Corruption::new("quantity_conservation", "order_filled_qty_mismatch", "an order's filled_quantity off by 0.00000001",
        "UPDATE {{order_request}} SET filled_quantity = filled_quantity - 0.00000001
         WHERE order_id = (SELECT min(order_id) FROM {{order_request}} WHERE filled_quantity > 0);"),
    Corruption::new("quantity_conservation", "order_overfilled", "an order's quantity below what was filled",
        "UPDATE {{order_request}} SET quantity = filled_quantity - 0.00000001
         WHERE order_id = (SELECT min(order_id) FROM {{order_request}} WHERE filled_quantity > 0);")
        .checks(&[("{{order_request}}", "quantity")]),
    Corruption::new("quantity_conservation", "fill_order_side_mismatch", "an order's side flipped after its fills",
        "UPDATE {{order_request}} SET side = CASE side WHEN 'BUY' THEN 'SELL' ELSE 'BUY' END
         WHERE order_id = (SELECT order_id FROM {{order_fill}} ORDER BY fill_id LIMIT 1);"),
    Corruption::new("quantity_conservation", "fill_order_instrument_mismatch", "an order's instrument changed after its fills",
        "UPDATE {{order_request}} o SET instrument_id =
           (SELECT i.instrument_id FROM instrument i WHERE i.instrument_id <> o.instrument_id ORDER BY i.instrument_id LIMIT 1)
         WHERE o.order_id = (SELECT order_id FROM {{order_fill}} ORDER BY fill_id LIMIT 1);")
        .needs("SELECT EXISTS (SELECT 1 FROM {{order_fill}}) AND (SELECT count(*) > 1 FROM instrument)"),
    Corruption::new("quantity_conservation", "sell_fill_trades_mismatch", "an executed trade's quantity off by 0.00000001",
        "UPDATE {{executed_trade}} SET quantity = quantity + 0.00000001
         WHERE executed_trade_id = (SELECT min(executed_trade_id) FROM {{executed_trade}});"),
    Corruption::new("quantity_conservation", "trade_fill_not_sell", "an executed trade attributed to a BUY fill",
        "UPDATE {{executed_trade}} t SET sell_fill_id =
           (SELECT f.fill_id FROM {{order_fill}} f WHERE f.account_id = t.account_id AND f.side = 'BUY' ORDER BY f.fill_id LIMIT 1)
         WHERE t.executed_trade_id = (SELECT min(executed_trade_id) FROM {{executed_trade}});"),
    Corruption::new("quantity_conservation", "buy_fill_lot_count", "the lot of the last BUY fill deleted",
        "DELETE FROM {{position_lot}} WHERE lot_id = (SELECT max(lot_id) FROM {{position_lot}});"),
    Corruption::new("quantity_conservation", "lot_consumed_mismatch", "a lot's remaining_qty reduced by 0.00000001",
        "UPDATE {{position_lot}} SET remaining_qty = remaining_qty - 0.00000001
         WHERE lot_id = (SELECT min(lot_id) FROM {{position_lot}} WHERE remaining_qty > 0);")
        .needs("SELECT EXISTS (SELECT 1 FROM {{position_lot}} WHERE remaining_qty > 0)"),
    Corruption::new("quantity_conservation", "lot_fill_not_buy", "a lot attributed to a SELL fill",
        "UPDATE {{position_lot}} l SET opening_fill_id =
           (SELECT f.fill_id FROM {{order_fill}} f WHERE f.account_id = l.account_id AND f.side = 'SELL' ORDER BY f.fill_id LIMIT 1)
         WHERE l.lot_id = (SELECT min(lot_id) FROM {{position_lot}} x
                           WHERE EXISTS (SELECT 1 FROM {{order_fill}} f WHERE f.account_id = x.account_id AND f.side = 'SELL'));"),
    Corruption::new("quantity_conservation", "lot_original_qty_mismatch", "a lot's original_qty off by 0.00000001",
        "UPDATE {{position_lot}} SET original_qty = original_qty + 0.00000001 WHERE lot_id = (SELECT min(lot_id) FROM {{position_lot}});"),
    Corruption::new("quantity_conservation", "lot_opened_ts_mismatch", "a lot opened one second after its fill",
        "UPDATE {{position_lot}} SET opened_ts = opened_ts + interval '1 second' WHERE lot_id = (SELECT min(lot_id) FROM {{position_lot}});"),
    Corruption::new("quantity_conservation", "lot_instrument_mismatch", "a lot's instrument changed",
        "UPDATE {{position_lot}} l SET instrument_id =
           (SELECT i.instrument_id FROM instrument i WHERE i.instrument_id <> l.instrument_id ORDER BY i.instrument_id LIMIT 1)
         WHERE l.lot_id = (SELECT min(lot_id) FROM {{position_lot}});")
        .needs("SELECT EXISTS (SELECT 1 FROM {{position_lot}}) AND (SELECT count(*) > 1 FROM instrument)"),
    Corruption::new("quantity_conservation", "lot_cost_basis_mismatch", "a lot's cost basis off by 0.00000001",
        "UPDATE {{position_lot}} SET cost_basis = cost_basis + 0.00000001 WHERE lot_id = (SELECT min(lot_id) FROM {{position_lot}});"),
    Corruption::new("quantity_conservation", "trade_proceeds_mismatch", "an executed trade's proceeds (and pnl) off by 0.00000001",
        "UPDATE {{executed_trade}} SET proceeds = proceeds + 0.00000001, realized_pnl = realized_pnl + 0.00000001
         WHERE executed_trade_id = (SELECT min(executed_trade_id) FROM {{executed_trade}});"),
    Corruption::new("quantity_conservation", "trade_cost_basis_mismatch", "an executed trade's cost basis (and pnl) off by 0.00000001",
        "UPDATE {{executed_trade}} SET cost_basis = cost_basis + 0.00000001, realized_pnl = realized_pnl - 0.00000001
         WHERE executed_trade_id = (SELECT min(executed_trade_id) FROM {{executed_trade}});"),
    Corruption::new("quantity_conservation", "trade_pnl_mismatch", "an executed trade's realized pnl off by 0.00000001",
        "UPDATE {{executed_trade}} SET realized_pnl = realized_pnl + 0.00000001
         WHERE executed_trade_id = (SELECT min(executed_trade_id) FROM {{executed_trade}});")
        .checks(&[("{{executed_trade}}", "realized_pnl")]),
    Corruption::new("quantity_conservation", "trade_executed_ts_mismatch", "an executed trade dated one second after its fill",
        "UPDATE {{executed_trade}} SET executed_ts = executed_ts + interval '1 second'
         WHERE executed_trade_id = (SELECT min(executed_trade_id) FROM {{executed_trade}});"),
    Corruption::new("quantity_conservation", "trade_instrument_mismatch", "an executed trade's instrument changed",
        "UPDATE {{executed_trade}} t SET instrument_id =
           (SELECT i.instrument_id FROM instrument i WHERE i.instrument_id <> t.instrument_id ORDER BY i.instrument_id LIMIT 1)
         WHERE t.executed_trade_id = (SELECT min(executed_trade_id) FROM {{executed_trade}});")
        .needs("SELECT EXISTS (SELECT 1 FROM {{executed_trade}}) AND (SELECT count(*) > 1 FROM instrument)"),
    // The younger lot is one the trade's sell fill does not touch at all, so FIFO says the
    // trade should be 0 there: a younger lot the same sell fill also consumed in full can have
    // the very quantity of the trade (equal-sized lots), and the swap would change nothing.
    Corruption::new("quantity_conservation", "fifo_violation", "a sell consuming a younger lot instead of the oldest open one",
        "UPDATE {{executed_trade}} t SET lot_id =
           (SELECT l2.lot_id FROM {{position_lot}} l1
              JOIN {{position_lot}} l2 ON l2.account_id = l1.account_id AND l2.instrument_id = l1.instrument_id
                                      AND (l2.opened_ts, l2.lot_id) > (l1.opened_ts, l1.lot_id)
             WHERE l1.lot_id = t.lot_id
               AND NOT EXISTS (SELECT 1 FROM {{executed_trade}} x WHERE x.sell_fill_id = t.sell_fill_id AND x.lot_id = l2.lot_id)
             ORDER BY l2.opened_ts, l2.lot_id LIMIT 1)
         WHERE t.executed_trade_id = (
           SELECT t0.executed_trade_id FROM {{executed_trade}} t0 JOIN {{position_lot}} l1 ON l1.lot_id = t0.lot_id
            WHERE EXISTS (SELECT 1 FROM {{position_lot}} l2 WHERE l2.account_id = l1.account_id AND l2.instrument_id = l1.instrument_id
                            AND (l2.opened_ts, l2.lot_id) > (l1.opened_ts, l1.lot_id)
                            AND NOT EXISTS (SELECT 1 FROM {{executed_trade}} x
                                             WHERE x.sell_fill_id = t0.sell_fill_id AND x.lot_id = l2.lot_id))
            ORDER BY t0.executed_trade_id LIMIT 1);")
        .uniques(&[("{{executed_trade}}", "lot_id")])
        .needs("SELECT EXISTS (SELECT 1 FROM {{executed_trade}} t0 JOIN {{position_lot}} l1 ON l1.lot_id = t0.lot_id
                 JOIN {{position_lot}} l2 ON l2.account_id = l1.account_id AND l2.instrument_id = l1.instrument_id
                  AND (l2.opened_ts, l2.lot_id) > (l1.opened_ts, l1.lot_id)
                WHERE NOT EXISTS (SELECT 1 FROM {{executed_trade}} x WHERE x.sell_fill_id = t0.sell_fill_id AND x.lot_id = l2.lot_id))"),
    Corruption::new("quantity_conservation", "open_lots_vs_fills_mismatch", "an open lot's remaining_qty reduced by 0.00000001",
        "UPDATE {{position_lot}} SET remaining_qty = remaining_qty - 0.00000001
         WHERE lot_id = (SELECT min(lot_id) FROM {{position_lot}} WHERE remaining_qty > 0);")
        .needs("SELECT EXISTS (SELECT 1 FROM {{position_lot}} WHERE remaining_qty > 0)"),
    Corruption::new("quantity_conservation", "open_lots_vs_position_mismatch", "the latest hourly position off by 1",
        "UPDATE position_hourly_state p SET quantity = quantity + 1
         WHERE (p.account_id, p.instrument_id, p.hour_ts) = (
           SELECT x.account_id, x.instrument_id, x.hour_ts FROM position_hourly_state x
            WHERE x.hour_ts = (SELECT max(h.hour_ts) FROM (SELECT account_id, hour_ts FROM portfolio_hourly_state
                                                          UNION ALL SELECT account_id, hour_ts FROM position_hourly_state) h
                                WHERE h.account_id = x.account_id)
            ORDER BY x.account_id, x.instrument_id LIMIT 1);"),
    // ---------------------------------------------------------------- long_only
    Corruption::new("long_only", "negative_position", "an hourly position set to -1",
        "UPDATE position_hourly_state SET quantity = -1 WHERE (account_id, instrument_id, hour_ts) =
           (SELECT account_id, instrument_id, hour_ts FROM position_hourly_state ORDER BY account_id, instrument_id, hour_ts LIMIT 1);")
        .checks(&[("position_hourly_state", "quantity")]),
    Corruption::new("long_only", "lot_remaining_negative", "a lot's remaining_qty below 0",
        "UPDATE {{position_lot}} SET remaining_qty = -0.00000001 WHERE lot_id = (SELECT min(lot_id) FROM {{position_lot}});")
        .checks(&[("{{position_lot}}", "remaining_qty")]),
    Corruption::new("long_only", "lot_remaining_above_original", "a lot's remaining_qty above its original",
        "UPDATE {{position_lot}} SET remaining_qty = original_qty + 0.00000001 WHERE lot_id = (SELECT min(lot_id) FROM {{position_lot}});")
        .checks(&[("{{position_lot}}", "remaining_qty")]),
    Corruption::new("long_only", "negative_target_weight", "a signal with target_weight -0.1",
        "UPDATE {{trade_signal}} SET target_weight = -0.1 WHERE signal_id = (SELECT min(signal_id) FROM {{trade_signal}});")
        .checks(&[("{{trade_signal}}", "target_weight")]),
    Corruption::new("long_only", "sell_exceeds_holding", "a SELL fill moved before every buy of its instrument",
        "UPDATE {{order_fill}} f SET fill_ts =
           (SELECT min(b.fill_ts) - interval '1 second' FROM {{order_fill}} b
             WHERE b.account_id = f.account_id AND b.instrument_id = f.instrument_id)
         WHERE f.fill_id = (SELECT min(fill_id) FROM {{order_fill}} WHERE side = 'SELL');"),
    Corruption::new("long_only", "negative_cash", "a ledger balance_after set to -1",
        "UPDATE {{cash_ledger}} SET balance_after = -1 WHERE (account_id, ledger_seq) =
           (SELECT account_id, max(ledger_seq) FROM {{cash_ledger}} GROUP BY account_id ORDER BY account_id LIMIT 1);")
        .checks(&[("{{cash_ledger}}", "balance_after")]),
    Corruption::new("long_only", "negative_cash_state", "an hourly portfolio's cash set to -1",
        "UPDATE portfolio_hourly_state SET cash = -1 WHERE (account_id, hour_ts) =
           (SELECT account_id, hour_ts FROM portfolio_hourly_state ORDER BY account_id, hour_ts LIMIT 1);")
        .checks(&[("portfolio_hourly_state", "cash")]),
    // ---------------------------------------------------------------- cluster_cap
    // The quantity is derived from the gate's own inputs (exposure row and cap when the exposure
    // table exists, else their recomputation from positions and equity), so the projected
    // exposure exceeds the cap by at least 1 whatever the BUY's size: a fixed multiplier leaves
    // a BUY of 1e-8 units far below any cap.
    Corruption::new("cluster_cap", "cap_exceeded", "the first BUY's quantity raised until exposure + notional exceeds the cap by 1",
        "DO $c$ DECLARE b record; e numeric; cap numeric; BEGIN
           SELECT o.order_id, o.account_id, o.risk_hour_ts, o.reference_price, ic.cluster_id,
                  round(cl.cap_fraction * ps.equity, 8) AS cap,
                  coalesce((SELECT sum(p.market_value) FROM position_hourly_state p
                              JOIN instrument_cluster pic ON pic.instrument_id = p.instrument_id
                             WHERE p.account_id = o.account_id AND p.hour_ts = o.risk_hour_ts
                               AND pic.cluster_id = ic.cluster_id), 0) AS exposure
             INTO b
             FROM {{order_request}} o
             JOIN instrument_cluster ic ON ic.instrument_id = o.instrument_id
             JOIN cluster cl ON cl.cluster_id = ic.cluster_id
             LEFT JOIN portfolio_hourly_state ps ON ps.account_id = o.account_id AND ps.hour_ts = o.risk_hour_ts
            WHERE o.order_id = (SELECT min(order_id) FROM {{order_request}} WHERE side = 'BUY');
           e := b.exposure;
           cap := b.cap;
           IF to_regclass('cluster_exposure_hourly_state') IS NOT NULL THEN
             EXECUTE 'SELECT coalesce(max(exposure), $4), coalesce(max(cap), $5) FROM cluster_exposure_hourly_state
                       WHERE account_id = $1 AND cluster_id = $2 AND hour_ts = $3'
               INTO e, cap USING b.account_id, b.cluster_id, b.risk_hour_ts, e, cap;
           END IF;
           IF cap IS NULL OR b.reference_price IS NULL OR b.reference_price <= 0 THEN
             RAISE EXCEPTION 'cap_exceeded: the first BUY (order %) has no cluster, cap or positive reference price', b.order_id;
           END IF;
           UPDATE {{order_request}}
              SET quantity = greatest(quantity, ceil((cap - e + 1) / b.reference_price * 100000000) / 100000000)
            WHERE order_id = b.order_id;
         END $c$;"),
    Corruption::new("cluster_cap", "bound_state_missing", "a BUY order bound to an hour with no state",
        "UPDATE {{order_request}} SET requested_ts = requested_ts - interval '100000 hours',
                                      risk_hour_ts = risk_hour_ts - interval '100000 hours'
         WHERE order_id = (SELECT min(order_id) FROM {{order_request}} WHERE side = 'BUY');")
        .checks(&[("{{order_request}}", "risk_hour_ts")]),
    Corruption::new("cluster_cap", "instrument_cluster_missing", "a bought instrument removed from its cluster",
        "DELETE FROM instrument_cluster WHERE instrument_id =
           (SELECT instrument_id FROM {{order_request}} WHERE side = 'BUY' ORDER BY order_id LIMIT 1);"),
    Corruption::new("cluster_cap", "buy_bound_state_not_normal", "the risk state a BUY is bound to set HALTED",
        "UPDATE risk_hourly_state r SET trading_state = 'HALTED'
          WHERE (r.account_id, r.hour_ts) = (SELECT account_id, risk_hour_ts FROM {{order_request}} WHERE side = 'BUY'
                                             ORDER BY order_id LIMIT 1);"),
    Corruption::new("cluster_cap", "cluster_exposure_mismatch", "a cluster exposure row off by 1",
        "UPDATE cluster_exposure_hourly_state SET exposure = exposure + 1
         WHERE (account_id, cluster_id, hour_ts) = (SELECT account_id, cluster_id, hour_ts FROM cluster_exposure_hourly_state
                                                    ORDER BY account_id, cluster_id, hour_ts LIMIT 1);"),
    Corruption::new("cluster_cap", "cluster_cap_value_mismatch", "a cluster cap off by 1",
        "UPDATE cluster_exposure_hourly_state SET cap = cap + 1
         WHERE (account_id, cluster_id, hour_ts) = (SELECT account_id, cluster_id, hour_ts FROM cluster_exposure_hourly_state
                                                    ORDER BY account_id, cluster_id, hour_ts LIMIT 1);"),
    // ---------------------------------------------------------------- walk_forward_contamination
    Corruption::new("walk_forward_contamination", "prediction_in_training_window", "a model retrained over hours it predicted",
        "UPDATE model_registry m SET train_end = (SELECT max(hour_ts) FROM {{model_prediction}} p WHERE p.model_id = m.model_id)
         WHERE m.model_id = (SELECT model_id FROM {{model_prediction}} ORDER BY prediction_id LIMIT 1);"),
    Corruption::new("walk_forward_contamination", "prediction_model_kind_invalid", "a prediction attributed to a REGIME model",
        "UPDATE {{model_prediction}} SET model_id = (SELECT min(model_id) FROM model_registry WHERE model_kind = 'REGIME')
         WHERE prediction_id = (SELECT min(prediction_id) FROM {{model_prediction}});")
        .needs("SELECT EXISTS (SELECT 1 FROM model_registry WHERE model_kind = 'REGIME')"),
    Corruption::new("walk_forward_contamination", "prediction_feature_after_hour", "a prediction made from a later feature snapshot",
        "UPDATE {{model_prediction}} SET feature_hour_ts = hour_ts + interval '1 hour'
         WHERE prediction_id = (SELECT min(prediction_id) FROM {{model_prediction}});"),
    Corruption::new("walk_forward_contamination", "prediction_feature_missing", "a prediction naming a snapshot that does not exist",
        "UPDATE {{model_prediction}} SET feature_hour_ts = feature_hour_ts - interval '100000 hours'
         WHERE prediction_id = (SELECT min(prediction_id) FROM {{model_prediction}});"),
    Corruption::new("walk_forward_contamination", "prediction_feature_hash_mismatch", "a prediction's feature_hash not its snapshot's",
        "UPDATE {{model_prediction}} SET feature_hash = repeat('c', 64)
         WHERE prediction_id = (SELECT min(prediction_id) FROM {{model_prediction}});"),
    Corruption::new("walk_forward_contamination", "feature_hash_mismatch", "a feature snapshot's features edited, hash kept",
        "UPDATE feature_snapshot SET features = '{\"f1\": 0.00000000}'::jsonb
         WHERE (instrument_id, hour_ts) = (SELECT instrument_id, hour_ts FROM feature_snapshot ORDER BY instrument_id, hour_ts LIMIT 1);"),
    Corruption::new("walk_forward_contamination", "regime_in_training_window", "a regime model retrained over hours it classified",
        "UPDATE model_registry m SET train_end = (SELECT max(hour_ts) FROM {{regime_output}} r WHERE r.model_id = m.model_id)
         WHERE m.model_id = (SELECT model_id FROM {{regime_output}} ORDER BY regime_output_id LIMIT 1);"),
    Corruption::new("walk_forward_contamination", "regime_model_kind_invalid", "a regime output attributed to a BASE model",
        "UPDATE {{regime_output}} SET model_id = (SELECT min(model_id) FROM model_registry WHERE model_kind = 'BASE')
         WHERE regime_output_id = (SELECT min(regime_output_id) FROM {{regime_output}});"),
    Corruption::new("walk_forward_contamination", "meta_parent_not_meta", "a META model relabelled BASE",
        "UPDATE model_registry SET model_kind = 'BASE' WHERE model_id =
           (SELECT p.model_id FROM {{meta_learner_component}} c JOIN {{model_prediction}} p ON p.prediction_id = c.meta_prediction_id
            ORDER BY c.meta_prediction_id, c.base_prediction_id LIMIT 1);")
        .needs("SELECT EXISTS (SELECT 1 FROM {{meta_learner_component}})"),
    Corruption::new("walk_forward_contamination", "meta_component_not_base", "a META component's prediction attributed to a META model",
        "UPDATE {{model_prediction}} SET model_id = (SELECT min(model_id) FROM model_registry WHERE model_kind = 'META')
         WHERE prediction_id = (SELECT base_prediction_id FROM {{meta_learner_component}}
                                ORDER BY meta_prediction_id, base_prediction_id LIMIT 1);")
        .needs("SELECT EXISTS (SELECT 1 FROM {{meta_learner_component}})"),
    Corruption::new("walk_forward_contamination", "meta_component_after_meta", "a META component predicted after its META prediction",
        "UPDATE {{model_prediction}} b SET hour_ts =
           (SELECT mp.hour_ts + interval '1 hour' FROM {{meta_learner_component}} c
              JOIN {{model_prediction}} mp ON mp.prediction_id = c.meta_prediction_id
             WHERE c.base_prediction_id = b.prediction_id ORDER BY mp.hour_ts DESC LIMIT 1)
         WHERE b.prediction_id = (SELECT base_prediction_id FROM {{meta_learner_component}}
                                  ORDER BY meta_prediction_id, base_prediction_id LIMIT 1);")
        .needs("SELECT EXISTS (SELECT 1 FROM {{meta_learner_component}})"),
    Corruption::new("walk_forward_contamination", "meta_weights_not_one", "a META weight off by 0.00000001",
        "UPDATE {{meta_learner_component}} SET weight = weight + 0.00000001 WHERE (meta_prediction_id, base_prediction_id) =
           (SELECT meta_prediction_id, base_prediction_id FROM {{meta_learner_component}}
            ORDER BY meta_prediction_id, base_prediction_id LIMIT 1);")
        .needs("SELECT EXISTS (SELECT 1 FROM {{meta_learner_component}})"),
    Corruption::new("walk_forward_contamination", "meta_score_mismatch", "a META score off by 0.00000001",
        "UPDATE {{model_prediction}} SET score = score + 0.00000001
         WHERE prediction_id = (SELECT min(meta_prediction_id) FROM {{meta_learner_component}});")
        .needs("SELECT EXISTS (SELECT 1 FROM {{meta_learner_component}})"),
    Corruption::new("walk_forward_contamination", "meta_without_components", "a META prediction's components deleted",
        "DELETE FROM {{meta_learner_component}}
         WHERE meta_prediction_id = (SELECT min(meta_prediction_id) FROM {{meta_learner_component}});")
        .needs("SELECT EXISTS (SELECT 1 FROM {{meta_learner_component}})"),
    Corruption::new("walk_forward_contamination", "signal_prediction_after_signal", "a signal dated before its prediction",
        "UPDATE {{trade_signal}} s SET hour_ts =
           (SELECT p.hour_ts - interval '1 hour' FROM {{model_prediction}} p WHERE p.prediction_id = s.prediction_id)
         WHERE s.signal_id = (SELECT min(signal_id) FROM {{trade_signal}});"),
    Corruption::new("walk_forward_contamination", "signal_regime_after_signal", "a regime output dated after a signal using it",
        "UPDATE {{regime_output}} r SET hour_ts =
           (SELECT s.hour_ts + interval '1 hour' FROM {{trade_signal}} s WHERE s.regime_output_id = r.regime_output_id
             ORDER BY s.hour_ts LIMIT 1)
         WHERE r.regime_output_id = (SELECT regime_output_id FROM {{trade_signal}} ORDER BY signal_id LIMIT 1);"),
    Corruption::new("walk_forward_contamination", "negative_target_weight", "a signal with target_weight -0.1",
        "UPDATE {{trade_signal}} SET target_weight = -0.1 WHERE signal_id = (SELECT min(signal_id) FROM {{trade_signal}});")
        .checks(&[("{{trade_signal}}", "target_weight")]),
    // ---------------------------------------------------------------- missing_hash
    Corruption::new("missing_hash", "hash_missing", "a signal's row_hash cleared",
        "ALTER TABLE {{trade_signal}} ALTER COLUMN row_hash DROP NOT NULL;
         UPDATE {{trade_signal}} SET row_hash = NULL WHERE signal_id = (SELECT min(signal_id) FROM {{trade_signal}});"),
    Corruption::new("missing_hash", "hash_malformed", "a fill's row_hash upper-cased",
        "UPDATE {{order_fill}} SET row_hash = upper(row_hash) WHERE fill_id = (SELECT min(fill_id) FROM {{order_fill}});"),
    Corruption::new("missing_hash", "row_hash_mismatch", "a regime output's label edited, row_hash kept",
        "UPDATE {{regime_output}} SET regime = regime || '_edited'
         WHERE regime_output_id = (SELECT min(regime_output_id) FROM {{regime_output}});"),
    Corruption::new("missing_hash", "parent_portfolio_hash_mismatch", "a risk state's parent_portfolio_hash not its portfolio's",
        "UPDATE risk_hourly_state SET parent_portfolio_hash = repeat('d', 64) WHERE (account_id, hour_ts) =
           (SELECT account_id, hour_ts FROM risk_hourly_state ORDER BY account_id, hour_ts LIMIT 1);"),
    Corruption::new("missing_hash", "prediction_feature_hash_mismatch", "a prediction's feature_hash not its snapshot's",
        "UPDATE {{model_prediction}} SET feature_hash = repeat('c', 64)
         WHERE prediction_id = (SELECT min(prediction_id) FROM {{model_prediction}});"),
    Corruption::new("missing_hash", "parent_signal_hash_mismatch", "an order's parent_signal_hash not its signal's row_hash",
        "UPDATE {{order_request}} SET parent_signal_hash = repeat('e', 64) WHERE order_id = (SELECT min(order_id) FROM {{order_request}});"),
    Corruption::new("missing_hash", "risk_state_hash_mismatch", "an order's risk_state_hash not its bound state's",
        "UPDATE {{order_request}} SET risk_state_hash = repeat('f', 64) WHERE order_id = (SELECT min(order_id) FROM {{order_request}});"),
    Corruption::new("missing_hash", "parent_order_hash_mismatch", "a fill's parent_order_hash not its order's row_hash",
        "UPDATE {{order_fill}} SET parent_order_hash = repeat('1', 64) WHERE fill_id = (SELECT min(fill_id) FROM {{order_fill}});"),
    Corruption::new("missing_hash", "lot_parent_fill_hash_mismatch", "a lot's parent_fill_hash not its opening fill's row_hash",
        "UPDATE {{position_lot}} SET parent_fill_hash = repeat('2', 64) WHERE lot_id = (SELECT min(lot_id) FROM {{position_lot}});"),
    Corruption::new("missing_hash", "trade_parent_fill_hash_mismatch", "an executed trade's parent_fill_hash not its sell fill's",
        "UPDATE {{executed_trade}} SET parent_fill_hash = repeat('3', 64)
         WHERE executed_trade_id = (SELECT min(executed_trade_id) FROM {{executed_trade}});"),
    Corruption::new("missing_hash", "trade_parent_lot_hash_mismatch", "an executed trade's parent_lot_hash not its lot's",
        "UPDATE {{executed_trade}} SET parent_lot_hash = repeat('4', 64)
         WHERE executed_trade_id = (SELECT min(executed_trade_id) FROM {{executed_trade}});"),
    Corruption::new("missing_hash", "prev_hash_mismatch", "a ledger entry's prev_hash not the previous row_hash",
        "UPDATE {{cash_ledger}} SET prev_hash = repeat('5', 64) WHERE (account_id, ledger_seq) =
           (SELECT account_id, ledger_seq FROM {{cash_ledger}} ORDER BY account_id, ledger_seq LIMIT 1);"),
    Corruption::new("missing_hash", "parent_state_hash_mismatch", "a risk event's parent_state_hash not its state's",
        "UPDATE {{risk_event}} SET parent_state_hash = repeat('6', 64) WHERE risk_event_id = (SELECT min(risk_event_id) FROM {{risk_event}});")
        .needs("SELECT EXISTS (SELECT 1 FROM {{risk_event}})"),
    Corruption::new("missing_hash", "parent_risk_hash_mismatch", "a cluster exposure row's parent_risk_hash not its state's",
        "UPDATE cluster_exposure_hourly_state SET parent_risk_hash = repeat('7', 64)
         WHERE (account_id, cluster_id, hour_ts) = (SELECT account_id, cluster_id, hour_ts FROM cluster_exposure_hourly_state
                                                    ORDER BY account_id, cluster_id, hour_ts LIMIT 1);"),
    // ---------------------------------------------------------------- deterministic_replay_parity
    Corruption::new("deterministic_replay_parity", "position_quantity_mismatch", "a stale hourly position (quantity off by 0.00000001)",
        "UPDATE position_hourly_state SET quantity = quantity + 0.00000001 WHERE (account_id, instrument_id, hour_ts) =
           (SELECT account_id, instrument_id, hour_ts FROM position_hourly_state ORDER BY account_id, instrument_id, hour_ts LIMIT 1);"),
    Corruption::new("deterministic_replay_parity", "position_mark_price_mismatch", "a position marked at a wrong price",
        "UPDATE position_hourly_state SET mark_price = mark_price + 0.00000001 WHERE (account_id, instrument_id, hour_ts) =
           (SELECT account_id, instrument_id, hour_ts FROM position_hourly_state ORDER BY account_id, instrument_id, hour_ts LIMIT 1);"),
    Corruption::new("deterministic_replay_parity", "position_mark_missing", "the feature snapshot a position is marked at deleted",
        "DELETE FROM feature_snapshot WHERE (instrument_id, hour_ts) =
           (SELECT instrument_id, hour_ts FROM position_hourly_state ORDER BY account_id, instrument_id, hour_ts LIMIT 1);"),
    Corruption::new("deterministic_replay_parity", "position_market_value_mismatch", "a position's market value off by 0.00000001",
        "UPDATE position_hourly_state SET market_value = market_value + 0.00000001 WHERE (account_id, instrument_id, hour_ts) =
           (SELECT account_id, instrument_id, hour_ts FROM position_hourly_state ORDER BY account_id, instrument_id, hour_ts LIMIT 1);"),
    Corruption::new("deterministic_replay_parity", "position_state_hash_mismatch", "a position's state_hash replaced",
        "UPDATE position_hourly_state SET state_hash = repeat('8', 64) WHERE (account_id, instrument_id, hour_ts) =
           (SELECT account_id, instrument_id, hour_ts FROM position_hourly_state ORDER BY account_id, instrument_id, hour_ts LIMIT 1);"),
    Corruption::new("deterministic_replay_parity", "position_state_missing", "a non-zero hourly position deleted",
        "DELETE FROM position_hourly_state WHERE (account_id, instrument_id, hour_ts) =
           (SELECT p.account_id, p.instrument_id, p.hour_ts FROM position_hourly_state p
              JOIN portfolio_hourly_state q ON q.account_id = p.account_id AND q.hour_ts = p.hour_ts
             WHERE p.quantity <> 0 ORDER BY p.account_id, p.instrument_id, p.hour_ts LIMIT 1);"),
    Corruption::new("deterministic_replay_parity", "portfolio_cash_mismatch", "a portfolio's cash off by 0.00000001",
        "UPDATE portfolio_hourly_state SET cash = cash + 0.00000001 WHERE (account_id, hour_ts) =
           (SELECT account_id, hour_ts FROM portfolio_hourly_state ORDER BY account_id, hour_ts LIMIT 1);"),
    Corruption::new("deterministic_replay_parity", "portfolio_market_value_mismatch", "a portfolio's market value off by 0.00000001",
        "UPDATE portfolio_hourly_state SET market_value = market_value + 0.00000001 WHERE (account_id, hour_ts) =
           (SELECT account_id, hour_ts FROM portfolio_hourly_state ORDER BY account_id, hour_ts LIMIT 1);"),
    Corruption::new("deterministic_replay_parity", "portfolio_equity_mismatch", "a portfolio's equity off by 0.00000001",
        "UPDATE portfolio_hourly_state SET equity = equity + 0.00000001 WHERE (account_id, hour_ts) =
           (SELECT account_id, hour_ts FROM portfolio_hourly_state ORDER BY account_id, hour_ts LIMIT 1);"),
    Corruption::new("deterministic_replay_parity", "portfolio_peak_equity_mismatch", "a portfolio's peak equity off by 0.00000001",
        "UPDATE portfolio_hourly_state SET peak_equity = peak_equity + 0.00000001 WHERE (account_id, hour_ts) =
           (SELECT account_id, hour_ts FROM portfolio_hourly_state ORDER BY account_id, hour_ts LIMIT 1);"),
    Corruption::new("deterministic_replay_parity", "portfolio_state_hash_mismatch", "a portfolio's state_hash replaced",
        "UPDATE portfolio_hourly_state SET state_hash = repeat('9', 64) WHERE (account_id, hour_ts) =
           (SELECT account_id, hour_ts FROM portfolio_hourly_state ORDER BY account_id, hour_ts LIMIT 1);"),
    Corruption::new("deterministic_replay_parity", "portfolio_state_missing", "a portfolio state deleted (its risk state kept)",
        "DELETE FROM portfolio_hourly_state WHERE (account_id, hour_ts) =
           (SELECT account_id, hour_ts FROM portfolio_hourly_state ORDER BY account_id, hour_ts LIMIT 1);"),
    Corruption::new("deterministic_replay_parity", "risk_state_missing", "a risk state deleted (its portfolio state kept)",
        "DELETE FROM risk_hourly_state WHERE (account_id, hour_ts) =
           (SELECT account_id, hour_ts FROM risk_hourly_state ORDER BY account_id, hour_ts DESC LIMIT 1);"),
    Corruption::new("deterministic_replay_parity", "risk_gross_exposure_mismatch", "a risk state's gross exposure off by 0.00000001",
        "UPDATE risk_hourly_state SET gross_exposure = gross_exposure + 0.00000001 WHERE (account_id, hour_ts) =
           (SELECT account_id, hour_ts FROM risk_hourly_state ORDER BY account_id, hour_ts LIMIT 1);"),
    Corruption::new("deterministic_replay_parity", "risk_drawdown_mismatch", "a risk state's drawdown off by 0.00000001",
        "UPDATE risk_hourly_state SET drawdown = drawdown + 0.00000001 WHERE (account_id, hour_ts) =
           (SELECT account_id, hour_ts FROM risk_hourly_state ORDER BY account_id, hour_ts LIMIT 1);"),
    Corruption::new("deterministic_replay_parity", "risk_trading_state_mismatch", "a risk state's trading_state flipped",
        "UPDATE risk_hourly_state SET trading_state = CASE trading_state WHEN 'NORMAL' THEN 'REDUCE_ONLY' ELSE 'NORMAL' END
         WHERE (account_id, hour_ts) = (SELECT account_id, hour_ts FROM risk_hourly_state ORDER BY account_id, hour_ts LIMIT 1);")
        .checks(&[("risk_hourly_state", "trading_state")]),
    Corruption::new("deterministic_replay_parity", "risk_parent_portfolio_hash_mismatch", "a risk state's parent_portfolio_hash replaced",
        "UPDATE risk_hourly_state SET parent_portfolio_hash = repeat('d', 64) WHERE (account_id, hour_ts) =
           (SELECT account_id, hour_ts FROM risk_hourly_state ORDER BY account_id, hour_ts LIMIT 1);"),
    Corruption::new("deterministic_replay_parity", "risk_state_hash_mismatch", "a risk state's state_hash replaced",
        "UPDATE risk_hourly_state SET state_hash = repeat('e', 64) WHERE (account_id, hour_ts) =
           (SELECT account_id, hour_ts FROM risk_hourly_state ORDER BY account_id, hour_ts LIMIT 1);"),
    Corruption::new("deterministic_replay_parity", "risk_event_missing", "a risk event deleted",
        "DELETE FROM {{risk_event}} WHERE risk_event_id = (SELECT min(risk_event_id) FROM {{risk_event}});")
        .needs("SELECT EXISTS (SELECT 1 FROM {{risk_event}})"),
    Corruption::new("deterministic_replay_parity", "risk_event_unexpected", "a risk event invented at an hour without a change",
        "INSERT INTO {{risk_event}}
         SELECT (jsonb_populate_record(NULL::{{risk_event}}, to_jsonb(e) || jsonb_build_object(
                   'risk_event_id', (SELECT max(risk_event_id) + 1 FROM {{risk_event}}),
                   'hour_ts', e.hour_ts + interval '100000 hours'))).*
         FROM {{risk_event}} e ORDER BY e.risk_event_id LIMIT 1;")
        .needs("SELECT EXISTS (SELECT 1 FROM {{risk_event}})"),
    Corruption::new("deterministic_replay_parity", "risk_event_mismatch", "a risk event's drawdown off by 0.00000001",
        "UPDATE {{risk_event}} SET drawdown = drawdown + 0.00000001 WHERE risk_event_id = (SELECT min(risk_event_id) FROM {{risk_event}});")
        .needs("SELECT EXISTS (SELECT 1 FROM {{risk_event}})"),
    Corruption::new("deterministic_replay_parity", "risk_event_duplicate", "a risk event written twice",
        "INSERT INTO {{risk_event}}
         SELECT (jsonb_populate_record(NULL::{{risk_event}}, to_jsonb(e) || jsonb_build_object(
                   'risk_event_id', (SELECT max(risk_event_id) + 1 FROM {{risk_event}})))).*
         FROM {{risk_event}} e ORDER BY e.risk_event_id LIMIT 1;")
        .uniques(&[("{{risk_event}}", "hour_ts")])
        .needs("SELECT EXISTS (SELECT 1 FROM {{risk_event}})"),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{check_rules, CHECK_NAMES};

    #[test]
    fn every_declared_rule_has_a_corruption() {
        for check in CHECK_NAMES {
            for rule in check_rules(check).unwrap_or_default() {
                assert!(
                    CORRUPTIONS
                        .iter()
                        .any(|c| c.check == check && c.rule == rule),
                    "no corruption for {check}/{rule}"
                );
            }
        }
    }

    #[test]
    fn every_corruption_names_a_declared_rule() {
        for c in CORRUPTIONS {
            let rules = check_rules(c.check).unwrap_or_default();
            assert!(
                rules.iter().any(|r| r == c.rule),
                "{}/{} is not declared",
                c.check,
                c.rule
            );
        }
    }

    #[test]
    fn scripts_render_for_every_set() {
        for c in CORRUPTIONS {
            for set in TableSet::ALL {
                let sql = c.sql_for(set).unwrap_or_default();
                assert!(
                    sql.starts_with("SET session_replication_role = replica;"),
                    "{}",
                    c.rule
                );
                assert!(
                    sql.trim_end().ends_with("RESET session_replication_role;"),
                    "{}",
                    c.rule
                );
                assert!(!sql.contains("{{"), "{}", c.rule);
                if set == TableSet::V2BeforeCutover && c.sql.contains("{{cash_ledger}}") {
                    assert!(sql.contains("cash_ledger_v2"), "{}", c.rule);
                }
                assert!(c.precondition_for(set).is_ok());
            }
        }
    }
}
