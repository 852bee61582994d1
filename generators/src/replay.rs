//! Replay files: a world's complete input (`seed`, `shape`, `script`) as one JSON document,
//! so a shrunk failing case can be rerun by `harness run --script <file>`.
//!
//! Format (serde of [`ReplayFile`], pretty-printed):
//! `{"seed": 42, "shape": {...}, "script": {"actions": [...]}}`, with decimals as exact
//! strings (see [`crate::shape`]). The seed still matters for a shrunk script: it drives the
//! prices, features and scores (market streams); the script only says what happens.

use crate::generate::Generated;
use crate::model::World;
use crate::shape::{Script, Shape};
use crate::sim::{simulate, SimError, Simulation};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// A world's whole input, replayable on its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplayFile {
    /// The market seed (prices, features, scores).
    pub seed: u64,
    /// What exists.
    pub shape: Shape,
    /// What happens.
    pub script: Script,
}

/// Why a replay file could not be read, written or simulated.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// Reading or writing the file failed.
    #[error("replay file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not a replay file.
    #[error("replay file {path}: not {{seed, shape, script}} JSON: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// The parse error.
        source: serde_json::Error,
    },
    /// The simulator refused the shape or script.
    #[error("replay of seed {seed}: {source}")]
    Simulate {
        /// The seed of the replay.
        seed: u64,
        /// The simulator's error.
        source: SimError,
    },
}

impl ReplayFile {
    /// A replay of `script` on `shape` with market data from `seed`.
    pub fn new(seed: u64, shape: Shape, script: Script) -> Self {
        Self {
            seed,
            shape,
            script,
        }
    }

    /// The replay of a generated world (same rows as the generated world).
    pub fn from_generated(g: &Generated) -> Self {
        Self::new(g.seed, g.shape.clone(), g.script.clone())
    }

    /// Pretty JSON text.
    pub fn to_json(&self) -> String {
        // Serializing plain data with string keys cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Parses JSON text (`path` only names the source in errors).
    pub fn from_json(text: &str, path: &Path) -> Result<Self, ReplayError> {
        serde_json::from_str(text).map_err(|source| ReplayError::Json {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Reads a replay file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, ReplayError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| ReplayError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_json(&text, path)
    }

    /// Writes the replay file (creating its directory).
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), ReplayError> {
        let path = path.as_ref();
        let io = |source| ReplayError::Io {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        std::fs::write(path, self.to_json() + "\n").map_err(io)
    }

    /// Runs the simulator: the world and its report.
    pub fn simulate(&self) -> Result<Simulation, ReplayError> {
        simulate(self.seed, &self.shape, &self.script).map_err(|source| ReplayError::Simulate {
            seed: self.seed,
            source,
        })
    }

    /// The replayed world.
    pub fn world(&self) -> Result<World, ReplayError> {
        self.simulate().map(|s| s.world)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{generate, WorldParams};

    #[test]
    fn a_saved_replay_loads_and_replays_to_the_same_rows() {
        let params = WorldParams {
            accounts: 2,
            instruments: 3,
            hours: 30,
            target_fills: 60,
        };
        let g = generate(77, &params).unwrap_or_else(|e| panic!("{e}"));
        let file = ReplayFile::from_generated(&g);
        let dir = std::env::temp_dir().join(format!("replay-test-{}", std::process::id()));
        let path = dir.join("sub/case.json");
        file.save(&path).unwrap_or_else(|e| panic!("{e}"));
        let back = ReplayFile::load(&path).unwrap_or_else(|e| panic!("{e}"));
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(back, file);
        let world = back.world().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(world.fingerprint(), g.simulation.world.fingerprint());
    }

    #[test]
    fn errors_name_the_file() {
        let missing = ReplayFile::load("/nonexistent/replay.json")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(missing.contains("/nonexistent/replay.json"), "{missing}");
        let bad = ReplayFile::from_json("{\"seed\": 1}", Path::new("x.json"))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(bad.contains("x.json") && bad.contains("shape"), "{bad}");
    }
}
