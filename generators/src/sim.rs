//! The deterministic simulator: the reference model of docs/CONTRACT.md section 2 plus the
//! project's own choices where the contract is silent (marked "Project choice" there). It turns
//! a `Shape` and a `Script` into every row of the Phase 1A tables.
//!
//! Time. Hour index `h` is `[start + h, start + h + 1h)`. The k-th action of an hour (counting
//! from one) happens at `hour_ts + k s`; fill j (from 0) of an order at `requested_ts + j ms`, so
//! every fill lies inside its order's hour. At most [`MAX_ACTIONS_PER_HOUR`] actions fit in
//! an hour; later ones are dropped. `AdvanceHour` closes the hour: its feature snapshots,
//! regime outputs, predictions, then every account's hourly states (the state at the END of
//! the hour, so it includes every event of the hour).
//!
//! What an order sees. An order during hour h is bound to its account's risk state of hour
//! h-1 (`risk_hour_ts`), uses the close of h-1 as `reference_price`, and a signal of hour h-1
//! made from the META prediction and the regime output of h-1. In hour 0 there is no h-1
//! state, so orders of hour 0 are dropped.
//!
//! Rules enforced by dropping or clipping (never by writing an invalid row):
//! - BUY: dropped unless the bound state is NORMAL, the cluster cap holds
//!   (`exposure(h-1) + round(qty * ref, 8) <= round(cap_fraction * equity(h-1), 8)`, the
//!   exact per-order form of the `cluster_cap` check) and cash covers every fill's notional
//!   plus fee.
//! - SELL: clipped to the quantity held; dropped when nothing is held or when a fee would
//!   drive cash below zero.
//! - WITHDRAW: clipped to cash; dropped when cash is zero.
//! - Any order when no fee schedule is in effect at one of its fills: dropped.
//!
//! Hourly states are written for every account x instrument x hour (quantity 0 included), so
//! the replay check can compare complete grids and `cluster_exposure_hourly_state` can sum
//! positions without guessing which rows are missing.

use crate::hash::{
    at_scale, feature_hash, portfolio_state_hash, position_state_hash, risk_state_hash, MONEY_SCALE,
};
use crate::market::{features_text, price_path, stream, unit_score, FEATURE_STREAM, SCORE_STREAM};
use crate::model::*;
use crate::shape::{Action, FeeSpec, Script, Shape};
use chrono::{DateTime, Duration, Timelike, Utc};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rust_decimal::Decimal;
use serde::Serialize;
use std::collections::{HashMap, HashSet, VecDeque};

/// Actions that fit in one hour (one per second, the last second left for fills).
pub const MAX_ACTIONS_PER_HOUR: u32 = 3_599;
/// Partial fills per order are capped here (one per millisecond after the request).
pub const MAX_FILLS_PER_ORDER: u32 = 100;

/// drawdown at or above this: REDUCE_ONLY.
pub const REDUCE_ONLY_DRAWDOWN: Decimal = Decimal::from_parts(10, 0, 0, false, 2);
/// drawdown at or above this: HALTED.
pub const HALTED_DRAWDOWN: Decimal = Decimal::from_parts(20, 0, 0, false, 2);

/// Why the simulator could not run a script.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The shape itself is unusable.
    #[error("invalid shape: {0}")]
    InvalidShape(String),
    /// An action names an account, instrument or model the shape does not have.
    #[error("action {index} {action}: {reason}")]
    InvalidAction {
        /// Position in the script.
        index: usize,
        /// The action, debug-printed.
        action: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The simulator's own bookkeeping disagreed with itself (a bug, never bad input).
    #[error("internal simulator error at {at}: {reason}")]
    Internal {
        /// Where (timestamp) it happened.
        at: DateTime<Utc>,
        /// What disagreed.
        reason: String,
    },
}

/// What the simulator did with the script: accepted rows and every drop or clip by reason.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SimReport {
    /// Orders written (accepted).
    pub orders: u64,
    /// Fills written.
    pub fills: u64,
    /// Deposits written.
    pub deposits: u64,
    /// Withdrawals written.
    pub withdrawals: u64,
    /// Retrains registered.
    pub retrains: u64,
    /// Orders in hour 0 (no bound risk state).
    pub dropped_no_bound_state: u64,
    /// Orders without a META prediction or regime output at h-1.
    pub dropped_no_signal: u64,
    /// BUYs while the bound state is REDUCE_ONLY or HALTED.
    pub dropped_not_normal: u64,
    /// BUYs over the cluster cap.
    pub dropped_over_cap: u64,
    /// Orders whose fills cash cannot pay.
    pub dropped_cash: u64,
    /// Orders with a fill when no fee schedule is in effect.
    pub dropped_no_fee_schedule: u64,
    /// SELLs of an instrument not held.
    pub dropped_nothing_held: u64,
    /// Orders, deposits or withdrawals of zero or negative size.
    pub dropped_non_positive: u64,
    /// Withdrawals with zero cash.
    pub dropped_no_cash: u64,
    /// Actions beyond [`MAX_ACTIONS_PER_HOUR`] in one hour.
    pub dropped_hour_full: u64,
    /// Actions after the last hour.
    pub dropped_after_last_hour: u64,
    /// SELLs clipped to the quantity held.
    pub clipped_sells: u64,
    /// Withdrawals clipped to cash.
    pub clipped_withdrawals: u64,
    /// Accepted BUYs whose projected cluster exposure equals the cap exactly.
    pub cap_exact_hits: u64,
    /// Accepted SELLs of exactly the quantity held (clipped or not): the position goes to 0.
    pub exact_holding_sells: u64,
    /// Fills whose fee is the schedule's `min_fee` (a positive minimum above the bps fee).
    pub min_fee_fills: u64,
    /// Fills at the very instant a (non-first) fee schedule takes effect.
    pub fee_change_fills: u64,
}

/// A simulated world and the report of how the script was applied.
#[derive(Debug, Clone)]
pub struct Simulation {
    /// Every row of every Phase 1A table.
    pub world: World,
    /// Accepted/dropped/clipped counts.
    pub report: SimReport,
}

/// Runs `script` on `shape` with market data from `seed`.
pub fn simulate(seed: u64, shape: &Shape, script: &Script) -> Result<Simulation, SimError> {
    let mut sim = Simulator::new(seed, shape)?;
    for action in &script.actions {
        sim.step(action)?;
    }
    Ok(sim.finish())
}

/// The simulator driven one action at a time, with read access to the state a script
/// generator needs to write intents that mostly succeed. `simulate` is `new`, `step` for
/// every action, `finish`; a generator that records the actions it steps gets a script that
/// `simulate` replays to the same rows.
pub struct Simulator<'a> {
    sim: Sim<'a>,
    seed: u64,
    hour: u32,
    slot: u32,
    index: usize,
}

impl<'a> Simulator<'a> {
    /// Validates `shape` and starts at hour 0 with market data from `seed`.
    pub fn new(seed: u64, shape: &'a Shape) -> Result<Self, SimError> {
        validate_shape(shape)?;
        Ok(Self {
            sim: Sim::new(seed, shape),
            seed,
            hour: 0,
            slot: 0,
            index: 0,
        })
    }

    /// Applies one action (the next of the script).
    pub fn step(&mut self, action: &Action) -> Result<(), SimError> {
        let shape = self.sim.shape;
        let index = self.index;
        self.index += 1;
        validate_action(shape, index, action)?;
        if self.hour >= shape.hours {
            self.sim.report.dropped_after_last_hour += 1;
            return Ok(());
        }
        if matches!(action, Action::AdvanceHour) {
            self.sim.close_hour(self.hour);
            self.hour += 1;
            self.slot = 0;
            return Ok(());
        }
        self.slot += 1;
        if self.slot > MAX_ACTIONS_PER_HOUR {
            self.sim.report.dropped_hour_full += 1;
            return Ok(());
        }
        let ts = self.sim.hour_ts(self.hour) + Duration::seconds(i64::from(self.slot));
        self.sim.apply(self.hour, ts, action)
    }

    /// The current hour index (`shape.hours` once every hour is closed).
    pub fn hour(&self) -> u32 {
        self.hour
    }

    /// Actions applied so far in the current hour.
    pub fn slot(&self) -> u32 {
        self.slot
    }

    /// The counts so far.
    pub fn report(&self) -> &SimReport {
        &self.sim.report
    }

    /// Cash of account index `account` right now.
    pub fn cash(&self, account: usize) -> Decimal {
        self.sim
            .books
            .get(account)
            .map_or(Decimal::ZERO, |b| b.cash)
    }

    /// Quantity of instrument index `instrument` held by account index `account` right now.
    pub fn held(&self, account: usize, instrument: usize) -> Decimal {
        self.sim
            .books
            .get(account)
            .and_then(|b| b.held.get(instrument).copied())
            .unwrap_or(Decimal::ZERO)
    }

    /// The risk state orders of the current hour bind to (None in hour 0).
    pub fn bound_state(&self, account: usize) -> Option<TradingState> {
        self.sim
            .books
            .get(account)
            .and_then(|b| b.bound.as_ref().map(|s| s.state))
    }

    /// Equity of the bound (previous) hour.
    pub fn bound_equity(&self, account: usize) -> Option<Decimal> {
        self.sim
            .books
            .get(account)
            .and_then(|b| b.bound.as_ref().map(|s| s.equity))
    }

    /// Room left under the cluster cap of `instrument`'s cluster at the bound hour
    /// (`round(cap_fraction * equity, 8) - exposure`), what a BUY of this hour may add.
    pub fn bound_cluster_room(&self, account: usize, instrument: usize) -> Option<Decimal> {
        let cluster = self.sim.shape.instruments.get(instrument)?.cluster;
        let bound = self.sim.books.get(account)?.bound.as_ref()?;
        let cap = at_scale(
            self.sim.world.cluster.get(cluster)?.cap_fraction * bound.equity,
            MONEY_SCALE,
        );
        Some(cap - bound.cluster_exposure.get(cluster).copied()?)
    }

    /// The reference price orders of the current hour get (close of the previous hour).
    pub fn reference_price(&self, instrument: usize) -> Option<Decimal> {
        let h = self.hour.checked_sub(1)? as usize;
        self.sim.prices.get(h)?.get(instrument).copied()
    }

    /// Moves out the rows no later action can change, so that a caller streaming a large
    /// world holds only what is still open: every table's rows except `cluster` (read back by
    /// index) and the lots from the first one still open on (their `remaining_qty` changes
    /// with each SELL). `finish` then returns what is left.
    pub fn take_final_rows(&mut self) -> World {
        let w = &mut self.sim.world;
        let closed = w
            .position_lot
            .iter()
            .take_while(|l| l.remaining_qty.is_zero())
            .count();
        self.sim.lot_base += closed;
        use std::mem::take;
        World {
            account: take(&mut w.account),
            fee_schedule: take(&mut w.fee_schedule),
            instrument: take(&mut w.instrument),
            cluster: Vec::new(),
            instrument_cluster: take(&mut w.instrument_cluster),
            model_registry: take(&mut w.model_registry),
            feature_snapshot: take(&mut w.feature_snapshot),
            position_hourly_state: take(&mut w.position_hourly_state),
            portfolio_hourly_state: take(&mut w.portfolio_hourly_state),
            risk_hourly_state: take(&mut w.risk_hourly_state),
            regime_output: take(&mut w.regime_output),
            model_prediction: take(&mut w.model_prediction),
            meta_learner_component: take(&mut w.meta_learner_component),
            trade_signal: take(&mut w.trade_signal),
            order_request: take(&mut w.order_request),
            order_fill: take(&mut w.order_fill),
            position_lot: w.position_lot.drain(..closed).collect(),
            executed_trade: take(&mut w.executed_trade),
            cash_ledger: take(&mut w.cash_ledger),
            risk_event: take(&mut w.risk_event),
        }
    }

    /// Rows the simulator holds now (what `take_final_rows` has not moved out).
    pub fn rows_held(&self) -> u64 {
        self.sim.world.total_rows()
    }

    /// Closes every remaining hour and returns the world.
    pub fn finish(mut self) -> Simulation {
        let shape = self.sim.shape;
        while self.hour < shape.hours {
            self.sim.close_hour(self.hour);
            self.hour += 1;
        }
        let sim = self.sim;
        tracing::debug!(
            seed = self.seed,
            rows = sim.world.total_rows(),
            report = ?sim.report,
            "simulated world"
        );
        Simulation {
            world: sim.world,
            report: sim.report,
        }
    }
}

fn invalid(reason: impl Into<String>) -> SimError {
    SimError::InvalidShape(reason.into())
}

fn validate_shape(shape: &Shape) -> Result<(), SimError> {
    let s = shape.start_hour;
    if s.minute() != 0 || s.second() != 0 || s.nanosecond() != 0 {
        return Err(invalid(format!("start_hour {s} is not a whole hour")));
    }
    if shape.hours == 0 {
        return Err(invalid("hours must be >= 1"));
    }
    if shape.accounts.is_empty() || shape.instruments.is_empty() || shape.clusters.is_empty() {
        return Err(invalid(
            "needs at least one account, instrument and cluster",
        ));
    }
    if !(1..=9).contains(&shape.feature_count) {
        return Err(invalid("feature_count must be 1..=9"));
    }
    for (i, a) in shape.accounts.iter().enumerate() {
        if a.fee_schedules.is_empty() {
            return Err(invalid(format!("account {i} has no fee schedule")));
        }
        let mut seen = HashSet::new();
        for f in &a.fee_schedules {
            if !seen.insert(f.effective_from) {
                return Err(invalid(format!(
                    "account {i} has two schedules at one instant"
                )));
            }
            if f.fee_bps.is_sign_negative() || f.min_fee.is_sign_negative() {
                return Err(invalid(format!("account {i} has a negative fee")));
            }
        }
    }
    for (i, c) in shape.clusters.iter().enumerate() {
        if c.cap_fraction <= Decimal::ZERO || c.cap_fraction > Decimal::ONE {
            return Err(invalid(format!("cluster {i} cap_fraction not in (0, 1]")));
        }
    }
    let mut symbols = HashSet::new();
    for (i, inst) in shape.instruments.iter().enumerate() {
        if inst.cluster >= shape.clusters.len() {
            return Err(invalid(format!(
                "instrument {i} names cluster {}",
                inst.cluster
            )));
        }
        if !symbols.insert(inst.symbol.as_str()) {
            return Err(invalid(format!("duplicate symbol {}", inst.symbol)));
        }
        // Below 10000 bps a SELL's fill price stays positive.
        if inst.slippage_bps.is_sign_negative() || inst.slippage_bps >= Decimal::new(10_000, 0) {
            return Err(invalid(format!(
                "instrument {i} slippage_bps not in [0, 10000)"
            )));
        }
        if inst.initial_price <= Decimal::ZERO {
            return Err(invalid(format!("instrument {i} initial_price must be > 0")));
        }
    }
    for kind in [ModelKind::Base, ModelKind::Meta, ModelKind::Regime] {
        if !shape.models.iter().any(|m| m.kind == kind) {
            return Err(invalid(format!("needs a {} model", kind.as_str())));
        }
    }
    for (i, m) in shape.models.iter().enumerate() {
        if m.train_start_offset_hours > m.train_end_offset_hours {
            return Err(invalid(format!("model {i} trains after it ends")));
        }
    }
    for shock in &shape.shocks {
        if shock
            .instrument
            .is_some_and(|i| i >= shape.instruments.len())
        {
            return Err(invalid("a shock names an unknown instrument"));
        }
    }
    Ok(())
}

fn validate_action(shape: &Shape, index: usize, action: &Action) -> Result<(), SimError> {
    let bad = |reason: String| SimError::InvalidAction {
        index,
        action: format!("{action:?}"),
        reason,
    };
    let (account, instrument) = match action {
        Action::Deposit { account, .. } | Action::Withdraw { account, .. } => {
            (Some(*account), None)
        }
        Action::Buy {
            account,
            instrument,
            ..
        }
        | Action::BuyToCap {
            account,
            instrument,
            ..
        }
        | Action::Sell {
            account,
            instrument,
            ..
        } => (Some(*account), Some(*instrument)),
        Action::Retrain { model, .. } => {
            if *model >= shape.models.len() {
                return Err(bad(format!("unknown model index {model}")));
            }
            (None, None)
        }
        Action::AdvanceHour => (None, None),
    };
    if let Some(a) = account.filter(|a| *a >= shape.accounts.len()) {
        return Err(bad(format!("unknown account index {a}")));
    }
    if let Some(i) = instrument.filter(|i| *i >= shape.instruments.len()) {
        return Err(bad(format!("unknown instrument index {i}")));
    }
    Ok(())
}

/// The last closed hour's state of an account: what orders of the current hour bind to.
#[derive(Debug, Clone)]
struct Bound {
    equity: Decimal,
    state: TradingState,
    cluster_exposure: Vec<Decimal>,
}

#[derive(Debug)]
struct Book {
    account_id: i64,
    cash: Decimal,
    seq: i64,
    held: Vec<Decimal>,
    /// Open lots per instrument, FIFO order (= (opened_ts, lot_id) order, since lots are
    /// opened in time order with increasing ids); values index `world.position_lot`.
    lots: Vec<VecDeque<usize>>,
    peak: Option<Decimal>,
    last_state: TradingState,
    bound: Option<Bound>,
    fees: Vec<FeeSpec>,
}

impl Book {
    fn fee_at(&self, ts: DateTime<Utc>) -> Option<&FeeSpec> {
        // fees is sorted by effective_from: the last one not after ts is in effect.
        self.fees.iter().rev().find(|f| f.effective_from <= ts)
    }
}

#[derive(Debug)]
struct Version {
    model_id: i64,
    train_end: DateTime<Utc>,
}

#[derive(Debug)]
struct Lineage {
    kind: ModelKind,
    versions: Vec<Version>,
}

impl Lineage {
    /// The newest version that may predict for `hour_ts` (trained strictly before it).
    fn active(&self, hour_ts: DateTime<Utc>) -> Option<i64> {
        self.versions
            .iter()
            .rev()
            .find(|v| v.train_end < hour_ts)
            .map(|v| v.model_id)
    }
}

/// What an order is, before its fills: who, what, which way, when, at which reference.
#[derive(Debug, Clone, Copy)]
struct Leg {
    account: usize,
    instrument: usize,
    side: Side,
    hour: u32,
    ts: DateTime<Utc>,
    reference_price: Decimal,
}

/// One planned fill of an order, computed before anything is written.
#[derive(Debug)]
struct PlannedFill {
    ts: DateTime<Utc>,
    /// The fee is the schedule's positive `min_fee` (the bps fee was below it).
    at_min_fee: bool,
    /// `ts` is the instant a later fee schedule takes effect.
    at_fee_change: bool,
    qty: Decimal,
    price: Decimal,
    notional: Decimal,
    fee: Decimal,
    slippage_cost: Decimal,
}

#[derive(Debug, Default)]
struct Ids {
    regime: i64,
    prediction: i64,
    signal: i64,
    order: i64,
    fill: i64,
    lot: i64,
    trade: i64,
    risk_event: i64,
    model: i64,
}

fn next(id: &mut i64) -> i64 {
    *id += 1;
    *id
}

struct Sim<'a> {
    shape: &'a Shape,
    prices: Vec<Vec<Decimal>>,
    feature_rng: ChaCha8Rng,
    score_rng: ChaCha8Rng,
    world: World,
    /// Lots moved out by `Simulator::take_final_rows`: a lot index minus this indexes
    /// `world.position_lot`.
    lot_base: usize,
    report: SimReport,
    ids: Ids,
    books: Vec<Book>,
    lineages: Vec<Lineage>,
    /// Per instrument: the first META lineage's prediction (id, score) of the last closed hour.
    last_meta: Vec<Option<(i64, Decimal)>>,
    /// The first regime output of the last closed hour.
    last_regime: Option<i64>,
    /// Signals of the last closed hour already written, by (account, instrument).
    signals: HashMap<(usize, usize), i64>,
}

impl<'a> Sim<'a> {
    fn new(seed: u64, shape: &'a Shape) -> Self {
        let mut world = World::default();
        let mut ids = Ids::default();
        let n_inst = shape.instruments.len();
        let mut books = Vec::with_capacity(shape.accounts.len());
        for (i, a) in shape.accounts.iter().enumerate() {
            let account_id = i as i64 + 1;
            world.account.push(Account {
                account_id,
                account_name: a.name.clone(),
            });
            let mut fees = a.fee_schedules.clone();
            fees.sort_by_key(|f| f.effective_from);
            for f in &mut fees {
                f.fee_bps = at_scale(f.fee_bps, 4);
                f.min_fee = at_scale(f.min_fee, MONEY_SCALE);
                world.fee_schedule.push(FeeSchedule {
                    account_id,
                    effective_from: f.effective_from,
                    fee_bps: f.fee_bps,
                    min_fee: f.min_fee,
                });
            }
            books.push(Book {
                account_id,
                cash: at_scale(Decimal::ZERO, MONEY_SCALE),
                seq: 0,
                held: vec![at_scale(Decimal::ZERO, MONEY_SCALE); n_inst],
                lots: vec![VecDeque::new(); n_inst],
                peak: None,
                last_state: TradingState::Normal,
                bound: None,
                fees,
            });
        }
        for (i, inst) in shape.instruments.iter().enumerate() {
            world.instrument.push(Instrument {
                instrument_id: i as i64 + 1,
                symbol: inst.symbol.clone(),
                slippage_bps: at_scale(inst.slippage_bps, 4),
            });
        }
        for (i, c) in shape.clusters.iter().enumerate() {
            world.cluster.push(Cluster {
                cluster_id: i as i64 + 1,
                cluster_name: c.name.clone(),
                cap_fraction: at_scale(c.cap_fraction, MONEY_SCALE),
            });
        }
        for (i, inst) in shape.instruments.iter().enumerate() {
            world.instrument_cluster.push(InstrumentCluster {
                instrument_id: i as i64 + 1,
                cluster_id: inst.cluster as i64 + 1,
            });
        }
        let mut lineages = Vec::with_capacity(shape.models.len());
        for m in &shape.models {
            let model_id = next(&mut ids.model);
            let train_start = shape.start_hour + Duration::hours(m.train_start_offset_hours);
            let train_end = shape.start_hour + Duration::hours(m.train_end_offset_hours);
            world.model_registry.push(ModelRegistry {
                model_id,
                model_kind: m.kind,
                train_start,
                train_end,
            });
            lineages.push(Lineage {
                kind: m.kind,
                versions: vec![Version {
                    model_id,
                    train_end,
                }],
            });
        }
        Sim {
            shape,
            prices: price_path(seed, shape),
            feature_rng: stream(seed, FEATURE_STREAM),
            score_rng: stream(seed, SCORE_STREAM),
            world,
            lot_base: 0,
            report: SimReport::default(),
            ids,
            books,
            lineages,
            last_meta: vec![None; n_inst],
            last_regime: None,
            signals: HashMap::new(),
        }
    }

    fn hour_ts(&self, hour: u32) -> DateTime<Utc> {
        self.shape.start_hour + Duration::hours(i64::from(hour))
    }

    fn apply(&mut self, hour: u32, ts: DateTime<Utc>, action: &Action) -> Result<(), SimError> {
        match action {
            Action::Deposit { account, amount } => self.deposit(*account, ts, *amount),
            Action::Withdraw { account, amount } => self.withdraw(*account, ts, *amount),
            Action::Buy {
                account,
                instrument,
                qty,
                fills,
            } => return self.buy(hour, ts, *account, *instrument, Some(*qty), *fills),
            Action::BuyToCap {
                account,
                instrument,
                fills,
            } => return self.buy(hour, ts, *account, *instrument, None, *fills),
            Action::Sell {
                account,
                instrument,
                qty,
                fills,
            } => return self.sell(hour, ts, *account, *instrument, *qty, *fills),
            Action::Retrain {
                model,
                window_hours,
            } => self.retrain(hour, *model, *window_hours),
            Action::AdvanceHour => {}
        }
        Ok(())
    }

    fn ledger(
        &mut self,
        account: usize,
        ts: DateTime<Utc>,
        entry_type: EntryType,
        amount: Decimal,
        fill_id: Option<i64>,
    ) {
        let book = &mut self.books[account];
        let amount = at_scale(amount, MONEY_SCALE);
        book.seq += 1;
        book.cash = at_scale(book.cash + amount, MONEY_SCALE);
        self.world.cash_ledger.push(CashLedger {
            account_id: book.account_id,
            ledger_seq: book.seq,
            entry_ts: ts,
            entry_type,
            amount,
            balance_after: book.cash,
            fill_id,
        });
    }

    fn deposit(&mut self, account: usize, ts: DateTime<Utc>, amount: Decimal) {
        let amount = at_scale(amount, MONEY_SCALE);
        if amount <= Decimal::ZERO {
            self.report.dropped_non_positive += 1;
            return;
        }
        self.ledger(account, ts, EntryType::Deposit, amount, None);
        self.report.deposits += 1;
    }

    fn withdraw(&mut self, account: usize, ts: DateTime<Utc>, amount: Decimal) {
        let mut amount = at_scale(amount, MONEY_SCALE);
        if amount <= Decimal::ZERO {
            self.report.dropped_non_positive += 1;
            return;
        }
        let cash = self.books[account].cash;
        if cash <= Decimal::ZERO {
            self.report.dropped_no_cash += 1;
            return;
        }
        if amount > cash {
            amount = cash;
            self.report.clipped_withdrawals += 1;
        }
        self.ledger(account, ts, EntryType::Withdrawal, -amount, None);
        self.report.withdrawals += 1;
    }

    fn retrain(&mut self, hour: u32, model: usize, window_hours: u32) {
        let train_end = self.hour_ts(hour);
        let train_start = train_end - Duration::hours(i64::from(window_hours));
        let model_id = next(&mut self.ids.model);
        let kind = self.lineages[model].kind;
        self.world.model_registry.push(ModelRegistry {
            model_id,
            model_kind: kind,
            train_start,
            train_end,
        });
        // train_end is this hour, so the new version predicts from the next hour on.
        self.lineages[model].versions.push(Version {
            model_id,
            train_end,
        });
        self.report.retrains += 1;
    }

    /// Whether an order of the current hour on `instrument` can get a signal of hour h-1.
    fn signal_ready(&self, instrument: usize) -> bool {
        self.last_meta[instrument].is_some() && self.last_regime.is_some()
    }

    /// The signal of hour h-1 for (account, instrument), written on first use.
    fn signal(&mut self, hour: u32, account: usize, instrument: usize) -> Result<i64, SimError> {
        if let Some(id) = self.signals.get(&(account, instrument)) {
            return Ok(*id);
        }
        let signal_hour = self.hour_ts(hour - 1);
        let (Some((prediction_id, score)), Some(regime_output_id)) =
            (self.last_meta[instrument], self.last_regime)
        else {
            return Err(SimError::Internal {
                at: signal_hour,
                reason: "signal requested without prediction or regime".into(),
            });
        };
        let signal_id = next(&mut self.ids.signal);
        self.world.trade_signal.push(TradeSignal {
            signal_id,
            account_id: self.books[account].account_id,
            instrument_id: instrument as i64 + 1,
            hour_ts: signal_hour,
            prediction_id,
            regime_output_id,
            target_weight: at_scale(score.max(Decimal::ZERO), MONEY_SCALE),
        });
        self.signals.insert((account, instrument), signal_id);
        Ok(signal_id)
    }

    /// Splits `qty` into at most `fills` positive parts at scale 8; the last takes the rest.
    fn split(qty: Decimal, fills: u32) -> Vec<Decimal> {
        let units = at_scale(qty, MONEY_SCALE).mantissa();
        let n = i128::from(fills.clamp(1, MAX_FILLS_PER_ORDER))
            .min(units)
            .max(1);
        let base = units / n;
        let rest = units % n;
        (0..n)
            .map(|j| {
                let u = if j == n - 1 { base + rest } else { base };
                Decimal::from_i128_with_scale(u, MONEY_SCALE)
            })
            .collect()
    }

    /// Prices, fees and slippage of every fill of an order, or None when a fill has no fee
    /// schedule in effect.
    fn plan_fills(&self, leg: &Leg, qty: Decimal, fills: u32) -> Option<Vec<PlannedFill>> {
        let Leg {
            account,
            instrument,
            side,
            ts,
            reference_price,
            ..
        } = *leg;
        let s = side.sign();
        let slippage_bps = at_scale(self.shape.instruments[instrument].slippage_bps, 4);
        let tenk = Decimal::new(10_000, 0);
        let price = at_scale(
            reference_price * (Decimal::ONE + s * slippage_bps / tenk),
            MONEY_SCALE,
        );
        let book = &self.books[account];
        Self::split(qty, fills)
            .into_iter()
            .enumerate()
            .map(|(j, q)| {
                let fill_ts = ts + Duration::milliseconds(j as i64);
                let schedule = book.fee_at(fill_ts)?;
                let raw_fee = q * price * schedule.fee_bps / tenk;
                let first = book.fees.first().map(|f| f.effective_from);
                Some(PlannedFill {
                    ts: fill_ts,
                    at_min_fee: schedule.min_fee > Decimal::ZERO && raw_fee < schedule.min_fee,
                    at_fee_change: schedule.effective_from == fill_ts
                        && first != Some(schedule.effective_from),
                    qty: q,
                    price,
                    notional: at_scale(q * price, MONEY_SCALE),
                    fee: at_scale(raw_fee.max(schedule.min_fee), MONEY_SCALE),
                    slippage_cost: at_scale((price - reference_price) * s * q, MONEY_SCALE),
                })
            })
            .collect()
    }

    /// The largest quantity whose `round(qty * ref, 8)` fits in `room`. When ref <= 1 the
    /// rounded notional moves by at most 1e-8 per 1e-8 of quantity, so it lands on `room`
    /// exactly: the cap is hit to the last digit.
    fn max_qty_within(room: Decimal, reference_price: Decimal) -> Decimal {
        let unit = Decimal::new(1, MONEY_SCALE);
        let notional = |q: Decimal| at_scale(q * reference_price, MONEY_SCALE);
        let mut q = (room / reference_price).trunc_with_scale(MONEY_SCALE);
        while notional(q + unit) <= room {
            q += unit;
        }
        while q > Decimal::ZERO && notional(q) > room {
            q -= unit;
        }
        at_scale(q, MONEY_SCALE)
    }

    fn write_order(&mut self, leg: &Leg, qty: Decimal) -> Result<i64, SimError> {
        let Leg {
            account,
            instrument,
            side,
            hour,
            ts: requested_ts,
            reference_price,
        } = *leg;
        let signal_id = self.signal(hour, account, instrument)?;
        let order_id = next(&mut self.ids.order);
        self.world.order_request.push(OrderRequest {
            order_id,
            account_id: self.books[account].account_id,
            signal_id,
            instrument_id: instrument as i64 + 1,
            side,
            quantity: qty,
            reference_price,
            requested_ts,
            risk_hour_ts: self.hour_ts(hour - 1),
            filled_quantity: qty,
        });
        self.report.orders += 1;
        Ok(order_id)
    }

    fn write_fill(
        &mut self,
        account: usize,
        instrument: usize,
        order_id: i64,
        side: Side,
        reference_price: Decimal,
        f: &PlannedFill,
    ) -> i64 {
        let fill_id = next(&mut self.ids.fill);
        self.world.order_fill.push(OrderFill {
            fill_id,
            account_id: self.books[account].account_id,
            order_id,
            instrument_id: instrument as i64 + 1,
            side,
            fill_ts: f.ts,
            fill_qty: f.qty,
            reference_price,
            fill_price: f.price,
            fee: f.fee,
            slippage_cost: f.slippage_cost,
        });
        self.report.fills += 1;
        fill_id
    }

    fn buy(
        &mut self,
        hour: u32,
        ts: DateTime<Utc>,
        account: usize,
        instrument: usize,
        qty: Option<Decimal>,
        fills: u32,
    ) -> Result<(), SimError> {
        if hour == 0 {
            self.report.dropped_no_bound_state += 1;
            return Ok(());
        }
        if !self.signal_ready(instrument) {
            self.report.dropped_no_signal += 1;
            return Ok(());
        }
        let Some(bound) = self.books[account].bound.clone() else {
            self.report.dropped_no_bound_state += 1;
            return Ok(());
        };
        if bound.state != TradingState::Normal {
            self.report.dropped_not_normal += 1;
            return Ok(());
        }
        let reference_price = self.prices[hour as usize - 1][instrument];
        let leg = Leg {
            account,
            instrument,
            side: Side::Buy,
            hour,
            ts,
            reference_price,
        };
        let cluster = self.shape.instruments[instrument].cluster;
        let exposure = bound.cluster_exposure[cluster];
        let cap = at_scale(
            self.world.cluster[cluster].cap_fraction * bound.equity,
            MONEY_SCALE,
        );
        let qty = match qty {
            Some(q) => at_scale(q, MONEY_SCALE),
            None => Self::max_qty_within(cap - exposure, reference_price),
        };
        if qty <= Decimal::ZERO {
            self.report.dropped_non_positive += 1;
            return Ok(());
        }
        let projected = exposure + at_scale(qty * reference_price, MONEY_SCALE);
        if projected > cap {
            self.report.dropped_over_cap += 1;
            return Ok(());
        }
        let Some(plan) = self.plan_fills(&leg, qty, fills) else {
            self.report.dropped_no_fee_schedule += 1;
            return Ok(());
        };
        let cost: Decimal = plan.iter().map(|f| f.notional + f.fee).sum();
        if cost > self.books[account].cash {
            self.report.dropped_cash += 1;
            return Ok(());
        }
        if projected == cap {
            self.report.cap_exact_hits += 1;
        }
        self.count_fill_edges(&plan);
        let order_id = self.write_order(&leg, qty)?;
        for f in &plan {
            let fill_id =
                self.write_fill(account, instrument, order_id, Side::Buy, reference_price, f);
            let lot_id = next(&mut self.ids.lot);
            let lot_index = self.lot_base + self.world.position_lot.len();
            self.world.position_lot.push(PositionLot {
                lot_id,
                account_id: self.books[account].account_id,
                instrument_id: instrument as i64 + 1,
                opening_fill_id: fill_id,
                opened_ts: f.ts,
                original_qty: f.qty,
                remaining_qty: f.qty,
                cost_basis: at_scale(f.notional + f.fee, MONEY_SCALE),
            });
            let book = &mut self.books[account];
            book.lots[instrument].push_back(lot_index);
            book.held[instrument] = at_scale(book.held[instrument] + f.qty, MONEY_SCALE);
            self.ledger(account, f.ts, EntryType::Trade, -f.notional, Some(fill_id));
            self.ledger(account, f.ts, EntryType::Fee, -f.fee, Some(fill_id));
        }
        Ok(())
    }

    fn sell(
        &mut self,
        hour: u32,
        ts: DateTime<Utc>,
        account: usize,
        instrument: usize,
        qty: Decimal,
        fills: u32,
    ) -> Result<(), SimError> {
        if hour == 0 || self.books[account].bound.is_none() {
            self.report.dropped_no_bound_state += 1;
            return Ok(());
        }
        if !self.signal_ready(instrument) {
            self.report.dropped_no_signal += 1;
            return Ok(());
        }
        let held = self.books[account].held[instrument];
        if held <= Decimal::ZERO {
            self.report.dropped_nothing_held += 1;
            return Ok(());
        }
        let mut qty = at_scale(qty, MONEY_SCALE);
        if qty <= Decimal::ZERO {
            self.report.dropped_non_positive += 1;
            return Ok(());
        }
        if qty > held {
            qty = held;
            self.report.clipped_sells += 1;
        }
        let reference_price = self.prices[hour as usize - 1][instrument];
        let leg = Leg {
            account,
            instrument,
            side: Side::Sell,
            hour,
            ts,
            reference_price,
        };
        let Some(plan) = self.plan_fills(&leg, qty, fills) else {
            self.report.dropped_no_fee_schedule += 1;
            return Ok(());
        };
        // Each fill credits its notional then debits its fee: cash must stay >= 0 after
        // every FEE entry (a min_fee on a tiny sell can exceed its proceeds).
        let mut balance = self.books[account].cash;
        for f in &plan {
            balance += f.notional - f.fee;
            if balance < Decimal::ZERO {
                self.report.dropped_cash += 1;
                return Ok(());
            }
        }
        if qty == held {
            self.report.exact_holding_sells += 1;
        }
        self.count_fill_edges(&plan);
        let order_id = self.write_order(&leg, qty)?;
        for f in &plan {
            let fill_id = self.write_fill(
                account,
                instrument,
                order_id,
                Side::Sell,
                reference_price,
                f,
            );
            self.consume_fifo(account, instrument, fill_id, f)?;
            self.ledger(account, f.ts, EntryType::Trade, f.notional, Some(fill_id));
            self.ledger(account, f.ts, EntryType::Fee, -f.fee, Some(fill_id));
        }
        Ok(())
    }

    fn count_fill_edges(&mut self, plan: &[PlannedFill]) {
        for f in plan {
            self.report.min_fee_fills += u64::from(f.at_min_fee);
            self.report.fee_change_fills += u64::from(f.at_fee_change);
        }
    }

    /// Consumes open lots FIFO for one SELL fill, one executed trade per lot touched.
    fn consume_fifo(
        &mut self,
        account: usize,
        instrument: usize,
        sell_fill_id: i64,
        f: &PlannedFill,
    ) -> Result<(), SimError> {
        let account_id = self.books[account].account_id;
        let mut left = f.qty;
        while left > Decimal::ZERO {
            let Some(&lot_index) = self.books[account].lots[instrument].front() else {
                return Err(SimError::Internal {
                    at: f.ts,
                    reason: format!(
                        "account {account_id} instrument {} sells {left} more than its lots",
                        instrument + 1
                    ),
                });
            };
            let Some(lot) = lot_index
                .checked_sub(self.lot_base)
                .and_then(|i| self.world.position_lot.get_mut(i))
            else {
                return Err(SimError::Internal {
                    at: f.ts,
                    reason: format!("lot index {lot_index} was moved out while still open"),
                });
            };
            let take = lot.remaining_qty.min(left);
            lot.remaining_qty = at_scale(lot.remaining_qty - take, MONEY_SCALE);
            let proceeds = at_scale(take * f.price, MONEY_SCALE);
            let cost_basis = at_scale(lot.cost_basis * take / lot.original_qty, MONEY_SCALE);
            let lot_id = lot.lot_id;
            let exhausted = lot.remaining_qty.is_zero();
            self.world.executed_trade.push(ExecutedTrade {
                executed_trade_id: next(&mut self.ids.trade),
                account_id,
                instrument_id: instrument as i64 + 1,
                lot_id,
                sell_fill_id,
                executed_ts: f.ts,
                quantity: take,
                proceeds,
                cost_basis,
                realized_pnl: at_scale(proceeds - cost_basis, MONEY_SCALE),
            });
            if exhausted {
                self.books[account].lots[instrument].pop_front();
            }
            left -= take;
        }
        let book = &mut self.books[account];
        book.held[instrument] = at_scale(book.held[instrument] - f.qty, MONEY_SCALE);
        Ok(())
    }

    /// Closes hour `hour`: market rows, model rows, then every account's hourly states.
    fn close_hour(&mut self, hour: u32) {
        let hour_ts = self.hour_ts(hour);
        let closes = self.prices[hour as usize].clone();
        let mut hashes = Vec::with_capacity(closes.len());
        for (i, close) in closes.iter().enumerate() {
            let features = features_text(&mut self.feature_rng, self.shape.feature_count);
            let fh = feature_hash(i as i64 + 1, hour_ts, *close, &features);
            hashes.push(fh.clone());
            self.world.feature_snapshot.push(FeatureSnapshot {
                instrument_id: i as i64 + 1,
                hour_ts,
                close_price: *close,
                features,
                feature_hash: fh,
            });
        }
        self.close_models(hour_ts, &hashes);
        self.signals.clear();
        for account in 0..self.books.len() {
            self.close_account(account, hour_ts, &closes);
        }
    }

    fn close_models(&mut self, hour_ts: DateTime<Utc>, feature_hashes: &[String]) {
        let mut regime: Option<i64> = None;
        for l in &self.lineages {
            if l.kind != ModelKind::Regime {
                continue;
            }
            let Some(model_id) = l.active(hour_ts) else {
                continue;
            };
            let score = unit_score(&mut self.score_rng);
            let label = if score > Decimal::new(33, 2) {
                "BULL"
            } else if score < Decimal::new(-33, 2) {
                "BEAR"
            } else {
                "NEUTRAL"
            };
            let id = next(&mut self.ids.regime);
            self.world.regime_output.push(RegimeOutput {
                regime_output_id: id,
                model_id,
                hour_ts,
                regime: label.to_string(),
                score,
            });
            regime.get_or_insert(id);
        }
        self.last_regime = regime;

        for (i, fh) in feature_hashes.iter().enumerate() {
            let instrument_id = i as i64 + 1;
            let mut bases: Vec<(i64, Decimal)> = Vec::new();
            let mut meta: Option<(i64, Decimal)> = None;
            for l in &self.lineages {
                if l.kind != ModelKind::Base {
                    continue;
                }
                let Some(model_id) = l.active(hour_ts) else {
                    continue;
                };
                let score = unit_score(&mut self.score_rng);
                let id = next(&mut self.ids.prediction);
                self.world.model_prediction.push(ModelPrediction {
                    prediction_id: id,
                    model_id,
                    instrument_id,
                    hour_ts,
                    feature_hour_ts: hour_ts,
                    feature_hash: fh.clone(),
                    score,
                });
                bases.push((id, score));
            }
            for l in &self.lineages {
                if l.kind != ModelKind::Meta || bases.is_empty() {
                    continue;
                }
                let Some(model_id) = l.active(hour_ts) else {
                    continue;
                };
                let raw: Vec<i64> = bases
                    .iter()
                    .map(|_| self.score_rng.random_range(1..=100))
                    .collect();
                let total = Decimal::from(raw.iter().sum::<i64>());
                let mut weights: Vec<Decimal> = raw[..raw.len() - 1]
                    .iter()
                    .map(|w| at_scale(Decimal::from(*w) / total, MONEY_SCALE))
                    .collect();
                // The last weight absorbs the rounding, so the weights sum to exactly 1.
                let rest: Decimal = weights.iter().sum();
                weights.push(at_scale(Decimal::ONE - rest, MONEY_SCALE));
                let score = at_scale(
                    bases
                        .iter()
                        .zip(&weights)
                        .map(|((_, s), w)| *s * *w)
                        .sum::<Decimal>(),
                    MONEY_SCALE,
                );
                let id = next(&mut self.ids.prediction);
                self.world.model_prediction.push(ModelPrediction {
                    prediction_id: id,
                    model_id,
                    instrument_id,
                    hour_ts,
                    feature_hour_ts: hour_ts,
                    feature_hash: fh.clone(),
                    score,
                });
                for ((base_id, _), w) in bases.iter().zip(&weights) {
                    self.world
                        .meta_learner_component
                        .push(MetaLearnerComponent {
                            meta_prediction_id: id,
                            base_prediction_id: *base_id,
                            weight: *w,
                        });
                }
                meta.get_or_insert((id, score));
            }
            self.last_meta[i] = meta;
        }
    }

    fn close_account(&mut self, account: usize, hour_ts: DateTime<Utc>, closes: &[Decimal]) {
        let zero = at_scale(Decimal::ZERO, MONEY_SCALE);
        let book = &self.books[account];
        let account_id = book.account_id;
        let mut exposure = vec![zero; self.shape.clusters.len()];
        let mut market_value = zero;
        for (i, close) in closes.iter().enumerate() {
            let quantity = book.held[i];
            let mv = at_scale(quantity * *close, MONEY_SCALE);
            market_value += mv;
            let cluster = self.shape.instruments[i].cluster;
            exposure[cluster] = at_scale(exposure[cluster] + mv, MONEY_SCALE);
            self.world.position_hourly_state.push(PositionHourlyState {
                account_id,
                instrument_id: i as i64 + 1,
                hour_ts,
                quantity,
                mark_price: *close,
                market_value: mv,
                state_hash: position_state_hash(
                    account_id,
                    i as i64 + 1,
                    hour_ts,
                    quantity,
                    *close,
                    mv,
                ),
            });
        }
        let (portfolio, risk) =
            portfolio_and_risk(account_id, hour_ts, book.cash, market_value, book.peak);
        let (equity, peak) = (portfolio.equity, portfolio.peak_equity);
        let (state, drawdown) = (risk.trading_state, risk.drawdown);
        self.world.portfolio_hourly_state.push(portfolio);
        self.world.risk_hourly_state.push(risk);
        let from = book.last_state;
        if state != from {
            let id = next(&mut self.ids.risk_event);
            self.world.risk_event.push(RiskEvent {
                risk_event_id: id,
                account_id,
                hour_ts,
                event_type: "TRADING_STATE_CHANGE".to_string(),
                from_state: from,
                to_state: state,
                drawdown,
            });
        }
        let book = &mut self.books[account];
        book.peak = Some(peak);
        book.last_state = state;
        book.bound = Some(Bound {
            equity,
            state,
            cluster_exposure: exposure,
        });
    }
}

/// The portfolio and risk states at the end of an hour (CONTRACT section 2) from the account's
/// cash, its positions' summed market value and the previous peak equity. Shared by the
/// simulator's running books and the replay from events (`states`), which differ in where
/// cash and market value come from, not in these formulas.
pub(crate) fn portfolio_and_risk(
    account_id: i64,
    hour_ts: DateTime<Utc>,
    cash: Decimal,
    market_value: Decimal,
    previous_peak: Option<Decimal>,
) -> (PortfolioHourlyState, RiskHourlyState) {
    let zero = at_scale(Decimal::ZERO, MONEY_SCALE);
    let market_value = at_scale(market_value, MONEY_SCALE);
    let equity = at_scale(cash + market_value, MONEY_SCALE);
    let peak = at_scale(previous_peak.map_or(equity, |p| p.max(equity)), MONEY_SCALE);
    let portfolio_hash =
        portfolio_state_hash(account_id, hour_ts, cash, market_value, equity, peak);
    let gross_exposure = if equity.is_zero() {
        zero
    } else {
        at_scale(market_value / equity, MONEY_SCALE)
    };
    let drawdown = if peak.is_zero() {
        zero
    } else {
        at_scale(Decimal::ONE - equity / peak, MONEY_SCALE)
    };
    let state = if drawdown >= HALTED_DRAWDOWN {
        TradingState::Halted
    } else if drawdown >= REDUCE_ONLY_DRAWDOWN {
        TradingState::ReduceOnly
    } else {
        TradingState::Normal
    };
    let risk = RiskHourlyState {
        account_id,
        hour_ts,
        gross_exposure,
        drawdown,
        trading_state: state,
        state_hash: risk_state_hash(
            account_id,
            hour_ts,
            gross_exposure,
            drawdown,
            state.as_str(),
            &portfolio_hash,
        ),
        parent_portfolio_hash: portfolio_hash.clone(),
    };
    let portfolio = PortfolioHourlyState {
        account_id,
        hour_ts,
        cash,
        market_value,
        equity,
        peak_equity: peak,
        state_hash: portfolio_hash,
    };
    (portfolio, risk)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_gives_positive_parts_summing_to_qty() {
        let parts = Sim::split(Decimal::new(1_000_000_001, 8), 3);
        assert_eq!(parts.len(), 3);
        assert_eq!(
            parts.iter().sum::<Decimal>(),
            Decimal::new(1_000_000_001, 8)
        );
        assert!(parts.iter().all(|p| *p > Decimal::ZERO));
        // Fewer units than requested fills: one fill per unit.
        let tiny = Sim::split(Decimal::new(2, 8), 5);
        assert_eq!(tiny.len(), 2);
    }

    #[test]
    fn max_qty_hits_room_exactly_below_price_one() {
        let room = Decimal::new(2_250_012_345_678, 8); // 22500.12345678
        let price = Decimal::new(49_872_101, 8); // 0.49872101
        let q = Sim::max_qty_within(room, price);
        assert_eq!(at_scale(q * price, MONEY_SCALE), room);
        let next_up = q + Decimal::new(1, 8);
        assert!(at_scale(next_up * price, MONEY_SCALE) > room);
    }

    #[test]
    fn max_qty_never_exceeds_room_above_price_one() {
        let room = Decimal::new(1_000_000_000_007, 8);
        let price = Decimal::new(12_345_678_901, 8); // 123.45678901
        let q = Sim::max_qty_within(room, price);
        assert!(at_scale(q * price, MONEY_SCALE) <= room);
        assert!(at_scale((q + Decimal::new(1, 8)) * price, MONEY_SCALE) > room);
    }
}
