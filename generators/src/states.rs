//! The hourly states replayed from a world's event rows alone: an independent second
//! derivation of `position_hourly_state`, `portfolio_hourly_state`, `risk_hourly_state` and
//! `risk_event` (CONTRACT section 2), for the replay-parity property.
//!
//! The simulator computes states from its running books while it writes events; this module
//! recomputes them the way `deterministic_replay_parity` does in SQL: from `order_fill`,
//! `cash_ledger` and `feature_snapshot` only. Three derivations (simulator, this replay, SQL)
//! that agree row for row, hashes included, leave little room for a shared mistake.

use crate::hash::{at_scale, position_state_hash, MONEY_SCALE};
use crate::model::{
    PortfolioHourlyState, PositionHourlyState, RiskHourlyState, Side, TradingState, World,
};
use crate::sim::portfolio_and_risk;
use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;
use std::collections::{BTreeMap, BTreeSet};

/// A trading-state change as `risk_event` records it (ids left out: they are not derived).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateChange {
    /// `account_id`
    pub account_id: i64,
    /// `hour_ts`
    pub hour_ts: DateTime<Utc>,
    /// `from_state`
    pub from_state: TradingState,
    /// `to_state`
    pub to_state: TradingState,
    /// `drawdown`
    pub drawdown: Decimal,
}

/// Every hourly state of a world, in the simulator's order: by hour, then account, then
/// instrument.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HourlyStates {
    /// One row per account x instrument x hour (quantity 0 included).
    pub positions: Vec<PositionHourlyState>,
    /// One row per account x hour.
    pub portfolios: Vec<PortfolioHourlyState>,
    /// One row per account x hour.
    pub risks: Vec<RiskHourlyState>,
    /// The trading-state changes (first hour compared with NORMAL).
    pub changes: Vec<StateChange>,
}

impl HourlyStates {
    /// The states the simulator wrote into `world` (what gets seeded and stored).
    pub fn stored(world: &World) -> Self {
        Self {
            positions: world.position_hourly_state.clone(),
            portfolios: world.portfolio_hourly_state.clone(),
            risks: world.risk_hourly_state.clone(),
            changes: world
                .risk_event
                .iter()
                .map(|e| StateChange {
                    account_id: e.account_id,
                    hour_ts: e.hour_ts,
                    from_state: e.from_state,
                    to_state: e.to_state,
                    drawdown: e.drawdown,
                })
                .collect(),
        }
    }

    /// The first difference from `other`, described, or `None` when equal.
    pub fn first_difference(&self, other: &HourlyStates) -> Option<String> {
        fn diff<T: PartialEq + std::fmt::Debug>(what: &str, a: &[T], b: &[T]) -> Option<String> {
            if a.len() != b.len() {
                return Some(format!("{what}: {} rows vs {} rows", a.len(), b.len()));
            }
            a.iter()
                .zip(b)
                .position(|(x, y)| x != y)
                .map(|i| format!("{what} row {i}: {:?} vs {:?}", a[i], b[i]))
        }
        diff("position", &self.positions, &other.positions)
            .or_else(|| diff("portfolio", &self.portfolios, &other.portfolios))
            .or_else(|| diff("risk", &self.risks, &other.risks))
            .or_else(|| diff("risk_event", &self.changes, &other.changes))
    }
}

/// (fill_ts, fill_id, instrument_id, signed quantity) of one fill.
type SignedFill = (DateTime<Utc>, i64, i64, Decimal);

/// Recomputes every hourly state of `world` from its fills, ledger and feature snapshots.
///
/// The hour grid is the set of `feature_snapshot` hours (every simulated hour has one per
/// instrument); a missing close marks at 0, which the parity comparison then reports.
pub fn replay_hourly_states(world: &World) -> HourlyStates {
    let zero = at_scale(Decimal::ZERO, MONEY_SCALE);
    let hours: BTreeSet<DateTime<Utc>> = world.feature_snapshot.iter().map(|f| f.hour_ts).collect();
    let closes: BTreeMap<(i64, DateTime<Utc>), Decimal> = world
        .feature_snapshot
        .iter()
        .map(|f| ((f.instrument_id, f.hour_ts), f.close_price))
        .collect();
    let instruments: Vec<i64> = world.instrument.iter().map(|i| i.instrument_id).collect();

    // Per account: fills in (fill_ts, fill_id) order and ledger entries in ledger_seq order,
    // consumed hour by hour with a cursor each.
    let mut fills: BTreeMap<i64, Vec<SignedFill>> = BTreeMap::new();
    for f in &world.order_fill {
        let signed = match f.side {
            Side::Buy => f.fill_qty,
            Side::Sell => -f.fill_qty,
        };
        fills.entry(f.account_id).or_default().push((
            f.fill_ts,
            f.fill_id,
            f.instrument_id,
            signed,
        ));
    }
    for v in fills.values_mut() {
        v.sort_by_key(|(ts, id, _, _)| (*ts, *id));
    }
    let mut ledger: BTreeMap<i64, Vec<(i64, DateTime<Utc>, Decimal)>> = BTreeMap::new();
    for l in &world.cash_ledger {
        ledger
            .entry(l.account_id)
            .or_default()
            .push((l.ledger_seq, l.entry_ts, l.balance_after));
    }
    for v in ledger.values_mut() {
        v.sort_by_key(|(seq, _, _)| *seq);
    }

    struct Cursor {
        fill: usize,
        entry: usize,
        held: BTreeMap<i64, Decimal>,
        cash: Decimal,
        peak: Option<Decimal>,
        state: TradingState,
    }
    let mut cursors: Vec<Cursor> = world
        .account
        .iter()
        .map(|_| Cursor {
            fill: 0,
            entry: 0,
            held: BTreeMap::new(),
            cash: zero,
            peak: None,
            state: TradingState::Normal,
        })
        .collect();
    let empty_fills = Vec::new();
    let empty_ledger = Vec::new();
    let mut out = HourlyStates::default();
    for hour_ts in hours {
        let end = hour_ts + Duration::hours(1);
        for (account, cur) in world.account.iter().zip(cursors.iter_mut()) {
            let account_id = account.account_id;
            let fs = fills.get(&account_id).unwrap_or(&empty_fills);
            while let Some((ts, _, instrument_id, signed)) = fs.get(cur.fill) {
                if *ts >= end {
                    break;
                }
                let q = cur.held.entry(*instrument_id).or_insert(zero);
                *q = at_scale(*q + *signed, MONEY_SCALE);
                cur.fill += 1;
            }
            // The ledger is in time order within an account, so the last entry before the
            // end of the hour is the running balance; a later-dated entry with a smaller
            // ledger_seq would be a continuity violation that ledger_continuity reports.
            let ls = ledger.get(&account_id).unwrap_or(&empty_ledger);
            while let Some((_, ts, balance)) = ls.get(cur.entry) {
                if *ts >= end {
                    break;
                }
                cur.cash = *balance;
                cur.entry += 1;
            }
            let mut market_value = zero;
            for &instrument_id in &instruments {
                let quantity = cur.held.get(&instrument_id).copied().unwrap_or(zero);
                let mark = closes
                    .get(&(instrument_id, hour_ts))
                    .copied()
                    .unwrap_or(zero);
                let mv = at_scale(quantity * mark, MONEY_SCALE);
                market_value += mv;
                out.positions.push(PositionHourlyState {
                    account_id,
                    instrument_id,
                    hour_ts,
                    quantity,
                    mark_price: mark,
                    market_value: mv,
                    state_hash: position_state_hash(
                        account_id,
                        instrument_id,
                        hour_ts,
                        quantity,
                        mark,
                        mv,
                    ),
                });
            }
            let (portfolio, risk) = portfolio_and_risk(
                account_id,
                hour_ts,
                at_scale(cur.cash, MONEY_SCALE),
                market_value,
                cur.peak,
            );
            cur.peak = Some(portfolio.peak_equity);
            let (state, drawdown) = (risk.trading_state, risk.drawdown);
            out.portfolios.push(portfolio);
            out.risks.push(risk);
            if state != cur.state {
                out.changes.push(StateChange {
                    account_id,
                    hour_ts,
                    from_state: cur.state,
                    to_state: state,
                    drawdown,
                });
            }
            cur.state = state;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixture_states_replay_exactly() {
        let world = crate::fixture_world();
        let replayed = replay_hourly_states(&world);
        let stored = HourlyStates::stored(&world);
        assert_eq!(replayed.first_difference(&stored), None);
        assert!(!replayed.changes.is_empty());
    }

    #[test]
    fn a_changed_fill_changes_the_replayed_states() {
        let mut world = crate::fixture_world();
        let stored = HourlyStates::stored(&world);
        let last = world.order_fill.len() - 1;
        world.order_fill[last].fill_qty += Decimal::new(1, 8);
        let diff = replay_hourly_states(&world).first_difference(&stored);
        assert!(diff.is_some_and(|d| d.starts_with("position")));
    }
}
