//! SQL-level proof of the twelve checks on a real TimescaleDB: a clean world reports 0 (or n/a)
//! on all three table sets, and every corruption of [`invariants::corruptions::CORRUPTIONS`] is
//! reported by its check under its sub-rule, on every table set where that sub-rule applies.
//!
//! Needs a server: set `INVARIANTS_TEST_ADMIN_URL` to a superuser URL of a PostgreSQL with
//! TimescaleDB (e.g. `postgres://postgres@localhost/postgres?host=/dev/shm/scratch-55443&port=55443`)
//! and run `cargo test -p invariants --test sql_checks -- --ignored --nocapture`. It creates and
//! drops its own databases. The migration SQL is read from `migrations/sql/` of this workspace.

use std::path::{Path, PathBuf};
use std::time::Instant;

use invariants::corruptions::CORRUPTIONS;
use invariants::{
    confirm_structure, load_catalog, run_checks, run_checks_within, CheckOutcome, TableSet,
};
use sqlx::{Connection, Executor, PgConnection};

type R<T> = Result<T, Box<dyn std::error::Error>>;

fn admin_url() -> Option<String> {
    std::env::var("INVARIANTS_TEST_ADMIN_URL")
        .ok()
        .filter(|u| !u.is_empty())
}

fn db_url(admin: &str, db: &str) -> String {
    // swap the path component (database name) of the admin URL
    let (head, query) = admin
        .split_once('?')
        .map(|(h, q)| (h, Some(q)))
        .unwrap_or((admin, None));
    let base = head.rsplit_once('/').map(|(b, _)| b).unwrap_or(head);
    match query {
        Some(q) => format!("{base}/{db}?{q}"),
        None => format!("{base}/{db}"),
    }
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

async fn apply(conn: &mut PgConnection, rel: &str) -> R<()> {
    let path = workspace().join(rel);
    let sql = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    // one file = one implicit transaction, as the runner applies a step
    let wrapped = format!("BEGIN;\n{sql}\n;COMMIT;");
    conn.execute(sqlx::raw_sql(&wrapped))
        .await
        .map_err(|e| format!("{rel}: {e}"))?;
    Ok(())
}

async fn recreate(admin: &mut PgConnection, name: &str, template: Option<&str>) -> R<()> {
    admin
        .execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
        .await?;
    let create = match template {
        Some(t) => format!("CREATE DATABASE {name} TEMPLATE {t}"),
        None => format!("CREATE DATABASE {name}"),
    };
    admin.execute(create.as_str()).await?;
    Ok(())
}

const PHASE_1A: [&str; 3] = [
    "migrations/sql/phase_1a/001_baseline.sql",
    "migrations/sql/phase_1a/002_hash_functions.sql",
    "invariants/tests/fixtures/world.sql",
];
const PHASE_1B_1C_TO_M9: [&str; 11] = [
    "migrations/sql/phase_1b/001_migration_control.sql",
    "migrations/sql/phase_1b/002_v2_tables.sql",
    "migrations/sql/phase_1b/003_dual_write.sql",
    "migrations/sql/phase_1b/004_backfill.sql",
    "migrations/sql/phase_1c/step_0_verify_lock.sql",
    "migrations/sql/phase_1c/step_1_cleanup_m6.sql",
    "migrations/sql/phase_1c/step_2_identity_tables.sql",
    "migrations/sql/phase_1c/step_3_revised_m6.sql",
    "migrations/sql/phase_1c/step_4_revised_m7.sql",
    "migrations/sql/phase_1c/step_5_m8_guardrail.sql",
    "migrations/sql/phase_1c/step_6_m9_hash_additions.sql",
];
const CUTOVER: [&str; 4] = [
    "migrations/sql/phase_1c/step_7_m10_cutover.sql",
    "migrations/sql/phase_1c/step_7_m10_cutover_compression.sql",
    "migrations/sql/phase_1c/step_7b_post_cutover_finalize.sql",
    "migrations/sql/phase_1c/step_8_full_validation.sql",
];

fn summary(outcomes: &[CheckOutcome]) -> String {
    outcomes
        .iter()
        .map(|o| match o.violations {
            Some(n) => format!(
                "{}: {n} ({} us){}",
                o.check,
                o.elapsed_us,
                if n > 0 {
                    format!(" {:?}", o.sample)
                } else {
                    String::new()
                }
            ),
            None => format!("{}: n/a", o.check),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn assert_clean(outcomes: &[CheckOutcome], na: &[&str], what: &str) {
    for o in outcomes {
        if na.contains(&o.check) {
            assert_eq!(
                o.violations,
                None,
                "{what}: {} should be n/a\n{}",
                o.check,
                summary(outcomes)
            );
        } else {
            assert_eq!(
                o.violations,
                Some(0),
                "{what}: {} should be 0\n{}",
                o.check,
                summary(outcomes)
            );
        }
    }
}

/// Apply every applicable corruption in a rolled-back transaction; return failures.
async fn corrupt_all(conn: &mut PgConnection, set: TableSet) -> R<(usize, Vec<String>)> {
    let catalog = load_catalog(conn).await?;
    let mut failures = Vec::new();
    let mut ran = 0;
    for c in CORRUPTIONS {
        if !c.applies(set, &catalog)? {
            continue;
        }
        if let Some(pre) = c.precondition_for(set)? {
            let ok: bool = sqlx::query_scalar(&pre).fetch_one(&mut *conn).await?;
            if !ok {
                failures.push(format!(
                    "{}/{} on {set:?}: precondition false on the fixture world",
                    c.check, c.rule
                ));
                continue;
            }
        }
        ran += 1;
        let mut tx = conn.begin().await?;
        let script = c.sql_for(set)?;
        if let Err(e) = tx.execute(sqlx::raw_sql(&script)).await {
            failures.push(format!(
                "{}/{} on {set:?}: corruption SQL failed: {e}",
                c.check, c.rule
            ));
            tx.rollback().await?;
            continue;
        }
        let outcomes = run_checks_within(&mut tx, set, 100_000).await?;
        tx.rollback().await?;
        let Some(target) = outcomes.iter().find(|o| o.check == c.check) else {
            failures.push(format!("{}: no outcome", c.check));
            continue;
        };
        if target.sampled_rule_count(c.rule) == 0 {
            failures.push(format!(
                "{}/{} on {set:?}: not reported; {} reported {:?}",
                c.check,
                c.rule,
                c.check,
                target.sampled_rules()
            ));
        }
    }
    Ok((ran, failures))
}

#[tokio::test]
#[ignore = "needs INVARIANTS_TEST_ADMIN_URL (a PostgreSQL + TimescaleDB superuser URL)"]
async fn clean_world_is_clean_and_every_corruption_is_caught() -> R<()> {
    let Some(admin_url) = admin_url() else {
        return Err("INVARIANTS_TEST_ADMIN_URL is not set".into());
    };
    let mut admin = PgConnection::connect(&admin_url).await?;
    let (p1a, pre, post) = ("inv_t_phase1a", "inv_t_pre", "inv_t_post");

    // Phase 1A world.
    recreate(&mut admin, p1a, None).await?;
    let mut conn = PgConnection::connect(&db_url(&admin_url, p1a)).await?;
    for f in PHASE_1A {
        apply(&mut conn, f).await?;
    }
    let t = Instant::now();
    let outcomes = run_checks(&mut conn, TableSet::Phase1a, 10).await?;
    eprintln!("Phase 1A: {:?}\n{}", t.elapsed(), summary(&outcomes));
    assert_clean(
        &outcomes,
        &["identity_bijection", "missing_hash"],
        "Phase 1A",
    );
    let s = confirm_structure(&mut conn).await?;
    assert_eq!(s.fk_to_hypertable_count, 0);
    assert!(s.lock.is_none());
    assert!(s
        .identity
        .iter()
        .all(|i| i.parity == invariants::structure::Parity::NotApplicable));
    conn.close().await?;

    // Phase 1B + 1C up to M9 (before cutover).
    recreate(&mut admin, pre, Some(p1a)).await?;
    let mut conn = PgConnection::connect(&db_url(&admin_url, pre)).await?;
    for f in PHASE_1B_1C_TO_M9 {
        apply(&mut conn, f).await?;
    }
    let outcomes = run_checks(&mut conn, TableSet::V2BeforeCutover, 10).await?;
    eprintln!("v2 before cutover:\n{}", summary(&outcomes));
    assert_clean(&outcomes, &[], "v2 before cutover");
    let outcomes = run_checks(&mut conn, TableSet::Phase1a, 10).await?;
    assert_clean(
        &outcomes,
        &["missing_hash"],
        "Phase 1A tables during the lock",
    );
    conn.close().await?;

    // Cutover, finalize, structural validation.
    recreate(&mut admin, post, Some(pre)).await?;
    let mut conn = PgConnection::connect(&db_url(&admin_url, post)).await?;
    for f in CUTOVER {
        apply(&mut conn, f).await?;
    }
    let outcomes = run_checks(&mut conn, TableSet::CanonicalAfterCutover, 10).await?;
    eprintln!("after cutover:\n{}", summary(&outcomes));
    assert_clean(&outcomes, &[], "after cutover");
    assert!(outcomes.iter().all(|o| o.rules_not_applicable.is_empty()));
    let s = confirm_structure(&mut conn).await?;
    eprintln!("{}", serde_json::to_string_pretty(&s)?);
    assert!(s.cutover.complete, "{:?}", s.cutover);
    assert_eq!(s.cutover.archives_present.len(), 10);
    assert!(s.triggers_ok, "{:?}", s.triggers);
    assert_eq!(s.fk_to_hypertable_count, 0);
    assert!(s
        .identity
        .iter()
        .all(|i| i.parity == invariants::structure::Parity::Pass));
    assert_eq!(s.compression.policy_jobs, 0);
    assert_eq!(s.compression.hypertables.len(), 4);
    assert!(s.lock.as_ref().is_some_and(|l| l.locked));

    // The read-only transaction really is read-only and really ends.
    assert!(!conn.is_in_transaction());

    // Every corruption, on every table set where its sub-rule applies.
    let mut all_failures = Vec::new();
    let (ran_post, f) = corrupt_all(&mut conn, TableSet::CanonicalAfterCutover).await?;
    all_failures.extend(f);
    conn.close().await?;
    let mut conn = PgConnection::connect(&db_url(&admin_url, pre)).await?;
    let (ran_v2, f) = corrupt_all(&mut conn, TableSet::V2BeforeCutover).await?;
    all_failures.extend(f);
    conn.close().await?;
    let mut conn = PgConnection::connect(&db_url(&admin_url, p1a)).await?;
    let (ran_1a, f) = corrupt_all(&mut conn, TableSet::Phase1a).await?;
    all_failures.extend(f);
    conn.close().await?;
    eprintln!(
        "corruptions run: after cutover {ran_post}, v2 {ran_v2}, phase 1a {ran_1a}; failures {}",
        all_failures.len()
    );
    assert!(all_failures.is_empty(), "{}", all_failures.join("\n"));
    assert_eq!(
        ran_post,
        CORRUPTIONS.len(),
        "every corruption applies after cutover"
    );

    // Disabled and missing triggers are reported by the structural confirmation.
    let mut conn = PgConnection::connect(&db_url(&admin_url, post)).await?;
    conn.execute("ALTER TABLE order_fill DISABLE TRIGGER trg_order_fill_append_only")
        .await?;
    conn.execute(
        "DROP TRIGGER ctrg_cluster_exposure_parent_risk_hash ON cluster_exposure_hourly_state",
    )
    .await?;
    conn.execute("ALTER TABLE risk_event ENABLE REPLICA TRIGGER trg_risk_event_append_only")
        .await?;
    let s = confirm_structure(&mut conn).await?;
    assert!(!s.triggers_ok);
    let bad: Vec<_> = s
        .triggers
        .iter()
        .filter(|t| !(t.present && t.enabled))
        .map(|t| t.trigger.as_str())
        .collect();
    assert_eq!(
        bad,
        vec![
            "trg_order_fill_append_only",
            "trg_risk_event_append_only",
            "ctrg_cluster_exposure_parent_risk_hash"
        ]
    );
    conn.close().await?;

    for db in [post, pre, p1a] {
        admin
            .execute(format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)").as_str())
            .await?;
    }
    Ok(())
}

#[tokio::test]
#[ignore = "needs INVARIANTS_TEST_ADMIN_URL (a PostgreSQL + TimescaleDB superuser URL)"]
async fn empty_world_and_missing_table_sets() -> R<()> {
    let Some(admin_url) = admin_url() else {
        return Err("INVARIANTS_TEST_ADMIN_URL is not set".into());
    };
    let mut admin = PgConnection::connect(&admin_url).await?;
    let db = "inv_t_ro";
    recreate(&mut admin, db, None).await?;
    let mut conn = PgConnection::connect(&db_url(&admin_url, db)).await?;
    for f in &PHASE_1A[..2] {
        apply(&mut conn, f).await?;
    }
    // an empty Phase 1A database: everything applicable is 0
    let outcomes = run_checks(&mut conn, TableSet::Phase1a, 10).await?;
    assert_clean(
        &outcomes,
        &["identity_bijection", "missing_hash"],
        "empty Phase 1A",
    );
    // the v2 set does not exist yet
    let err = run_checks(&mut conn, TableSet::V2BeforeCutover, 10).await;
    assert!(
        matches!(
            err,
            Err(invariants::InvariantsError::TableSetMissing { .. })
        ),
        "{err:?}"
    );
    assert!(!conn.is_in_transaction());
    // run_checks owns its READ ONLY transaction: it refuses a connection already in one
    let mut tx = conn.begin().await?;
    let err = run_checks(&mut tx, TableSet::Phase1a, 10).await;
    assert!(
        matches!(err, Err(invariants::InvariantsError::Session { .. })),
        "{err:?}"
    );
    let err = invariants::confirm_structure(&mut tx).await;
    assert!(
        matches!(err, Err(invariants::InvariantsError::Structure { .. })),
        "{err:?}"
    );
    // ... while run_checks_within runs in the caller's transaction
    let outcomes = run_checks_within(&mut tx, TableSet::Phase1a, 10).await?;
    assert_clean(
        &outcomes,
        &["identity_bijection", "missing_hash"],
        "within a caller transaction",
    );
    tx.rollback().await?;
    conn.close().await?;
    admin
        .execute(format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)").as_str())
        .await?;
    Ok(())
}

/// Timing on ~100k fills (50 accounts x 1000 hours): prints each check's time on Phase 1A and
/// after the cutover, and asserts the bulk world is clean on both.
#[tokio::test]
#[ignore = "needs INVARIANTS_TEST_ADMIN_URL; slow (seeds ~100k fills and migrates them)"]
async fn bulk_world_timing() -> R<()> {
    let Some(admin_url) = admin_url() else {
        return Err("INVARIANTS_TEST_ADMIN_URL is not set".into());
    };
    let mut admin = PgConnection::connect(&admin_url).await?;
    let db = "inv_t_bulk";
    recreate(&mut admin, db, None).await?;
    let mut conn = PgConnection::connect(&db_url(&admin_url, db)).await?;
    for f in &PHASE_1A[..2] {
        apply(&mut conn, f).await?;
    }
    let bulk =
        std::fs::read_to_string(workspace().join("invariants/tests/fixtures/bulk_world.sql"))?
            .replace(":accounts", "50")
            .replace(":hours", "1000");
    conn.execute(sqlx::raw_sql(&format!("BEGIN;\n{bulk}\n;COMMIT;")))
        .await?;
    let fills: i64 = sqlx::query_scalar("SELECT count(*) FROM order_fill")
        .fetch_one(&mut conn)
        .await?;
    let t = Instant::now();
    let outcomes = run_checks(&mut conn, TableSet::Phase1a, 10).await?;
    eprintln!(
        "Phase 1A, {fills} fills: all checks {:?}\n{}",
        t.elapsed(),
        summary(&outcomes)
    );
    assert_clean(
        &outcomes,
        &["identity_bijection", "missing_hash"],
        "bulk Phase 1A",
    );
    for f in PHASE_1B_1C_TO_M9.iter().chain(CUTOVER.iter()) {
        apply(&mut conn, f).await?;
    }
    conn.execute("ANALYZE").await?;
    let t = Instant::now();
    let outcomes = run_checks(&mut conn, TableSet::CanonicalAfterCutover, 10).await?;
    eprintln!(
        "after cutover, {fills} fills: all checks {:?}\n{}",
        t.elapsed(),
        summary(&outcomes)
    );
    assert_clean(&outcomes, &[], "bulk after cutover");
    conn.close().await?;
    admin
        .execute(format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)").as_str())
        .await?;
    Ok(())
}

/// Print `EXPLAIN ANALYZE` of one check on an existing database (a debugging aid for the plans):
/// `INVARIANTS_EXPLAIN_URL=... INVARIANTS_EXPLAIN_CHECK=missing_hash INVARIANTS_EXPLAIN_SET=after`.
#[tokio::test]
#[ignore = "debugging aid: needs INVARIANTS_EXPLAIN_URL and INVARIANTS_EXPLAIN_CHECK"]
async fn explain_one_check() -> R<()> {
    let url = std::env::var("INVARIANTS_EXPLAIN_URL")?;
    let check = std::env::var("INVARIANTS_EXPLAIN_CHECK")?;
    let set = match std::env::var("INVARIANTS_EXPLAIN_SET")
        .unwrap_or_default()
        .as_str()
    {
        "1a" => TableSet::Phase1a,
        "v2" => TableSet::V2BeforeCutover,
        _ => TableSet::CanonicalAfterCutover,
    };
    let mut conn = PgConnection::connect(&url).await?;
    let plan = invariants::explain_check(&mut conn, &check, set, true).await?;
    assert!(!plan.is_empty());
    println!("{plan}");
    Ok(())
}

/// Time every check on an existing database (no EXPLAIN instrumentation):
/// `INVARIANTS_EXPLAIN_URL=... INVARIANTS_EXPLAIN_SET=after|v2|1a`.
#[tokio::test]
#[ignore = "debugging aid: needs INVARIANTS_EXPLAIN_URL"]
async fn time_checks_on_existing_database() -> R<()> {
    let url = std::env::var("INVARIANTS_EXPLAIN_URL")?;
    let set = match std::env::var("INVARIANTS_EXPLAIN_SET")
        .unwrap_or_default()
        .as_str()
    {
        "1a" => TableSet::Phase1a,
        "v2" => TableSet::V2BeforeCutover,
        _ => TableSet::CanonicalAfterCutover,
    };
    let mut conn = PgConnection::connect(&url).await?;
    let t = Instant::now();
    let outcomes = run_checks(&mut conn, set, 10).await?;
    println!("all checks {:?}\n{}", t.elapsed(), summary(&outcomes));
    assert_eq!(outcomes.len(), 12);
    Ok(())
}
