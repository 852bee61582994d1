//! The world's rows: one struct per Phase 1A table of
//! `contract/sql/phase_1a/001_baseline.sql`, fields named and ordered as its columns.
//!
//! Numerics are `rust_decimal::Decimal` kept at their column scale (8 for `numeric(20,8)`, 4
//! for `numeric(10,4)`), timestamps `DateTime<Utc>`. Text columns with a closed vocabulary are
//! enums whose `as_str` is the stored text.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// Order/fill side (`'BUY'` / `'SELL'`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Side {
    /// `'BUY'`, sign +1.
    Buy,
    /// `'SELL'`, sign -1.
    Sell,
}

impl Side {
    /// The stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Buy => "BUY",
            Side::Sell => "SELL",
        }
    }

    /// `s`: +1 for BUY, -1 for SELL.
    pub fn sign(self) -> Decimal {
        match self {
            Side::Buy => Decimal::ONE,
            Side::Sell => Decimal::NEGATIVE_ONE,
        }
    }
}

/// `model_registry.model_kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ModelKind {
    /// `'BASE'`: predicts a score from a feature snapshot.
    Base,
    /// `'META'`: combines BASE predictions with weights summing to 1.
    Meta,
    /// `'REGIME'`: one market-wide regime output per hour.
    Regime,
}

impl ModelKind {
    /// The stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            ModelKind::Base => "BASE",
            ModelKind::Meta => "META",
            ModelKind::Regime => "REGIME",
        }
    }
}

/// `risk_hourly_state.trading_state` (and the states of a `risk_event`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum TradingState {
    /// drawdown < 0.10: buys allowed.
    Normal,
    /// 0.10 <= drawdown < 0.20: sells only.
    ReduceOnly,
    /// drawdown >= 0.20: sells only.
    Halted,
}

impl TradingState {
    /// The stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            TradingState::Normal => "NORMAL",
            TradingState::ReduceOnly => "REDUCE_ONLY",
            TradingState::Halted => "HALTED",
        }
    }
}

/// `cash_ledger.entry_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EntryType {
    /// A deposit (amount > 0).
    Deposit,
    /// A withdrawal (amount < 0).
    Withdrawal,
    /// The notional of a fill (`-s * notional`).
    Trade,
    /// The fee of a fill (`-fee`).
    Fee,
}

impl EntryType {
    /// The stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            EntryType::Deposit => "DEPOSIT",
            EntryType::Withdrawal => "WITHDRAWAL",
            EntryType::Trade => "TRADE",
            EntryType::Fee => "FEE",
        }
    }
}

/// `account`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// `account_id`
    pub account_id: i64,
    /// `account_name`
    pub account_name: String,
}

/// `fee_schedule`: the schedule in effect at t is the latest `effective_from <= t`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeeSchedule {
    /// `account_id`
    pub account_id: i64,
    /// `effective_from`
    pub effective_from: DateTime<Utc>,
    /// `fee_bps` (scale 4)
    pub fee_bps: Decimal,
    /// `min_fee` (scale 8)
    pub min_fee: Decimal,
}

/// `instrument`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instrument {
    /// `instrument_id`
    pub instrument_id: i64,
    /// `symbol`
    pub symbol: String,
    /// `slippage_bps` (scale 4)
    pub slippage_bps: Decimal,
}

/// `cluster`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cluster {
    /// `cluster_id`
    pub cluster_id: i64,
    /// `cluster_name`
    pub cluster_name: String,
    /// `cap_fraction` (scale 8, in (0, 1])
    pub cap_fraction: Decimal,
}

/// `instrument_cluster`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstrumentCluster {
    /// `instrument_id`
    pub instrument_id: i64,
    /// `cluster_id`
    pub cluster_id: i64,
}

/// `model_registry`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelRegistry {
    /// `model_id`
    pub model_id: i64,
    /// `model_kind`
    pub model_kind: ModelKind,
    /// `train_start`
    pub train_start: DateTime<Utc>,
    /// `train_end`
    pub train_end: DateTime<Utc>,
}

/// `feature_snapshot` (hypertable).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeatureSnapshot {
    /// `instrument_id`
    pub instrument_id: i64,
    /// `hour_ts`
    pub hour_ts: DateTime<Utc>,
    /// `close_price` (scale 8)
    pub close_price: Decimal,
    /// `features`: the exact jsonb text form, e.g. `{"f1": 0.12345678}`.
    pub features: String,
    /// `feature_hash`
    pub feature_hash: String,
}

/// `position_hourly_state` (hypertable).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PositionHourlyState {
    /// `account_id`
    pub account_id: i64,
    /// `instrument_id`
    pub instrument_id: i64,
    /// `hour_ts`
    pub hour_ts: DateTime<Utc>,
    /// `quantity`
    pub quantity: Decimal,
    /// `mark_price`
    pub mark_price: Decimal,
    /// `market_value`
    pub market_value: Decimal,
    /// `state_hash`
    pub state_hash: String,
}

/// `portfolio_hourly_state` (hypertable).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortfolioHourlyState {
    /// `account_id`
    pub account_id: i64,
    /// `hour_ts`
    pub hour_ts: DateTime<Utc>,
    /// `cash`
    pub cash: Decimal,
    /// `market_value`
    pub market_value: Decimal,
    /// `equity`
    pub equity: Decimal,
    /// `peak_equity`
    pub peak_equity: Decimal,
    /// `state_hash`
    pub state_hash: String,
}

/// `risk_hourly_state` (hypertable).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RiskHourlyState {
    /// `account_id`
    pub account_id: i64,
    /// `hour_ts`
    pub hour_ts: DateTime<Utc>,
    /// `gross_exposure`
    pub gross_exposure: Decimal,
    /// `drawdown`
    pub drawdown: Decimal,
    /// `trading_state`
    pub trading_state: TradingState,
    /// `state_hash`
    pub state_hash: String,
    /// `parent_portfolio_hash`
    pub parent_portfolio_hash: String,
}

/// `regime_output`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegimeOutput {
    /// `regime_output_id`
    pub regime_output_id: i64,
    /// `model_id`
    pub model_id: i64,
    /// `hour_ts`
    pub hour_ts: DateTime<Utc>,
    /// `regime`
    pub regime: String,
    /// `score`
    pub score: Decimal,
}

/// `model_prediction` (BASE or META).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelPrediction {
    /// `prediction_id`
    pub prediction_id: i64,
    /// `model_id`
    pub model_id: i64,
    /// `instrument_id`
    pub instrument_id: i64,
    /// `hour_ts`
    pub hour_ts: DateTime<Utc>,
    /// `feature_hour_ts`
    pub feature_hour_ts: DateTime<Utc>,
    /// `feature_hash`
    pub feature_hash: String,
    /// `score`
    pub score: Decimal,
}

/// `meta_learner_component`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaLearnerComponent {
    /// `meta_prediction_id`
    pub meta_prediction_id: i64,
    /// `base_prediction_id`
    pub base_prediction_id: i64,
    /// `weight`
    pub weight: Decimal,
}

/// `trade_signal`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TradeSignal {
    /// `signal_id`
    pub signal_id: i64,
    /// `account_id`
    pub account_id: i64,
    /// `instrument_id`
    pub instrument_id: i64,
    /// `hour_ts`
    pub hour_ts: DateTime<Utc>,
    /// `prediction_id`
    pub prediction_id: i64,
    /// `regime_output_id`
    pub regime_output_id: i64,
    /// `target_weight` (>= 0)
    pub target_weight: Decimal,
}

/// `order_request` (every row is an accepted order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderRequest {
    /// `order_id`
    pub order_id: i64,
    /// `account_id`
    pub account_id: i64,
    /// `signal_id`
    pub signal_id: i64,
    /// `instrument_id`
    pub instrument_id: i64,
    /// `side`
    pub side: Side,
    /// `quantity`
    pub quantity: Decimal,
    /// `reference_price`
    pub reference_price: Decimal,
    /// `requested_ts`
    pub requested_ts: DateTime<Utc>,
    /// `risk_hour_ts` = `date_trunc('hour', requested_ts) - 1h`
    pub risk_hour_ts: DateTime<Utc>,
    /// `filled_quantity`
    pub filled_quantity: Decimal,
}

/// `order_fill`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderFill {
    /// `fill_id`
    pub fill_id: i64,
    /// `account_id`
    pub account_id: i64,
    /// `order_id`
    pub order_id: i64,
    /// `instrument_id`
    pub instrument_id: i64,
    /// `side`
    pub side: Side,
    /// `fill_ts`
    pub fill_ts: DateTime<Utc>,
    /// `fill_qty`
    pub fill_qty: Decimal,
    /// `reference_price`
    pub reference_price: Decimal,
    /// `fill_price`
    pub fill_price: Decimal,
    /// `fee`
    pub fee: Decimal,
    /// `slippage_cost`
    pub slippage_cost: Decimal,
}

/// `position_lot`, opened by one BUY fill.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PositionLot {
    /// `lot_id`
    pub lot_id: i64,
    /// `account_id`
    pub account_id: i64,
    /// `instrument_id`
    pub instrument_id: i64,
    /// `opening_fill_id`
    pub opening_fill_id: i64,
    /// `opened_ts`
    pub opened_ts: DateTime<Utc>,
    /// `original_qty`
    pub original_qty: Decimal,
    /// `remaining_qty` (final value after every SELL of the world)
    pub remaining_qty: Decimal,
    /// `cost_basis` = notional + fee of the opening fill
    pub cost_basis: Decimal,
}

/// `executed_trade`: one per lot touched by a SELL fill.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutedTrade {
    /// `executed_trade_id`
    pub executed_trade_id: i64,
    /// `account_id`
    pub account_id: i64,
    /// `instrument_id`
    pub instrument_id: i64,
    /// `lot_id`
    pub lot_id: i64,
    /// `sell_fill_id`
    pub sell_fill_id: i64,
    /// `executed_ts` (= the sell fill's `fill_ts`)
    pub executed_ts: DateTime<Utc>,
    /// `quantity`
    pub quantity: Decimal,
    /// `proceeds`
    pub proceeds: Decimal,
    /// `cost_basis`
    pub cost_basis: Decimal,
    /// `realized_pnl`
    pub realized_pnl: Decimal,
}

/// `cash_ledger`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CashLedger {
    /// `account_id`
    pub account_id: i64,
    /// `ledger_seq` (1, 2, 3, ... per account)
    pub ledger_seq: i64,
    /// `entry_ts`
    pub entry_ts: DateTime<Utc>,
    /// `entry_type`
    pub entry_type: EntryType,
    /// `amount`
    pub amount: Decimal,
    /// `balance_after`
    pub balance_after: Decimal,
    /// `fill_id` (NULL for deposits and withdrawals)
    pub fill_id: Option<i64>,
}

/// `risk_event`: a change of trading state between consecutive hours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RiskEvent {
    /// `risk_event_id`
    pub risk_event_id: i64,
    /// `account_id`
    pub account_id: i64,
    /// `hour_ts`
    pub hour_ts: DateTime<Utc>,
    /// `event_type` (always `TRADING_STATE_CHANGE`)
    pub event_type: String,
    /// `from_state`
    pub from_state: TradingState,
    /// `to_state`
    pub to_state: TradingState,
    /// `drawdown` (that hour's)
    pub drawdown: Decimal,
}

/// Every row of a Phase 1A world, one field per table (named as the table).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct World {
    /// `account`
    pub account: Vec<Account>,
    /// `fee_schedule`
    pub fee_schedule: Vec<FeeSchedule>,
    /// `instrument`
    pub instrument: Vec<Instrument>,
    /// `cluster`
    pub cluster: Vec<Cluster>,
    /// `instrument_cluster`
    pub instrument_cluster: Vec<InstrumentCluster>,
    /// `model_registry`
    pub model_registry: Vec<ModelRegistry>,
    /// `feature_snapshot`
    pub feature_snapshot: Vec<FeatureSnapshot>,
    /// `position_hourly_state`
    pub position_hourly_state: Vec<PositionHourlyState>,
    /// `portfolio_hourly_state`
    pub portfolio_hourly_state: Vec<PortfolioHourlyState>,
    /// `risk_hourly_state`
    pub risk_hourly_state: Vec<RiskHourlyState>,
    /// `regime_output`
    pub regime_output: Vec<RegimeOutput>,
    /// `model_prediction`
    pub model_prediction: Vec<ModelPrediction>,
    /// `meta_learner_component`
    pub meta_learner_component: Vec<MetaLearnerComponent>,
    /// `trade_signal`
    pub trade_signal: Vec<TradeSignal>,
    /// `order_request`
    pub order_request: Vec<OrderRequest>,
    /// `order_fill`
    pub order_fill: Vec<OrderFill>,
    /// `position_lot`
    pub position_lot: Vec<PositionLot>,
    /// `executed_trade`
    pub executed_trade: Vec<ExecutedTrade>,
    /// `cash_ledger`
    pub cash_ledger: Vec<CashLedger>,
    /// `risk_event`
    pub risk_event: Vec<RiskEvent>,
}

impl World {
    /// The world's hours (those with feature snapshots), in order, each once.
    pub fn feature_hours(&self) -> Vec<DateTime<Utc>> {
        let mut hours: Vec<DateTime<Utc>> =
            self.feature_snapshot.iter().map(|f| f.hour_ts).collect();
        hours.sort();
        hours.dedup();
        hours
    }
}
