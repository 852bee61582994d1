//! Code probes over the rules' edges: which boundary conditions of the contract a world
//! reached (a BUY at exactly its cluster cap, a fee at exactly `min_fee`, drawdown crossing
//! 10% and 20% both ways, ...). Computed from the generated world, which is what was seeded, so
//! a probe says what the migration and the checks were shown, not what a generator meant to do.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, Utc};
use generators::hash::{at_scale, MONEY_SCALE};
use generators::model::{EntryType, Side, TradingState, World};
use rust_decimal::Decimal;

/// One rule edge: its name and what reaching it means.
#[derive(Debug, Clone, Copy)]
pub struct Edge {
    /// Its name (stable: `--json` and `--min-coverage` use it).
    pub name: &'static str,
    /// What a world must contain to reach it.
    pub description: &'static str,
}

/// Every edge, in the order the summary prints them.
pub const EDGES: &[Edge] = &[
    Edge {
        name: "buy_at_cluster_cap",
        description: "a BUY whose projected cluster exposure equals the cap exactly",
    },
    Edge {
        name: "fee_at_min_fee",
        description: "a fill whose fee is exactly the schedule's min_fee",
    },
    Edge {
        name: "fill_at_fee_schedule_change",
        description: "a fill at the instant a new fee schedule takes effect",
    },
    Edge {
        name: "drawdown_up_10",
        description: "drawdown crossing 10% upwards between two hours",
    },
    Edge {
        name: "drawdown_down_10",
        description: "drawdown crossing 10% downwards",
    },
    Edge {
        name: "drawdown_up_20",
        description: "drawdown crossing 20% upwards",
    },
    Edge {
        name: "drawdown_down_20",
        description: "drawdown crossing 20% downwards",
    },
    Edge {
        name: "equity_zero",
        description: "an hour with portfolio equity exactly 0",
    },
    Edge {
        name: "sell_several_lots",
        description: "a SELL fill consuming two or more lots",
    },
    Edge {
        name: "sell_whole_lot",
        description: "an executed trade consuming exactly a whole lot",
    },
    Edge {
        name: "lot_partially_consumed",
        description: "a lot left with 0 < remaining_qty < original_qty",
    },
    Edge {
        name: "sell_in_reduce_only",
        description: "a SELL bound to a REDUCE_ONLY hour",
    },
    Edge {
        name: "sell_in_halted",
        description: "a SELL bound to a HALTED hour",
    },
    Edge {
        name: "withdrawal_to_zero",
        description: "a withdrawal leaving cash at exactly 0",
    },
    Edge {
        name: "prediction_at_train_end_plus_1h",
        description: "a prediction at exactly train_end + 1h",
    },
    Edge {
        name: "prediction_same_hour_features",
        description: "a prediction from the feature snapshot of its own hour",
    },
    Edge {
        name: "meta_prediction",
        description: "a META prediction combining BASE predictions",
    },
    Edge {
        name: "zero_target_weight",
        description: "a signal with target_weight exactly 0",
    },
];

/// How many times each edge was reached in one world (edges not reached are absent).
pub type Hits = BTreeMap<&'static str, u64>;

/// The edges `world` reaches.
pub fn probe(world: &World) -> Hits {
    let mut hits = Hits::new();
    let mut hit = |name: &'static str| *hits.entry(name).or_insert(0) += 1;

    // Fee schedules per account in effect order.
    let mut schedules: HashMap<i64, Vec<(DateTime<Utc>, Decimal)>> = HashMap::new();
    for f in &world.fee_schedule {
        schedules
            .entry(f.account_id)
            .or_default()
            .push((f.effective_from, f.min_fee));
    }
    for s in schedules.values_mut() {
        s.sort_by_key(|(t, _)| *t);
    }
    for f in &world.order_fill {
        if let Some(s) = schedules.get(&f.account_id) {
            if let Some((_, min_fee)) = s.iter().rev().find(|(t, _)| *t <= f.fill_ts) {
                if f.fee == *min_fee {
                    hit("fee_at_min_fee");
                }
            }
            if s.iter().skip(1).any(|(t, _)| *t == f.fill_ts) {
                hit("fill_at_fee_schedule_change");
            }
        }
    }

    // Hourly states by (account, hour).
    let equity: HashMap<(i64, DateTime<Utc>), Decimal> = world
        .portfolio_hourly_state
        .iter()
        .map(|p| ((p.account_id, p.hour_ts), p.equity))
        .collect();
    if world
        .portfolio_hourly_state
        .iter()
        .any(|p| p.equity.is_zero())
    {
        hit("equity_zero");
    }
    let state: HashMap<(i64, DateTime<Utc>), TradingState> = world
        .risk_hourly_state
        .iter()
        .map(|r| ((r.account_id, r.hour_ts), r.trading_state))
        .collect();
    let mut risks: HashMap<i64, Vec<(DateTime<Utc>, Decimal)>> = HashMap::new();
    for r in &world.risk_hourly_state {
        risks
            .entry(r.account_id)
            .or_default()
            .push((r.hour_ts, r.drawdown));
    }
    let ten = Decimal::new(10, 2);
    let twenty = Decimal::new(20, 2);
    for rows in risks.values_mut() {
        rows.sort_by_key(|(t, _)| *t);
        for w in rows.windows(2) {
            let (a, b) = (w[0].1, w[1].1);
            for (level, up, down) in [
                (ten, "drawdown_up_10", "drawdown_down_10"),
                (twenty, "drawdown_up_20", "drawdown_down_20"),
            ] {
                if a < level && b >= level {
                    hit(up);
                }
                if a >= level && b < level {
                    hit(down);
                }
            }
        }
    }

    // Cluster caps: exposure of the order's cluster at its bound hour plus the order's notional.
    let cluster_of: HashMap<i64, i64> = world
        .instrument_cluster
        .iter()
        .map(|ic| (ic.instrument_id, ic.cluster_id))
        .collect();
    let cap_fraction: HashMap<i64, Decimal> = world
        .cluster
        .iter()
        .map(|c| (c.cluster_id, c.cap_fraction))
        .collect();
    let mut exposure: HashMap<(i64, i64, DateTime<Utc>), Decimal> = HashMap::new();
    for p in &world.position_hourly_state {
        if let Some(c) = cluster_of.get(&p.instrument_id) {
            *exposure
                .entry((p.account_id, *c, p.hour_ts))
                .or_insert(Decimal::ZERO) += p.market_value;
        }
    }
    for o in &world.order_request {
        let bound = (o.account_id, o.risk_hour_ts);
        match o.side {
            Side::Buy => {
                let (Some(c), Some(eq)) = (cluster_of.get(&o.instrument_id), equity.get(&bound))
                else {
                    continue;
                };
                let Some(fraction) = cap_fraction.get(c) else {
                    continue;
                };
                let cap = at_scale(*fraction * *eq, MONEY_SCALE);
                let now = exposure
                    .get(&(o.account_id, *c, o.risk_hour_ts))
                    .copied()
                    .unwrap_or(Decimal::ZERO);
                if now + at_scale(o.quantity * o.reference_price, MONEY_SCALE) == cap {
                    hit("buy_at_cluster_cap");
                }
            }
            Side::Sell => match state.get(&bound) {
                Some(TradingState::ReduceOnly) => hit("sell_in_reduce_only"),
                Some(TradingState::Halted) => hit("sell_in_halted"),
                _ => {}
            },
        }
    }

    // Lots and the trades that consume them.
    let original: HashMap<i64, Decimal> = world
        .position_lot
        .iter()
        .map(|l| (l.lot_id, l.original_qty))
        .collect();
    let mut lots_per_sell: HashMap<i64, u32> = HashMap::new();
    for t in &world.executed_trade {
        *lots_per_sell.entry(t.sell_fill_id).or_insert(0) += 1;
        if original.get(&t.lot_id) == Some(&t.quantity) {
            hit("sell_whole_lot");
        }
    }
    if lots_per_sell.values().any(|n| *n >= 2) {
        hit("sell_several_lots");
    }
    if world
        .position_lot
        .iter()
        .any(|l| l.remaining_qty > Decimal::ZERO && l.remaining_qty < l.original_qty)
    {
        hit("lot_partially_consumed");
    }
    if world
        .cash_ledger
        .iter()
        .any(|l| l.entry_type == EntryType::Withdrawal && l.balance_after.is_zero())
    {
        hit("withdrawal_to_zero");
    }

    // Walk-forward edges.
    let train_end: HashMap<i64, DateTime<Utc>> = world
        .model_registry
        .iter()
        .map(|m| (m.model_id, m.train_end))
        .collect();
    for p in &world.model_prediction {
        if train_end.get(&p.model_id).map(|t| *t + Duration::hours(1)) == Some(p.hour_ts) {
            hit("prediction_at_train_end_plus_1h");
        }
        if p.feature_hour_ts == p.hour_ts {
            hit("prediction_same_hour_features");
        }
    }
    if !world.meta_learner_component.is_empty() {
        hit("meta_prediction");
    }
    if world.trade_signal.iter().any(|s| s.target_weight.is_zero()) {
        hit("zero_target_weight");
    }
    hits
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_probe_names_a_listed_edge_and_the_fixture_reaches_some() {
        let world = generators::fixture()
            .map(|s| s.world)
            .unwrap_or_else(|e| panic!("{e}"));
        let hits = probe(&world);
        assert!(!hits.is_empty());
        for name in hits.keys() {
            assert!(EDGES.iter().any(|e| e.name == *name), "{name} not in EDGES");
        }
        // An empty world reaches nothing.
        assert!(probe(&World::default()).is_empty());
    }

    #[test]
    fn a_withdrawal_to_zero_and_a_zero_equity_hour_are_seen() {
        let mut world = generators::fixture()
            .map(|s| s.world)
            .unwrap_or_else(|e| panic!("{e}"));
        world
            .cash_ledger
            .retain(|l| l.entry_type != EntryType::Withdrawal);
        for p in &mut world.portfolio_hourly_state {
            p.equity = Decimal::ONE;
        }
        let before = probe(&world);
        assert!(!before.contains_key("withdrawal_to_zero"));
        assert!(!before.contains_key("equity_zero"));
        let mut l = world.cash_ledger[0].clone();
        l.entry_type = EntryType::Withdrawal;
        l.balance_after = Decimal::ZERO;
        world.cash_ledger.push(l);
        world.portfolio_hourly_state[0].equity = Decimal::ZERO;
        let after = probe(&world);
        assert_eq!(after.get("withdrawal_to_zero"), Some(&1));
        assert_eq!(after.get("equity_zero"), Some(&1));
    }
}
