//! The fixture world: a small, fixed, hand-scripted world that exercises every rule of
//! CONTRACT section 2 at least once, for migration tests that need real rows.
//!
//! 3 accounts, 4 instruments in 2 clusters, 168 hours (one week from Monday 2026-01-05).
//! The story, by hour:
//! - 0: deposits; a BUY is dropped (no hour -1 risk state to bind to).
//! - 1-4: buys with partial fills (several lots per order); account 2 buys a sub-unit-price
//!   instrument up to its cluster cap exactly; its next buy in that cluster is dropped (over
//!   cap); a one-share buy pays `min_fee`.
//! - 60: a -25% shock on the equities cluster drives account 1 into REDUCE_ONLY; its buy
//!   at 61 is dropped, its sell at 62 consumes two lots FIFO.
//! - 72: account 1's first action of the hour is a sell whose first fill lands on the very
//!   microsecond its new fee schedule takes effect.
//! - 90: a deposit lifts account 1 back to NORMAL; 96: a BASE model is retrained.
//! - 100: account 3 sells more than it holds (clipped to exactly its holdings).
//! - 110-131: account 3 invests almost fully, a -30% shock halts it, its buy is dropped;
//!   140: a multi-fill sell walks its lots FIFO; 160: a withdrawal is clipped to cash.

use crate::model::{ModelKind, World};
use crate::shape::{
    AccountSpec, Action, ClusterSpec, FeeSpec, InstrumentSpec, ModelSpec, Script, ScriptBuilder,
    Shape, Shock,
};
use crate::sim::{simulate, SimError, Simulation};
use chrono::{DateTime, Duration, TimeZone, Utc};
use rust_decimal::Decimal;

/// The fixture's market-data seed.
pub const FIXTURE_SEED: u64 = 20_260_105;

/// First hour of the fixture world.
pub fn fixture_start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 5, 0, 0, 0)
        .single()
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
}

/// The instant account 1's second fee schedule takes effect: hour 72, second 1, which is
/// the request time of the first action scripted in hour 72.
pub fn fixture_fee_change() -> DateTime<Utc> {
    fixture_start() + Duration::hours(72) + Duration::seconds(1)
}

fn dec(units: i64, scale: u32) -> Decimal {
    Decimal::new(units, scale)
}

/// The fixture's shape.
pub fn fixture_shape() -> Shape {
    let start = fixture_start();
    let base_fee = |bps: i64, min_fee: i64| FeeSpec {
        effective_from: start - Duration::days(1),
        fee_bps: dec(bps, 0),
        min_fee: dec(min_fee, 2),
    };
    let instrument =
        |symbol: &str, slippage_bps: Decimal, cluster, price: Decimal| InstrumentSpec {
            symbol: symbol.to_string(),
            slippage_bps,
            cluster,
            initial_price: price,
            hourly_vol_bps: 30,
        };
    let model = |kind, train_start_offset_hours, train_end_offset_hours| ModelSpec {
        kind,
        train_start_offset_hours,
        train_end_offset_hours,
    };
    let shock = |hour, instrument, bps| Shock {
        hour,
        instrument: Some(instrument),
        bps,
    };
    Shape {
        start_hour: start,
        hours: 168,
        accounts: vec![
            AccountSpec {
                name: "alpha-fund".into(),
                fee_schedules: vec![
                    base_fee(10, 100),
                    FeeSpec {
                        effective_from: fixture_fee_change(),
                        fee_bps: dec(5, 0),
                        min_fee: dec(50, 2),
                    },
                ],
            },
            AccountSpec {
                name: "beta-fund".into(),
                fee_schedules: vec![base_fee(8, 100)],
            },
            AccountSpec {
                name: "gamma-fund".into(),
                fee_schedules: vec![base_fee(12, 200)],
            },
        ],
        clusters: vec![
            ClusterSpec {
                name: "equities".into(),
                cap_fraction: dec(60, 2),
            },
            ClusterSpec {
                name: "commodities".into(),
                cap_fraction: dec(45, 2),
            },
        ],
        instruments: vec![
            instrument("ALPHA", dec(5, 0), 0, dec(100, 0)),
            instrument("BETA", dec(10, 0), 0, dec(50, 0)),
            instrument("GAMMA", dec(25, 1), 1, dec(5, 1)),
            instrument("DELTA", dec(0, 0), 1, dec(20, 0)),
        ],
        models: vec![
            model(ModelKind::Base, -720, -1),
            model(ModelKind::Base, -500, -24),
            model(ModelKind::Meta, -720, -1),
            model(ModelKind::Regime, -720, -1),
        ],
        feature_count: 4,
        shocks: vec![
            shock(60, 0, -2_500),
            shock(60, 1, -2_500),
            shock(130, 0, -3_000),
            shock(130, 1, -3_000),
            shock(130, 3, -3_000),
        ],
    }
}

/// The fixture's script (account/instrument indexes are 0-based: account 0 = alpha-fund).
pub fn fixture_script() -> Script {
    let (a0, a1, a2) = (0, 1, 2);
    let (alpha, beta, gamma, delta) = (0, 1, 2, 3);
    let buy = |account, instrument, qty: i64, fills| Action::Buy {
        account,
        instrument,
        qty: dec(qty, 0),
        fills,
    };
    let sell = |account, instrument, qty: i64, fills| Action::Sell {
        account,
        instrument,
        qty: dec(qty, 0),
        fills,
    };
    let deposit = |account, amount: i64| Action::Deposit {
        account,
        amount: dec(amount, 0),
    };
    let withdraw = |account, amount: i64| Action::Withdraw {
        account,
        amount: dec(amount, 0),
    };
    let mut b = ScriptBuilder::new();
    b.at(0)
        .push(deposit(a0, 100_000))
        .push(deposit(a1, 50_000))
        .push(deposit(a2, 20_000))
        .push(buy(a0, alpha, 10, 1));
    b.at(1)
        .push(buy(a0, alpha, 300, 3))
        .push(buy(a0, beta, 500, 2))
        .push(buy(a2, delta, 400, 4));
    b.at(2).push(buy(a0, delta, 1_000, 1));
    b.at(3).push(Action::BuyToCap {
        account: a1,
        instrument: gamma,
        fills: 2,
    });
    b.at(4)
        .push(buy(a1, gamma, 2_000, 1))
        .push(buy(a1, alpha, 1, 1));
    b.at(10).push(buy(a2, alpha, 20, 2));
    b.at(24).push(deposit(a2, 5_000));
    b.at(48).push(withdraw(a2, 1_000));
    b.at(61).push(buy(a0, gamma, 10, 1));
    b.at(62).push(sell(a0, alpha, 150, 1));
    b.at(72).push(sell(a0, beta, 100, 2));
    b.at(90).push(deposit(a0, 40_000));
    b.at(96).push(Action::Retrain {
        model: 0,
        window_hours: 240,
    });
    b.at(100).push(sell(a2, delta, 1_000, 2));
    b.at(110)
        .push(buy(a2, alpha, 160, 2))
        .push(buy(a2, delta, 500, 1));
    b.at(131).push(buy(a2, delta, 10, 1));
    b.at(140).push(sell(a2, alpha, 100, 3));
    b.at(160).push(withdraw(a2, 1_000_000_000));
    b.build()
}

/// The fixture simulated, with its report.
pub fn fixture() -> Result<Simulation, SimError> {
    simulate(FIXTURE_SEED, &fixture_shape(), &fixture_script())
}

/// The fixture world's rows.
///
/// # Panics
/// Only if the crate's own fixed shape and script were invalid, which the unit tests below
/// rule out.
pub fn fixture_world() -> World {
    match fixture() {
        Ok(s) => s.world,
        Err(e) => panic!("generators bug: the fixture script does not simulate: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::{at_scale, MONEY_SCALE};
    use crate::model::{EntryType, Side, TradingState};
    use std::collections::HashMap;

    fn sim() -> Simulation {
        fixture().unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn has_the_promised_shape() {
        let w = sim().world;
        assert_eq!(w.account.len(), 3);
        assert_eq!(w.instrument.len(), 4);
        assert_eq!(w.cluster.len(), 2);
        assert_eq!(w.feature_snapshot.len(), 4 * 168);
        assert_eq!(w.position_hourly_state.len(), 3 * 4 * 168);
        assert_eq!(w.portfolio_hourly_state.len(), 3 * 168);
        assert_eq!(w.risk_hourly_state.len(), 3 * 168);
        // 4 initial models + 1 retrain.
        assert_eq!(w.model_registry.len(), 5);
    }

    #[test]
    fn has_deposits_withdrawals_and_partial_fills() {
        let w = sim().world;
        let count = |t: EntryType| w.cash_ledger.iter().filter(|e| e.entry_type == t).count();
        assert_eq!(count(EntryType::Deposit), 5);
        assert_eq!(count(EntryType::Withdrawal), 2);
        assert_eq!(count(EntryType::Trade), w.order_fill.len());
        assert_eq!(count(EntryType::Fee), w.order_fill.len());
        let mut fills_per_order: HashMap<i64, usize> = HashMap::new();
        for f in &w.order_fill {
            *fills_per_order.entry(f.order_id).or_default() += 1;
        }
        let partial = fills_per_order.values().filter(|n| **n > 1).count();
        assert!(partial >= 6, "orders with partial fills: {partial}");
        let buy_fills = w.order_fill.iter().filter(|f| f.side == Side::Buy).count();
        assert_eq!(w.position_lot.len(), buy_fills);
    }

    #[test]
    fn has_fifo_sells_across_lots() {
        let w = sim().world;
        let mut lots_per_sell_fill: HashMap<i64, Vec<i64>> = HashMap::new();
        for t in &w.executed_trade {
            lots_per_sell_fill
                .entry(t.sell_fill_id)
                .or_default()
                .push(t.lot_id);
        }
        let across = lots_per_sell_fill.values().filter(|l| l.len() >= 2).count();
        assert!(across >= 2, "sell fills touching >= 2 lots: {across}");
        let fully_consumed = w
            .position_lot
            .iter()
            .filter(|l| l.remaining_qty.is_zero())
            .count();
        let partly_consumed = w
            .position_lot
            .iter()
            .filter(|l| !l.remaining_qty.is_zero() && l.remaining_qty < l.original_qty)
            .count();
        assert!(fully_consumed >= 3, "fully consumed lots: {fully_consumed}");
        assert!(
            partly_consumed >= 1,
            "partly consumed lots: {partly_consumed}"
        );
    }

    #[test]
    fn has_a_fill_at_the_fee_schedule_change_and_a_min_fee() {
        let w = sim().world;
        assert_eq!(w.fee_schedule.len(), 4);
        let at_change: Vec<_> = w
            .order_fill
            .iter()
            .filter(|f| f.fill_ts == fixture_fee_change())
            .collect();
        assert_eq!(at_change.len(), 1);
        // 100 BETA shares in 2 fills at ~37: 5 bps on ~1850 is ~0.93, above the new 0.50
        // min_fee and far below what 10 bps would have charged.
        let f = at_change[0];
        let expected = at_scale(f.fill_qty * f.fill_price * dec(5, 0) / dec(10_000, 0), 8);
        assert_eq!(f.fee, expected);
        let min_fee_fills = w
            .order_fill
            .iter()
            .filter(|f| {
                let sched = w
                    .fee_schedule
                    .iter()
                    .filter(|s| s.account_id == f.account_id && s.effective_from <= f.fill_ts)
                    .max_by_key(|s| s.effective_from);
                sched.is_some_and(|s| f.fee == s.min_fee)
            })
            .count();
        assert!(min_fee_fills >= 1, "fills charged min_fee: {min_fee_fills}");
    }

    #[test]
    fn has_reduce_only_and_halted_hours_and_events() {
        let s = sim();
        let w = &s.world;
        let hours = |t: TradingState| {
            w.risk_hourly_state
                .iter()
                .filter(|r| r.trading_state == t)
                .count()
        };
        assert!(hours(TradingState::ReduceOnly) >= 1);
        assert!(hours(TradingState::Halted) >= 1);
        let back_to_normal = w
            .risk_event
            .iter()
            .filter(|e| e.to_state == TradingState::Normal)
            .count();
        assert!(back_to_normal >= 1);
        assert!(
            w.risk_event.len() >= 3,
            "risk events: {}",
            w.risk_event.len()
        );
        assert!(s.report.dropped_not_normal >= 2, "{:?}", s.report);
    }

    #[test]
    fn hits_a_cluster_cap_exactly() {
        let s = sim();
        let w = &s.world;
        assert_eq!(s.report.cap_exact_hits, 1, "{:?}", s.report);
        assert!(s.report.dropped_over_cap >= 1, "{:?}", s.report);
        // Recompute from the rows alone, as the cluster_cap check will.
        let cluster_of: HashMap<i64, i64> = w
            .instrument_cluster
            .iter()
            .map(|ic| (ic.instrument_id, ic.cluster_id))
            .collect();
        let cap_of: HashMap<i64, Decimal> = w
            .cluster
            .iter()
            .map(|c| (c.cluster_id, c.cap_fraction))
            .collect();
        let mut exact = 0;
        for o in w.order_request.iter().filter(|o| o.side == Side::Buy) {
            let cluster = cluster_of[&o.instrument_id];
            let exposure: Decimal = w
                .position_hourly_state
                .iter()
                .filter(|p| {
                    p.account_id == o.account_id
                        && p.hour_ts == o.risk_hour_ts
                        && cluster_of[&p.instrument_id] == cluster
                })
                .map(|p| p.market_value)
                .sum();
            let equity = w
                .portfolio_hourly_state
                .iter()
                .find(|p| p.account_id == o.account_id && p.hour_ts == o.risk_hour_ts)
                .map(|p| p.equity)
                .unwrap_or_default();
            let cap = at_scale(cap_of[&cluster] * equity, MONEY_SCALE);
            let projected = exposure + at_scale(o.quantity * o.reference_price, MONEY_SCALE);
            assert!(projected <= cap, "order {} over cap", o.order_id);
            if projected == cap {
                exact += 1;
            }
        }
        assert_eq!(exact, 1);
    }

    #[test]
    fn drops_and_clips_what_the_rules_forbid() {
        let r = sim().report;
        assert_eq!(r.dropped_no_bound_state, 1, "{r:?}");
        assert_eq!(r.clipped_sells, 1, "{r:?}");
        assert_eq!(r.clipped_withdrawals, 1, "{r:?}");
        assert_eq!(r.retrains, 1, "{r:?}");
        assert_eq!(r.dropped_cash, 0, "{r:?}");
    }
}
