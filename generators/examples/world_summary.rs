//! Prints a world's report, row counts and fingerprint: `cargo run -p generators --example
//! world_summary [-- SEED [ACCOUNTS INSTRUMENTS HOURS FILLS]]` (no args: the fixture world).

use generators::{fixture, generate, parse_seed, WorldParams};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (report, world) = if let Some(seed) = args.first() {
        let seed = parse_seed(seed)?;
        let num = |i: usize, d: u64| -> Result<u64, Box<dyn std::error::Error>> {
            Ok(args.get(i).map(|s| s.parse()).transpose()?.unwrap_or(d))
        };
        let params = WorldParams {
            accounts: num(1, 3)? as usize,
            instruments: num(2, 4)? as usize,
            hours: num(3, 168)? as u32,
            target_fills: num(4, 1_000)?,
        };
        println!("seed: {seed}");
        let g = generate(seed, &params)?;
        println!("swarm: {}", serde_json::to_string(&g.swarm)?);
        (g.simulation.report, g.simulation.world)
    } else {
        let s = fixture()?;
        (s.report, s.world)
    };
    println!("report: {}", serde_json::to_string_pretty(&report)?);
    for (table, rows) in world.row_counts() {
        println!("{table:>24} {rows}");
    }
    println!("{:>24} {}", "total", world.total_rows());
    for e in &world.risk_event {
        println!(
            "risk_event account {} {} {} -> {} drawdown {}",
            e.account_id,
            e.hour_ts,
            e.from_state.as_str(),
            e.to_state.as_str(),
            e.drawdown
        );
    }
    println!("fingerprint: {}", world.fingerprint());
    // WORLD_DUMP_DIR=dir writes one COPY text file per table (for timing COPY in psql).
    if let Ok(dir) = std::env::var("WORLD_DUMP_DIR") {
        for t in world.tables() {
            let mut text = String::new();
            t.write_rows(0..t.row_count(), &mut text);
            std::fs::write(format!("{dir}/{}.copy", t.table()), text)?;
        }
    }
    Ok(())
}
