//! `--mutate`: after a clean cutover, one corruption from the oracle's catalogue, chosen by the
//! case's seed, is applied inside a transaction that is rolled back; its own check and sub-rule
//! (or its confirmation) must catch it. A corruption nobody catches is a hole in the oracle.

use generators::model::{EntryType, Side, World};
use invariants::corruptions::{Corruption, Target};
use invariants::{load_catalog, render_check, AuditPurpose, TableSet};
use sqlx::{Connection, PgConnection};

/// A mutation that could not be applied or judged: what, and the database's error if any.
#[derive(Debug, thiserror::Error)]
#[error("{what}")]
pub struct MutateError {
    /// What failed.
    pub what: String,
    /// The database's error, when it was one.
    #[source]
    pub source: Option<sqlx::Error>,
}

fn plain(what: impl Into<String>) -> MutateError {
    MutateError {
        what: what.into(),
        source: None,
    }
}

fn db(what: impl Into<String>) -> impl FnOnce(sqlx::Error) -> MutateError {
    let what = what.into();
    move |e| MutateError {
        what: format!("{what}: {e}"),
        source: Some(e),
    }
}

/// What one mutation did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Mutation {
    /// The check or confirmation that must catch it.
    pub check: &'static str,
    /// Its sub-rule (for a confirmation, the corruption's name).
    pub rule: &'static str,
    /// What the corruption does.
    pub what: &'static str,
    /// Caught by its own check and rule.
    pub killed: bool,
    /// Why it was not, when it was not.
    pub detail: String,
}

/// Does the world have what a corruption without an explicit precondition needs: a deposit, a
/// BUY fill and a SELL fill?
pub fn generic_ready(world: &World) -> bool {
    world
        .cash_ledger
        .iter()
        .any(|l| l.entry_type == EntryType::Deposit)
        && world.order_fill.iter().any(|f| f.side == Side::Buy)
        && world.order_fill.iter().any(|f| f.side == Side::Sell)
}

/// Every corruption of the catalogue that can apply after the cutover on this database.
async fn candidates(conn: &mut PgConnection) -> Result<Vec<&'static Corruption>, MutateError> {
    let set = TableSet::CanonicalAfterCutover;
    let catalog = load_catalog(conn).await.map_err(db("catalog"))?;
    let all = invariants::corruptions::catalogue().map_err(|e| plain(e.to_string()))?;
    let mut out = Vec::new();
    for c in all {
        let fits = match c.target {
            Target::Check => c.applies(set, &catalog).map_err(|e| plain(e.to_string()))?,
            Target::Confirmation { .. } => c.sets.contains(&set),
        };
        if fits {
            out.push(c);
        }
    }
    Ok(out)
}

/// Applies one corruption chosen by `seed` (the first whose precondition holds, starting at the
/// seed's pick) and judges it. `Ok(None)`: no corruption's precondition holds in this world.
pub async fn mutate_once(
    conn: &mut PgConnection,
    world: &World,
    seed: u64,
) -> Result<Option<Mutation>, MutateError> {
    let set = TableSet::CanonicalAfterCutover;
    let list = candidates(conn).await?;
    if list.is_empty() {
        return Err(plain(
            "no corruption of the catalogue applies after the cutover",
        ));
    }
    let ready = generic_ready(world);
    let start = (seed % list.len() as u64) as usize;
    for k in 0..list.len() {
        let c = list[(start + k) % list.len()];
        let pre = c.precondition_for(set).map_err(|e| plain(e.to_string()))?;
        let holds = match &pre {
            Some(sql) => sqlx::query_scalar::<_, bool>(sql)
                .fetch_one(&mut *conn)
                .await
                .map_err(db(format!("{}: precondition", c.label())))?,
            None => ready || matches!(c.target, Target::Confirmation { .. }),
        };
        if holds {
            return judge(conn, c).await.map(Some);
        }
    }
    Ok(None)
}

/// Applies `c` in a transaction, asks its check (or the audit) whether it sees it, rolls back.
pub async fn judge(
    conn: &mut PgConnection,
    c: &'static Corruption,
) -> Result<Mutation, MutateError> {
    let set = TableSet::CanonicalAfterCutover;
    let script = c.sql_for(set).map_err(|e| plain(e.to_string()))?;
    let mut tx = conn.begin().await.map_err(db("begin"))?;
    let changed = sqlx::raw_sql(&script)
        .execute(&mut *tx)
        .await
        .map_err(db(format!("{}: corruption SQL failed", c.label())))?
        .rows_affected();
    let mut m = Mutation {
        check: c.check,
        rule: c.rule,
        what: c.what,
        killed: false,
        detail: String::new(),
    };
    match c.target {
        Target::Check => {
            // Every precondition is declared, so a DML-only script that changed no row is a
            // missing precondition: a failure of the catalogue, never a kill.
            let dml_only = !c.sql.contains("DO $") && !c.sql.contains("ADD CONSTRAINT");
            if dml_only && changed == 0 {
                m.detail = "the corruption changed no row although its precondition holds".into();
            } else {
                let after = load_catalog(&mut tx).await.map_err(db("catalog"))?;
                let rendered =
                    render_check(c.check, set, &after).map_err(|e| plain(e.to_string()))?;
                let sql = format!(
                    "SELECT count(*) FILTER (WHERE v.rule = $1), count(*) FROM ({}) v",
                    rendered.sql
                );
                let (hits, all): (i64, i64) = sqlx::query_as(&sql)
                    .bind(c.rule)
                    .persistent(false)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(db(format!("{}: query after {}", c.check, c.rule)))?;
                m.killed = hits > 0;
                if !m.killed {
                    m.detail = format!("not caught ({all} other violations of {})", c.check);
                }
            }
        }
        Target::Confirmation { expect } => {
            let audit = invariants::audit_within(&mut tx, AuditPurpose::Validate, 5)
                .await
                .map_err(|e| plain(format!("{}: audit: {e}", c.label())))?;
            match audit.confirmations.iter().find(|x| x.name == c.check) {
                Some(x) if !x.passed && x.detail.contains(expect) => m.killed = true,
                other => m.detail = format!("not caught: {other:?}"),
            }
        }
    }
    tx.rollback().await.map_err(db("rollback"))?;
    Ok(m)
}
