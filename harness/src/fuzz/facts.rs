//! What the pipeline compares across the migration: the content of every table before and
//! after (nothing lost), and the hourly states as text lines on the Rust and the database side
//! (replay parity). Shared by `harness fuzz` and the property tests.

use std::collections::BTreeMap;

use generators::hash::{render_decimal, render_timestamp, MONEY_SCALE};
use generators::HourlyStates;
use sqlx::PgConnection;

/// A query of the comparisons failed: what it was reading, and the database's error (so a
/// caller can tell a lost server from a missing table).
#[derive(Debug, thiserror::Error)]
#[error("{what}: {source}")]
pub struct FactsError {
    /// What was being read.
    pub what: String,
    /// The database's error.
    #[source]
    pub source: sqlx::Error,
}

fn ctx(what: impl Into<String>) -> impl FnOnce(sqlx::Error) -> FactsError {
    let what = what.into();
    move |source| FactsError { what, source }
}

/// Phase 1A tables that are never renamed: references, then hypertables.
pub fn reference_and_hypertables() -> impl Iterator<Item = &'static str> {
    contract::REFERENCE_TABLES
        .into_iter()
        .chain(contract::HYPERTABLES)
}

/// Columns of `table` in table order.
pub async fn columns(conn: &mut PgConnection, table: &str) -> Result<Vec<String>, FactsError> {
    sqlx::query_scalar(
        "SELECT a.attname::text FROM pg_attribute a
          WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped
          ORDER BY a.attnum",
    )
    .bind(table)
    .fetch_all(&mut *conn)
    .await
    .map_err(ctx(format!("columns of {table}")))
}

/// (rows, sha256 of the rows projected on `cols` as row text, sorted bytewise).
pub async fn content(
    conn: &mut PgConnection,
    table: &str,
    cols: &[String],
) -> Result<(i64, String), FactsError> {
    let list = cols
        .iter()
        .map(|c| format!("\"{c}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "SELECT count(*), encode(sha256(convert_to(coalesce(
            string_agg(r, E'\\n' ORDER BY r COLLATE \"C\"), ''), 'UTF8')), 'hex')
           FROM (SELECT ROW({list})::text AS r FROM {table}) t"
    );
    sqlx::query_as(&sql)
        .fetch_one(&mut *conn)
        .await
        .map_err(ctx(format!("content of {table}")))
}

/// Every Phase 1A table's columns and content, before the migration.
pub type Snapshot = BTreeMap<&'static str, (Vec<String>, (i64, String))>;

/// Pins the text forms the content hashes are made of.
pub async fn pin_text_forms(conn: &mut PgConnection) -> Result<(), FactsError> {
    sqlx::raw_sql("SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; SET extra_float_digits = 1")
        .execute(&mut *conn)
        .await
        .map(|_| ())
        .map_err(ctx("session settings"))
}

/// The content of every Phase 1A table (event tables, references, hypertables).
pub async fn snapshot(conn: &mut PgConnection) -> Result<Snapshot, FactsError> {
    pin_text_forms(conn).await?;
    let mut before = Snapshot::new();
    for table in contract::EVENT_TABLES
        .into_iter()
        .chain(reference_and_hypertables())
    {
        let cols = columns(conn, table).await?;
        let c = content(conn, table, &cols).await?;
        before.insert(table, (cols, c));
    }
    Ok(before)
}

/// What the migration lost or changed: every archive must hold exactly its pre-migration rows
/// (same columns), every canonical table the same facts projected on the legacy columns, every
/// other table the same rows. One line per difference, `(table, line)`.
pub async fn lost(
    conn: &mut PgConnection,
    before: &Snapshot,
) -> Result<Vec<(String, String)>, FactsError> {
    pin_text_forms(conn).await?;
    let mut lost = Vec::new();
    for (table, (cols, expected)) in before {
        let mut targets = vec![table.to_string()];
        if contract::EVENT_TABLES.contains(table) {
            let archive = format!("{table}{}", contract::ARCHIVE_SUFFIX);
            let archive_cols = columns(conn, &archive).await?;
            if &archive_cols == cols {
                targets.push(archive);
            } else {
                // Not the pre-migration table (or none at all): its content cannot match; the
                // canonical table is still compared.
                lost.push((
                    archive.clone(),
                    format!("{archive}: columns {archive_cols:?}, expected {cols:?}"),
                ));
            }
        }
        for t in targets {
            let got = content(conn, &t, cols).await?;
            if &got != expected {
                lost.push((
                    t.clone(),
                    format!(
                        "{t}: {} rows {} (projected on the legacy columns), expected {} rows {}",
                        got.0, got.1, expected.0, expected.1
                    ),
                ));
            }
        }
    }
    Ok(lost)
}

/// The hourly states as text lines (positions, portfolios, risks, risk events), in (hour,
/// account, instrument) order: the Rust side.
pub fn state_lines(s: &HourlyStates) -> [Vec<String>; 4] {
    let n = |d| render_decimal(d, MONEY_SCALE);
    let t = render_timestamp;
    [
        s.positions
            .iter()
            .map(|p| {
                format!(
                    "{}|{}|{}|{}|{}|{}|{}",
                    p.account_id,
                    p.instrument_id,
                    t(p.hour_ts),
                    n(p.quantity),
                    n(p.mark_price),
                    n(p.market_value),
                    p.state_hash
                )
            })
            .collect(),
        s.portfolios
            .iter()
            .map(|p| {
                format!(
                    "{}|{}|{}|{}|{}|{}|{}",
                    p.account_id,
                    t(p.hour_ts),
                    n(p.cash),
                    n(p.market_value),
                    n(p.equity),
                    n(p.peak_equity),
                    p.state_hash
                )
            })
            .collect(),
        s.risks
            .iter()
            .map(|r| {
                format!(
                    "{}|{}|{}|{}|{}|{}|{}",
                    r.account_id,
                    t(r.hour_ts),
                    n(r.gross_exposure),
                    n(r.drawdown),
                    r.trading_state.as_str(),
                    r.state_hash,
                    r.parent_portfolio_hash
                )
            })
            .collect(),
        s.changes
            .iter()
            .map(|e| {
                format!(
                    "{}|{}|{}|{}|{}",
                    e.account_id,
                    t(e.hour_ts),
                    e.from_state.as_str(),
                    e.to_state.as_str(),
                    n(e.drawdown)
                )
            })
            .collect(),
    ]
}

/// The stored hourly states as the same text lines: the database side.
pub async fn stored_lines(conn: &mut PgConnection) -> Result<[Vec<String>; 4], FactsError> {
    const TS: &str = r#"to_char(hour_ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')"#;
    let queries = [
        format!("SELECT concat_ws('|', account_id, instrument_id, {TS}, quantity, mark_price, market_value, state_hash)
                   FROM position_hourly_state ORDER BY hour_ts, account_id, instrument_id"),
        format!("SELECT concat_ws('|', account_id, {TS}, cash, market_value, equity, peak_equity, state_hash)
                   FROM portfolio_hourly_state ORDER BY hour_ts, account_id"),
        format!("SELECT concat_ws('|', account_id, {TS}, gross_exposure, drawdown, trading_state, state_hash, parent_portfolio_hash)
                   FROM risk_hourly_state ORDER BY hour_ts, account_id"),
        format!("SELECT concat_ws('|', account_id, {TS}, from_state, to_state, drawdown)
                   FROM risk_event ORDER BY hour_ts, account_id"),
    ];
    let mut out: [Vec<String>; 4] = Default::default();
    for (slot, sql) in out.iter_mut().zip(&queries) {
        *slot = sqlx::query_scalar(sql)
            .fetch_all(&mut *conn)
            .await
            .map_err(ctx("reading stored states"))?;
    }
    Ok(out)
}

/// The first line where two sides differ, named.
pub fn first_mismatch(what: &str, a: &[Vec<String>; 4], b: &[Vec<String>; 4]) -> Option<String> {
    let names = ["position", "portfolio", "risk", "risk_event"];
    for ((name, x), y) in names.iter().zip(a).zip(b) {
        if x.len() != y.len() {
            return Some(format!("{what}: {name}: {} rows vs {}", x.len(), y.len()));
        }
        if let Some(i) = x.iter().zip(y).position(|(p, q)| p != q) {
            return Some(format!("{what}: {name} row {i}: {} vs {}", x[i], y[i]));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mismatch_names_the_table_and_row() {
        let a: [Vec<String>; 4] = [vec!["x".into()], vec![], vec![], vec![]];
        let mut b = a.clone();
        assert_eq!(first_mismatch("t", &a, &b), None);
        b[0][0] = "y".into();
        assert_eq!(
            first_mismatch("t", &a, &b).as_deref(),
            Some("t: position row 0: x vs y")
        );
        b[2].push("z".into());
        b[0][0] = "x".into();
        assert_eq!(
            first_mismatch("t", &a, &b).as_deref(),
            Some("t: risk: 0 rows vs 1")
        );
    }
}
