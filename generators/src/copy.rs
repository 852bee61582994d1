//! COPY text format of the world's rows (PostgreSQL `COPY ... FROM STDIN`, text format).
//!
//! The same rendering feeds seeding and the world fingerprint, so "byte-identical rows" means
//! byte-identical COPY streams. Numerics are written at column scale and timestamps in the
//! canonical UTC form (`2026-01-05T07:00:00.000000Z`, which PostgreSQL parses as timestamptz).

use crate::hash::{push_decimal, push_timestamp, sha256_hex, BPS_SCALE, MONEY_SCALE};
use crate::model::*;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use std::fmt::Write as _;

/// One line of COPY text under construction: fields separated by tabs.
pub struct CopyLine<'a> {
    out: &'a mut String,
    first: bool,
}

impl<'a> CopyLine<'a> {
    /// Starts a line at the end of `out`.
    pub fn new(out: &'a mut String) -> Self {
        Self { out, first: true }
    }

    fn sep(&mut self) {
        if !self.first {
            self.out.push('\t');
        }
        self.first = false;
    }

    /// A bigint field.
    pub fn int(&mut self, v: i64) -> &mut Self {
        self.sep();
        let _ = write!(self.out, "{v}");
        self
    }

    /// A nullable bigint field (`\N` for NULL).
    pub fn opt_int(&mut self, v: Option<i64>) -> &mut Self {
        match v {
            Some(v) => self.int(v),
            None => {
                self.sep();
                self.out.push_str("\\N");
                self
            }
        }
    }

    /// A `numeric(20,8)` field.
    pub fn num8(&mut self, v: Decimal) -> &mut Self {
        self.sep();
        push_decimal(self.out, v, MONEY_SCALE);
        self
    }

    /// A `numeric(10,4)` field.
    pub fn num4(&mut self, v: Decimal) -> &mut Self {
        self.sep();
        push_decimal(self.out, v, BPS_SCALE);
        self
    }

    /// A timestamptz field.
    pub fn ts(&mut self, v: DateTime<Utc>) -> &mut Self {
        self.sep();
        push_timestamp(self.out, v);
        self
    }

    /// A text field, escaped for COPY text format.
    pub fn text(&mut self, v: &str) -> &mut Self {
        self.sep();
        for c in v.chars() {
            match c {
                '\\' => self.out.push_str("\\\\"),
                '\t' => self.out.push_str("\\t"),
                '\n' => self.out.push_str("\\n"),
                '\r' => self.out.push_str("\\r"),
                c => self.out.push(c),
            }
        }
        self
    }

    /// Ends the line.
    pub fn end(&mut self) {
        self.out.push('\n');
    }
}

/// A row type that maps to one Phase 1A table.
pub trait CopyRow {
    /// The table name.
    const TABLE: &'static str;
    /// The column list, in table order.
    const COLUMNS: &'static [&'static str];
    /// Appends this row as one COPY text line.
    fn write_copy(&self, out: &mut String);
}

/// A table's rows seen without their type: what seeding and fingerprinting iterate over.
pub trait CopyTable {
    /// The table name.
    fn table(&self) -> &'static str;
    /// The column list, in table order.
    fn columns(&self) -> &'static [&'static str];
    /// Number of rows.
    fn row_count(&self) -> usize;
    /// Appends rows `range` as COPY text lines.
    fn write_rows(&self, range: std::ops::Range<usize>, out: &mut String);
    /// The `COPY t (cols) FROM STDIN` statement for this table.
    fn copy_statement(&self) -> String {
        format!(
            "COPY {} ({}) FROM STDIN",
            self.table(),
            self.columns().join(", ")
        )
    }
}

impl<T: CopyRow> CopyTable for Vec<T> {
    fn table(&self) -> &'static str {
        T::TABLE
    }
    fn columns(&self) -> &'static [&'static str] {
        T::COLUMNS
    }
    fn row_count(&self) -> usize {
        self.len()
    }
    fn write_rows(&self, range: std::ops::Range<usize>, out: &mut String) {
        for row in &self[range] {
            row.write_copy(out);
        }
    }
}

impl World {
    /// Every table in dependency (seeding) order: reference tables, hypertables, then the
    /// event tables so that each foreign key's target is written first.
    pub fn tables(&self) -> [&(dyn CopyTable + Sync); 20] {
        [
            &self.account,
            &self.fee_schedule,
            &self.instrument,
            &self.cluster,
            &self.instrument_cluster,
            &self.model_registry,
            &self.feature_snapshot,
            &self.position_hourly_state,
            &self.portfolio_hourly_state,
            &self.risk_hourly_state,
            &self.regime_output,
            &self.model_prediction,
            &self.meta_learner_component,
            &self.trade_signal,
            &self.order_request,
            &self.order_fill,
            &self.position_lot,
            &self.executed_trade,
            &self.cash_ledger,
            &self.risk_event,
        ]
    }

    /// Row count per table, in dependency order.
    pub fn row_counts(&self) -> Vec<(&'static str, u64)> {
        self.tables()
            .iter()
            .map(|t| (t.table(), t.row_count() as u64))
            .collect()
    }

    /// Total number of rows over all tables.
    pub fn total_rows(&self) -> u64 {
        self.tables().iter().map(|t| t.row_count() as u64).sum()
    }

    /// The whole world as COPY text, table by table (each preceded by its COPY statement).
    pub fn copy_text(&self) -> String {
        let mut out = String::new();
        for t in self.tables() {
            out.push_str(&t.copy_statement());
            out.push('\n');
            t.write_rows(0..t.row_count(), &mut out);
            out.push_str("\\.\n");
        }
        out
    }

    /// SHA-256 of [`World::copy_text`]: equal fingerprints mean byte-identical rows.
    pub fn fingerprint(&self) -> String {
        sha256_hex(&self.copy_text())
    }
}

impl CopyRow for Account {
    const TABLE: &'static str = "account";
    const COLUMNS: &'static [&'static str] = &["account_id", "account_name"];
    fn write_copy(&self, out: &mut String) {
        CopyLine::new(out)
            .int(self.account_id)
            .text(&self.account_name)
            .end();
    }
}

impl CopyRow for FeeSchedule {
    const TABLE: &'static str = "fee_schedule";
    const COLUMNS: &'static [&'static str] =
        &["account_id", "effective_from", "fee_bps", "min_fee"];
    fn write_copy(&self, out: &mut String) {
        CopyLine::new(out)
            .int(self.account_id)
            .ts(self.effective_from)
            .num4(self.fee_bps)
            .num8(self.min_fee)
            .end();
    }
}

impl CopyRow for Instrument {
    const TABLE: &'static str = "instrument";
    const COLUMNS: &'static [&'static str] = &["instrument_id", "symbol", "slippage_bps"];
    fn write_copy(&self, out: &mut String) {
        CopyLine::new(out)
            .int(self.instrument_id)
            .text(&self.symbol)
            .num4(self.slippage_bps)
            .end();
    }
}

impl CopyRow for Cluster {
    const TABLE: &'static str = "cluster";
    const COLUMNS: &'static [&'static str] = &["cluster_id", "cluster_name", "cap_fraction"];
    fn write_copy(&self, out: &mut String) {
        CopyLine::new(out)
            .int(self.cluster_id)
            .text(&self.cluster_name)
            .num8(self.cap_fraction)
            .end();
    }
}

impl CopyRow for InstrumentCluster {
    const TABLE: &'static str = "instrument_cluster";
    const COLUMNS: &'static [&'static str] = &["instrument_id", "cluster_id"];
    fn write_copy(&self, out: &mut String) {
        CopyLine::new(out)
            .int(self.instrument_id)
            .int(self.cluster_id)
            .end();
    }
}

impl CopyRow for ModelRegistry {
    const TABLE: &'static str = "model_registry";
    const COLUMNS: &'static [&'static str] =
        &["model_id", "model_kind", "train_start", "train_end"];
    fn write_copy(&self, out: &mut String) {
        CopyLine::new(out)
            .int(self.model_id)
            .text(self.model_kind.as_str())
            .ts(self.train_start)
            .ts(self.train_end)
            .end();
    }
}

impl CopyRow for FeatureSnapshot {
    const TABLE: &'static str = "feature_snapshot";
    const COLUMNS: &'static [&'static str] = &[
        "instrument_id",
        "hour_ts",
        "close_price",
        "features",
        "feature_hash",
    ];
    fn write_copy(&self, out: &mut String) {
        CopyLine::new(out)
            .int(self.instrument_id)
            .ts(self.hour_ts)
            .num8(self.close_price)
            .text(&self.features)
            .text(&self.feature_hash)
            .end();
    }
}

impl CopyRow for PositionHourlyState {
    const TABLE: &'static str = "position_hourly_state";
    const COLUMNS: &'static [&'static str] = &[
        "account_id",
        "instrument_id",
        "hour_ts",
        "quantity",
        "mark_price",
        "market_value",
        "state_hash",
    ];
    fn write_copy(&self, out: &mut String) {
        CopyLine::new(out)
            .int(self.account_id)
            .int(self.instrument_id)
            .ts(self.hour_ts)
            .num8(self.quantity)
            .num8(self.mark_price)
            .num8(self.market_value)
            .text(&self.state_hash)
            .end();
    }
}

impl CopyRow for PortfolioHourlyState {
    const TABLE: &'static str = "portfolio_hourly_state";
    const COLUMNS: &'static [&'static str] = &[
        "account_id",
        "hour_ts",
        "cash",
        "market_value",
        "equity",
        "peak_equity",
        "state_hash",
    ];
    fn write_copy(&self, out: &mut String) {
        CopyLine::new(out)
            .int(self.account_id)
            .ts(self.hour_ts)
            .num8(self.cash)
            .num8(self.market_value)
            .num8(self.equity)
            .num8(self.peak_equity)
            .text(&self.state_hash)
            .end();
    }
}

impl CopyRow for RiskHourlyState {
    const TABLE: &'static str = "risk_hourly_state";
    const COLUMNS: &'static [&'static str] = &[
        "account_id",
        "hour_ts",
        "gross_exposure",
        "drawdown",
        "trading_state",
        "state_hash",
        "parent_portfolio_hash",
    ];
    fn write_copy(&self, out: &mut String) {
        CopyLine::new(out)
            .int(self.account_id)
            .ts(self.hour_ts)
            .num8(self.gross_exposure)
            .num8(self.drawdown)
            .text(self.trading_state.as_str())
            .text(&self.state_hash)
            .text(&self.parent_portfolio_hash)
            .end();
    }
}

impl CopyRow for RegimeOutput {
    const TABLE: &'static str = "regime_output";
    const COLUMNS: &'static [&'static str] =
        &["regime_output_id", "model_id", "hour_ts", "regime", "score"];
    fn write_copy(&self, out: &mut String) {
        CopyLine::new(out)
            .int(self.regime_output_id)
            .int(self.model_id)
            .ts(self.hour_ts)
            .text(&self.regime)
            .num8(self.score)
            .end();
    }
}

impl CopyRow for ModelPrediction {
    const TABLE: &'static str = "model_prediction";
    const COLUMNS: &'static [&'static str] = &[
        "prediction_id",
        "model_id",
        "instrument_id",
        "hour_ts",
        "feature_hour_ts",
        "feature_hash",
        "score",
    ];
    fn write_copy(&self, out: &mut String) {
        CopyLine::new(out)
            .int(self.prediction_id)
            .int(self.model_id)
            .int(self.instrument_id)
            .ts(self.hour_ts)
            .ts(self.feature_hour_ts)
            .text(&self.feature_hash)
            .num8(self.score)
            .end();
    }
}

impl CopyRow for MetaLearnerComponent {
    const TABLE: &'static str = "meta_learner_component";
    const COLUMNS: &'static [&'static str] =
        &["meta_prediction_id", "base_prediction_id", "weight"];
    fn write_copy(&self, out: &mut String) {
        CopyLine::new(out)
            .int(self.meta_prediction_id)
            .int(self.base_prediction_id)
            .num8(self.weight)
            .end();
    }
}

impl CopyRow for TradeSignal {
    const TABLE: &'static str = "trade_signal";
    const COLUMNS: &'static [&'static str] = &[
        "signal_id",
        "account_id",
        "instrument_id",
        "hour_ts",
        "prediction_id",
        "regime_output_id",
        "target_weight",
    ];
    fn write_copy(&self, out: &mut String) {
        CopyLine::new(out)
            .int(self.signal_id)
            .int(self.account_id)
            .int(self.instrument_id)
            .ts(self.hour_ts)
            .int(self.prediction_id)
            .int(self.regime_output_id)
            .num8(self.target_weight)
            .end();
    }
}

impl CopyRow for OrderRequest {
    const TABLE: &'static str = "order_request";
    const COLUMNS: &'static [&'static str] = &[
        "order_id",
        "account_id",
        "signal_id",
        "instrument_id",
        "side",
        "quantity",
        "reference_price",
        "requested_ts",
        "risk_hour_ts",
        "filled_quantity",
    ];
    fn write_copy(&self, out: &mut String) {
        CopyLine::new(out)
            .int(self.order_id)
            .int(self.account_id)
            .int(self.signal_id)
            .int(self.instrument_id)
            .text(self.side.as_str())
            .num8(self.quantity)
            .num8(self.reference_price)
            .ts(self.requested_ts)
            .ts(self.risk_hour_ts)
            .num8(self.filled_quantity)
            .end();
    }
}

impl CopyRow for OrderFill {
    const TABLE: &'static str = "order_fill";
    const COLUMNS: &'static [&'static str] = &[
        "fill_id",
        "account_id",
        "order_id",
        "instrument_id",
        "side",
        "fill_ts",
        "fill_qty",
        "reference_price",
        "fill_price",
        "fee",
        "slippage_cost",
    ];
    fn write_copy(&self, out: &mut String) {
        CopyLine::new(out)
            .int(self.fill_id)
            .int(self.account_id)
            .int(self.order_id)
            .int(self.instrument_id)
            .text(self.side.as_str())
            .ts(self.fill_ts)
            .num8(self.fill_qty)
            .num8(self.reference_price)
            .num8(self.fill_price)
            .num8(self.fee)
            .num8(self.slippage_cost)
            .end();
    }
}

impl CopyRow for PositionLot {
    const TABLE: &'static str = "position_lot";
    const COLUMNS: &'static [&'static str] = &[
        "lot_id",
        "account_id",
        "instrument_id",
        "opening_fill_id",
        "opened_ts",
        "original_qty",
        "remaining_qty",
        "cost_basis",
    ];
    fn write_copy(&self, out: &mut String) {
        CopyLine::new(out)
            .int(self.lot_id)
            .int(self.account_id)
            .int(self.instrument_id)
            .int(self.opening_fill_id)
            .ts(self.opened_ts)
            .num8(self.original_qty)
            .num8(self.remaining_qty)
            .num8(self.cost_basis)
            .end();
    }
}

impl CopyRow for ExecutedTrade {
    const TABLE: &'static str = "executed_trade";
    const COLUMNS: &'static [&'static str] = &[
        "executed_trade_id",
        "account_id",
        "instrument_id",
        "lot_id",
        "sell_fill_id",
        "executed_ts",
        "quantity",
        "proceeds",
        "cost_basis",
        "realized_pnl",
    ];
    fn write_copy(&self, out: &mut String) {
        CopyLine::new(out)
            .int(self.executed_trade_id)
            .int(self.account_id)
            .int(self.instrument_id)
            .int(self.lot_id)
            .int(self.sell_fill_id)
            .ts(self.executed_ts)
            .num8(self.quantity)
            .num8(self.proceeds)
            .num8(self.cost_basis)
            .num8(self.realized_pnl)
            .end();
    }
}

impl CopyRow for CashLedger {
    const TABLE: &'static str = "cash_ledger";
    const COLUMNS: &'static [&'static str] = &[
        "account_id",
        "ledger_seq",
        "entry_ts",
        "entry_type",
        "amount",
        "balance_after",
        "fill_id",
    ];
    fn write_copy(&self, out: &mut String) {
        CopyLine::new(out)
            .int(self.account_id)
            .int(self.ledger_seq)
            .ts(self.entry_ts)
            .text(self.entry_type.as_str())
            .num8(self.amount)
            .num8(self.balance_after)
            .opt_int(self.fill_id)
            .end();
    }
}

impl CopyRow for RiskEvent {
    const TABLE: &'static str = "risk_event";
    const COLUMNS: &'static [&'static str] = &[
        "risk_event_id",
        "account_id",
        "hour_ts",
        "event_type",
        "from_state",
        "to_state",
        "drawdown",
    ];
    fn write_copy(&self, out: &mut String) {
        CopyLine::new(out)
            .int(self.risk_event_id)
            .int(self.account_id)
            .ts(self.hour_ts)
            .text(&self.event_type)
            .text(self.from_state.as_str())
            .text(self.to_state.as_str())
            .num8(self.drawdown)
            .end();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_text_and_renders_null() {
        let mut out = String::new();
        CopyLine::new(&mut out)
            .int(1)
            .text("a\tb\\c\nd")
            .opt_int(None)
            .num8(Decimal::new(15, 1))
            .end();
        assert_eq!(out, "1\ta\\tb\\\\c\\nd\t\\N\t1.50000000\n");
    }

    #[test]
    fn column_lists_match_struct_order() {
        assert_eq!(CashLedger::COLUMNS.len(), 7);
        assert_eq!(OrderFill::COLUMNS[5], "fill_ts");
        assert_eq!(
            <Vec<RiskEvent> as CopyTable>::copy_statement(&Vec::new()),
            "COPY risk_event (risk_event_id, account_id, hour_ts, event_type, from_state, to_state, drawdown) FROM STDIN"
        );
    }
}
