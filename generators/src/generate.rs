//! Generated worlds: a random `Shape` and a random valid-by-construction `Script` from one
//! `u64` seed, run through the same simulator as the fixture.
//!
//! Swarm variety: per seed some action kinds are switched off entirely (see [`Swarm`]), so
//! rare combinations (no deposits after day 1, sell-only days, no withdrawals, one-instrument
//! clusters) occur without being scripted by hand.

use crate::hash::{at_scale, MONEY_SCALE};
use crate::market::{stream, SCRIPT_STREAM, SHAPE_STREAM};
use crate::model::{ModelKind, TradingState, World};
use crate::shape::{
    AccountSpec, Action, ClusterSpec, FeeSpec, InstrumentSpec, ModelSpec, Script, Shape, Shock,
};
use crate::sim::{SimError, Simulation, Simulator, MAX_ACTIONS_PER_HOUR};
use chrono::{DateTime, Duration, TimeZone, Utc};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::ops::ControlFlow;

/// Size of a generated world.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorldParams {
    /// Number of accounts (clamped to >= 1).
    pub accounts: usize,
    /// Number of instruments (clamped to >= 1).
    pub instruments: usize,
    /// Number of hours (clamped to >= 2: orders need a previous hour).
    pub hours: u32,
    /// Fills to aim for; the simulator's drops make the real count approximate.
    pub target_fills: u64,
}

impl Default for WorldParams {
    fn default() -> Self {
        Self {
            accounts: 3,
            instruments: 4,
            hours: 168,
            target_fills: 1_000,
        }
    }
}

impl WorldParams {
    fn clamped(&self) -> Self {
        Self {
            accounts: self.accounts.clamp(1, 10_000),
            instruments: self.instruments.clamp(1, 10_000),
            hours: self.hours.clamp(2, 1_000_000),
            target_fills: self.target_fills,
        }
    }
}

/// Which action kinds a seed's script may contain (swarm testing).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Swarm {
    /// BUY intents at all.
    pub buys: bool,
    /// SELL intents.
    pub sells: bool,
    /// Deposits after the first day (the first deposit of each account is always there).
    pub deposits_after_day_one: bool,
    /// Withdrawals.
    pub withdrawals: bool,
    /// Retrains.
    pub retrains: bool,
    /// Buy-to-cap intents (exact cluster-cap hits).
    pub buy_to_cap: bool,
    /// Days (0-based) on which no BUY is scripted.
    pub sell_only_days: Vec<u32>,
    /// Invest as much as caps and cash allow in the two hours before a crash (a market-wide
    /// shock of -12% or worse), so the crash drives drawdown across 10% and often 20%.
    pub crash_ramp: bool,
}

impl Swarm {
    fn random(rng: &mut ChaCha8Rng, hours: u32) -> Self {
        let days = hours.div_ceil(24);
        // Per world a rate, so that some worlds have no sell-only day and some have many.
        let rate = [0.0, 0.0, 0.3, 0.6][rng.random_range(0..4)];
        let sell_only_days = (0..days)
            .filter(|d| *d > 0 && rng.random_bool(rate))
            .collect();
        Self {
            buys: rng.random_bool(0.97),
            sells: rng.random_bool(0.85),
            deposits_after_day_one: rng.random_bool(0.7),
            withdrawals: rng.random_bool(0.7),
            retrains: rng.random_bool(0.6),
            buy_to_cap: rng.random_bool(0.7),
            sell_only_days,
            crash_ramp: rng.random_bool(0.85),
        }
    }
}

/// Shocks at or below this many bps on every instrument count as crashes (see
/// [`Swarm::crash_ramp`]).
pub const CRASH_BPS: i64 = -1_200;

/// Hours (0-based) at which a crash closes.
pub fn crash_hours(shape: &Shape) -> Vec<u32> {
    let mut hours: Vec<u32> = shape
        .shocks
        .iter()
        .filter(|s| s.instrument.is_none() && s.bps <= CRASH_BPS)
        .map(|s| s.hour)
        .collect();
    hours.sort_unstable();
    hours.dedup();
    hours
}

/// A generated world with everything needed to print and replay it.
#[derive(Debug, Clone)]
pub struct Generated {
    /// The seed everything came from.
    pub seed: u64,
    /// The random shape.
    pub shape: Shape,
    /// Which action kinds were switched on.
    pub swarm: Swarm,
    /// The random script.
    pub script: Script,
    /// The simulated world and report.
    pub simulation: Simulation,
}

/// Parses a seed: a decimal u64, `0x`-prefixed hex, or a 40-hex git SHA (its first 16 hex
/// digits), so CI can use the commit under test as a reproducible random seed.
pub fn parse_seed(text: &str) -> Result<u64, SeedParseError> {
    let t = text.trim();
    let bad = || SeedParseError {
        input: text.to_string(),
    };
    if let Some(hex) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        return u64::from_str_radix(hex, 16).map_err(|_| bad());
    }
    if t.len() == 40 && t.chars().all(|c| c.is_ascii_hexdigit()) {
        return u64::from_str_radix(&t[..16], 16).map_err(|_| bad());
    }
    t.parse::<u64>().map_err(|_| bad())
}

/// A seed that is neither a u64, 0x-hex, nor a 40-hex git SHA.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("seed {input:?} is neither a u64, 0x-hex nor a 40-hex git SHA")]
pub struct SeedParseError {
    /// The rejected text.
    pub input: String,
}

/// First hour of every generated world (a Monday, so days line up with weeks).
pub fn generated_start_hour() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 5, 0, 0, 0)
        .single()
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
}

/// A random valid shape for `params` from `seed` (its own stream).
pub fn random_shape(seed: u64, params: &WorldParams) -> Shape {
    let p = params.clamped();
    let mut rng = stream(seed, SHAPE_STREAM);
    let start_hour = generated_start_hour();
    let n_clusters = 1 + rng.random_range(0..=(p.instruments - 1) / 2);
    let clusters = (0..n_clusters)
        .map(|c| ClusterSpec {
            name: format!("cluster-{}", c + 1),
            cap_fraction: Decimal::new(rng.random_range(30..=100), 2),
        })
        .collect();
    let instruments = (0..p.instruments)
        .map(|i| {
            // Every cluster gets at least one instrument; some end up with exactly one.
            let cluster = if i < n_clusters {
                i
            } else {
                rng.random_range(0..n_clusters)
            };
            // One in five is a sub-unit price: there a buy-to-cap hits the cap exactly.
            let initial_price = if rng.random_bool(0.2) {
                Decimal::new(rng.random_range(1_000_000..=99_999_999), 8)
            } else {
                Decimal::new(rng.random_range(100..=500_000), 2)
            };
            InstrumentSpec {
                symbol: format!("SYM{:04}", i + 1),
                slippage_bps: Decimal::new(rng.random_range(0..=150_000), 4),
                cluster,
                initial_price,
                hourly_vol_bps: rng.random_range(5..=60),
            }
        })
        .collect();
    let accounts = (0..p.accounts)
        .map(|a| {
            let mut fee_schedules = vec![FeeSpec {
                effective_from: start_hour - Duration::days(1),
                fee_bps: Decimal::new(rng.random_range(0..=150_000), 4),
                min_fee: random_min_fee(&mut rng),
            }];
            if rng.random_bool(0.5) {
                // At second k of an hour: the account's k-th action slot, so a fill can land
                // on the very instant the schedule changes.
                let hour = rng.random_range(1..p.hours);
                let second = rng.random_range(1..=3);
                fee_schedules.push(FeeSpec {
                    effective_from: start_hour
                        + Duration::hours(i64::from(hour))
                        + Duration::seconds(second),
                    fee_bps: Decimal::new(rng.random_range(0..=150_000), 4),
                    min_fee: random_min_fee(&mut rng),
                });
            }
            AccountSpec {
                name: format!("account-{}", a + 1),
                fee_schedules,
            }
        })
        .collect();
    let mut models = Vec::new();
    for _ in 0..rng.random_range(1..=3) {
        let end = -1 - rng.random_range(0..=24);
        models.push(ModelSpec {
            kind: ModelKind::Base,
            train_start_offset_hours: end - rng.random_range(24..=720),
            train_end_offset_hours: end,
        });
    }
    if rng.random_bool(0.3) {
        // A BASE model that only starts predicting part-way through (walk-forward edge).
        let end = i64::from(rng.random_range(0..p.hours));
        models.push(ModelSpec {
            kind: ModelKind::Base,
            train_start_offset_hours: end - 240,
            train_end_offset_hours: end,
        });
    }
    for kind in [ModelKind::Meta, ModelKind::Regime] {
        let end = -1 - rng.random_range(0..=24);
        models.push(ModelSpec {
            kind,
            train_start_offset_hours: end - rng.random_range(24..=720),
            train_end_offset_hours: end,
        });
    }
    let mut shocks = Vec::new();
    for _ in 0..rng.random_range(0..=2) {
        let instrument = if rng.random_bool(0.5) {
            None
        } else {
            Some(rng.random_range(0..p.instruments))
        };
        let bps = if rng.random_bool(0.8) {
            -rng.random_range(800..=3_500)
        } else {
            rng.random_range(500..=3_000)
        };
        shocks.push(Shock {
            hour: rng.random_range(1..p.hours),
            instrument,
            bps,
        });
    }
    // Worlds rarely lose 10% on their own: most generated worlds get one crash, and the
    // script's ramp-up before it (Swarm::crash_ramp) makes it bite.
    if p.hours >= 4 && rng.random_bool(0.7) {
        shocks.push(Shock {
            hour: rng.random_range(2.max(p.hours / 3)..p.hours),
            instrument: None,
            bps: -rng.random_range(1_500..=5_000),
        });
    }
    Shape {
        start_hour,
        hours: p.hours,
        accounts,
        clusters,
        instruments,
        models,
        feature_count: rng.random_range(1..=9),
        shocks,
    }
}

fn random_min_fee(rng: &mut ChaCha8Rng) -> Decimal {
    match rng.random_range(0..4) {
        0 => Decimal::ZERO,
        1 => Decimal::new(1, 2),
        2 => Decimal::new(10, 2),
        _ => Decimal::ONE,
    }
}

/// Average fills per order of the fill-count distribution in `random_fills`.
const AVG_FILLS_PER_ORDER: u64 = 22; // tenths

fn random_fills(rng: &mut ChaCha8Rng) -> u32 {
    match rng.random_range(0..10) {
        0..=3 => 1,
        4..=6 => 2,
        7..=8 => 3,
        _ => rng.random_range(4..=8),
    }
}

/// No deposit lifts an account's equity above this: with prices down to a thousandth, the
/// quantities it buys (and every sum over them) stay far inside numeric(20,8).
pub const DEPOSIT_CEILING: Decimal = Decimal::from_parts(100_000_000, 0, 0, false, 0);

/// `base * u / 10000` with u uniform in [lo, hi] basis points, truncated to a random number
/// of decimals (0..=8) so whole and fractional quantities both occur; never zero.
fn random_qty(rng: &mut ChaCha8Rng, base: Decimal, lo_bps: i64, hi_bps: i64) -> Decimal {
    let frac = Decimal::new(rng.random_range(lo_bps..=hi_bps), 4);
    let dp = rng.random_range(0..=8);
    let q = (base * frac).round_dp_with_strategy(dp, rust_decimal::RoundingStrategy::ToZero);
    if q <= Decimal::ZERO {
        Decimal::new(1, 8)
    } else {
        at_scale(q, MONEY_SCALE)
    }
}

/// Writes the script while driving the simulator, so intents are sized from the live state
/// (cash, holdings, bound risk state) and the world gets close to `target_fills`. Some
/// intents are deliberately oversized so that every drop and clip rule still fires.
struct Driver<'s> {
    sim: Simulator<'s>,
    /// The actions stepped, when recording (a streamed world does not keep its script).
    actions: Option<Vec<Action>>,
    rng: ChaCha8Rng,
}

impl Driver<'_> {
    fn push(&mut self, action: Action) -> Result<(), SimError> {
        self.sim.step(&action)?;
        if let Some(actions) = self.actions.as_mut() {
            actions.push(action);
        }
        Ok(())
    }

    /// Cash movements and retrains of one account at the start of an hour. Drawn per
    /// account-hour (not per intent), so their effect on drawdown does not grow with the
    /// world's trading intensity.
    fn hourly_events(&mut self, shape: &Shape, swarm: &Swarm, account: usize) -> Vec<Action> {
        let rng = &mut self.rng;
        let mut out = Vec::new();
        let equity = self.sim.bound_equity(account).unwrap_or(Decimal::ZERO);
        let cash = self.sim.cash(account);
        let normal = self.sim.bound_state(account) == Some(TradingState::Normal);
        let deposits_on = swarm.deposits_after_day_one && self.sim.hour() >= 24;
        let base = equity.max(Decimal::from(1_000));
        // Recapitalize a stopped account now and then, or it would only ever sell again.
        if deposits_on && ((!normal && rng.random_bool(0.2)) || rng.random_bool(0.02)) {
            let amount = random_qty(rng, base, 100, 2_000).round_dp(2);
            // Deposits scale with equity, so over a long horizon they would compound past what
            // numeric(20,8) holds (10^12): none lifts an account's equity above the ceiling.
            let room = (DEPOSIT_CEILING - equity).round_dp(2);
            if room >= Decimal::ONE {
                out.push(Action::Deposit {
                    account,
                    amount: amount.max(Decimal::ONE).min(room),
                });
            }
        }
        if swarm.withdrawals && cash > Decimal::ONE && rng.random_bool(0.01) {
            // A rare huge one is clipped to the whole cash balance; only where deposits
            // can bring the account back.
            let amount = if deposits_on && rng.random_bool(0.05) {
                base * Decimal::from(10)
            } else {
                random_qty(rng, cash, 20, 300).round_dp(2)
            };
            out.push(Action::Withdraw {
                account,
                amount: amount.max(Decimal::new(1, 2)),
            });
        }
        if swarm.retrains && account == 0 && rng.random_bool(0.01) {
            out.push(Action::Retrain {
                model: rng.random_range(0..shape.models.len()),
                window_hours: rng.random_range(24..=720),
            });
        }
        out
    }

    /// Before a crash: every NORMAL account buys, per cluster, one instrument up to what the
    /// cluster's room at the bound hour and its live cash allow (truncated, so the projected
    /// exposure never passes the cap and the cost stays within cash).
    fn ramp_up(&mut self, shape: &Shape) -> Result<(), SimError> {
        for account in 0..shape.accounts.len() {
            if self.sim.bound_state(account) != Some(TradingState::Normal)
                || !self.rng.random_bool(0.9)
            {
                continue;
            }
            for cluster in 0..shape.clusters.len() {
                let members: Vec<usize> = (0..shape.instruments.len())
                    .filter(|i| shape.instruments[*i].cluster == cluster)
                    .collect();
                if members.is_empty() || self.sim.slot() + 2 >= MAX_ACTIONS_PER_HOUR {
                    continue;
                }
                let instrument = members[self.rng.random_range(0..members.len())];
                let (Some(room), Some(price)) = (
                    self.sim.bound_cluster_room(account, instrument),
                    self.sim.reference_price(instrument),
                ) else {
                    continue;
                };
                // 0.97 of cash leaves room for slippage and fees (each at most 15 bps).
                let budget = room.min(self.sim.cash(account) * Decimal::new(97, 2));
                if budget <= Decimal::ZERO || price <= Decimal::ZERO {
                    continue;
                }
                let qty = (budget / price).trunc_with_scale(MONEY_SCALE);
                if qty <= Decimal::ZERO {
                    continue;
                }
                let fills = random_fills(&mut self.rng);
                self.push(Action::Buy {
                    account,
                    instrument,
                    qty: at_scale(qty, MONEY_SCALE),
                    fills,
                })?;
            }
        }
        Ok(())
    }

    /// One BUY or SELL intent for `account`, chosen from what it can do right now, or None
    /// when it can do nothing (stopped and holding nothing).
    fn intent(
        &mut self,
        shape: &Shape,
        swarm: &Swarm,
        account: usize,
        buys_today: bool,
    ) -> Option<Action> {
        let rng = &mut self.rng;
        let n_inst = shape.instruments.len();
        let equity = self.sim.bound_equity(account).unwrap_or(Decimal::ZERO);
        let cash = self.sim.cash(account);
        let normal = self.sim.bound_state(account) == Some(TradingState::Normal);
        let held: Vec<usize> = (0..n_inst)
            .filter(|i| self.sim.held(account, *i) > Decimal::ZERO)
            .collect();
        let can_buy = buys_today && normal && cash > Decimal::ZERO;
        let can_sell = swarm.sells && !held.is_empty();
        let fills = random_fills(rng);
        let buy = match (can_buy, can_sell) {
            (false, false) => return None,
            (true, false) => true,
            (false, true) => false,
            (true, true) => rng.random_bool(0.55),
        };
        if buy {
            let instrument = rng.random_range(0..n_inst);
            if swarm.buy_to_cap && rng.random_bool(0.02) {
                return Some(Action::BuyToCap {
                    account,
                    instrument,
                    fills,
                });
            }
            let price = self
                .sim
                .reference_price(instrument)
                .filter(|p| *p > Decimal::ZERO)
                .unwrap_or(Decimal::ONE);
            // Mostly 0.2%..3% of equity and within cash; one in twenty is oversized so the
            // cap and cash rules drop it.
            let base = if rng.random_bool(0.05) {
                equity * Decimal::from(2) / price
            } else {
                cash.min(equity) / price
            };
            return Some(Action::Buy {
                account,
                instrument,
                qty: random_qty(rng, base.max(Decimal::new(1, 8)), 20, 300),
                fills,
            });
        }
        // One in a hundred sells something not held (dropped).
        let instrument = if rng.random_bool(0.01) {
            rng.random_range(0..n_inst)
        } else {
            held[rng.random_range(0..held.len())]
        };
        let have = self.sim.held(account, instrument);
        let qty = match rng.random_range(0..20) {
            // Exactly the holding, or more than it (clipped to exactly the holding).
            0 => have.max(Decimal::ONE),
            1 => have * Decimal::from(2) + Decimal::ONE,
            _ => random_qty(rng, have.max(Decimal::ONE), 500, 8_000),
        };
        Some(Action::Sell {
            account,
            instrument,
            qty,
            fills,
        })
    }
}

/// The random script of `seed` for `shape`, recorded while driving the simulator: deposits
/// in hour 0, then intents spread over the hours until about `params.target_fills` fills.
/// Returns the swarm, the script and the simulated world (`simulate` of the same seed,
/// shape and script reproduces it).
pub fn random_script(
    seed: u64,
    shape: &Shape,
    params: &WorldParams,
) -> Result<(Swarm, Script, Simulation), SimError> {
    let (swarm, actions, sim) =
        drive(
            seed,
            shape,
            params,
            true,
            &mut |_| ControlFlow::Continue(()),
        )?;
    let script = Script {
        actions: actions.unwrap_or_default(),
    };
    Ok((swarm, script, sim.finish()))
}

/// The simulator driven by the random script of `seed` (see [`random_script`]), with
/// `after_hour` called once each hour's actions are stepped (a streaming caller moves the
/// finished rows out there; `Break` stops the drive early). The actions are kept only when
/// `record` is set. Returns the swarm, the actions and the simulator, not yet finished.
pub fn drive<'s>(
    seed: u64,
    shape: &'s Shape,
    params: &WorldParams,
    record: bool,
    after_hour: &mut dyn FnMut(&mut Simulator<'s>) -> ControlFlow<()>,
) -> Result<(Swarm, Option<Vec<Action>>, Simulator<'s>), SimError> {
    let mut rng = stream(seed, SCRIPT_STREAM);
    let swarm = Swarm::random(&mut rng, shape.hours);
    let n_acc = shape.accounts.len();
    let mut d = Driver {
        sim: Simulator::new(seed, shape)?,
        actions: record.then(Vec::new),
        rng,
    };
    for account in 0..n_acc {
        let amount = Decimal::from(d.rng.random_range(10_000..=1_000_000_i64));
        d.push(Action::Deposit { account, amount })?;
    }
    // Fee schedule changes at (hour, second k): the k-th action of that hour is a BUY of that
    // account, whose first fill lands on exactly that instant.
    let fee_changes: Vec<(u32, u32, usize)> = shape
        .accounts
        .iter()
        .enumerate()
        .flat_map(|(a, spec)| {
            spec.fee_schedules.iter().filter_map(move |f| {
                let offset = f.effective_from - shape.start_hour;
                let hour = u32::try_from(offset.num_hours()).ok()?;
                let second = u32::try_from(offset.num_seconds() % 3_600).ok()?;
                (offset > Duration::zero() && second > 0).then_some((hour, second, a))
            })
        })
        .collect();
    let crashes = crash_hours(shape);
    let trading_hours = u64::from(shape.hours - 1).max(1);
    // Orders per hour at ~2.2 fills each, plus a fifth for drops.
    let orders_for = |fills: u64, hours: u64| (fills * 12).div_ceil(hours * AVG_FILLS_PER_ORDER);
    let planned = orders_for(params.target_fills, trading_hours);
    for hour in 1..shape.hours {
        d.push(Action::AdvanceHour)?;
        let fee_at = |slot: u32| {
            fee_changes
                .iter()
                .find(|(h, s, _)| *h == hour && *s == slot)
                .map(|(_, _, a)| *a)
        };
        let last_fee_slot = fee_changes
            .iter()
            .filter(|(h, _, _)| *h == hour)
            .map(|(_, s, _)| *s)
            .max()
            .unwrap_or(0);
        let mut queue: Vec<Action> = Vec::new();
        for account in 0..n_acc {
            queue.extend(d.hourly_events(shape, &swarm, account));
        }
        let remaining = params.target_fills.saturating_sub(d.sim.report().fills);
        // Catch up on drops, but never more than 4x the planned rate in one hour.
        let n = orders_for(remaining, u64::from(shape.hours - hour))
            .min(planned * 4 + 4)
            .min(u64::from(MAX_ACTIONS_PER_HOUR) - 8 - queue.len() as u64);
        let day = hour / 24;
        let buys_today = swarm.buys && !swarm.sell_only_days.contains(&day);
        let mut produced = 0;
        let mut attempts = 0;
        while produced < n && attempts < n * 2 {
            attempts += 1;
            let account = d.rng.random_range(0..n_acc);
            if let Some(a) = d.intent(shape, &swarm, account, buys_today) {
                queue.push(a);
                produced += 1;
            }
        }
        let mut queue = queue.into_iter();
        loop {
            let slot = d.sim.slot() + 1;
            let action = if let Some(account) = fee_at(slot) {
                let instrument = d.rng.random_range(0..shape.instruments.len());
                let price = d.sim.reference_price(instrument).unwrap_or(Decimal::ONE);
                let base = d.sim.cash(account) / price.max(Decimal::new(1, 8));
                Action::Buy {
                    account,
                    instrument,
                    qty: random_qty(&mut d.rng, base, 5, 50),
                    fills: 2,
                }
            } else if let Some(a) = queue.next() {
                a
            } else if slot <= last_fee_slot {
                // A zero withdrawal writes nothing: it only takes up a slot.
                Action::Withdraw {
                    account: 0,
                    amount: Decimal::ZERO,
                }
            } else {
                break;
            };
            d.push(action)?;
        }
        if swarm.crash_ramp && buys_today && crashes.iter().any(|c| *c > hour && *c <= hour + 2) {
            d.ramp_up(shape)?;
        }
        if after_hour(&mut d.sim).is_break() {
            break;
        }
    }
    Ok((swarm, d.actions, d.sim))
}

/// A generated world with its shape, script and report (see [`generate_world`]).
pub fn generate(seed: u64, params: &WorldParams) -> Result<Generated, SimError> {
    let shape = random_shape(seed, params);
    let (swarm, script, simulation) = random_script(seed, &shape, params)?;
    tracing::info!(
        seed,
        fills = simulation.report.fills,
        rows = simulation.world.total_rows(),
        "generated world"
    );
    Ok(Generated {
        seed,
        shape,
        swarm,
        script,
        simulation,
    })
}

/// The world generated from `seed` and `params`.
///
/// # Panics
/// Only on a simulator bug: params are clamped, so the random shape and script are valid
/// by construction (`generate` returns the error instead, for callers that prefer it).
pub fn generate_world(seed: u64, params: &WorldParams) -> World {
    match generate(seed, params) {
        Ok(g) => g.simulation.world,
        Err(e) => panic!("generators bug: seed {seed} params {params:?}: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_decimal_hex_and_git_sha_seeds() {
        assert_eq!(parse_seed("42"), Ok(42));
        assert_eq!(parse_seed("0xff"), Ok(255));
        assert_eq!(
            parse_seed("e05f865017030448aaaaaaaaaaaaaaaaaaaaaaaa"),
            Ok(0xe05f865017030448)
        );
        assert!(parse_seed("not-a-seed").is_err());
    }

    #[test]
    fn generated_world_reaches_roughly_its_target() {
        let params = WorldParams {
            accounts: 3,
            instruments: 5,
            hours: 96,
            target_fills: 600,
        };
        let g = generate(11, &params).unwrap_or_else(|e| panic!("{e}"));
        let fills = g.simulation.report.fills;
        assert!(fills > 150 && fills < 2_000, "fills {fills}");
        assert_eq!(g.simulation.world.order_fill.len() as u64, fills);
    }

    #[test]
    fn tiny_params_are_clamped_to_a_valid_world() {
        let params = WorldParams {
            accounts: 0,
            instruments: 0,
            hours: 0,
            target_fills: 0,
        };
        let w = generate_world(3, &params);
        assert_eq!(w.account.len(), 1);
        assert_eq!(w.portfolio_hourly_state.len(), 2);
    }

    #[test]
    fn script_prints_as_json() {
        let params = WorldParams {
            hours: 4,
            target_fills: 10,
            ..WorldParams::default()
        };
        let shape = random_shape(5, &params);
        let (_, script, _) = random_script(5, &shape, &params).unwrap_or_else(|e| panic!("{e}"));
        let json = serde_json::to_string(&script).unwrap_or_default();
        assert!(json.contains("AdvanceHour"), "{json}");
        let shape_json = serde_json::to_string(&shape).unwrap_or_default();
        let back: Shape = serde_json::from_str(&shape_json).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, shape);
    }
}
