//! The migration under live writers: the trading system keeps writing through Phase 1B and
//! Phase 1C (the cutover included), and nothing it was told was written gets lost.

use generators::WorldParams;
use harness::run::{LiveConfig, RunConfig, Scenario, WorldSource};
use harness::writers::WriterOptions;

fn world(seed: u64, hours: u32, fills: u64) -> generators::World {
    harness::run::build_world(&WorldSource::Generated {
        seed,
        params: WorldParams {
            hours,
            target_fills: fills,
            ..WorldParams::default()
        },
    })
    .unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writers_through_the_whole_migration_lose_nothing() {
    let server = harness::shared_server()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let w = world(7, 96, 800);
    let config = RunConfig {
        scenario: Scenario::Clean,
        live: Some(LiveConfig {
            writers: WriterOptions {
                writers: 2,
                rate: Some(150.0),
            },
            live_hours: 72,
        }),
        stop_after: None,
    };
    let report = harness::run::run_with(server, &w, &config)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let live = report
        .live
        .as_ref()
        .unwrap_or_else(|| panic!("no live run"));
    for (name, s) in &live.windows {
        eprintln!("{name}: {s:?}");
    }
    eprintln!(
        "overall {:?} hours {} exhausted {}",
        live.overall, live.log.hours_written, live.log.exhausted
    );
    for f in &live.log.failures {
        eprintln!("failure {f:?}");
    }
    assert!(
        report.succeeded(),
        "{:?}",
        report.attempts.last().and_then(|a| a.error.clone())
    );
    assert!(
        live.verification.is_exact(),
        "{}",
        live.verification.describe()
    );
    assert_eq!(live.overall.errors, 0);
    assert_eq!(live.server_deadlocks, 0);
    assert!(
        live.final_audit_failures.is_empty(),
        "{:?}",
        live.final_audit_failures
    );
}

/// Acknowledged deposits: (ledger_seq, began, committed).
type Deposits = Vec<(
    i64,
    chrono::DateTime<chrono::Utc>,
    chrono::DateTime<chrono::Utc>,
)>;

/// The writer: a loop inserting valid DEPOSIT rows (next `ledger_seq`, the right
/// `balance_after`) into `cash_ledger`, one short transaction each, about 50 to 100 a second, until
/// told to stop. Returns (acknowledged deposits, errors).
async fn deposit_loop(
    db: sqlx::postgres::PgConnectOptions,
    account: i64,
    after: chrono::DateTime<chrono::Utc>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> (Deposits, Vec<String>) {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect_with(&db)
        .await
        .unwrap_or_else(|e| panic!("deposit writer: {e}"));
    let (mut acked, mut errors) = (Vec::new(), Vec::new());
    let mut n = 0i64;
    while !stop.load(std::sync::atomic::Ordering::SeqCst) {
        n += 1;
        let began = chrono::Utc::now();
        let result: Result<i64, sqlx::Error> = async {
            let mut tx = conn.begin().await?;
            let (seq, balance): (i64, rust_decimal::Decimal) = sqlx::query_as(
                "SELECT ledger_seq, balance_after FROM cash_ledger WHERE account_id = $1
                  ORDER BY ledger_seq DESC LIMIT 1",
            )
            .bind(account)
            .fetch_one(&mut *tx)
            .await?;
            // After the world's last hour: no hourly state covers these deposits yet, as on a
            // live system whose current hour is still open.
            sqlx::query(
                "INSERT INTO cash_ledger (account_id, ledger_seq, entry_ts, entry_type, amount, balance_after, fill_id)
                 VALUES ($1, $2, $3, 'DEPOSIT', 10, $4 + 10, NULL)",
            )
            .bind(account)
            .bind(seq + 1)
            .bind(after + chrono::Duration::seconds(n))
            .bind(balance)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(seq + 1)
        }
        .await;
        match result {
            Ok(seq) => acked.push((seq, began, chrono::Utc::now())),
            Err(e) => errors.push(e.to_string()),
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    (acked, errors)
}

/// The deadlock of the issue (an ordinary DEPOSIT writer through STEP_7/7B) cannot happen:
/// every migration transaction waits at most its lock_timeout, far below deadlock_timeout, and
/// then yields. Repeated on fresh databases; the whole migration, cutover included, each time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deposit_writer_through_the_cutover_never_deadlocks() {
    use sqlx::Connection;
    let server = harness::shared_server()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let w = world(11, 48, 400);
    let last_hour = w
        .feature_snapshot
        .iter()
        .map(|f| f.hour_ts)
        .max()
        .unwrap_or_default();
    let account = w.account[0].account_id;
    for round in 1..=3 {
        let db = harness::TestDb::on_server(
            server.clone(),
            &harness::template::TemplateSpec::phase_1a(),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        let mut conn = db.connect().await.unwrap_or_else(|e| panic!("{e}"));
        generators::seed_world(&mut conn, &w)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let writer = tokio::spawn(deposit_loop(
            db.connect_options(),
            account,
            last_hour + chrono::Duration::hours(2),
            stop.clone(),
        ));
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let outcome = migrations::run_migration(&mut conn, &harness::gate::audit_options()).await;
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let (acked, errors) = writer.await.unwrap_or_else(|e| panic!("{e}"));
        let outcome =
            outcome.unwrap_or_else(|e| panic!("round {round}: the migration failed: {e}"));
        assert!(
            outcome.phase_1c.as_ref().is_some_and(|o| o.completed()),
            "round {round}: {outcome:?}"
        );
        assert!(errors.is_empty(), "round {round}: writer errors {errors:?}");
        assert!(
            acked.len() > 20,
            "round {round}: only {} deposits",
            acked.len()
        );
        // Every acknowledged deposit is in the canonical table after the cutover.
        let present: Vec<i64> = sqlx::query_scalar(
            "SELECT ledger_seq FROM cash_ledger WHERE account_id = $1 AND entry_type = 'DEPOSIT' AND ledger_seq = ANY($2)",
        )
        .bind(account)
        .bind(acked.iter().map(|(s, _, _)| *s).collect::<Vec<_>>())
        .fetch_all(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(present.len(), acked.len(), "round {round}: lost deposits");
        let _ = sqlx::raw_sql("SELECT pg_stat_clear_snapshot()")
            .execute(&mut conn)
            .await;
        let deadlocks: i64 = sqlx::query_scalar(
            "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()",
        )
        .fetch_one(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(deadlocks, 0, "round {round}");
        let retries: u32 = outcome
            .phase_1c
            .iter()
            .flat_map(|o| o.steps.iter())
            .map(|s| s.lock_retries)
            .sum();
        // The writer really wrote through the cutover: deposits began while STEP_7 or STEP_7B ran.
        let steps = &outcome
            .phase_1c
            .as_ref()
            .map(|o| o.steps.clone())
            .unwrap_or_default();
        let window = |name: migrations::StepName| {
            steps
                .iter()
                .find(|s| s.step == name)
                .map(|s| (s.started_at_utc, s.ended_at_utc))
        };
        let (Some((from, _)), Some((_, to))) = (
            window(migrations::StepName::Step7M10Cutover),
            window(migrations::StepName::Step7bPostCutoverFinalize),
        ) else {
            panic!("round {round}: no STEP_7/7B in {steps:?}");
        };
        let during = acked
            .iter()
            .filter(|(_, began, done)| *began <= to && *done >= from)
            .count();
        assert!(
            during >= 1,
            "round {round}: no deposit overlapped the cutover ({from} .. {to})"
        );
        eprintln!(
            "round {round}: {} deposits ({during} around the cutover), {retries} migration lock retries",
            acked.len()
        );
        let _ = conn.close().await;
    }
}
