//! Long horizons keep every value inside its column: deposits scale with equity and used to
//! compound past numeric(20,8) (10^12) over 10^4 hours (COPY failed with `numeric field
//! overflow`) and past rust_decimal's range over 5 * 10^4 (a panic).

use generators::{generate, WorldParams};

/// The widest value of each numeric column, from the world's own COPY text: a field with
/// 8 decimals is numeric(20,8) (at most 12 integer digits), one with 4 is numeric(10,4) (6).
fn overflows(seed: u64, params: &WorldParams) -> Vec<String> {
    let g = generate(seed, params).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
    let mut bad = Vec::new();
    for t in g.simulation.world.tables() {
        let mut text = String::new();
        t.write_rows(0..t.row_count(), &mut text);
        for line in text.lines() {
            for (i, field) in line.split('\t').enumerate() {
                let Some((int, frac)) = field.trim_start_matches('-').split_once('.') else {
                    continue;
                };
                if !(int.chars().all(|c| c.is_ascii_digit())
                    && frac.chars().all(|c| c.is_ascii_digit()))
                {
                    continue;
                }
                let max_int_digits = match frac.len() {
                    8 => 12,
                    4 => 6,
                    _ => continue,
                };
                if int.len() > max_int_digits {
                    bad.push(format!("{}.{} = {field}", t.table(), t.columns()[i]));
                }
            }
        }
    }
    bad.sort();
    bad.dedup_by(|a, b| a.split(" = ").next() == b.split(" = ").next());
    bad
}

#[test]
fn ten_thousand_hours_stay_inside_every_numeric_column() {
    for seed in [1, 7] {
        let params = WorldParams {
            accounts: 3,
            instruments: 4,
            hours: 10_000,
            target_fills: 1_000,
        };
        let bad = overflows(seed, &params);
        assert!(
            bad.is_empty(),
            "seed {seed}: {bad:?}\nreplay: harness run --seed {seed} --accounts 3 --instruments 4 --hours 10000 --fills 1000 --stop-after seed"
        );
    }
}

#[test]
fn fifty_thousand_hours_neither_panic_nor_overflow() {
    let params = WorldParams {
        accounts: 1,
        instruments: 2,
        hours: 50_000,
        target_fills: 500,
    };
    let bad = overflows(2, &params);
    assert!(
        bad.is_empty(),
        "seed 2: {bad:?}\nreplay: harness run --seed 2 --accounts 1 --instruments 2 --hours 50000 --fills 500 --stop-after seed"
    );
}
