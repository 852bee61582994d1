//! The harness: hands every test a fresh, real TimescaleDB database and runs the migration
//! under test against generated worlds.
//!
//! * [`provision`]: servers (native, docker, external) behind one [`provision::Server`] trait;
//! * [`template`]: template databases named by content hash, cloned per test;
//! * [`testdb`]: the per-test [`TestDb`] and its rstest fixture [`testdb::db`];
//! * [`doctor`]: what can serve here, and how fast;
//! * [`writers`]: the trading system writing while the migration runs, and the proof that
//!   nothing it was told was written got lost.

pub mod doctor;
pub mod error;
pub mod fingerprint;
pub mod gate;
pub mod provision;
pub mod redact;
pub mod report;
pub mod run;
pub mod template;
pub mod testdb;
pub mod writers;

pub use error::ProvisionError;
pub use testdb::{db, shared_server, TestDb};
