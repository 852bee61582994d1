//! Nothing acknowledged is lost: the final canonical tables hold exactly the seed plus every
//! acknowledged unit, compared fact by fact.
//!
//! The expected world ([`generators::LiveWorld::expected`] over the acknowledged units) is
//! COPYed into temporary tables shaped like the canonical tables' Phase 1A columns, and each
//! table is compared both ways with `EXCEPT ALL` in one snapshot: a row missing from the
//! database is a lost write (or a lost seed row), a row the database has beyond the expected
//! ones is a write nobody acknowledged (or a changed fact: then it shows on both sides).

use generators::World;
use sqlx::{Connection, PgConnection, Row};

/// Samples kept per table and direction.
const SAMPLE: i64 = 3;

/// One table's comparison.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TableDiff {
    /// The canonical table.
    pub table: &'static str,
    /// Rows expected.
    pub expected: i64,
    /// Rows present.
    pub actual: i64,
    /// Expected rows the table does not hold (lost).
    pub missing: i64,
    /// Rows the table holds that were not expected.
    pub extra: i64,
    /// Up to three missing rows, as JSON.
    pub missing_sample: Vec<String>,
    /// Up to three extra rows, as JSON.
    pub extra_sample: Vec<String>,
}

/// The comparison of every table.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Verification {
    /// Per table, in dependency order.
    pub tables: Vec<TableDiff>,
}

impl Verification {
    /// Expected rows missing from the database, over all tables.
    pub fn lost(&self) -> i64 {
        self.tables.iter().map(|t| t.missing).sum()
    }

    /// Rows present beyond the expected ones, over all tables.
    pub fn unexpected(&self) -> i64 {
        self.tables.iter().map(|t| t.extra).sum()
    }

    /// True when every table holds exactly the expected rows.
    pub fn is_exact(&self) -> bool {
        self.lost() == 0 && self.unexpected() == 0
    }

    /// One line per differing table, with its samples.
    pub fn describe(&self) -> String {
        self.tables
            .iter()
            .filter(|t| t.missing > 0 || t.extra > 0)
            .map(|t| {
                format!(
                    "{}: {} missing {:?}, {} unexpected {:?}",
                    t.table, t.missing, t.missing_sample, t.extra, t.extra_sample
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// Comparing failed.
#[derive(Debug, thiserror::Error)]
#[error("verifying acknowledged writes ({table}): {source}")]
pub struct VerifyError {
    /// The table being compared.
    pub table: &'static str,
    /// The database's error.
    #[source]
    pub source: sqlx::Error,
}

/// Compare the database's canonical tables with `expected`, table by table.
pub async fn verify_acknowledged(
    conn: &mut PgConnection,
    expected: &World,
) -> Result<Verification, VerifyError> {
    let err = |table: &'static str| move |source| VerifyError { table, source };
    let mut tx = conn.begin().await.map_err(err("BEGIN"))?;
    sqlx::raw_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        .execute(&mut *tx)
        .await
        .map_err(err("BEGIN"))?;
    let mut tables = Vec::new();
    for t in expected.tables() {
        let name = t.table();
        let cols = t.columns().join(", ");
        let tmp = format!("harness_expected_{name}");
        sqlx::raw_sql(&format!(
            "CREATE TEMP TABLE {tmp} ON COMMIT DROP AS SELECT {cols} FROM {name} WITH NO DATA"
        ))
        .execute(&mut *tx)
        .await
        .map_err(err(name))?;
        generators::seed::copy_table_into(&mut tx, t, &format!("COPY {tmp} ({cols}) FROM STDIN"))
            .await
            .map_err(|e| VerifyError {
                table: name,
                source: e.into_sqlx(),
            })?;
        let row = sqlx::query(&format!(
            "WITH missing AS (SELECT * FROM {tmp} EXCEPT ALL SELECT {cols} FROM {name}),
                  extra AS (SELECT {cols} FROM {name} EXCEPT ALL SELECT * FROM {tmp})
             SELECT (SELECT count(*) FROM {tmp}) AS expected,
                    (SELECT count(*) FROM {name}) AS actual,
                    (SELECT count(*) FROM missing) AS missing,
                    (SELECT count(*) FROM extra) AS extra,
                    ARRAY(SELECT row_to_json(m)::text FROM missing m LIMIT {SAMPLE}) AS missing_sample,
                    ARRAY(SELECT row_to_json(x)::text FROM extra x LIMIT {SAMPLE}) AS extra_sample"
        ))
        .fetch_one(&mut *tx)
        .await
        .map_err(err(name))?;
        let get = |c: &str| row.try_get::<i64, _>(c);
        tables.push(TableDiff {
            table: name,
            expected: get("expected").map_err(err(name))?,
            actual: get("actual").map_err(err(name))?,
            missing: get("missing").map_err(err(name))?,
            extra: get("extra").map_err(err(name))?,
            missing_sample: row.try_get("missing_sample").map_err(err(name))?,
            extra_sample: row.try_get("extra_sample").map_err(err(name))?,
        });
    }
    tx.commit().await.map_err(err("COMMIT"))?;
    Ok(Verification { tables })
}
