//! Shared test vectors of the hash canon: each names a SQL function of the migration's Phase 1A
//! hash canon (`002_hash_functions.sql`), its typed arguments and the hash PostgreSQL produced.
//! The unit tests run every vector through the Rust side ([`rust_hash`]); the database tests
//! (`generators/tests/hash_vectors.rs`) run every vector through the SQL functions ([`sql_of`]).
//! Both must give `expected`, so the two implementations cannot drift apart silently.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use crate::hash::{
    feature_hash, portfolio_state_hash, position_state_hash, risk_state_hash, sha256_hex, Canon,
    BPS_SCALE, MONEY_SCALE,
};

/// A typed argument, written as text (bound as text and cast in SQL).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arg {
    /// `bigint`.
    Int(&'static str),
    /// `numeric(20,8)`.
    Num(&'static str),
    /// `numeric(10,4)` (basis points).
    Bps(&'static str),
    /// `timestamptz`, RFC 3339.
    Ts(&'static str),
    /// `text`.
    Text(&'static str),
    /// `jsonb` (its canonical text is PostgreSQL's `jsonb::text`).
    Json(&'static str),
    /// A NULL field (`\N` in the canon).
    Null,
}

/// The function a vector runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    /// `hash_text(text)`.
    Text,
    /// `hash_fields(VARIADIC text[])` over the canonical renderings of typed fields.
    Fields,
    /// `feature_snapshot_hash(instrument_id, hour_ts, close_price, features)`.
    FeatureSnapshot,
    /// `position_state_hash(account_id, instrument_id, hour_ts, quantity, mark_price, market_value)`.
    PositionState,
    /// `portfolio_state_hash(account_id, hour_ts, cash, market_value, equity, peak_equity)`.
    PortfolioState,
    /// `risk_state_hash(account_id, hour_ts, gross_exposure, drawdown, trading_state, parent_portfolio_hash)`.
    RiskState,
    /// `order_fill_row_hash(...)`: the v2 row hash of a fill (its fields in table order, then
    /// `parent_order_hash`).
    OrderFillRow,
    /// `cash_ledger_row_hash(...)`: the v2 row hash of a ledger entry (`prev_hash` last).
    CashLedgerRow,
}

/// One vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashVector {
    /// What it pins.
    pub name: &'static str,
    /// The function.
    pub function: Function,
    /// Its arguments, in order.
    pub args: &'static [Arg],
    /// The hash PostgreSQL produced.
    pub expected: &'static str,
}

const RISK_PARENT: &str = "ca259e511105419536f62e7594ed68a8ee9ba3fa86f4f2c4cb9f88841f33e008";

/// Every vector.
pub const VECTORS: [HashVector; 9] = [
    HashVector {
        name: "empty text",
        function: Function::Text,
        args: &[Arg::Text("")],
        expected: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    },
    HashVector {
        name: "feature snapshot",
        function: Function::FeatureSnapshot,
        args: &[
            Arg::Int("3"),
            Arg::Ts("2026-01-05T07:00:00Z"),
            Arg::Num("12.5"),
            Arg::Json("{\"f1\": 0.12345678, \"f2\": -1.00000000}"),
        ],
        expected: "9c81e0332ccc22ba877b133e9cdc8d55069bf5c6670bb028da0e9351f1245a47",
    },
    HashVector {
        name: "position state",
        function: Function::PositionState,
        args: &[
            Arg::Int("1"),
            Arg::Int("4"),
            Arg::Ts("2026-01-06T23:00:00Z"),
            Arg::Num("150.5"),
            Arg::Num("0.49872101"),
            Arg::Num("75.05751201"),
        ],
        expected: "fffcc87bad76f454b89416cb5ebd57781c7ed18f4cad8cdc316b6169e6cf59ab",
    },
    HashVector {
        name: "portfolio state, all zero",
        function: Function::PortfolioState,
        args: &[
            Arg::Int("2"),
            Arg::Ts("2026-01-05T00:00:00Z"),
            Arg::Num("0"),
            Arg::Num("0"),
            Arg::Num("0"),
            Arg::Num("0"),
        ],
        expected: "b99af1daa9f0f3dd381cfa740ca6683b6d0de62f262f5625c9bf55402fe39e2c",
    },
    HashVector {
        name: "portfolio state",
        function: Function::PortfolioState,
        args: &[
            Arg::Int("2"),
            Arg::Ts("2026-01-07T13:00:00Z"),
            Arg::Num("12345.67890123"),
            Arg::Num("87654.32109877"),
            Arg::Num("100000"),
            Arg::Num("112000.5"),
        ],
        expected: RISK_PARENT,
    },
    HashVector {
        name: "risk state",
        function: Function::RiskState,
        args: &[
            Arg::Int("2"),
            Arg::Ts("2026-01-07T13:00:00Z"),
            Arg::Num("0.87654321"),
            Arg::Num("0.10714684"),
            Arg::Text("REDUCE_ONLY"),
            Arg::Text(RISK_PARENT),
        ],
        expected: "3c6a87362f30a89e8d3f0b89036c79a6e98cdb62e8281e832482bbe2e01d5570",
    },
    HashVector {
        name: "NULL, microseconds, bps scale and half-away rounding",
        function: Function::Fields,
        args: &[
            Arg::Int("9"),
            Arg::Null,
            Arg::Ts("2026-01-05T07:00:01.000002Z"),
            Arg::Bps("2.5"),
            Arg::Num("-0.000000005"),
        ],
        expected: "6676c80176e23d966ffc0ed48ea26d8e61c377a4e506fdab0fb6abf6b6f83996",
    },
    HashVector {
        name: "order_fill row hash",
        function: Function::OrderFillRow,
        args: &[
            Arg::Int("17"),
            Arg::Int("2"),
            Arg::Int("40"),
            Arg::Int("3"),
            Arg::Text("SELL"),
            Arg::Ts("2026-01-05T07:00:01.002Z"),
            Arg::Num("1.5"),
            Arg::Num("100.25"),
            Arg::Num("100.22493750"),
            Arg::Num("1.00000000"),
            Arg::Num("0.03759375"),
            Arg::Text("9c81e0332ccc22ba877b133e9cdc8d55069bf5c6670bb028da0e9351f1245a47"),
        ],
        expected: "af14414eea20549464ce4e2105faa6b75926952bb15f3ae6e0995e10a7b9ba8d",
    },
    HashVector {
        name: "cash_ledger row hash of a deposit (no fill) at the chain's genesis",
        function: Function::CashLedgerRow,
        args: &[
            Arg::Int("2"),
            Arg::Int("1"),
            Arg::Ts("2026-01-05T00:00:01Z"),
            Arg::Text("DEPOSIT"),
            Arg::Num("100000"),
            Arg::Num("100000"),
            Arg::Null,
            Arg::Text("0000000000000000000000000000000000000000000000000000000000000000"),
        ],
        expected: "1522dfb41f8a5f779ae77bccdfea6fe1c590ac87603e83b26866efe9b2191f6b",
    },
];

/// Why a vector could not be evaluated (a typo in the vector, never a hash mismatch).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("hash vector `{vector}`: {message}")]
pub struct VectorError {
    /// The vector's name.
    pub vector: &'static str,
    /// What is wrong.
    pub message: String,
}

fn bad(v: &HashVector, message: impl Into<String>) -> VectorError {
    VectorError {
        vector: v.name,
        message: message.into(),
    }
}

fn int(v: &HashVector, a: &Arg) -> Result<i64, VectorError> {
    match a {
        Arg::Int(s) => s.parse().map_err(|e| bad(v, format!("{s}: {e}"))),
        other => Err(bad(v, format!("expected an Int, got {other:?}"))),
    }
}

fn num(v: &HashVector, a: &Arg) -> Result<Decimal, VectorError> {
    match a {
        Arg::Num(s) | Arg::Bps(s) => Decimal::from_str(s).map_err(|e| bad(v, format!("{s}: {e}"))),
        other => Err(bad(v, format!("expected a Num, got {other:?}"))),
    }
}

fn ts(v: &HashVector, a: &Arg) -> Result<DateTime<Utc>, VectorError> {
    match a {
        Arg::Ts(s) => DateTime::parse_from_rfc3339(s)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| bad(v, format!("{s}: {e}"))),
        other => Err(bad(v, format!("expected a Ts, got {other:?}"))),
    }
}

fn text<'a>(v: &HashVector, a: &'a Arg) -> Result<&'a str, VectorError> {
    match a {
        Arg::Text(s) | Arg::Json(s) => Ok(s),
        other => Err(bad(v, format!("expected a Text, got {other:?}"))),
    }
}

/// The canon of typed fields, in order.
fn canon(v: &HashVector, args: &[Arg]) -> Result<Canon, VectorError> {
    let mut c = Canon::new();
    for a in args {
        match a {
            Arg::Int(_) => {
                c.int(int(v, a)?);
            }
            Arg::Num(_) => {
                c.num(num(v, a)?, MONEY_SCALE);
            }
            Arg::Bps(_) => {
                c.num(num(v, a)?, BPS_SCALE);
            }
            Arg::Ts(_) => {
                c.ts(ts(v, a)?);
            }
            Arg::Text(s) | Arg::Json(s) => {
                c.text(s);
            }
            Arg::Null => {
                c.null();
            }
        }
    }
    Ok(c)
}

/// The vector's hash computed by the Rust side.
pub fn rust_hash(v: &HashVector) -> Result<String, VectorError> {
    let a = v.args;
    let arity = |n: usize| {
        if a.len() == n {
            Ok(())
        } else {
            Err(bad(v, format!("{} arguments, expected {n}", a.len())))
        }
    };
    match v.function {
        Function::Text => {
            arity(1)?;
            Ok(sha256_hex(text(v, &a[0])?))
        }
        Function::Fields | Function::OrderFillRow | Function::CashLedgerRow => {
            Ok(canon(v, a)?.hash())
        }
        Function::FeatureSnapshot => {
            arity(4)?;
            Ok(feature_hash(
                int(v, &a[0])?,
                ts(v, &a[1])?,
                num(v, &a[2])?,
                text(v, &a[3])?,
            ))
        }
        Function::PositionState => {
            arity(6)?;
            Ok(position_state_hash(
                int(v, &a[0])?,
                int(v, &a[1])?,
                ts(v, &a[2])?,
                num(v, &a[3])?,
                num(v, &a[4])?,
                num(v, &a[5])?,
            ))
        }
        Function::PortfolioState => {
            arity(6)?;
            Ok(portfolio_state_hash(
                int(v, &a[0])?,
                ts(v, &a[1])?,
                num(v, &a[2])?,
                num(v, &a[3])?,
                num(v, &a[4])?,
                num(v, &a[5])?,
            ))
        }
        Function::RiskState => {
            arity(6)?;
            Ok(risk_state_hash(
                int(v, &a[0])?,
                ts(v, &a[1])?,
                num(v, &a[2])?,
                num(v, &a[3])?,
                text(v, &a[4])?,
                text(v, &a[5])?,
            ))
        }
    }
}

/// `$n` cast to the argument's SQL type (every argument is bound as text).
fn cast(n: usize, a: &Arg) -> String {
    match a {
        Arg::Int(_) => format!("${n}::text::bigint"),
        Arg::Num(_) => format!("${n}::text::numeric(20,8)"),
        Arg::Bps(_) => format!("${n}::text::numeric(10,4)"),
        Arg::Ts(_) => format!("${n}::text::timestamptz"),
        Arg::Text(_) => format!("${n}::text"),
        Arg::Json(_) => format!("${n}::text::jsonb"),
        Arg::Null => format!("${n}::text"),
    }
}

/// The SQL that computes the vector with the migration's hash functions, and the text of each
/// bind parameter (`None` binds NULL).
pub fn sql_of(v: &HashVector) -> (String, Vec<Option<&'static str>>) {
    let binds: Vec<Option<&'static str>> = v
        .args
        .iter()
        .map(|a| match a {
            Arg::Int(s) | Arg::Num(s) | Arg::Bps(s) | Arg::Ts(s) | Arg::Text(s) | Arg::Json(s) => {
                Some(*s)
            }
            Arg::Null => None,
        })
        .collect();
    let casts: Vec<String> = v
        .args
        .iter()
        .enumerate()
        .map(|(i, a)| cast(i + 1, a))
        .collect();
    let call = |f: &str| format!("SELECT {f}({})", casts.join(", "));
    let sql = match v.function {
        Function::Text => call("hash_text"),
        Function::Fields => {
            // the canonical rendering of each typed field, as the per-table functions do
            let fields: Vec<String> = v
                .args
                .iter()
                .enumerate()
                .map(|(i, a)| match a {
                    Arg::Int(_) => format!("{}::text", cast(i + 1, a)),
                    Arg::Num(_) => format!("hash_num({})", cast(i + 1, a)),
                    Arg::Bps(_) => format!("{}::text", cast(i + 1, a)),
                    Arg::Ts(_) => format!("hash_ts({})", cast(i + 1, a)),
                    Arg::Json(_) => format!("{}::text", cast(i + 1, a)),
                    Arg::Text(_) | Arg::Null => cast(i + 1, a),
                })
                .collect();
            format!("SELECT hash_fields({})", fields.join(", "))
        }
        Function::FeatureSnapshot => call("feature_snapshot_hash"),
        Function::PositionState => call("position_state_hash"),
        Function::PortfolioState => call("portfolio_state_hash"),
        Function::RiskState => call("risk_state_hash"),
        Function::OrderFillRow => call("order_fill_row_hash"),
        Function::CashLedgerRow => {
            // fill_id is a bigint argument even when NULL
            let mut c = casts.clone();
            if let Some(f) = c.get_mut(6) {
                *f = "$7::text::bigint".to_string();
            }
            format!("SELECT cash_ledger_row_hash({})", c.join(", "))
        }
    };
    (sql, binds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_vector_hashes_to_its_expected_value_in_rust() {
        for v in &VECTORS {
            assert_eq!(
                rust_hash(v).unwrap_or_else(|e| panic!("{e}")),
                v.expected,
                "{}",
                v.name
            );
        }
    }

    #[test]
    fn vector_sql_casts_every_argument() {
        let (sql, binds) = sql_of(&VECTORS[6]);
        assert_eq!(
            sql,
            "SELECT hash_fields($1::text::bigint::text, $2::text, hash_ts($3::text::timestamptz), $4::text::numeric(10,4)::text, hash_num($5::text::numeric(20,8)))"
        );
        assert_eq!(binds[1], None);
        let (sql, _) = sql_of(&VECTORS[8]);
        assert!(sql.contains("$7::text::bigint"), "{sql}");
    }
}
