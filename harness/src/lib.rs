//! The harness application: runs the migration under test against generated worlds, judged
//! by the audit, and reports on it. Provisioning is crate [`provision`] (re-exported here with
//! its modules, so `harness::TestDb` still works); the migration's states as fixtures are
//! crate `fixtures`.
//!
//! * [`run`]: seed, migrate (with [`gate`]'s audit gate), verify, keep what failed;
//! * [`report`]: the implementation log, gathered from the database and rendered;
//! * [`fingerprint`]: a content hash of a database, equal for equal data;
//! * [`doctor`]: what can serve here, and how fast;
//! * [`fuzz`]: `harness fuzz`, the nightly fuzz job, its planted bugs and rule-edge coverage;
//! * [`writers`]: the trading system writing while the migration runs, and the proof that
//!   nothing it was told was written got lost.

pub mod doctor;
pub mod fingerprint;
pub mod fuzz;
pub mod gate;
pub mod report;
pub mod run;
pub mod writers;

pub use provision;
pub use provision::{db, error, redact, shared_server, template, testdb, ProvisionError, TestDb};
