//! Writer figures: writes, errors and latency percentiles, overall and per time window (a
//! migration step, the baseline before it).

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{Ack, WriteFailure, WriterLog};

/// Figures over a set of writes.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct WriteStats {
    /// Acknowledged units.
    pub writes: u64,
    /// Rows they inserted or updated.
    pub rows: u64,
    /// Failed attempts (retried ones included).
    pub errors: u64,
    /// Failed attempts whose SQLSTATE was 40P01 (deadlock detected).
    pub deadlocks: u64,
    /// Latency (BEGIN to COMMIT acknowledged, retries included), median.
    pub p50: Duration,
    /// 99th percentile (nearest rank).
    pub p99: Duration,
    /// Maximum.
    pub max: Duration,
}

/// Nearest-rank percentile of sorted latencies (`p` in (0, 1]).
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Figures over these acks and failures.
pub fn summarize<'a>(
    acks: impl Iterator<Item = &'a Ack>,
    failures: impl Iterator<Item = &'a WriteFailure>,
) -> WriteStats {
    let mut lat: Vec<Duration> = Vec::new();
    let mut rows = 0;
    for a in acks {
        lat.push(a.latency);
        rows += a.rows;
    }
    lat.sort_unstable();
    let (mut errors, mut deadlocks) = (0, 0);
    for f in failures {
        errors += 1;
        deadlocks += u64::from(f.sqlstate.as_deref() == Some("40P01"));
    }
    WriteStats {
        writes: lat.len() as u64,
        rows,
        errors,
        deadlocks,
        p50: percentile(&lat, 0.50),
        p99: percentile(&lat, 0.99),
        max: lat.last().copied().unwrap_or_default(),
    }
}

/// A named time window, `[from, to)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    /// Its name (a step, "before the migration", ...).
    pub name: String,
    /// Start.
    pub from: DateTime<Utc>,
    /// End.
    pub to: DateTime<Utc>,
}

/// Figures of the writes that began in each window (a write is counted where it began: a
/// write stalled by a step's lock began while that step ran).
pub fn per_window(log: &WriterLog, windows: &[Window]) -> Vec<(String, WriteStats)> {
    windows
        .iter()
        .map(|w| {
            let inside = |t: DateTime<Utc>| t >= w.from && t < w.to;
            (
                w.name.clone(),
                summarize(
                    log.acks.iter().filter(|a| inside(a.started_at_utc)),
                    log.failures.iter().filter(|f| inside(f.at_utc)),
                ),
            )
        })
        .collect()
}

/// Figures per kind of unit (retrain, order, cash, close) over the whole log.
pub fn per_kind(log: &WriterLog) -> Vec<(&'static str, WriteStats)> {
    use generators::UnitKind;
    [
        UnitKind::Retrain,
        UnitKind::Order,
        UnitKind::Cash,
        UnitKind::Close,
    ]
    .into_iter()
    .map(|k| {
        let units: std::collections::HashSet<_> = log
            .acks
            .iter()
            .filter(|a| a.kind == k)
            .map(|a| a.unit)
            .collect();
        (
            k.as_str(),
            summarize(
                log.acks.iter().filter(|a| a.kind == k),
                log.failures.iter().filter(|f| units.contains(&f.unit)),
            ),
        )
    })
    .filter(|(_, s)| s.writes > 0 || s.errors > 0)
    .collect()
}

/// Figures over the whole log.
pub fn overall(log: &WriterLog) -> WriteStats {
    summarize(log.acks.iter(), log.failures.iter())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::writers::UnitRef;
    use generators::UnitKind;

    fn ack(ms: u64, at: DateTime<Utc>) -> Ack {
        Ack {
            unit: UnitRef { hour: 0, unit: 0 },
            kind: UnitKind::Order,
            writer: 0,
            started_at_utc: at,
            latency: Duration::from_millis(ms),
            attempts: 1,
            rows: 3,
        }
    }

    #[test]
    fn percentiles_are_nearest_rank_and_windows_split_by_start() {
        let t0 = DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default();
        let later = t0 + chrono::Duration::seconds(10);
        let mut log = WriterLog::default();
        for ms in 1..=100 {
            log.acks.push(ack(ms, t0));
        }
        log.acks.push(ack(400, later));
        log.failures.push(WriteFailure {
            unit: UnitRef { hour: 0, unit: 1 },
            writer: 1,
            at_utc: later,
            sqlstate: Some("40P01".into()),
            message: "deadlock detected".into(),
            retried: true,
        });
        let all = overall(&log);
        assert_eq!(all.writes, 101);
        assert_eq!(all.rows, 303);
        assert_eq!(all.p50, Duration::from_millis(51));
        assert_eq!(all.p99, Duration::from_millis(100));
        assert_eq!(all.max, Duration::from_millis(400));
        assert_eq!((all.errors, all.deadlocks), (1, 1));
        let w = per_window(
            &log,
            &[
                Window {
                    name: "first".into(),
                    from: t0,
                    to: later,
                },
                Window {
                    name: "second".into(),
                    from: later,
                    to: later + chrono::Duration::seconds(1),
                },
            ],
        );
        assert_eq!(w[0].1.writes, 100);
        assert_eq!(w[0].1.max, Duration::from_millis(100));
        assert_eq!(w[0].1.errors, 0);
        assert_eq!((w[1].1.writes, w[1].1.errors), (1, 1));
        assert_eq!(summarize([].iter(), [].iter()), WriteStats::default());
    }
}
