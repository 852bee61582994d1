//! Market data from the seed: prices, features and model scores.
//!
//! Each concern draws from its own ChaCha8 stream of the same seed (stream ids below), so
//! changing how many scores a script consumes (a retrain adds a model) never shifts the
//! prices or the features of the world.

use crate::hash::{at_scale, MONEY_SCALE};
use crate::shape::Shape;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rust_decimal::Decimal;
use std::fmt::Write as _;

/// Stream id of the price random walk.
pub const PRICE_STREAM: u64 = 1;
/// Stream id of the feature values.
pub const FEATURE_STREAM: u64 = 2;
/// Stream id of the model scores and META weights.
pub const SCORE_STREAM: u64 = 3;
/// Stream id of the random script generator.
pub const SCRIPT_STREAM: u64 = 4;
/// Stream id of the random shape generator.
pub const SHAPE_STREAM: u64 = 5;

/// Prices never fall below this (keeps every quantity * price positive).
pub const MIN_PRICE: Decimal = Decimal::from_parts(1, 0, 0, false, 4);
/// Prices never rise above this (keeps products far from rust_decimal's 96-bit limit).
pub const MAX_PRICE: Decimal = Decimal::from_parts(10_000_000, 0, 0, false, 0);

/// The ChaCha8 stream `stream` of `seed`.
pub fn stream(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    rng
}

/// Close prices `[hour][instrument]`: a multiplicative random walk of at most
/// `hourly_vol_bps` per hour from `initial_price`, with the shape's shocks applied.
pub fn price_path(seed: u64, shape: &Shape) -> Vec<Vec<Decimal>> {
    let mut rng = stream(seed, PRICE_STREAM);
    let mut current: Vec<Decimal> = shape
        .instruments
        .iter()
        .map(|i| clamp_price(at_scale(i.initial_price, MONEY_SCALE)))
        .collect();
    let mut path = Vec::with_capacity(shape.hours as usize);
    for hour in 0..shape.hours {
        for (idx, spec) in shape.instruments.iter().enumerate() {
            let vol = i64::from(spec.hourly_vol_bps.min(5_000));
            let step: i64 = if vol == 0 {
                0
            } else {
                rng.random_range(-vol..=vol)
            };
            let mut p = current[idx] * bps_factor(step);
            for shock in &shape.shocks {
                if shock.hour == hour && shock.instrument.is_none_or(|i| i == idx) {
                    p *= bps_factor(shock.bps.max(-9_999));
                }
            }
            current[idx] = clamp_price(at_scale(p, MONEY_SCALE));
        }
        path.push(current.clone());
    }
    path
}

/// `1 + bps / 10000`, exact.
fn bps_factor(bps: i64) -> Decimal {
    Decimal::new(10_000 + bps, 4)
}

fn clamp_price(p: Decimal) -> Decimal {
    at_scale(p.clamp(MIN_PRICE, MAX_PRICE), MONEY_SCALE)
}

/// A uniform value in [-1, 1] with exactly 8 decimals.
pub fn unit_score(rng: &mut ChaCha8Rng) -> Decimal {
    let units: i64 = rng.random_range(-100_000_000..=100_000_000);
    Decimal::new(units, 8)
}

/// The jsonb text form of `count` features: `{"f1": 0.12345678, "f2": -1.00000000}`.
///
/// jsonb keeps a numeric's scale and orders keys by (length, bytes); with at most nine keys
/// `f1`..`f9` all have one length, so this text is exactly what `features::text` returns.
pub fn features_text(rng: &mut ChaCha8Rng, count: u8) -> String {
    let mut out = String::with_capacity(2 + usize::from(count) * 18);
    out.push('{');
    for k in 1..=count.clamp(1, 9) {
        if k > 1 {
            out.push_str(", ");
        }
        let _ = write!(out, "\"f{k}\": {}", at_scale(unit_score(rng), MONEY_SCALE));
    }
    out.push('}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shape::{InstrumentSpec, Shock};
    use chrono::{TimeZone, Utc};

    fn shape() -> Shape {
        Shape {
            start_hour: Utc
                .with_ymd_and_hms(2026, 1, 5, 0, 0, 0)
                .single()
                .unwrap_or_default(),
            hours: 5,
            accounts: vec![],
            clusters: vec![],
            instruments: vec![InstrumentSpec {
                symbol: "X".into(),
                slippage_bps: Decimal::ZERO,
                cluster: 0,
                initial_price: Decimal::new(100, 0),
                hourly_vol_bps: 0,
            }],
            models: vec![],
            feature_count: 3,
            shocks: vec![Shock {
                hour: 2,
                instrument: None,
                bps: -2_500,
            }],
        }
    }

    #[test]
    fn shocks_apply_at_their_hour() {
        let path = price_path(7, &shape());
        let closes: Vec<String> = path.iter().map(|h| h[0].to_string()).collect();
        assert_eq!(
            closes,
            [
                "100.00000000",
                "100.00000000",
                "75.00000000",
                "75.00000000",
                "75.00000000"
            ]
        );
    }

    #[test]
    fn features_text_is_jsonb_shaped() {
        let mut rng = stream(1, FEATURE_STREAM);
        let text = features_text(&mut rng, 3);
        assert!(text.starts_with("{\"f1\": "), "{text}");
        assert_eq!(text.matches(", \"f").count(), 2, "{text}");
        let parsed: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        assert_eq!(parsed.as_object().map(|o| o.len()), Some(3));
    }

    #[test]
    fn streams_are_independent_and_seeded() {
        let a: u64 = stream(1, PRICE_STREAM).random();
        let b: u64 = stream(1, FEATURE_STREAM).random();
        let c: u64 = stream(2, PRICE_STREAM).random();
        let a2: u64 = stream(1, PRICE_STREAM).random();
        assert_eq!(a, a2);
        assert_ne!(a, b);
        assert_ne!(a, c);
    }
}
