//! Deterministic worlds for the migration harness: the reference model of CONTRACT section 2
//! (`sim`), the hand-scripted fixture world (`fixture`), seeded random worlds (`generate`),
//! canonical hashing shared with SQL (`hash`), worlds cut into a seed and live write units
//! (`live`), seeding through COPY (`seed`), large worlds streamed to COPY without being held
//! (`stream`), hourly states
//! replayed from event rows alone (`states`), proptest strategies of shrinking worlds
//! (`strategy`), and replay files of a world's whole input (`replay`).
//!
//! One `u64` seed and one script determine every row: prices, features and scores come from
//! separate ChaCha8 streams of the seed, and the simulator never uses floats, clocks or
//! hash-map iteration order, so the same input gives byte-identical COPY text
//! ([`World::fingerprint`]).

pub mod copy;
pub mod fixture;
pub mod generate;
pub mod hash;
pub mod hash_vectors;
pub mod live;
pub mod market;
pub mod model;
pub mod replay;
pub mod seed;
pub mod shape;
pub mod sim;
pub mod states;
pub mod strategy;
pub mod stream;

pub use fixture::{fixture, fixture_world, FIXTURE_SEED};
pub use generate::{generate, generate_world, parse_seed, Generated, Swarm, WorldParams};
pub use live::{split_live, LiveError, LiveHour, LiveWorld, UnitKind, Update, WriteUnit};
pub use model::World;
pub use replay::{ReplayError, ReplayFile};
pub use seed::{seed_world, seed_world_with, SeedError, SeedOptions, SeedStats, TableStats};
pub use shape::{Action, Script, Shape};
pub use sim::{simulate, SimError, SimReport, Simulation};
pub use states::{replay_hourly_states, HourlyStates};
pub use strategy::{world_cases, Limits, WorldCase};
pub use stream::{seed_streamed, stream_world, StreamOptions, StreamReport, StreamSeedStats};

#[cfg(test)]
mod determinism_tests {
    use super::*;

    #[test]
    fn same_seed_and_script_give_byte_identical_rows() {
        let a = fixture_world();
        let b = fixture_world();
        assert_eq!(a.copy_text(), b.copy_text());
        assert_eq!(a.fingerprint(), b.fingerprint());

        let params = WorldParams {
            hours: 48,
            target_fills: 300,
            ..WorldParams::default()
        };
        let g1 = generate_world(99, &params);
        let g2 = generate_world(99, &params);
        assert_eq!(g1.copy_text(), g2.copy_text());
        assert!(g1.order_fill.len() > 10, "fills {}", g1.order_fill.len());
    }

    #[test]
    fn different_seeds_give_different_rows() {
        let params = WorldParams {
            hours: 48,
            target_fills: 300,
            ..WorldParams::default()
        };
        assert_ne!(
            generate_world(1, &params).fingerprint(),
            generate_world(2, &params).fingerprint()
        );
        // Same script, different market seed: the prices (and so every state) differ.
        let shape = fixture::fixture_shape();
        let script = fixture::fixture_script();
        let other = simulate(FIXTURE_SEED + 1, &shape, &script)
            .unwrap_or_else(|e| panic!("{e}"))
            .world;
        assert_ne!(other.fingerprint(), fixture_world().fingerprint());
    }

    #[test]
    fn a_recorded_random_script_replays_to_the_same_rows() {
        let params = WorldParams {
            hours: 72,
            target_fills: 400,
            ..WorldParams::default()
        };
        let g = generate(5, &params).unwrap_or_else(|e| panic!("{e}"));
        let json = serde_json::to_string(&g.script).unwrap_or_default();
        let script: Script = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}"));
        let replay = simulate(5, &g.shape, &script).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(replay.report, g.simulation.report);
        assert_eq!(replay.world.fingerprint(), g.simulation.world.fingerprint());
    }

    #[test]
    fn row_counts_cover_every_table_in_dependency_order() {
        let w = fixture_world();
        let counts = w.row_counts();
        assert_eq!(counts.len(), 20);
        assert_eq!(counts[0], ("account", 3));
        assert_eq!(counts[19].0, "risk_event");
        assert_eq!(counts.iter().map(|(_, n)| n).sum::<u64>(), w.total_rows());
    }
}
