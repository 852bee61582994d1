//! The embedded SQL files, one per phase step, and their fingerprint.

use sha2::{Digest, Sha256};

/// Phase 1A: the baseline schema and the hash-canon functions, in order.
pub const PHASE_1A_SCRIPTS: &[(&str, &str)] = &[
    (
        "phase_1a/001_baseline.sql",
        include_str!("../sql/phase_1a/001_baseline.sql"),
    ),
    (
        "phase_1a/002_hash_functions.sql",
        include_str!("../sql/phase_1a/002_hash_functions.sql"),
    ),
];

/// Phase 1B (`phase_1b_schema`): run in order inside ONE transaction.
pub const PHASE_1B_SCRIPTS: &[(&str, &str)] = &[
    (
        "phase_1b/001_migration_control.sql",
        include_str!("../sql/phase_1b/001_migration_control.sql"),
    ),
    (
        "phase_1b/002_v2_tables.sql",
        include_str!("../sql/phase_1b/002_v2_tables.sql"),
    ),
    (
        "phase_1b/003_dual_write.sql",
        include_str!("../sql/phase_1b/003_dual_write.sql"),
    ),
    (
        "phase_1b/004_backfill.sql",
        include_str!("../sql/phase_1b/004_backfill.sql"),
    ),
];

/// The state a failed Revision A M6 left behind (not part of the migration; a test scenario).
pub const REVISION_A_M6_PARTIAL: (&str, &str) = (
    "revision_a/m6_partial.sql",
    include_str!("../sql/revision_a/m6_partial.sql"),
);

pub(crate) const STEP_0: &str = include_str!("../sql/phase_1c/step_0_verify_lock.sql");
pub(crate) const STEP_1: &str = include_str!("../sql/phase_1c/step_1_cleanup_m6.sql");
pub(crate) const STEP_2: &str = include_str!("../sql/phase_1c/step_2_identity_tables.sql");
pub(crate) const STEP_3: &str = include_str!("../sql/phase_1c/step_3_revised_m6.sql");
pub(crate) const STEP_4: &str = include_str!("../sql/phase_1c/step_4_revised_m7.sql");
pub(crate) const STEP_5: &str = include_str!("../sql/phase_1c/step_5_m8_guardrail.sql");
pub(crate) const STEP_6: &str = include_str!("../sql/phase_1c/step_6_m9_hash_additions.sql");
pub(crate) const STEP_7: &str = include_str!("../sql/phase_1c/step_7_m10_cutover.sql");
pub(crate) const STEP_7_COMPRESSION: &str =
    include_str!("../sql/phase_1c/step_7_m10_cutover_compression.sql");
pub(crate) const STEP_7B: &str = include_str!("../sql/phase_1c/step_7b_post_cutover_finalize.sql");
pub(crate) const STEP_8: &str = include_str!("../sql/phase_1c/step_8_full_validation.sql");
pub(crate) const STEP_9: &str = include_str!("../sql/phase_1c/step_9_unlock.sql");

/// SHA-256 (lower-case hex) over every embedded SQL file, names included: a template database
/// or a cached result named by it can never outlive a change to the migration.
pub fn sql_fingerprint() -> String {
    let mut h = Sha256::new();
    let phase_1c = crate::steps()
        .iter()
        .flat_map(|s| std::iter::once((s.file, s.sql)).chain(s.post_commit));
    let all = PHASE_1A_SCRIPTS
        .iter()
        .chain(PHASE_1B_SCRIPTS.iter())
        .copied()
        .chain(phase_1c)
        .chain(std::iter::once(REVISION_A_M6_PARTIAL));
    for (name, sql) in all {
        h.update(name.as_bytes());
        h.update([0u8]);
        h.update(sql.as_bytes());
        h.update([0u8]);
    }
    hex::encode(h.finalize())
}
