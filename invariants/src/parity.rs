//! Archive <-> canonical parity: every fact of every archived event table is present, unchanged,
//! in its canonical successor (and, before the cutover, every canonical row in its `*_v2` twin).
//!
//! The comparison works like data-diff's checksummed segments, inside one database:
//!
//! 1. **One pass per table and side.** Rows are grouped into power-of-two segments of the key
//!    (`key >> shift`; for `cash_ledger` per account and `ledger_seq >> shift`) and each segment
//!    yields its row count and the sum of `hash_record_extended(ROW(facts), 0)` (a 64-bit hash of
//!    the typed values: no text rendering, independent of the session's time zone). Equal
//!    segments are done. The sums of all segments are the table's content fingerprint.
//! 2. **Bisection.** Each differing segment with more than [`LEAF_ROWS`] rows is split into 16
//!    sub-segments (`shift - 4`) and only those are aggregated again, one query per table and
//!    round over the differing ranges (an index range scan each), until the differing segments
//!    are small.
//! 3. **Leaves.** One FULL JOIN on the key over the differing small segments names every
//!    differing key as `missing` (in the source, not in the target), `extra` (in the target
//!    only, where it should not be) or `changed` (both, facts differ), with both versions of the
//!    row.
//!
//! A clean table costs exactly step 1; no query ever runs per row.
//!
//! After the cutover (`*_phase1a_archive` -> canonical) the target may hold more rows: those
//! written after the cutover. STEP_7B records each archive as the cutover sealed it (row count
//! and the sum of `hash_record_extended` over its whole rows, in `migration_cutover_manifest`):
//! while the archive still matches that record exactly, every target-only row is
//! `written_after` (concurrent writers commit keys in any order, so a row written after the
//! cutover may sit below an archived key). A row deleted from, added to or changed in an archive
//! afterwards breaks the seal (`sealed` in the table's result, a violation), and then every
//! target-only row is named `extra`: any of them may be the row the archive lost. A database
//! cut over without a record falls back to the key rule: a target-only row above the source's
//! largest key (per account for `cash_ledger`) is `written_after`, one inside the archived key
//! range is `extra`, a row the archive lost. The progress columns that
//! legitimately move after the cutover (`order_request.filled_quantity`,
//! `position_lot.remaining_qty`, excluded from the row hash for the same reason) are not
//! compared there; `quantity_conservation` proves them against the fills and executed trades.
//! Before the cutover (canonical -> `*_v2`, kept in step by dual write) every column is
//! compared and every `*_v2`-only row is `extra`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Instant;

use sqlx::{PgConnection, Row};

use crate::template::Catalog;
use crate::{InvariantsError, TableSet};

/// Differing segments at or below this many rows (on either side) are compared row by row.
pub const LEAF_ROWS: i64 = 512;
/// Segments of the first pass, roughly (the key span divided into about this many).
pub const FIRST_PASS_SEGMENTS: i64 = 256;

/// The segment sizes of one comparison (tests use tiny ones to exercise the bisection on small
/// tables; [`table_parity`] uses the defaults).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParityTuning {
    /// Segments of the first pass, roughly.
    pub first_pass_segments: i64,
    /// Differing segments at or below this many rows are compared row by row.
    pub leaf_rows: i64,
    /// `cash_ledger`'s first-pass `ledger_seq` segment width, as a shift.
    pub second_key_shift: u32,
}

impl Default for ParityTuning {
    fn default() -> Self {
        Self {
            first_pass_segments: FIRST_PASS_SEGMENTS,
            leaf_rows: LEAF_ROWS,
            second_key_shift: SECOND_KEY_SHIFT,
        }
    }
}
/// More differing segments than this in one round: aggregate the whole table at the finer
/// level instead of listing the ranges (a long OR list plans worse than one scan).
const MAX_LISTED_SEGMENTS: usize = 64;
/// `cash_ledger`'s `ledger_seq` segments start this wide (per account): `ledger_seq >> 10`.
const SECOND_KEY_SHIFT: u32 = 10;

/// The facts of one event table that parity compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParityTable {
    /// Canonical (base) name.
    pub table: &'static str,
    /// Key columns (one or two bigint columns).
    pub key: &'static [&'static str],
    /// Which key column the segments split: 0, or 1 for a table keyed per account whose first
    /// key column has few distinct values (`cash_ledger`: per account, by `ledger_seq`).
    pub split_on: usize,
    /// Columns that never change once written (every legacy column but the progress ones), in
    /// table order.
    pub facts: &'static [&'static str],
    /// Progress columns that move after the cutover (compared before it only).
    pub progress: &'static [&'static str],
}

/// The ten event tables' parity definitions, in the seed log's archive order.
pub const PARITY_TABLES: [ParityTable; 10] = [
    ParityTable {
        table: "trade_signal",
        key: &["signal_id"],
        split_on: 0,
        facts: &[
            "signal_id",
            "account_id",
            "instrument_id",
            "hour_ts",
            "prediction_id",
            "regime_output_id",
            "target_weight",
        ],
        progress: &[],
    },
    ParityTable {
        table: "regime_output",
        key: &["regime_output_id"],
        split_on: 0,
        facts: &["regime_output_id", "model_id", "hour_ts", "regime", "score"],
        progress: &[],
    },
    ParityTable {
        table: "model_prediction",
        key: &["prediction_id"],
        split_on: 0,
        facts: &[
            "prediction_id",
            "model_id",
            "instrument_id",
            "hour_ts",
            "feature_hour_ts",
            "feature_hash",
            "score",
        ],
        progress: &[],
    },
    ParityTable {
        table: "meta_learner_component",
        key: &["meta_prediction_id", "base_prediction_id"],
        split_on: 0,
        facts: &["meta_prediction_id", "base_prediction_id", "weight"],
        progress: &[],
    },
    ParityTable {
        table: "order_request",
        key: &["order_id"],
        split_on: 0,
        facts: &[
            "order_id",
            "account_id",
            "signal_id",
            "instrument_id",
            "side",
            "quantity",
            "reference_price",
            "requested_ts",
            "risk_hour_ts",
        ],
        progress: &["filled_quantity"],
    },
    ParityTable {
        table: "order_fill",
        key: &["fill_id"],
        split_on: 0,
        facts: &[
            "fill_id",
            "account_id",
            "order_id",
            "instrument_id",
            "side",
            "fill_ts",
            "fill_qty",
            "reference_price",
            "fill_price",
            "fee",
            "slippage_cost",
        ],
        progress: &[],
    },
    ParityTable {
        table: "position_lot",
        key: &["lot_id"],
        split_on: 0,
        facts: &[
            "lot_id",
            "account_id",
            "instrument_id",
            "opening_fill_id",
            "opened_ts",
            "original_qty",
            "cost_basis",
        ],
        progress: &["remaining_qty"],
    },
    ParityTable {
        table: "executed_trade",
        key: &["executed_trade_id"],
        split_on: 0,
        facts: &[
            "executed_trade_id",
            "account_id",
            "instrument_id",
            "lot_id",
            "sell_fill_id",
            "executed_ts",
            "quantity",
            "proceeds",
            "cost_basis",
            "realized_pnl",
        ],
        progress: &[],
    },
    ParityTable {
        table: "cash_ledger",
        key: &["account_id", "ledger_seq"],
        split_on: 1,
        facts: &[
            "account_id",
            "ledger_seq",
            "entry_ts",
            "entry_type",
            "amount",
            "balance_after",
            "fill_id",
        ],
        progress: &[],
    },
    ParityTable {
        table: "risk_event",
        key: &["risk_event_id"],
        split_on: 0,
        facts: &[
            "risk_event_id",
            "account_id",
            "hour_ts",
            "event_type",
            "from_state",
            "to_state",
            "drawdown",
        ],
        progress: &[],
    },
];

/// Which pair of tables parity compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ParityDirection {
    /// After the cutover: `<t>_phase1a_archive` (source) -> canonical `<t>` (target); the
    /// target may hold rows keyed above the archive's; progress columns are not compared.
    ArchiveToCanonical,
    /// Before the cutover: canonical Phase 1A `<t>` (source) -> `<t>_v2` (target), kept equal by
    /// dual write: every column, no extra row.
    CanonicalToV2,
}

impl ParityDirection {
    /// The direction that applies to a table set (`None`: Phase 1A, nothing to compare yet).
    pub fn for_set(set: TableSet) -> Option<Self> {
        match set {
            TableSet::Phase1a => None,
            TableSet::V2BeforeCutover => Some(ParityDirection::CanonicalToV2),
            TableSet::CanonicalAfterCutover => Some(ParityDirection::ArchiveToCanonical),
        }
    }

    /// (source, target) table names of `table`.
    pub fn tables(self, table: &str) -> (String, String) {
        match self {
            ParityDirection::ArchiveToCanonical => {
                (contract::archive_name(table), table.to_string())
            }
            ParityDirection::CanonicalToV2 => (table.to_string(), contract::v2_name(table)),
        }
    }

    /// May the target hold rows keyed above the source's largest key?
    pub fn extras_allowed(self) -> bool {
        self == ParityDirection::ArchiveToCanonical
    }

    /// The columns compared for `spec`.
    pub fn columns(self, spec: &ParityTable) -> Vec<&'static str> {
        let mut cols = spec.facts.to_vec();
        if self == ParityDirection::CanonicalToV2 {
            cols.extend_from_slice(spec.progress);
        }
        cols
    }
}

/// PASS / FAIL of one table's parity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum ParityStatus {
    /// Every source row is in the target, unchanged (and, before the cutover, nothing more).
    #[serde(rename = "PASS")]
    Pass,
    /// At least one row missing, changed or extra, or the tables cannot be compared.
    #[serde(rename = "FAIL")]
    Fail,
}

/// How a differing key differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DiffKind {
    /// In the source, not in the target: lost.
    Missing,
    /// In the target only, where it should not be (inside the archived key range, or any
    /// `*_v2`-only row before the cutover).
    Extra,
    /// In both, with different facts.
    Changed,
}

/// One differing key with both versions of its row (`None` where the row is absent).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ParityDifference {
    /// The key, as `{column: value}`.
    pub key: serde_json::Value,
    /// How it differs.
    pub kind: DiffKind,
    /// The source row's compared columns.
    pub source_row: Option<serde_json::Value>,
    /// The target row's compared columns.
    pub target_row: Option<serde_json::Value>,
}

/// Parity of one event table.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TableParity {
    /// Canonical (base) name.
    pub table: &'static str,
    /// The table read as the source (archive, or canonical before the cutover).
    pub source: String,
    /// The table read as the target (canonical, or `*_v2` before the cutover).
    pub target: String,
    /// Rows in the source.
    pub source_rows: i64,
    /// Rows in the target.
    pub target_rows: i64,
    /// Content fingerprint of the source's compared columns (16 hex).
    pub source_fingerprint: String,
    /// Content fingerprint of the target's compared columns (16 hex).
    pub target_fingerprint: String,
    /// Source rows absent from the target.
    pub missing: i64,
    /// Keys present on both sides with different facts.
    pub changed: i64,
    /// Target-only rows inside the source's key range (or any, before the cutover).
    pub extra: i64,
    /// Target-only rows written after the cutover (allowed): every one when the archive's
    /// cutover record exists, else those keyed above every source key.
    pub written_after: i64,
    /// The archive against STEP_7B's record of it (after the cutover, when recorded).
    pub sealed: Option<ArchiveSeal>,
    /// PASS / FAIL.
    pub status: ParityStatus,
    /// Why the tables could not be compared, when they could not (the status is FAIL).
    pub error: Option<String>,
    /// The first differing keys that are violations, in key order (at most the sample size).
    pub first_differences: Vec<ParityDifference>,
    /// Segments of the first pass.
    pub segments: usize,
    /// Bisection rounds after the first pass.
    pub rounds: u32,
    /// Wall time, microseconds.
    pub elapsed_us: u64,
}

/// Which target-only rows count as written after the cutover.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LateRows {
    /// Every one (the archive matches its cutover record).
    All,
    /// Those keyed above every source key (no record: the key rule).
    AboveSource,
    /// None (before the cutover, or the archive's seal is broken).
    None,
}

/// An archive compared with what STEP_7B recorded of it when the cutover sealed it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ArchiveSeal {
    /// Rows recorded.
    pub recorded_rows: i64,
    /// Hash sum recorded (decimal text).
    pub recorded_hash_sum: String,
    /// Rows the archive holds now.
    pub archive_rows: i64,
    /// Its hash sum now.
    pub archive_hash_sum: String,
}

impl ArchiveSeal {
    /// The archive is exactly what the cutover sealed.
    pub fn holds(&self) -> bool {
        self.recorded_rows == self.archive_rows && self.recorded_hash_sum == self.archive_hash_sum
    }
}

impl TableParity {
    /// Missing + changed + extra, plus one for a broken archive seal: the table's violation
    /// count.
    pub fn violations(&self) -> i64 {
        self.missing
            + self.changed
            + self.extra
            + i64::from(self.sealed.as_ref().is_some_and(|s| !s.holds()))
    }
}

/// Parity of all ten event tables on one database.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ParityReport {
    /// The pair compared; `None` when nothing can be compared yet (Phase 1A).
    pub direction: Option<ParityDirection>,
    /// One entry per event table, in [`PARITY_TABLES`] order (empty when `direction` is `None`).
    pub tables: Vec<TableParity>,
    /// Every table PASS (`false` when nothing could be compared).
    pub passed: bool,
}

impl ParityReport {
    /// Assemble from per-table results.
    pub fn new(direction: Option<ParityDirection>, tables: Vec<TableParity>) -> Self {
        let passed = direction.is_some()
            && tables.len() == PARITY_TABLES.len()
            && tables.iter().all(|t| t.status == ParityStatus::Pass);
        Self {
            direction,
            tables,
            passed,
        }
    }

    /// `table: N missing, M changed (first: key ...)` for every failing table.
    pub fn failures(&self) -> Vec<String> {
        let Some(_) = self.direction else {
            return vec!["n/a: no archive or *_v2 tables to compare (Phase 1A)".to_string()];
        };
        self.tables
            .iter()
            .filter(|t| t.status == ParityStatus::Fail)
            .map(|t| {
                if let Some(e) = &t.error {
                    return format!("{}: {e}", t.table);
                }
                let mut s = format!(
                    "{} ({} -> {}): {} missing, {} changed, {} extra",
                    t.table, t.source, t.target, t.missing, t.changed, t.extra
                );
                if let Some(seal) = t.sealed.as_ref().filter(|s| !s.holds()) {
                    let _ = write!(
                        s,
                        "; the archive no longer matches its cutover record: {} rows (hash sum {}) recorded, {} rows (hash sum {}) now",
                        seal.recorded_rows, seal.recorded_hash_sum, seal.archive_rows, seal.archive_hash_sum
                    );
                }
                let keys: Vec<String> = t
                    .first_differences
                    .iter()
                    .map(|d| format!("{} {}", kind_text(d.kind), d.key))
                    .collect();
                if !keys.is_empty() {
                    let _ = write!(s, "; first: {}", keys.join(", "));
                }
                s
            })
            .collect()
    }
}

/// `missing` / `extra` / `changed`.
pub fn kind_text(kind: DiffKind) -> &'static str {
    match kind {
        DiffKind::Missing => "missing",
        DiffKind::Extra => "extra",
        DiffKind::Changed => "changed",
    }
}

/// The definition of `table`, if it is one of the ten.
pub fn parity_table(table: &str) -> Option<&'static ParityTable> {
    PARITY_TABLES.iter().find(|t| t.table == table)
}

/// One segment: rows whose split column `>> shift` is `index` (and whose first key column is
/// `prefix`, for a table split on its second key column).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Segment {
    prefix: i64,
    index: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Aggregate {
    rows: i64,
    sum: String,
}

type Side = BTreeMap<Segment, Aggregate>;

/// The source's largest split key per prefix (per account for `cash_ledger`, else under 0).
type SourceMax = BTreeMap<i64, i64>;

fn q(conn_err: &'static str, table: &'static str) -> impl Fn(sqlx::Error) -> InvariantsError {
    move |source| InvariantsError::Parity {
        table,
        what: conn_err,
        source,
    }
}

/// SQL of the row hash over `cols` of alias `t`.
fn row_hash(cols: &[&str]) -> String {
    let fields: Vec<String> = cols.iter().map(|c| format!("t.{c}")).collect();
    format!("hash_record_extended(ROW({}), 0)", fields.join(", "))
}

/// `(prefix expression, split expression)` over alias `t`.
fn segment_exprs(spec: &ParityTable, shift: u32) -> (String, String) {
    if spec.split_on == 1 {
        (
            format!("t.{}", spec.key[0]),
            format!("(t.{} >> {shift})", spec.key[1]),
        )
    } else {
        (
            "0::bigint".to_string(),
            format!("(t.{} >> {shift})", spec.key[0]),
        )
    }
}

/// `WHERE` condition selecting the rows of `segments` (each at `shift`) over alias `t`.
fn segment_filter(spec: &ParityTable, segments: &[Segment], shift: u32) -> String {
    let split = spec.key[spec.split_on];
    let ranges: Vec<String> = segments
        .iter()
        .map(|s| {
            // [index << shift, (index + 1) << shift) in i128 so the top segment cannot overflow
            let lo = i128::from(s.index) << shift;
            let hi = (i128::from(s.index) + 1) << shift;
            let mut c = format!("(t.{split} >= {lo}");
            if hi <= i128::from(i64::MAX) {
                let _ = write!(c, " AND t.{split} < {hi}");
            }
            if spec.split_on == 1 {
                let _ = write!(c, " AND t.{} = {}", spec.key[0], s.prefix);
            }
            c.push(')');
            c
        })
        .collect();
    if ranges.is_empty() {
        "false".to_string()
    } else {
        ranges.join(" OR ")
    }
}

async fn aggregate(
    conn: &mut PgConnection,
    spec: &'static ParityTable,
    source: &str,
    target: &str,
    cols: &[&str],
    shift: u32,
    filter: Option<&str>,
) -> Result<(Side, Side, SourceMax), InvariantsError> {
    let (prefix, split) = segment_exprs(spec, shift);
    let key = format!("t.{}", spec.key[spec.split_on]);
    let hash = row_hash(cols);
    let cond = filter.map_or(String::new(), |f| format!(" WHERE {f}"));
    let sql = format!(
        "SELECT 0 AS side, p, seg, count(*)::bigint AS n, sum(h)::text AS s, max(k) AS mk
           FROM (SELECT {prefix} AS p, {split} AS seg, {key} AS k, {hash} AS h FROM {source} t{cond}) x GROUP BY p, seg
         UNION ALL
         SELECT 1, p, seg, count(*)::bigint, sum(h)::text, max(k)
           FROM (SELECT {prefix} AS p, {split} AS seg, {key} AS k, {hash} AS h FROM {target} t{cond}) x GROUP BY p, seg"
    );
    let rows = sqlx::query(&sql)
        .persistent(false)
        .fetch_all(&mut *conn)
        .await
        .map_err(q("aggregating segments", spec.table))?;
    let mut a = Side::new();
    let mut b = Side::new();
    let mut source_max = SourceMax::new();
    for row in rows {
        let side: i32 = row
            .try_get("side")
            .map_err(q("reading segments", spec.table))?;
        let seg = Segment {
            prefix: row
                .try_get("p")
                .map_err(q("reading segments", spec.table))?,
            index: row
                .try_get("seg")
                .map_err(q("reading segments", spec.table))?,
        };
        let agg = Aggregate {
            rows: row
                .try_get("n")
                .map_err(q("reading segments", spec.table))?,
            sum: row
                .try_get::<Option<String>, _>("s")
                .map_err(q("reading segments", spec.table))?
                .unwrap_or_default(),
        };
        if side == 0 {
            let mk: i64 = row
                .try_get("mk")
                .map_err(q("reading segments", spec.table))?;
            let m = source_max.entry(seg.prefix).or_insert(mk);
            *m = (*m).max(mk);
            a.insert(seg, agg);
        } else {
            b.insert(seg, agg);
        }
    }
    Ok((a, b, source_max))
}

/// 16 hex of the table's total (count, hash sum) over its segments.
fn fingerprint(side: &Side) -> (i64, String) {
    let rows: i64 = side.values().map(|a| a.rows).sum();
    // Exact sums of 64-bit hashes as decimal text, summed here as i128 (a segment sum of
    // 2^63-sized values over < 2^64 rows fits i128).
    let total: i128 = side
        .values()
        .map(|a| a.sum.parse::<i128>().unwrap_or(0))
        .fold(0i128, i128::wrapping_add);
    use sha2::{Digest, Sha256};
    let digest = hex::encode(Sha256::digest(format!("{rows}|{total}").as_bytes()));
    (rows, digest[..16].to_string())
}

/// The first-pass shift for a key span cut into about `segments` segments.
fn first_shift_for(min: i64, max: i64, segments: i64) -> u32 {
    let span = (i128::from(max) - i128::from(min) + 1).max(1);
    let per_segment = (span / i128::from(segments.max(1))).max(1);
    // smallest shift with 2^shift >= per_segment
    let mut shift = 0u32;
    while (1i128 << shift) < per_segment && shift < 62 {
        shift += 1;
    }
    shift
}

/// Compare `spec`'s source and target in `direction` (inside the caller's transaction).
pub async fn table_parity(
    conn: &mut PgConnection,
    spec: &'static ParityTable,
    direction: ParityDirection,
    catalog: &Catalog,
    sample: usize,
) -> Result<TableParity, InvariantsError> {
    table_parity_tuned(
        conn,
        spec,
        direction,
        catalog,
        sample,
        ParityTuning::default(),
    )
    .await
}

/// [`table_parity`] with explicit segment sizes.
pub async fn table_parity_tuned(
    conn: &mut PgConnection,
    spec: &'static ParityTable,
    direction: ParityDirection,
    catalog: &Catalog,
    sample: usize,
    tuning: ParityTuning,
) -> Result<TableParity, InvariantsError> {
    let started = Instant::now();
    let (source, target) = direction.tables(spec.table);
    let cols = direction.columns(spec);
    let mut out = TableParity {
        table: spec.table,
        source: source.clone(),
        target: target.clone(),
        source_rows: 0,
        target_rows: 0,
        source_fingerprint: String::new(),
        target_fingerprint: String::new(),
        missing: 0,
        changed: 0,
        extra: 0,
        written_after: 0,
        sealed: None,
        status: ParityStatus::Fail,
        error: None,
        first_differences: Vec::new(),
        segments: 0,
        rounds: 0,
        elapsed_us: 0,
    };
    let mut absent = Vec::new();
    for t in [&source, &target] {
        if !catalog.has_table(t) {
            absent.push(format!("table {t} does not exist"));
            continue;
        }
        for c in &cols {
            if !catalog.has_column(t, c) {
                absent.push(format!("column {t}.{c} does not exist"));
            }
        }
    }
    if !absent.is_empty() {
        out.error = Some(format!("cannot compare: {}", absent.join("; ")));
        out.elapsed_us = elapsed(started);
        return Ok(out);
    }

    if direction == ParityDirection::ArchiveToCanonical
        && catalog.has_table(contract::CUTOVER_MANIFEST_TABLE)
    {
        out.sealed = archive_seal(conn, spec, &source).await?;
    }
    // Which target-only rows are later writes: all of them while the archive is provably
    // intact; none once its seal is broken (each may be a row the archive lost: all are named);
    // without a record, those keyed above every archived key.
    let late = match (&out.sealed, direction.extras_allowed()) {
        (_, false) => LateRows::None,
        (Some(seal), true) if seal.holds() => LateRows::All,
        (Some(_), true) => LateRows::None,
        (None, true) => LateRows::AboveSource,
    };

    let mut shift = if spec.split_on == 1 {
        tuning.second_key_shift
    } else {
        let split = spec.key[0];
        let (lo, hi): (Option<i64>, Option<i64>) = sqlx::query_as(&format!(
            "SELECT least((SELECT min({split}) FROM {source}), (SELECT min({split}) FROM {target})),
                    greatest((SELECT max({split}) FROM {source}), (SELECT max({split}) FROM {target}))"
        ))
        .persistent(false)
        .fetch_one(&mut *conn)
        .await
        .map_err(q("reading the key range", spec.table))?;
        match (lo, hi) {
            (Some(lo), Some(hi)) => first_shift_for(lo, hi, tuning.first_pass_segments),
            _ => 0,
        }
    };
    let (a, b, source_max) = aggregate(conn, spec, &source, &target, &cols, shift, None).await?;
    let (source_rows, source_fp) = fingerprint(&a);
    let (target_rows, target_fp) = fingerprint(&b);
    out.source_rows = source_rows;
    out.target_rows = target_rows;
    out.source_fingerprint = source_fp;
    out.target_fingerprint = target_fp;
    out.segments = a.len().max(b.len());

    let mut pending = differing(&a, &b);
    let mut leaves: Vec<(u32, Segment)> = Vec::new();
    loop {
        let mut split_next = Vec::new();
        for (seg, sa, sb) in pending {
            let above_source = source_max
                .get(&seg.prefix)
                .is_none_or(|max| (i128::from(seg.index) << shift) > i128::from(*max));
            let later = match late {
                LateRows::All => true,
                LateRows::AboveSource => above_source,
                LateRows::None => false,
            };
            if sa.rows == 0 && later {
                // Only target rows, written after the cutover (all keyed above every source
                // key, or the archive's record proves it lost nothing).
                out.written_after += sb.rows;
                continue;
            }
            if shift > 0 && sa.rows.max(sb.rows) > tuning.leaf_rows {
                split_next.push(seg);
            } else {
                leaves.push((shift, seg));
            }
        }
        if split_next.is_empty() {
            break;
        }
        // 16 sub-segments per differing one (fewer when the segments are nearly single keys)
        let step = shift.min(4);
        let finer = shift - step;
        let filter = (split_next.len() <= MAX_LISTED_SEGMENTS)
            .then(|| segment_filter(spec, &split_next, shift));
        let (a, b, _) = aggregate(
            conn,
            spec,
            &source,
            &target,
            &cols,
            finer,
            filter.as_deref(),
        )
        .await?;
        out.rounds += 1;
        let parents: std::collections::BTreeSet<Segment> = split_next.into_iter().collect();
        pending = differing(&a, &b)
            .into_iter()
            .filter(|(s, _, _)| {
                parents.contains(&Segment {
                    prefix: s.prefix,
                    index: s.index >> step,
                })
            })
            .collect();
        shift = finer;
    }

    if !leaves.is_empty() {
        compare_leaves(
            conn, spec, late, &source, &target, &cols, &leaves, sample, &mut out,
        )
        .await?;
    }
    out.status = if out.violations() == 0 {
        ParityStatus::Pass
    } else {
        ParityStatus::Fail
    };
    out.elapsed_us = elapsed(started);
    tracing::debug!(
        table = spec.table,
        rounds = out.rounds,
        missing = out.missing,
        changed = out.changed,
        extra = out.extra,
        written_after = out.written_after,
        us = out.elapsed_us,
        "parity"
    );
    Ok(out)
}

/// The archive now and STEP_7B's record of it (`None`: nothing recorded for this table).
async fn archive_seal(
    conn: &mut PgConnection,
    spec: &'static ParityTable,
    archive: &str,
) -> Result<Option<ArchiveSeal>, InvariantsError> {
    let recorded: Option<(i64, String)> = sqlx::query_as(&format!(
        "SELECT archived_rows, archived_hash_sum::text FROM {} WHERE table_name = $1",
        contract::CUTOVER_MANIFEST_TABLE
    ))
    .bind(spec.table)
    .persistent(false)
    .fetch_optional(&mut *conn)
    .await
    .map_err(q("reading the cutover record", spec.table))?;
    let Some((recorded_rows, recorded_hash_sum)) = recorded else {
        return Ok(None);
    };
    let (archive_rows, archive_hash_sum): (i64, String) = sqlx::query_as(&format!(
        "SELECT count(*), coalesce(sum(hash_record_extended(a.*, 0)::numeric), 0)::text FROM {archive} a"
    ))
    .persistent(false)
    .fetch_one(&mut *conn)
    .await
    .map_err(q("summing the archive", spec.table))?;
    Ok(Some(ArchiveSeal {
        recorded_rows,
        recorded_hash_sum,
        archive_rows,
        archive_hash_sum,
    }))
}

fn elapsed(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX)
}

/// Segments whose (count, hash sum) differ, with both aggregates (absent side = empty).
fn differing(a: &Side, b: &Side) -> Vec<(Segment, Aggregate, Aggregate)> {
    let mut keys: Vec<Segment> = a.keys().chain(b.keys()).copied().collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter_map(|k| {
            let sa = a.get(&k).cloned().unwrap_or_default();
            let sb = b.get(&k).cloned().unwrap_or_default();
            (sa != sb).then_some((k, sa, sb))
        })
        .collect()
}

#[allow(clippy::too_many_arguments)]
async fn compare_leaves(
    conn: &mut PgConnection,
    spec: &'static ParityTable,
    late: LateRows,
    source: &str,
    target: &str,
    cols: &[&str],
    leaves: &[(u32, Segment)],
    sample: usize,
    out: &mut TableParity,
) -> Result<(), InvariantsError> {
    // Leaves can sit at different levels (a segment stops splitting once small); group them.
    let mut by_shift: BTreeMap<u32, Vec<Segment>> = BTreeMap::new();
    for (shift, seg) in leaves {
        by_shift.entry(*shift).or_default().push(*seg);
    }
    let filter = by_shift
        .iter()
        .map(|(shift, segs)| format!("({})", segment_filter(spec, segs, *shift)))
        .collect::<Vec<_>>()
        .join(" OR ");
    let keys = spec.key;
    let row_cols: Vec<String> = cols.iter().map(|c| format!("t.{c}")).collect();
    let json: Vec<String> = cols.iter().map(|c| format!("'{c}', t.{c}")).collect();
    let side = |table: &str| {
        format!(
            "SELECT {k}, row_number() OVER (PARTITION BY {kt} ORDER BY ROW({rc})::text) AS occurrence,
                    ROW({rc}) AS r, jsonb_build_object({j}) AS j
               FROM {table} t WHERE {filter}",
            k = keys.iter().map(|k| format!("t.{k}")).collect::<Vec<_>>().join(", "),
            kt = keys.iter().map(|k| format!("t.{k}")).collect::<Vec<_>>().join(", "),
            rc = row_cols.join(", "),
            j = json.join(", "),
        )
    };
    let on = keys
        .iter()
        .map(|k| format!("a.{k} = b.{k}"))
        .chain(std::iter::once("a.occurrence = b.occurrence".to_string()))
        .collect::<Vec<_>>()
        .join(" AND ");
    let key_json = keys
        .iter()
        .map(|k| format!("'{k}', coalesce(a.{k}, b.{k})"))
        .collect::<Vec<_>>()
        .join(", ");
    // A target-only row keyed above the source's largest key (per account for cash_ledger) was
    // written after the cutover; inside that range it is a row the source lost.
    let split = keys[spec.split_on];
    let beyond = if late == LateRows::None {
        "false".to_string()
    } else if late == LateRows::All {
        "true".to_string()
    } else if spec.split_on == 1 {
        format!(
            "b.{split} > coalesce((SELECT max(s.{split}) FROM {source} s WHERE s.{p} = b.{p}), -9223372036854775808)",
            p = keys[0]
        )
    } else {
        format!(
            "b.{split} > coalesce((SELECT max(s.{split}) FROM {source} s), -9223372036854775808)"
        )
    };
    let sql = format!(
        "WITH a AS MATERIALIZED ({sa}), b AS MATERIALIZED ({sb}),
         d AS MATERIALIZED (
            SELECT CASE WHEN b.r IS NULL THEN 'missing'
                        WHEN a.r IS NULL AND {beyond} THEN 'written_after'
                        WHEN a.r IS NULL THEN 'extra' ELSE 'changed' END AS kind,
                   jsonb_build_object({key_json})
                     || CASE WHEN coalesce(a.occurrence, b.occurrence) > 1
                             THEN jsonb_build_object('occurrence', coalesce(a.occurrence, b.occurrence))
                             ELSE '{{}}'::jsonb END AS key,
                   a.j AS source_row, b.j AS target_row, {order_cols}
              FROM a FULL JOIN b ON {on}
             WHERE a.r IS NULL OR b.r IS NULL OR a.r IS DISTINCT FROM b.r)
         SELECT (SELECT count(*) FILTER (WHERE kind = 'missing') FROM d)::bigint AS missing,
                (SELECT count(*) FILTER (WHERE kind = 'changed') FROM d)::bigint AS changed,
                (SELECT count(*) FILTER (WHERE kind = 'extra') FROM d)::bigint AS extra,
                (SELECT count(*) FILTER (WHERE kind = 'written_after') FROM d)::bigint AS written_after,
                coalesce((SELECT jsonb_agg(jsonb_build_object('kind', s.kind, 'key', s.key,
                                                              'source_row', s.source_row, 'target_row', s.target_row)
                                           ORDER BY {sort})
                            FROM (SELECT * FROM d WHERE kind <> 'written_after' ORDER BY {sort} LIMIT $1) s), '[]'::jsonb) AS sample",
        sa = side(source),
        sb = side(target),
        order_cols = keys
            .iter()
            .enumerate()
            .map(|(i, k)| format!("coalesce(a.{k}, b.{k}) AS k{i}"))
            .collect::<Vec<_>>()
            .join(", "),
        sort = (0..keys.len())
            .map(|i| format!("k{i}"))
            .chain(std::iter::once("kind".to_string()))
            .collect::<Vec<_>>()
            .join(", "),
    );
    let limit = i64::try_from(sample).unwrap_or(i64::MAX);
    let row = sqlx::query(&sql)
        .persistent(false)
        .bind(limit)
        .fetch_one(&mut *conn)
        .await
        .map_err(q("comparing differing segments row by row", spec.table))?;
    let get = |c: &str| -> Result<i64, InvariantsError> {
        row.try_get::<i64, _>(c)
            .map_err(q("reading the row comparison", spec.table))
    };
    out.missing += get("missing")?;
    out.changed += get("changed")?;
    out.extra += get("extra")?;
    out.written_after += get("written_after")?;
    let sample: serde_json::Value = row
        .try_get("sample")
        .map_err(q("reading the row comparison", spec.table))?;
    if let serde_json::Value::Array(items) = sample {
        for item in items {
            let kind = match item.get("kind").and_then(|k| k.as_str()) {
                Some("missing") => DiffKind::Missing,
                Some("extra") => DiffKind::Extra,
                _ => DiffKind::Changed,
            };
            let field = |name: &str| item.get(name).cloned().filter(|v| !v.is_null());
            out.first_differences.push(ParityDifference {
                key: item.get("key").cloned().unwrap_or(serde_json::Value::Null),
                kind,
                source_row: field("source_row"),
                target_row: field("target_row"),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_table_has_a_parity_definition_keyed_on_its_own_columns() {
        let names: Vec<&str> = PARITY_TABLES.iter().map(|t| t.table).collect();
        assert_eq!(names, contract::EVENT_TABLES);
        for t in PARITY_TABLES {
            assert!(!t.key.is_empty() && t.key.len() <= 2, "{}", t.table);
            assert!(t.split_on < t.key.len(), "{}", t.table);
            for k in t.key {
                assert!(t.facts.contains(k), "{}: key {k} is a fact", t.table);
            }
            for p in t.progress {
                assert!(!t.facts.contains(p), "{}: {p}", t.table);
            }
        }
    }

    #[test]
    fn directions_name_their_tables_and_columns() {
        let d = ParityDirection::ArchiveToCanonical;
        assert_eq!(
            d.tables("order_fill"),
            (
                "order_fill_phase1a_archive".to_string(),
                "order_fill".to_string()
            )
        );
        assert!(d.extras_allowed());
        let lot = parity_table("position_lot").unwrap_or(&PARITY_TABLES[0]);
        assert!(!d.columns(lot).contains(&"remaining_qty"));
        let v = ParityDirection::CanonicalToV2;
        assert_eq!(v.tables("risk_event").1, "risk_event_v2");
        assert!(v.columns(lot).contains(&"remaining_qty"));
        assert!(!v.extras_allowed());
        assert_eq!(ParityDirection::for_set(TableSet::Phase1a), None);
    }

    #[test]
    fn first_pass_splits_the_span_into_about_256_power_of_two_segments() {
        let first_shift = |lo, hi| first_shift_for(lo, hi, FIRST_PASS_SEGMENTS);
        assert_eq!(first_shift(1, 1), 0);
        assert_eq!(first_shift(1, 256), 0);
        assert_eq!(first_shift(1, 511), 0);
        assert_eq!(first_shift(1, 512), 1);
        assert_eq!(first_shift(1, 100_000), 9);
        assert!(first_shift(i64::MIN, i64::MAX) <= 62);
        assert_eq!(first_shift_for(1, 2016, 2), 10);
    }

    #[test]
    fn segment_filters_are_half_open_ranges() {
        let fill = parity_table("order_fill").unwrap_or(&PARITY_TABLES[0]);
        let f = segment_filter(
            fill,
            &[Segment {
                prefix: 0,
                index: 3,
            }],
            4,
        );
        assert_eq!(f, "(t.fill_id >= 48 AND t.fill_id < 64)");
        let ledger = parity_table("cash_ledger").unwrap_or(&PARITY_TABLES[0]);
        let f = segment_filter(
            ledger,
            &[Segment {
                prefix: 7,
                index: 0,
            }],
            10,
        );
        assert_eq!(
            f,
            "(t.ledger_seq >= 0 AND t.ledger_seq < 1024 AND t.account_id = 7)"
        );
        assert_eq!(segment_filter(fill, &[], 4), "false");
        // the top segment has no upper bound rather than an overflowing one
        let top = segment_filter(
            fill,
            &[Segment {
                prefix: 0,
                index: i64::MAX >> 4,
            }],
            4,
        );
        assert!(!top.contains(" < "), "{top}");
    }

    #[test]
    fn differing_segments_include_one_sided_ones() {
        let mut a = Side::new();
        let mut b = Side::new();
        let s = |i| Segment {
            prefix: 0,
            index: i,
        };
        let agg = |n, sum: &str| Aggregate {
            rows: n,
            sum: sum.to_string(),
        };
        a.insert(s(0), agg(2, "10"));
        b.insert(s(0), agg(2, "10"));
        a.insert(s(1), agg(1, "5"));
        b.insert(s(2), agg(1, "7"));
        a.insert(s(3), agg(1, "5"));
        b.insert(s(3), agg(1, "6"));
        let d: Vec<i64> = differing(&a, &b).iter().map(|(s, _, _)| s.index).collect();
        assert_eq!(d, [1, 2, 3]);
        assert_eq!(fingerprint(&a).0, 4);
        assert_ne!(fingerprint(&a).1, fingerprint(&b).1);
    }
}
