//! Properties of generated worlds that need no database: the simulator's hourly states equal
//! the states replayed from event rows alone; same input, same rows; replay files replay;
//! the edges of every rule are hit by a good share of small worlds; a 10^6-fill world fits
//! in bounded time and memory (`--ignored`, release).

use generators::model::{Side, TradingState};
use generators::strategy::{world_cases, Limits, WorldCase};
use generators::{generate, replay_hourly_states, HourlyStates, ReplayFile, WorldParams};
use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence};
use std::time::Instant;

fn config() -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(64);
    Config {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/proptest-regressions/properties.txt"
        )))),
        ..Config::default()
    }
}

proptest! {
    #![proptest_config(config())]

    /// The simulator's states (what is seeded) = the states replayed from fills, ledger and
    /// feature snapshots alone, hashes and risk events included.
    #[test]
    fn simulator_states_equal_states_replayed_from_events(case in world_cases(Limits {
        accounts: 4, instruments: 5, hours: 96, fills: 300,
    })) {
        let sim = case.simulate().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let replayed = replay_hourly_states(&sim.world);
        let stored = HourlyStates::stored(&sim.world);
        prop_assert_eq!(
            replayed.first_difference(&stored),
            None,
            "seed {} script {}",
            case.seed,
            case.script_json()
        );
    }

    /// Same seed and params: same rows; the replay file of the case replays the same rows.
    #[test]
    fn same_input_same_rows_and_replay_files_replay(case in world_cases(Limits::SMALL)) {
        let a = case.simulate().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let again = WorldCase::generated(case.seed, &case.params)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&again, &case);
        let json = case.replay_file().to_json();
        let back = ReplayFile::from_json(&json, std::path::Path::new("case.json"))
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let b = back.world().map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(a.world.fingerprint(), b.fingerprint());
        let other = WorldCase::generated(case.seed ^ 1, &case.params)
            .map_err(|e| TestCaseError::fail(e.to_string()))?
            .simulate()
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_ne!(a.world.fingerprint(), other.world.fingerprint());
    }
}

/// Which rule edges one world reaches.
#[derive(Debug, Default, Clone, Copy)]
struct Edges {
    stopped: bool,
    reduce_only: bool,
    halted: bool,
    back_to_normal: bool,
    cap_exact: bool,
    exact_holding_sell: bool,
    min_fee: bool,
    fee_change_fill: bool,
    no_deposits_after_day_one: bool,
    sell_only_day: bool,
    one_instrument_cluster: bool,
    no_sells: bool,
}

fn edges(seed: u64, params: &WorldParams) -> Edges {
    let g = generate(seed, params).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
    let w = &g.simulation.world;
    let r = &g.simulation.report;
    let states: Vec<TradingState> = w
        .risk_hourly_state
        .iter()
        .map(|s| s.trading_state)
        .collect();
    let sell_only_hours = g
        .swarm
        .sell_only_days
        .iter()
        .any(|d| d * 24 < g.shape.hours.saturating_sub(1));
    let sizes: Vec<usize> = (0..g.shape.clusters.len())
        .map(|c| {
            g.shape
                .instruments
                .iter()
                .filter(|i| i.cluster == c)
                .count()
        })
        .collect();
    Edges {
        stopped: states.iter().any(|s| *s != TradingState::Normal),
        reduce_only: states.contains(&TradingState::ReduceOnly),
        halted: states.contains(&TradingState::Halted),
        back_to_normal: w
            .risk_event
            .iter()
            .any(|e| e.to_state == TradingState::Normal),
        cap_exact: r.cap_exact_hits > 0,
        exact_holding_sell: r.exact_holding_sells > 0,
        min_fee: r.min_fee_fills > 0,
        fee_change_fill: r.fee_change_fills > 0,
        no_deposits_after_day_one: !g.swarm.deposits_after_day_one,
        sell_only_day: sell_only_hours,
        one_instrument_cluster: sizes.contains(&1) && g.shape.instruments.len() > 1,
        no_sells: !w.order_fill.iter().any(|f| f.side == Side::Sell),
    }
}

/// Shares of small worlds (the property tests' size) that reach each edge. Printed (run with
/// `--nocapture`), and each must stay above a floor so a generator change cannot quietly stop
/// exercising an edge.
#[test]
fn small_worlds_reach_every_edge_often() {
    const N: u64 = 300;
    let mut counts = [0u32; 12];
    for seed in 0..N {
        // The property tests' distribution: 1..=3 accounts, 1..=4 instruments, 4..=48 hours.
        let params = WorldParams {
            accounts: 1 + (seed % 3) as usize,
            instruments: 1 + (seed / 3 % 4) as usize,
            hours: 4 + (seed * 7 % 45) as u32,
            target_fills: 1 + seed * 13 % 80,
        };
        let e = edges(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15), &params);
        let flags = [
            e.stopped,
            e.reduce_only,
            e.halted,
            e.back_to_normal,
            e.cap_exact,
            e.exact_holding_sell,
            e.min_fee,
            e.fee_change_fill,
            e.no_deposits_after_day_one,
            e.sell_only_day,
            e.one_instrument_cluster,
            e.no_sells,
        ];
        for (c, f) in counts.iter_mut().zip(flags) {
            *c += u32::from(f);
        }
    }
    let names = [
        ("drawdown crosses 10% (any stop)", 40),
        ("a REDUCE_ONLY hour (10% <= dd < 20%)", 20),
        ("drawdown crosses 20% (HALTED)", 20),
        ("back to NORMAL after a stop", 3),
        ("BUY at exactly the cluster cap", 5),
        ("SELL of exactly the holding", 20),
        ("fee = min_fee", 20),
        ("fill at a fee schedule change", 10),
        ("swarm: no deposits after day 1", 15),
        ("swarm: a sell-only day", 5),
        ("swarm: a one-instrument cluster", 15),
        ("swarm: no SELL at all", 2),
    ];
    eprintln!("edge coverage over {N} small worlds:");
    let mut low = Vec::new();
    for ((name, floor), n) in names.iter().zip(counts) {
        let pct = f64::from(n) * 100.0 / N as f64;
        eprintln!("  {name:<36} {n:>4} / {N}  {pct:>5.1}%  (floor {floor}%)");
        if pct < f64::from(*floor) {
            low.push(*name);
        }
    }
    assert!(low.is_empty(), "edges below their floor: {low:?}");
}

/// Peak resident memory of this process (Linux), in MiB.
fn peak_rss_mib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024)
}

/// A 10^6-fill world: generated and rendered to COPY text in bounded time and memory.
/// `cargo test -p generators --release --test properties -- --ignored --nocapture million`
#[test]
#[ignore = "large: run in release with --ignored"]
fn a_million_fill_world_generates_in_bounded_time_and_memory() {
    let params = WorldParams {
        accounts: 20,
        instruments: 40,
        hours: 2_000,
        target_fills: 1_000_000,
    };
    let t = Instant::now();
    let g = generate(1, &params).unwrap_or_else(|e| panic!("{e}"));
    let gen = t.elapsed();
    let w = &g.simulation.world;
    let t = Instant::now();
    let fingerprint = w.fingerprint();
    let render = t.elapsed();
    let rss = peak_rss_mib().unwrap_or(0);
    eprintln!(
        "million: fills {} rows {} generate {:?} fingerprint (render all COPY text) {:?} peak RSS {} MiB fp {}",
        w.order_fill.len(),
        w.total_rows(),
        gen,
        render,
        rss,
        &fingerprint[..16]
    );
    assert!(w.order_fill.len() >= 900_000, "{}", w.order_fill.len());
    assert!(gen.as_secs() < 120, "{gen:?}");
    assert!(rss < 8_192, "{rss} MiB");
}
