//! A world's input: its `Shape` (what exists) and its `Script` (what happens).
//!
//! Both are plain data, serde-serializable to JSON, so a failing generated world can be
//! printed and replayed. Decimals serialize as strings ("1.5") to stay exact.

use crate::model::ModelKind;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// Serde adapter: `Decimal` as its exact decimal string.
pub mod decimal_str {
    use rust_decimal::Decimal;
    use serde::{Deserialize, Deserializer, Serializer};
    use std::str::FromStr;

    /// Serializes as the decimal's `Display` text.
    pub fn serialize<S: Serializer>(value: &Decimal, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(value)
    }

    /// Parses the decimal text.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Decimal, D::Error> {
        let text = String::deserialize(d)?;
        Decimal::from_str(&text).map_err(serde::de::Error::custom)
    }
}

/// A fee schedule row of an account: in effect from `effective_from` until the next one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeeSpec {
    /// When this schedule takes effect.
    pub effective_from: DateTime<Utc>,
    /// Fee in basis points of the notional (scale 4).
    #[serde(with = "decimal_str")]
    pub fee_bps: Decimal,
    /// Minimum fee per fill (scale 8).
    #[serde(with = "decimal_str")]
    pub min_fee: Decimal,
}

/// An account and its fee schedules (the first must be in effect from the first hour).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountSpec {
    /// `account_name`.
    pub name: String,
    /// Fee schedules, any order (the simulator sorts them by `effective_from`).
    pub fee_schedules: Vec<FeeSpec>,
}

/// A cluster and its cap as a fraction of equity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterSpec {
    /// `cluster_name`.
    pub name: String,
    /// `cap_fraction` in (0, 1].
    #[serde(with = "decimal_str")]
    pub cap_fraction: Decimal,
}

/// An instrument, its cluster (index into `Shape::clusters`) and its price process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstrumentSpec {
    /// `symbol` (unique).
    pub symbol: String,
    /// `slippage_bps` (scale 4).
    #[serde(with = "decimal_str")]
    pub slippage_bps: Decimal,
    /// Index into `Shape::clusters`.
    pub cluster: usize,
    /// Price before the first hour's move.
    #[serde(with = "decimal_str")]
    pub initial_price: Decimal,
    /// Largest hourly move of the random walk, in basis points.
    pub hourly_vol_bps: u32,
}

/// A model lineage: its first version's training window, in hours relative to `start_hour`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelSpec {
    /// BASE, META or REGIME.
    pub kind: ModelKind,
    /// `train_start` = start_hour + this many hours (usually negative).
    pub train_start_offset_hours: i64,
    /// `train_end` = start_hour + this many hours; predictions only for later hours.
    pub train_end_offset_hours: i64,
}

/// A scripted price shock: the close of `hour` is multiplied by `1 + bps / 10000`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shock {
    /// Hour index (0-based) whose close is shocked.
    pub hour: u32,
    /// Index into `Shape::instruments`, or every instrument when `None`.
    pub instrument: Option<usize>,
    /// Size in basis points (-2500 = -25%).
    pub bps: i64,
}

/// What exists in a world: accounts, instruments, clusters, models, time range, shocks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shape {
    /// The first hour (a whole hour, UTC).
    pub start_hour: DateTime<Utc>,
    /// Number of hours simulated; every hour gets feature snapshots and hourly states.
    pub hours: u32,
    /// Accounts (account_id = index + 1).
    pub accounts: Vec<AccountSpec>,
    /// Clusters (cluster_id = index + 1).
    pub clusters: Vec<ClusterSpec>,
    /// Instruments (instrument_id = index + 1).
    pub instruments: Vec<InstrumentSpec>,
    /// Model lineages (model_id of the first versions = index + 1; retrains append).
    pub models: Vec<ModelSpec>,
    /// Number of features per snapshot, 1..=9 (keys `f1`..`f9` keep jsonb key order).
    pub feature_count: u8,
    /// Scripted price shocks.
    pub shocks: Vec<Shock>,
}

/// One scripted intent or event. Account, instrument and model fields are 0-based indexes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Action {
    /// Deposit `amount` (> 0).
    Deposit {
        /// Account index.
        account: usize,
        /// Amount deposited.
        #[serde(with = "decimal_str")]
        amount: Decimal,
    },
    /// Withdraw `amount`, clipped to the cash balance.
    Withdraw {
        /// Account index.
        account: usize,
        /// Amount requested.
        #[serde(with = "decimal_str")]
        amount: Decimal,
    },
    /// Buy `qty` in `fills` partial fills; dropped if it breaks a rule.
    Buy {
        /// Account index.
        account: usize,
        /// Instrument index.
        instrument: usize,
        /// Quantity requested.
        #[serde(with = "decimal_str")]
        qty: Decimal,
        /// Number of partial fills (>= 1).
        fills: u32,
    },
    /// Buy the largest quantity the cluster cap allows (hits the cap exactly when the
    /// reference price is <= 1), in `fills` partial fills.
    BuyToCap {
        /// Account index.
        account: usize,
        /// Instrument index.
        instrument: usize,
        /// Number of partial fills (>= 1).
        fills: u32,
    },
    /// Sell `qty` in `fills` partial fills; clipped to the quantity held.
    Sell {
        /// Account index.
        account: usize,
        /// Instrument index.
        instrument: usize,
        /// Quantity requested.
        #[serde(with = "decimal_str")]
        qty: Decimal,
        /// Number of partial fills (>= 1).
        fills: u32,
    },
    /// Close the current hour and move to the next.
    AdvanceHour,
    /// Register a new version of model lineage `model`, trained on the `window_hours`
    /// ending at the current hour; it predicts from the next hour on.
    Retrain {
        /// Index into `Shape::models`.
        model: usize,
        /// Length of the training window in hours.
        window_hours: u32,
    },
}

/// What happens in a world, in order. Actions between two `AdvanceHour`s happen in the same
/// hour, one second apart.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Script {
    /// The actions.
    pub actions: Vec<Action>,
}

/// Builds a script hour by hour (inserting the `AdvanceHour`s).
#[derive(Debug, Clone, Default)]
pub struct ScriptBuilder {
    actions: Vec<Action>,
    hour: u32,
}

impl ScriptBuilder {
    /// An empty script positioned at hour 0.
    pub fn new() -> Self {
        Self::default()
    }

    /// Moves forward to hour index `hour` (no-op if already there or later).
    pub fn at(&mut self, hour: u32) -> &mut Self {
        while self.hour < hour {
            self.actions.push(Action::AdvanceHour);
            self.hour += 1;
        }
        self
    }

    /// Appends an action in the current hour.
    pub fn push(&mut self, action: Action) -> &mut Self {
        if matches!(action, Action::AdvanceHour) {
            self.hour += 1;
        }
        self.actions.push(action);
        self
    }

    /// The current hour index.
    pub fn hour(&self) -> u32 {
        self.hour
    }

    /// The finished script.
    pub fn build(self) -> Script {
        Script {
            actions: self.actions,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_round_trip_through_json_exactly() {
        let script = Script {
            actions: vec![
                Action::Deposit {
                    account: 0,
                    amount: Decimal::new(1_000_000_000_001, 8),
                },
                Action::AdvanceHour,
                Action::Sell {
                    account: 1,
                    instrument: 2,
                    qty: Decimal::new(15, 1),
                    fills: 2,
                },
            ],
        };
        let json = serde_json::to_string(&script).unwrap_or_default();
        assert!(json.contains("\"10000.00000001\""), "{json}");
        let back: Script = serde_json::from_str(&json).unwrap_or_default();
        assert_eq!(back, script);
    }

    #[test]
    fn builder_inserts_hour_advances() {
        let mut b = ScriptBuilder::new();
        b.at(2).push(Action::Retrain {
            model: 0,
            window_hours: 5,
        });
        b.at(1);
        assert_eq!(b.hour(), 2);
        let s = b.build();
        assert_eq!(s.actions.len(), 3);
        assert_eq!(s.actions[0], Action::AdvanceHour);
    }
}
