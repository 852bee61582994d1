//! Canonical hashing (docs/CONTRACT.md section 1, "hash canon").
//!
//! A hash is the lower-case hex SHA-256 of a canonical UTF-8 text: the documented fields
//! joined by `|`, numerics at their column scale (`numeric(20,8)::text` gives `1.50000000`),
//! timestamps as `YYYY-MM-DDTHH:MM:SS.ffffffZ` in UTC, NULL as `\N`, bigint as decimal, text
//! as is. The SQL side computes the same text and
//! `encode(sha256(convert_to(txt, 'UTF8')), 'hex')`; the vectors of `crate::hash_vectors`
//! (produced by PostgreSQL) run through both sides, so they cannot drift apart silently.

use chrono::{DateTime, Datelike, Timelike, Utc};
use rust_decimal::{Decimal, RoundingStrategy};
use sha2::{Digest, Sha256};
use std::fmt::Write as _;

/// The genesis `prev_hash` of a ledger chain: 64 '0' characters.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Scale of `numeric(20,8)` columns (money, prices, quantities, weights).
pub const MONEY_SCALE: u32 = 8;
/// Scale of `numeric(10,4)` columns (basis points).
pub const BPS_SCALE: u32 = 4;

/// Lower-case hex SHA-256 of a UTF-8 text.
pub fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// Rounds half away from zero to `scale` and pads to exactly `scale` decimals, as PostgreSQL
/// stores a value in a `numeric(p, scale)` column.
pub fn at_scale(value: Decimal, scale: u32) -> Decimal {
    let mut d = value.round_dp_with_strategy(scale, RoundingStrategy::MidpointAwayFromZero);
    d.rescale(scale);
    // PostgreSQL numeric has no negative zero; rust_decimal does (e.g. 0 * -1).
    if d.is_zero() {
        d.set_sign_positive(true);
    }
    d
}

/// Appends a numeric as PostgreSQL renders it at column scale (`numeric(20,8)::text`).
pub fn push_decimal(out: &mut String, value: Decimal, scale: u32) {
    // Display of a Decimal prints exactly its scale's digits, which at_scale fixed.
    let _ = write!(out, "{}", at_scale(value, scale));
}

/// A numeric as PostgreSQL renders it at column scale.
pub fn render_decimal(value: Decimal, scale: u32) -> String {
    let mut s = String::with_capacity(24);
    push_decimal(&mut s, value, scale);
    s
}

fn push_padded(out: &mut String, value: u32, width: usize) {
    let _ = write!(out, "{value:0width$}");
}

/// Appends a timestamp in the canonical form `YYYY-MM-DDTHH:MM:SS.ffffffZ` (UTC).
pub fn push_timestamp(out: &mut String, ts: DateTime<Utc>) {
    // Hand-rolled instead of chrono's format machinery: this runs for every hashed and every
    // COPYed timestamp, and the fixed layout never needs locale or padding options.
    let year = ts.year();
    if (0..=9999).contains(&year) {
        push_padded(out, year as u32, 4);
    } else {
        let _ = write!(out, "{year}");
    }
    out.push('-');
    push_padded(out, ts.month(), 2);
    out.push('-');
    push_padded(out, ts.day(), 2);
    out.push('T');
    push_padded(out, ts.hour(), 2);
    out.push(':');
    push_padded(out, ts.minute(), 2);
    out.push(':');
    push_padded(out, ts.second(), 2);
    out.push('.');
    push_padded(out, ts.nanosecond() / 1_000, 6);
    out.push('Z');
}

/// A timestamp in the canonical form `YYYY-MM-DDTHH:MM:SS.ffffffZ` (UTC).
pub fn render_timestamp(ts: DateTime<Utc>) -> String {
    let mut s = String::with_capacity(27);
    push_timestamp(&mut s, ts);
    s
}

/// Builder of a canonical text: one call per field, in the documented order.
#[derive(Debug, Default, Clone)]
pub struct Canon {
    text: String,
    fields: usize,
}

impl Canon {
    /// An empty canonical text.
    pub fn new() -> Self {
        Self {
            text: String::with_capacity(160),
            fields: 0,
        }
    }

    fn sep(&mut self) {
        if self.fields > 0 {
            self.text.push('|');
        }
        self.fields += 1;
    }

    /// A bigint field, as decimal.
    pub fn int(&mut self, value: i64) -> &mut Self {
        self.sep();
        let _ = write!(self.text, "{value}");
        self
    }

    /// A numeric field at column scale.
    pub fn num(&mut self, value: Decimal, scale: u32) -> &mut Self {
        self.sep();
        push_decimal(&mut self.text, value, scale);
        self
    }

    /// A `numeric(20,8)` field.
    pub fn num8(&mut self, value: Decimal) -> &mut Self {
        self.num(value, MONEY_SCALE)
    }

    /// A timestamptz field in canonical UTC form.
    pub fn ts(&mut self, value: DateTime<Utc>) -> &mut Self {
        self.sep();
        push_timestamp(&mut self.text, value);
        self
    }

    /// A text field, verbatim.
    pub fn text(&mut self, value: &str) -> &mut Self {
        self.sep();
        self.text.push_str(value);
        self
    }

    /// A NULL field (`\N`).
    pub fn null(&mut self) -> &mut Self {
        self.sep();
        self.text.push_str("\\N");
        self
    }

    /// A nullable bigint field.
    pub fn opt_int(&mut self, value: Option<i64>) -> &mut Self {
        match value {
            Some(v) => self.int(v),
            None => self.null(),
        }
    }

    /// The canonical text built so far.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The lower-case hex SHA-256 of the canonical text.
    pub fn hash(&self) -> String {
        sha256_hex(&self.text)
    }
}

/// `feature_hash = H(instrument_id|hour_ts|close_price|features::text)`.
pub fn feature_hash(
    instrument_id: i64,
    hour_ts: DateTime<Utc>,
    close_price: Decimal,
    features_text: &str,
) -> String {
    Canon::new()
        .int(instrument_id)
        .ts(hour_ts)
        .num8(close_price)
        .text(features_text)
        .hash()
}

/// Position `state_hash = H(account_id|instrument_id|hour_ts|quantity|mark_price|market_value)`.
pub fn position_state_hash(
    account_id: i64,
    instrument_id: i64,
    hour_ts: DateTime<Utc>,
    quantity: Decimal,
    mark_price: Decimal,
    market_value: Decimal,
) -> String {
    Canon::new()
        .int(account_id)
        .int(instrument_id)
        .ts(hour_ts)
        .num8(quantity)
        .num8(mark_price)
        .num8(market_value)
        .hash()
}

/// Portfolio `state_hash = H(account_id|hour_ts|cash|market_value|equity|peak_equity)`.
pub fn portfolio_state_hash(
    account_id: i64,
    hour_ts: DateTime<Utc>,
    cash: Decimal,
    market_value: Decimal,
    equity: Decimal,
    peak_equity: Decimal,
) -> String {
    Canon::new()
        .int(account_id)
        .ts(hour_ts)
        .num8(cash)
        .num8(market_value)
        .num8(equity)
        .num8(peak_equity)
        .hash()
}

/// Risk `state_hash = H(account_id|hour_ts|gross_exposure|drawdown|trading_state|parent_portfolio_hash)`.
pub fn risk_state_hash(
    account_id: i64,
    hour_ts: DateTime<Utc>,
    gross_exposure: Decimal,
    drawdown: Decimal,
    trading_state: &str,
    parent_portfolio_hash: &str,
) -> String {
    Canon::new()
        .int(account_id)
        .ts(hour_ts)
        .num8(gross_exposure)
        .num8(drawdown)
        .text(trading_state)
        .text(parent_portfolio_hash)
        .hash()
}

#[cfg(test)]
mod tests {
    //! Renderings of the canon's fields; the hash vectors are in `crate::hash_vectors`.
    use super::*;
    use chrono::TimeZone;
    use std::str::FromStr;

    fn dec(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap_or_else(|e| panic!("bad decimal literal {s}: {e}"))
    }

    fn ts(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32, us: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, s)
            .single()
            .map(|t| t + chrono::Duration::microseconds(i64::from(us)))
            .unwrap_or_else(|| panic!("bad timestamp"))
    }

    #[test]
    fn renders_numerics_like_postgres_numeric_20_8() {
        assert_eq!(render_decimal(dec("1.5"), 8), "1.50000000");
        assert_eq!(render_decimal(dec("-1.5"), 8), "-1.50000000");
        assert_eq!(render_decimal(Decimal::ZERO, 8), "0.00000000");
        assert_eq!(render_decimal(-Decimal::ZERO, 8), "0.00000000");
        assert_eq!(render_decimal(dec("0.000000005"), 8), "0.00000001");
        assert_eq!(render_decimal(dec("-0.000000005"), 8), "-0.00000001");
        assert_eq!(render_decimal(dec("2.5"), 4), "2.5000");
        assert_eq!(
            render_decimal(dec("123456789012.123456789"), 8),
            "123456789012.12345679"
        );
    }

    #[test]
    fn renders_timestamps_in_canonical_utc_form() {
        assert_eq!(
            render_timestamp(ts(2026, 1, 5, 7, 0, 1, 2)),
            "2026-01-05T07:00:01.000002Z"
        );
        assert_eq!(
            render_timestamp(ts(2026, 3, 1, 0, 0, 0, 0)),
            "2026-03-01T00:00:00.000000Z"
        );
    }

    #[test]
    fn canon_renders_null_and_text() {
        let mut c = Canon::new();
        c.int(7).opt_int(None).text("TRADE").num8(dec("-12.3"));
        assert_eq!(c.as_str(), "7|\\N|TRADE|-12.30000000");
    }

    // The hashes PostgreSQL produced live in `crate::hash_vectors`: one table of vectors run
    // through both the Rust side (its unit tests) and the SQL functions (tests/hash_vectors.rs).
}
