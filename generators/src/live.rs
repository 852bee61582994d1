//! Live writes: a world cut at an hour into what is seeded before a migration and what live
//! writers write while it runs, unit by unit, in the order the reference model produced it.
//!
//! The production system keeps trading while the schema migrates. [`split_live`] takes a whole
//! world and keeps its first hours as the seed; every later row becomes part of a
//! [`WriteUnit`], one transaction of the trading system:
//! * a **retrain** unit writes a new `model_registry` version at the start of its hour;
//! * an **order** unit writes one order with everything it caused, as the system does when
//!   an order executes: the signal it needs (first use), the order (with `filled_quantity`
//!   0), its fills, the lots a BUY opens, the executed trades of a SELL and the ledger
//!   entries of every fill, then the progress updates (`filled_quantity`, and each consumed
//!   lot's `remaining_qty`);
//! * a **cash** unit writes one deposit or withdrawal;
//! * the **close** unit of an hour writes that hour's feature snapshots, regime outputs,
//!   predictions (with their META components), every account's position, portfolio and risk
//!   state and the risk events: one transaction, so a reader's snapshot never sees an hour
//!   half closed.
//!
//! Units of one account are ordered by time; units of different accounts within an hour are
//! independent (they may run concurrently); an hour's close comes after all of its units, and
//! the next hour's units after the close (orders bind to the previous hour's risk state).
//! Applying the seed and every unit, in order, gives back the whole world
//! ([`LiveWorld::expected`]), row for row.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;

use crate::model::World;

/// Why a world could not be split.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LiveError {
    /// Fewer hours than asked for, plus one seeded hour.
    #[error("the world has {hours} hour(s); {live} live hour(s) need at least {} (one hour is always seeded)", live + 1)]
    TooFewHours {
        /// Hours of the world (distinct feature hours).
        hours: usize,
        /// Live hours asked for.
        live: u32,
    },
    /// Zero live hours asked for.
    #[error("live hours must be >= 1")]
    NoLiveHours,
    /// A row refers to something the world does not have.
    #[error("inconsistent world: {0}")]
    Inconsistent(String),
}

/// What a unit is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum UnitKind {
    /// A new model version.
    Retrain,
    /// One order and everything it caused.
    Order,
    /// A deposit or withdrawal.
    Cash,
    /// An hour's market data, predictions, hourly states and risk events.
    Close,
}

impl UnitKind {
    /// Lower-case name, as the writers' statistics print it.
    pub fn as_str(self) -> &'static str {
        match self {
            UnitKind::Retrain => "retrain",
            UnitKind::Order => "order",
            UnitKind::Cash => "cash",
            UnitKind::Close => "close",
        }
    }
}

/// A progress update a unit makes after its inserts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Update {
    /// `order_request.filled_quantity` of an order, once its fills are written.
    OrderFilled {
        /// The order.
        order_id: i64,
        /// Its filled quantity.
        filled_quantity: Decimal,
    },
    /// `position_lot.remaining_qty` of a lot a SELL consumed.
    LotRemaining {
        /// The lot.
        lot_id: i64,
        /// What remains after this unit.
        remaining_qty: Decimal,
    },
}

/// One transaction of the trading system.
#[derive(Debug, Clone)]
pub struct WriteUnit {
    /// What it is.
    pub kind: UnitKind,
    /// The account it belongs to (`None` for retrain and close units).
    pub account_id: Option<i64>,
    /// When the system writes it (an order's `requested_ts`, a ledger entry's `entry_ts`, an
    /// hour's start for retrains, the next hour's start for a close).
    pub at: DateTime<Utc>,
    /// Its inserts, as a world holding only them (written table by table in dependency order).
    pub rows: World,
    /// Its updates, applied after the inserts.
    pub updates: Vec<Update>,
}

impl WriteUnit {
    fn new(kind: UnitKind, account_id: Option<i64>, at: DateTime<Utc>) -> Self {
        Self {
            kind,
            account_id,
            at,
            rows: World::default(),
            updates: Vec::new(),
        }
    }

    /// Rows it inserts plus rows it updates.
    pub fn row_count(&self) -> u64 {
        self.rows.total_rows() + self.updates.len() as u64
    }
}

/// One live hour: its units in time order, then its close.
#[derive(Debug, Clone)]
pub struct LiveHour {
    /// The hour.
    pub hour_ts: DateTime<Utc>,
    /// Retrain units first, then order and cash units by time.
    pub units: Vec<WriteUnit>,
    /// The hour's close.
    pub close: WriteUnit,
}

/// A world split into a seed and live hours.
#[derive(Debug, Clone)]
pub struct LiveWorld {
    /// Everything before `cut`, with lots' `remaining_qty` as of `cut`.
    pub seeded: World,
    /// The first live hour.
    pub cut: DateTime<Utc>,
    /// The live hours, in order.
    pub hours: Vec<LiveHour>,
}

impl LiveWorld {
    /// Number of units over all live hours (closes included).
    pub fn unit_count(&self) -> usize {
        self.hours.iter().map(|h| h.units.len() + 1).sum()
    }

    /// Rows the live units write (inserts and updates).
    pub fn live_rows(&self) -> u64 {
        self.hours
            .iter()
            .map(|h| h.units.iter().map(WriteUnit::row_count).sum::<u64>() + h.close.row_count())
            .sum()
    }

    /// The world after the seed and the given units: `applied(hour, unit)` says whether unit
    /// `unit` of live hour `hour` was written (`unit == units.len()` is the close).
    pub fn expected(&self, applied: impl Fn(usize, usize) -> bool) -> World {
        let mut w = self.seeded.clone();
        let mut filled: HashMap<i64, Decimal> = HashMap::new();
        let mut remaining: HashMap<i64, Decimal> = HashMap::new();
        for (h, hour) in self.hours.iter().enumerate() {
            let close = std::iter::once(&hour.close);
            for (u, unit) in hour.units.iter().chain(close).enumerate() {
                if !applied(h, u) {
                    continue;
                }
                append(&mut w, &unit.rows);
                // Later updates of the same row win, as they do in the database.
                for up in &unit.updates {
                    match up {
                        Update::OrderFilled {
                            order_id,
                            filled_quantity,
                        } => {
                            filled.insert(*order_id, *filled_quantity);
                        }
                        Update::LotRemaining {
                            lot_id,
                            remaining_qty,
                        } => {
                            remaining.insert(*lot_id, *remaining_qty);
                        }
                    }
                }
            }
        }
        for o in &mut w.order_request {
            if let Some(q) = filled.get(&o.order_id) {
                o.filled_quantity = *q;
            }
        }
        for l in &mut w.position_lot {
            if let Some(q) = remaining.get(&l.lot_id) {
                l.remaining_qty = *q;
            }
        }
        w
    }
}

/// Appends the rows of `r` to `w` (the live tables only: reference tables are all seeded).
fn append(w: &mut World, r: &World) {
    w.model_registry.extend(r.model_registry.iter().cloned());
    w.feature_snapshot
        .extend(r.feature_snapshot.iter().cloned());
    w.position_hourly_state
        .extend(r.position_hourly_state.iter().cloned());
    w.portfolio_hourly_state
        .extend(r.portfolio_hourly_state.iter().cloned());
    w.risk_hourly_state
        .extend(r.risk_hourly_state.iter().cloned());
    w.regime_output.extend(r.regime_output.iter().cloned());
    w.model_prediction
        .extend(r.model_prediction.iter().cloned());
    w.meta_learner_component
        .extend(r.meta_learner_component.iter().cloned());
    w.trade_signal.extend(r.trade_signal.iter().cloned());
    w.order_request.extend(r.order_request.iter().cloned());
    w.order_fill.extend(r.order_fill.iter().cloned());
    w.position_lot.extend(r.position_lot.iter().cloned());
    w.executed_trade.extend(r.executed_trade.iter().cloned());
    w.cash_ledger.extend(r.cash_ledger.iter().cloned());
    w.risk_event.extend(r.risk_event.iter().cloned());
}

fn hour_of(ts: DateTime<Utc>) -> DateTime<Utc> {
    let secs = ts.timestamp();
    let floor = secs - secs.rem_euclid(3600);
    DateTime::from_timestamp(floor, 0).unwrap_or(ts)
}

/// Split `world` so that its last `live_hours` hours are written live.
pub fn split_live(world: &World, live_hours: u32) -> Result<LiveWorld, LiveError> {
    if live_hours == 0 {
        return Err(LiveError::NoLiveHours);
    }
    let hours = world.feature_hours();
    let live = live_hours as usize;
    if hours.len() <= live {
        return Err(LiveError::TooFewHours {
            hours: hours.len(),
            live: live_hours,
        });
    }
    let cut = hours[hours.len() - live];
    let last = hours[hours.len() - 1];
    let live_hour_ts = &hours[hours.len() - live..];
    let index: HashMap<DateTime<Utc>, usize> = live_hour_ts
        .iter()
        .enumerate()
        .map(|(i, h)| (*h, i))
        .collect();
    let mut out = LiveWorld {
        seeded: World {
            account: world.account.clone(),
            fee_schedule: world.fee_schedule.clone(),
            instrument: world.instrument.clone(),
            cluster: world.cluster.clone(),
            instrument_cluster: world.instrument_cluster.clone(),
            ..World::default()
        },
        cut,
        hours: live_hour_ts
            .iter()
            .map(|h| LiveHour {
                hour_ts: *h,
                units: Vec::new(),
                close: WriteUnit::new(UnitKind::Close, None, *h + Duration::hours(1)),
            })
            .collect(),
    };
    let live_index = |ts: DateTime<Utc>| -> Option<usize> { index.get(&hour_of(ts)).copied() };
    let outside = |what: String| LiveError::Inconsistent(what);

    // Model versions trained inside the live window appear at the start of their hour.
    let mut retrains: BTreeMap<usize, WriteUnit> = BTreeMap::new();
    for m in &world.model_registry {
        match (m.train_end >= cut && m.train_end <= last)
            .then(|| live_index(m.train_end))
            .flatten()
        {
            Some(h) => retrains
                .entry(h)
                .or_insert_with(|| WriteUnit::new(UnitKind::Retrain, None, live_hour_ts[h]))
                .rows
                .model_registry
                .push(m.clone()),
            None => out.seeded.model_registry.push(m.clone()),
        }
    }

    // Hourly data goes to its hour's close.
    macro_rules! by_hour {
        ($table:ident) => {
            for r in &world.$table {
                match (r.hour_ts >= cut).then(|| live_index(r.hour_ts)).flatten() {
                    Some(h) => out.hours[h].close.rows.$table.push(r.clone()),
                    None if r.hour_ts >= cut => {
                        return Err(outside(format!(
                            "{} row at {} is after the last hour {last}",
                            stringify!($table),
                            r.hour_ts
                        )))
                    }
                    None => out.seeded.$table.push(r.clone()),
                }
            }
        };
    }
    by_hour!(feature_snapshot);
    by_hour!(position_hourly_state);
    by_hour!(portfolio_hourly_state);
    by_hour!(risk_hourly_state);
    by_hour!(regime_output);
    by_hour!(model_prediction);
    by_hour!(risk_event);
    let live_prediction: HashMap<i64, usize> = out
        .hours
        .iter()
        .enumerate()
        .flat_map(|(h, hr)| {
            hr.close
                .rows
                .model_prediction
                .iter()
                .map(move |p| (p.prediction_id, h))
        })
        .collect();
    for c in &world.meta_learner_component {
        match live_prediction.get(&c.meta_prediction_id) {
            Some(h) => out.hours[*h]
                .close
                .rows
                .meta_learner_component
                .push(c.clone()),
            None => out.seeded.meta_learner_component.push(c.clone()),
        }
    }

    // Orders and everything they caused.
    let fill_order: HashMap<i64, i64> = world
        .order_fill
        .iter()
        .map(|f| (f.fill_id, f.order_id))
        .collect();
    let mut order_units: HashMap<i64, (usize, WriteUnit)> = HashMap::new();
    let mut signal_first_use: HashMap<i64, DateTime<Utc>> = HashMap::new();
    for o in &world.order_request {
        let first = signal_first_use
            .entry(o.signal_id)
            .or_insert(o.requested_ts);
        if o.requested_ts < *first {
            *first = o.requested_ts;
        }
    }
    let mut live_signal_unit: HashMap<i64, i64> = HashMap::new();
    for o in &world.order_request {
        if o.requested_ts < cut {
            out.seeded.order_request.push(o.clone());
            continue;
        }
        let h = live_index(o.requested_ts).ok_or_else(|| {
            outside(format!(
                "order {} at {} is after the last hour {last}",
                o.order_id, o.requested_ts
            ))
        })?;
        let mut unit = WriteUnit::new(UnitKind::Order, Some(o.account_id), o.requested_ts);
        unit.rows.order_request.push(crate::model::OrderRequest {
            filled_quantity: Decimal::ZERO,
            ..o.clone()
        });
        unit.updates.push(Update::OrderFilled {
            order_id: o.order_id,
            filled_quantity: o.filled_quantity,
        });
        if signal_first_use.get(&o.signal_id) == Some(&o.requested_ts) {
            live_signal_unit.entry(o.signal_id).or_insert(o.order_id);
        }
        order_units.insert(o.order_id, (h, unit));
    }
    for s in &world.trade_signal {
        let first = signal_first_use.get(&s.signal_id);
        match (first, live_signal_unit.get(&s.signal_id)) {
            (Some(_), Some(order_id)) => {
                if let Some((_, u)) = order_units.get_mut(order_id) {
                    u.rows.trade_signal.push(s.clone());
                }
            }
            (Some(_), None) => out.seeded.trade_signal.push(s.clone()),
            // A signal no order used: written with its hour's close if that hour is live.
            (None, _) => match (s.hour_ts >= cut).then(|| live_index(s.hour_ts)).flatten() {
                Some(h) => out.hours[h].close.rows.trade_signal.push(s.clone()),
                None => out.seeded.trade_signal.push(s.clone()),
            },
        }
    }
    let mut lot_remaining: HashMap<i64, Decimal> = HashMap::new();
    for f in &world.order_fill {
        match order_units.get_mut(&f.order_id) {
            Some((_, u)) => u.rows.order_fill.push(f.clone()),
            None => out.seeded.order_fill.push(f.clone()),
        }
    }
    let unit_of_fill = |fill_id: i64| fill_order.get(&fill_id).copied();
    for l in &world.position_lot {
        lot_remaining.insert(l.lot_id, l.original_qty);
        let order = unit_of_fill(l.opening_fill_id).ok_or_else(|| {
            outside(format!(
                "lot {} opened by unknown fill {}",
                l.lot_id, l.opening_fill_id
            ))
        })?;
        let lot = crate::model::PositionLot {
            remaining_qty: l.original_qty,
            ..l.clone()
        };
        match order_units.get_mut(&order) {
            Some((_, u)) => u.rows.position_lot.push(lot),
            None => out.seeded.position_lot.push(lot),
        }
    }
    let mut trades: Vec<&crate::model::ExecutedTrade> = world.executed_trade.iter().collect();
    trades.sort_by_key(|t| (t.executed_ts, t.executed_trade_id));
    for t in trades {
        let order = unit_of_fill(t.sell_fill_id).ok_or_else(|| {
            outside(format!(
                "trade {} of unknown fill {}",
                t.executed_trade_id, t.sell_fill_id
            ))
        })?;
        let left = lot_remaining.get_mut(&t.lot_id).ok_or_else(|| {
            outside(format!(
                "trade {} of unknown lot {}",
                t.executed_trade_id, t.lot_id
            ))
        })?;
        *left -= t.quantity;
        match order_units.get_mut(&order) {
            Some((_, u)) => {
                u.rows.executed_trade.push(t.clone());
                u.updates.retain(
                    |x| !matches!(x, Update::LotRemaining { lot_id, .. } if *lot_id == t.lot_id),
                );
                u.updates.push(Update::LotRemaining {
                    lot_id: t.lot_id,
                    remaining_qty: *left,
                });
            }
            None => out.seeded.executed_trade.push(t.clone()),
        }
    }
    // Seeded lots carry what remained at the cut.
    let mut consumed: HashMap<i64, Decimal> = HashMap::new();
    for t in &out.seeded.executed_trade {
        *consumed.entry(t.lot_id).or_default() += t.quantity;
    }
    for l in &mut out.seeded.position_lot {
        l.remaining_qty = l.original_qty - consumed.get(&l.lot_id).copied().unwrap_or_default();
    }
    let mut cash: Vec<(usize, WriteUnit)> = Vec::new();
    for e in &world.cash_ledger {
        match e.fill_id {
            Some(fill) => {
                let order = unit_of_fill(fill).ok_or_else(|| {
                    outside(format!(
                        "ledger entry {}/{} of unknown fill {fill}",
                        e.account_id, e.ledger_seq
                    ))
                })?;
                match order_units.get_mut(&order) {
                    Some((_, u)) => u.rows.cash_ledger.push(e.clone()),
                    None => out.seeded.cash_ledger.push(e.clone()),
                }
            }
            None if e.entry_ts < cut => out.seeded.cash_ledger.push(e.clone()),
            None => {
                let h = live_index(e.entry_ts).ok_or_else(|| {
                    outside(format!(
                        "ledger entry {}/{} at {} is after the last hour {last}",
                        e.account_id, e.ledger_seq, e.entry_ts
                    ))
                })?;
                let mut u = WriteUnit::new(UnitKind::Cash, Some(e.account_id), e.entry_ts);
                u.rows.cash_ledger.push(e.clone());
                cash.push((h, u));
            }
        }
    }

    // Each hour: retrains, then order and cash units by time (ties by account and key).
    for (h, u) in retrains {
        out.hours[h].units.push(u);
    }
    let mut timed: Vec<(usize, WriteUnit)> = order_units.into_values().chain(cash).collect();
    timed.sort_by_key(|(h, u)| {
        let key = u
            .rows
            .order_request
            .first()
            .map(|o| o.order_id)
            .or_else(|| u.rows.cash_ledger.first().map(|e| e.ledger_seq))
            .unwrap_or(0);
        (*h, u.at, u.account_id, key)
    });
    for (h, u) in timed {
        out.hours[h].units.push(u);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{generate_world, WorldParams};

    fn world() -> World {
        generate_world(
            21,
            &WorldParams {
                hours: 48,
                target_fills: 400,
                ..WorldParams::default()
            },
        )
    }

    fn sorted_text(w: &World) -> Vec<String> {
        w.tables()
            .iter()
            .map(|t| {
                let mut s = String::new();
                t.write_rows(0..t.row_count(), &mut s);
                let mut lines: Vec<&str> = s.lines().collect();
                lines.sort_unstable();
                format!("{}\n{}", t.table(), lines.join("\n"))
            })
            .collect()
    }

    #[test]
    fn seed_plus_every_unit_is_the_whole_world() {
        let w = world();
        let live = split_live(&w, 12).unwrap_or_else(|e| panic!("{e}"));
        assert!(live.unit_count() > 12, "{} units", live.unit_count());
        assert!(live.live_rows() > 0);
        assert_eq!(sorted_text(&live.expected(|_, _| true)), sorted_text(&w));
        // Nothing applied: the seed alone, which is less than the world.
        assert_ne!(sorted_text(&live.expected(|_, _| false)), sorted_text(&w));
    }

    #[test]
    fn units_respect_time_and_dependencies() {
        let w = world();
        let live = split_live(&w, 12).unwrap_or_else(|e| panic!("{e}"));
        for (i, h) in live.hours.iter().enumerate() {
            assert_eq!(h.hour_ts, live.cut + Duration::hours(i as i64));
            for u in &h.units {
                assert!(
                    u.at >= h.hour_ts && u.at < h.hour_ts + Duration::hours(1),
                    "{u:?}"
                );
                // Every order binds to the previous hour, which is closed before this hour.
                for o in &u.rows.order_request {
                    assert_eq!(o.risk_hour_ts, h.hour_ts - Duration::hours(1));
                    assert_eq!(o.filled_quantity, Decimal::ZERO);
                }
            }
            assert!(h
                .close
                .rows
                .risk_hourly_state
                .iter()
                .all(|r| r.hour_ts == h.hour_ts));
            assert!(!h.close.rows.feature_snapshot.is_empty());
        }
        // The seed's lots carry what remained at the cut, never below zero.
        assert!(live
            .seeded
            .position_lot
            .iter()
            .all(|l| l.remaining_qty >= Decimal::ZERO && l.remaining_qty <= l.original_qty));
    }

    #[test]
    fn bad_splits_are_refused_with_the_reason() {
        let w = world();
        assert_eq!(split_live(&w, 0).err(), Some(LiveError::NoLiveHours));
        let Err(LiveError::TooFewHours { hours, live }) = split_live(&w, 48) else {
            panic!("48 live hours of a 48-hour world must be refused");
        };
        assert_eq!((hours, live), (48, 48));
    }
}
