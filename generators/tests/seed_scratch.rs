//! Seeds worlds into a real PostgreSQL + TimescaleDB and recomputes the contract rules in SQL
//! over the seeded rows: hashes, fee and slippage formulas, ledger continuity, FIFO lots,
//! hourly states, risk gate, cluster cap, walk-forward.
//!
//! Each test seeds into its own database cloned from the Phase 1A template of crate `provision` (the
//! seeding throughput is measured by `cargo bench -p benches --bench seed`).

use generators::{
    fixture_world, generate, seed_world, seed_world_with, SeedOptions, World, WorldParams,
};
use provision::TestDb;
use sqlx::{Connection, PgConnection, Row};

/// The SQL form of the hash canon's timestamp.
const TS: &str = r#"'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'"#;

/// A fresh database with the Phase 1A schema, cloned from the Phase 1A template on the
/// test process's server (native cluster, container, or `HARNESS_DATABASE_URL`): these tests
/// always run, and a missing TimescaleDB fails them with the provisioning library's explanation.
struct Scratch {
    db: TestDb,
    conn: PgConnection,
}

impl Scratch {
    async fn new(tag: &str) -> Scratch {
        let db = TestDb::new()
            .await
            .unwrap_or_else(|e| panic!("{tag}: database: {e}"));
        let conn = db
            .connect()
            .await
            .unwrap_or_else(|e| panic!("{tag}: connect {}: {e}", db.name()));
        Scratch { db, conn }
    }

    /// Close the connection; the database is dropped with `db` (kept if the test panicked).
    async fn finish(self) {
        let _ = self.conn.close().await;
        drop(self.db);
    }
}

/// Each query returns one bigint: the number of rows violating the rule named beside it.
fn rules() -> Vec<(&'static str, String)> {
    let h = |fields: &str| {
        format!("encode(sha256(convert_to(concat_ws('|', {fields}), 'UTF8')), 'hex')")
    };
    let ts = |col: &str| format!("to_char({col} AT TIME ZONE 'UTC', {TS})");
    vec![
        ("feature_hash", format!(
            "SELECT count(*) FROM feature_snapshot WHERE feature_hash <> {}",
            h(&format!("instrument_id::text, {}, close_price::text, features::text", ts("hour_ts")))
        )),
        ("features_text_verbatim", "SELECT count(*) FROM feature_snapshot \
            WHERE features::text !~ '^\\{\"f1\": -?[0-9]+\\.[0-9]{8}(, \"f[2-9]\": -?[0-9]+\\.[0-9]{8})*\\}$'".into()),
        ("position_state_hash", format!(
            "SELECT count(*) FROM position_hourly_state WHERE state_hash <> {}",
            h(&format!("account_id::text, instrument_id::text, {}, quantity::text, mark_price::text, market_value::text", ts("hour_ts")))
        )),
        ("position_values", "SELECT count(*) FROM position_hourly_state p \
            LEFT JOIN feature_snapshot f USING (instrument_id, hour_ts) \
            WHERE f.close_price IS DISTINCT FROM p.mark_price \
               OR p.market_value <> round(p.quantity * p.mark_price, 8)".into()),
        ("position_quantity_replay", "SELECT count(*) FROM position_hourly_state p \
            WHERE p.quantity <> coalesce((SELECT sum(CASE f.side WHEN 'BUY' THEN f.fill_qty ELSE -f.fill_qty END) \
                FROM order_fill f WHERE f.account_id = p.account_id AND f.instrument_id = p.instrument_id \
                  AND f.fill_ts < p.hour_ts + interval '1 hour'), 0)".into()),
        ("position_grid_complete", "SELECT abs((SELECT count(*) FROM position_hourly_state) - \
            (SELECT count(*) FROM account) * (SELECT count(*) FROM instrument) * \
            (SELECT count(DISTINCT hour_ts) FROM feature_snapshot))".into()),
        ("portfolio_state_hash", format!(
            "SELECT count(*) FROM portfolio_hourly_state WHERE state_hash <> {}",
            h(&format!("account_id::text, {}, cash::text, market_value::text, equity::text, peak_equity::text", ts("hour_ts")))
        )),
        ("portfolio_replay", "WITH r AS ( \
              SELECT p.*, \
                coalesce((SELECT l.balance_after FROM cash_ledger l WHERE l.account_id = p.account_id \
                   AND l.entry_ts < p.hour_ts + interval '1 hour' ORDER BY l.ledger_seq DESC LIMIT 1), 0) AS cash_r, \
                (SELECT sum(x.market_value) FROM position_hourly_state x \
                   WHERE x.account_id = p.account_id AND x.hour_ts = p.hour_ts) AS mv_r, \
                max(p.equity) OVER (PARTITION BY p.account_id ORDER BY p.hour_ts) AS peak_r \
              FROM portfolio_hourly_state p) \
            SELECT count(*) FROM r WHERE cash <> cash_r OR market_value <> mv_r \
               OR equity <> cash + market_value OR peak_equity <> peak_r".into()),
        ("risk_state_hash", format!(
            "SELECT count(*) FROM risk_hourly_state WHERE state_hash <> {}",
            h(&format!("account_id::text, {}, gross_exposure::text, drawdown::text, trading_state, parent_portfolio_hash", ts("hour_ts")))
        )),
        ("risk_replay", "SELECT count(*) FROM risk_hourly_state r \
            LEFT JOIN portfolio_hourly_state p USING (account_id, hour_ts) \
            WHERE p.state_hash IS DISTINCT FROM r.parent_portfolio_hash \
               OR r.gross_exposure <> CASE WHEN p.equity = 0 THEN 0 ELSE round(p.market_value / p.equity, 8) END \
               OR r.drawdown <> CASE WHEN p.peak_equity = 0 THEN 0 ELSE round(1 - p.equity / p.peak_equity, 8) END \
               OR r.trading_state <> CASE WHEN r.drawdown >= 0.20 THEN 'HALTED' \
                                          WHEN r.drawdown >= 0.10 THEN 'REDUCE_ONLY' ELSE 'NORMAL' END".into()),
        ("risk_events_exact", "WITH s AS ( \
              SELECT account_id, hour_ts, trading_state, drawdown, \
                lag(trading_state, 1, 'NORMAL') OVER (PARTITION BY account_id ORDER BY hour_ts) AS prev \
              FROM risk_hourly_state), \
            expected AS (SELECT account_id, hour_ts, prev AS from_state, trading_state AS to_state, drawdown \
                         FROM s WHERE prev <> trading_state), \
            actual AS (SELECT account_id, hour_ts, from_state, to_state, drawdown FROM risk_event \
                       WHERE event_type = 'TRADING_STATE_CHANGE') \
            SELECT (SELECT count(*) FROM (SELECT * FROM expected EXCEPT ALL SELECT * FROM actual) a) + \
                   (SELECT count(*) FROM (SELECT * FROM actual EXCEPT ALL SELECT * FROM expected) b) + \
                   (SELECT count(*) FROM risk_event WHERE event_type <> 'TRADING_STATE_CHANGE')".into()),
        ("fee_formula", "SELECT count(*) FROM order_fill f \
            LEFT JOIN LATERAL (SELECT fee_bps, min_fee FROM fee_schedule s WHERE s.account_id = f.account_id \
                AND s.effective_from <= f.fill_ts ORDER BY s.effective_from DESC LIMIT 1) s ON true \
            WHERE s.fee_bps IS NULL \
               OR f.fee <> round(greatest(f.fill_qty * f.fill_price * s.fee_bps / 10000, s.min_fee), 8)".into()),
        ("slippage_formula", "SELECT count(*) FROM order_fill f \
            JOIN instrument i USING (instrument_id) JOIN order_request o USING (order_id) \
            WHERE f.fill_price <> round(f.reference_price * (1 + (CASE f.side WHEN 'BUY' THEN 1 ELSE -1 END) * i.slippage_bps / 10000), 8) \
               OR f.slippage_cost <> round((f.fill_price - f.reference_price) * (CASE f.side WHEN 'BUY' THEN 1 ELSE -1 END) * f.fill_qty, 8) \
               OR f.reference_price <> o.reference_price OR f.side <> o.side \
               OR f.account_id <> o.account_id OR f.instrument_id <> o.instrument_id".into()),
        ("fill_timing", "SELECT count(*) FROM order_fill f JOIN order_request o USING (order_id) \
            WHERE f.fill_ts < o.requested_ts \
               OR date_trunc('hour', f.fill_ts) <> date_trunc('hour', o.requested_ts) \
               OR o.risk_hour_ts <> date_trunc('hour', o.requested_ts) - interval '1 hour'".into()),
        ("ledger_continuity", "SELECT count(*) FROM ( \
              SELECT ledger_seq, amount, balance_after, \
                row_number() OVER w AS rn, \
                lag(balance_after, 1, 0) OVER w AS prev_balance, \
                lag(entry_ts) OVER w AS prev_ts \
              FROM cash_ledger WINDOW w AS (PARTITION BY account_id ORDER BY ledger_seq)) x \
            WHERE ledger_seq <> rn OR balance_after <> prev_balance + amount".into()),
        ("ledger_time_order", "SELECT count(*) FROM cash_ledger a JOIN cash_ledger b \
            ON a.account_id = b.account_id AND b.ledger_seq = a.ledger_seq + 1 WHERE b.entry_ts < a.entry_ts".into()),
        ("ledger_per_fill", "SELECT count(*) FROM order_fill f \
            LEFT JOIN cash_ledger t ON t.fill_id = f.fill_id AND t.entry_type = 'TRADE' \
            LEFT JOIN cash_ledger e ON e.fill_id = f.fill_id AND e.entry_type = 'FEE' \
            WHERE t.ledger_seq IS NULL OR e.ledger_seq IS NULL \
               OR e.ledger_seq <> t.ledger_seq + 1 \
               OR t.account_id <> f.account_id OR e.account_id <> f.account_id \
               OR t.amount <> -(CASE f.side WHEN 'BUY' THEN 1 ELSE -1 END) * round(f.fill_qty * f.fill_price, 8) \
               OR e.amount <> -f.fee OR t.entry_ts <> f.fill_ts OR e.entry_ts <> f.fill_ts \
               OR (SELECT count(*) FROM cash_ledger c WHERE c.fill_id = f.fill_id) <> 2".into()),
        ("ledger_kinds", "SELECT count(*) FROM cash_ledger WHERE \
               (entry_type IN ('TRADE', 'FEE')) <> (fill_id IS NOT NULL) \
               OR (entry_type = 'DEPOSIT' AND amount <= 0) OR (entry_type = 'WITHDRAWAL' AND amount >= 0) \
               OR entry_type NOT IN ('DEPOSIT', 'WITHDRAWAL', 'TRADE', 'FEE')".into()),
        ("order_quantities", "SELECT count(*) FROM order_request o \
            WHERE o.filled_quantity <> (SELECT coalesce(sum(fill_qty), 0) FROM order_fill f WHERE f.order_id = o.order_id) \
               OR o.filled_quantity > o.quantity OR o.quantity <= 0".into()),
        ("lots_from_buy_fills", "SELECT count(*) FROM order_fill f \
            FULL JOIN position_lot l ON l.opening_fill_id = f.fill_id \
            WHERE (f.side = 'BUY' OR l.lot_id IS NOT NULL) AND ( \
                  f.fill_id IS NULL OR l.lot_id IS NULL OR f.side <> 'BUY' \
               OR l.original_qty <> f.fill_qty OR l.opened_ts <> f.fill_ts \
               OR l.account_id <> f.account_id OR l.instrument_id <> f.instrument_id \
               OR l.cost_basis <> round(f.fill_qty * f.fill_price, 8) + f.fee)".into()),
        ("lot_consumption", "SELECT count(*) FROM position_lot l \
            WHERE l.remaining_qty < 0 OR l.remaining_qty > l.original_qty \
               OR l.original_qty - l.remaining_qty <> \
                  (SELECT coalesce(sum(quantity), 0) FROM executed_trade t WHERE t.lot_id = l.lot_id)".into()),
        ("sell_fill_trades", "SELECT count(*) FROM order_fill f WHERE f.side = 'SELL' AND f.fill_qty <> \
            (SELECT coalesce(sum(quantity), 0) FROM executed_trade t WHERE t.sell_fill_id = f.fill_id)".into()),
        ("executed_trade_math", "SELECT count(*) FROM executed_trade t \
            JOIN position_lot l USING (lot_id) JOIN order_fill f ON f.fill_id = t.sell_fill_id \
            WHERE f.side <> 'SELL' OR t.executed_ts <> f.fill_ts \
               OR t.account_id <> l.account_id OR t.account_id <> f.account_id \
               OR t.instrument_id <> l.instrument_id OR t.instrument_id <> f.instrument_id \
               OR t.proceeds <> round(t.quantity * f.fill_price, 8) \
               OR t.cost_basis <> round(l.cost_basis * t.quantity / l.original_qty, 8) \
               OR t.realized_pnl <> t.proceeds - t.cost_basis OR t.quantity <= 0".into()),
        ("fifo_order", "SELECT count(*) FROM executed_trade t JOIN position_lot l USING (lot_id) \
            JOIN position_lot e ON e.account_id = l.account_id AND e.instrument_id = l.instrument_id \
                 AND (e.opened_ts, e.lot_id) < (l.opened_ts, l.lot_id) \
            WHERE e.original_qty > (SELECT coalesce(sum(t2.quantity), 0) FROM executed_trade t2 \
                                    WHERE t2.lot_id = e.lot_id AND t2.sell_fill_id <= t.sell_fill_id)".into()),
        ("open_lots_equal_last_position", "SELECT count(*) FROM ( \
              SELECT a.account_id, i.instrument_id, \
                (SELECT coalesce(sum(remaining_qty), 0) FROM position_lot l \
                   WHERE l.account_id = a.account_id AND l.instrument_id = i.instrument_id) AS open_lots, \
                (SELECT p.quantity FROM position_hourly_state p WHERE p.account_id = a.account_id \
                   AND p.instrument_id = i.instrument_id ORDER BY p.hour_ts DESC LIMIT 1) AS last_position \
              FROM account a CROSS JOIN instrument i) x \
            WHERE open_lots IS DISTINCT FROM last_position".into()),
        ("long_only", "SELECT (SELECT count(*) FROM position_hourly_state WHERE quantity < 0) \
            + (SELECT count(*) FROM cash_ledger WHERE balance_after < 0) \
            + (SELECT count(*) FROM trade_signal WHERE target_weight < 0) \
            + (SELECT count(*) FROM order_fill s WHERE s.side = 'SELL' AND s.fill_qty > \
                 (SELECT coalesce(sum(CASE f.side WHEN 'BUY' THEN f.fill_qty ELSE -f.fill_qty END), 0) \
                  FROM order_fill f WHERE f.account_id = s.account_id AND f.instrument_id = s.instrument_id \
                    AND (f.fill_ts, f.fill_id) < (s.fill_ts, s.fill_id)))".into()),
        ("risk_gate", "SELECT count(*) FROM order_request o \
            LEFT JOIN risk_hourly_state r ON r.account_id = o.account_id AND r.hour_ts = o.risk_hour_ts \
            WHERE r.state_hash IS NULL OR (o.side = 'BUY' AND r.trading_state <> 'NORMAL')".into()),
        ("cluster_cap", "SELECT count(*) FROM order_request o \
            JOIN instrument_cluster ic USING (instrument_id) JOIN cluster c USING (cluster_id) \
            JOIN portfolio_hourly_state p ON p.account_id = o.account_id AND p.hour_ts = o.risk_hour_ts \
            WHERE o.side = 'BUY' AND \
              (SELECT coalesce(sum(x.market_value), 0) FROM position_hourly_state x \
                 JOIN instrument_cluster xc USING (instrument_id) \
               WHERE x.account_id = o.account_id AND x.hour_ts = o.risk_hour_ts AND xc.cluster_id = c.cluster_id) \
              + round(o.quantity * o.reference_price, 8) > round(c.cap_fraction * p.equity, 8)".into()),
        ("walk_forward_predictions", "SELECT count(*) FROM model_prediction p \
            JOIN model_registry m USING (model_id) \
            LEFT JOIN feature_snapshot f ON f.instrument_id = p.instrument_id AND f.hour_ts = p.feature_hour_ts \
            WHERE p.hour_ts <= m.train_end OR p.feature_hour_ts > p.hour_ts \
               OR f.feature_hash IS DISTINCT FROM p.feature_hash OR m.model_kind NOT IN ('BASE', 'META')".into()),
        ("walk_forward_regime", "SELECT count(*) FROM regime_output r JOIN model_registry m USING (model_id) \
            WHERE r.hour_ts <= m.train_end OR m.model_kind <> 'REGIME'".into()),
        ("meta_components", "SELECT count(*) FROM model_prediction p JOIN model_registry m USING (model_id) \
            LEFT JOIN LATERAL (SELECT sum(c.weight) AS w, round(sum(c.weight * b.score), 8) AS s, \
                                      bool_and(b.hour_ts <= p.hour_ts AND bm.model_kind = 'BASE' \
                                               AND b.instrument_id = p.instrument_id) AS ok, \
                                      count(*) AS n \
                               FROM meta_learner_component c \
                               JOIN model_prediction b ON b.prediction_id = c.base_prediction_id \
                               JOIN model_registry bm ON bm.model_id = b.model_id \
                               WHERE c.meta_prediction_id = p.prediction_id) x ON true \
            WHERE (m.model_kind = 'META' AND (x.n = 0 OR x.w <> 1 OR x.s <> p.score OR NOT x.ok)) \
               OR (m.model_kind = 'BASE' AND x.n > 0)".into()),
        ("walk_forward_signals", "SELECT count(*) FROM trade_signal s \
            JOIN model_prediction p USING (prediction_id) JOIN regime_output r USING (regime_output_id) \
            JOIN order_request o ON o.signal_id = s.signal_id \
            WHERE p.hour_ts > s.hour_ts OR r.hour_ts > s.hour_ts OR s.target_weight < 0 \
               OR p.instrument_id <> s.instrument_id OR o.account_id <> s.account_id \
               OR o.instrument_id <> s.instrument_id OR s.hour_ts > o.risk_hour_ts".into()),
    ]
}

async fn check_rules(conn: &mut PgConnection, label: &str) -> Vec<(&'static str, i64)> {
    let mut failures = Vec::new();
    for (name, sql) in rules() {
        let row = sqlx::query(&sql)
            .fetch_one(&mut *conn)
            .await
            .unwrap_or_else(|e| panic!("rule {name}: {e}\n{sql}"));
        let n: i64 = row
            .try_get(0)
            .unwrap_or_else(|e| panic!("rule {name}: {e}"));
        eprintln!("{label}: {name:<32} {n}");
        if n != 0 {
            failures.push((name, n));
        }
    }
    failures
}

const BULK: SeedOptions = SeedOptions {
    verify_foreign_keys_in_bulk: true,
};

async fn seed_and_verify(tag: &str, world: &World, options: &SeedOptions) {
    let mut db = Scratch::new(tag).await;
    let stats = seed_world_with(&mut db.conn, world, options)
        .await
        .unwrap_or_else(|e| panic!("seed: {e}"));
    // Hypertable rows must live in chunks, not in the parent (the fast path skips triggers).
    let in_parent: i64 = sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM ONLY feature_snapshot) + \
                (SELECT count(*) FROM ONLY position_hourly_state) + \
                (SELECT count(*) FROM ONLY portfolio_hourly_state) + \
                (SELECT count(*) FROM ONLY risk_hourly_state)",
    )
    .fetch_one(&mut db.conn)
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(in_parent, 0, "{tag}: rows in hypertable parents");
    assert_eq!(stats.total_rows, world.total_rows());
    for (table, rows) in world.row_counts() {
        let n: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
            .fetch_one(&mut db.conn)
            .await
            .unwrap_or_else(|e| panic!("count {table}: {e}"));
        assert_eq!(n as u64, rows, "{table}");
    }
    eprintln!(
        "{tag}: seeded {} rows in {:?} ({:.0} rows/s)",
        stats.total_rows,
        stats.elapsed,
        stats.rows_per_second()
    );
    let failures = check_rules(&mut db.conn, tag).await;
    db.finish().await;
    assert!(failures.is_empty(), "{tag}: rules violated: {failures:?}");
}

#[tokio::test]
async fn fixture_world_obeys_the_contract_in_sql() {
    seed_and_verify("fixture", &fixture_world(), &SeedOptions::default()).await;
    seed_and_verify("fixture_bulk", &fixture_world(), &BULK).await;
}

#[tokio::test]
async fn generated_worlds_obey_the_contract_in_sql() {
    for seed in [0_u64, 7, 0xe05f865017030448] {
        let params = WorldParams {
            accounts: 4,
            instruments: 6,
            hours: 120,
            target_fills: 1_500,
        };
        let g = generate(seed, &params).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        eprintln!("seed {seed}: {:?}", g.simulation.report);
        let options = if seed % 2 == 0 {
            BULK
        } else {
            SeedOptions::default()
        };
        seed_and_verify(
            &format!("gen{}", seed % 1000),
            &g.simulation.world,
            &options,
        )
        .await;
    }
}

#[tokio::test]
async fn a_failed_seed_rolls_back_and_names_the_table() {
    let mut db = Scratch::new("rollback").await;
    let mut world = fixture_world();
    // A fill pointing at an order that does not exist: the FK fails inside order_fill's COPY.
    world.order_fill[0].order_id = 999_999;
    let err = seed_world(&mut db.conn, &world)
        .await
        .err()
        .unwrap_or_else(|| panic!("seeding a broken world succeeded"));
    let text = err.to_string();
    let accounts: i64 = sqlx::query_scalar("SELECT count(*) FROM account")
        .fetch_one(&mut db.conn)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    db.finish().await;
    assert!(text.contains("order_fill"), "{text}");
    assert_eq!(accounts, 0, "seeding must be one transaction");
}

#[tokio::test]
async fn bulk_foreign_key_verification_catches_orphans_and_user_triggers() {
    let mut db = Scratch::new("bulkfk").await;
    let mut world = fixture_world();
    world.cash_ledger[5].fill_id = Some(987_654);
    let err = seed_world_with(&mut db.conn, &world, &BULK)
        .await
        .err()
        .unwrap_or_else(|| panic!("an orphan fill_id passed bulk verification"));
    let text = err.to_string();
    let ledger: i64 = sqlx::query_scalar("SELECT count(*) FROM cash_ledger")
        .fetch_one(&mut db.conn)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    sqlx::raw_sql(
        "CREATE FUNCTION noop() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$; \
         CREATE TRIGGER trg_noop BEFORE INSERT ON order_fill FOR EACH ROW EXECUTE FUNCTION noop();",
    )
    .execute(&mut db.conn)
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let trig = seed_world_with(&mut db.conn, &fixture_world(), &BULK)
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    db.finish().await;
    assert!(
        text.contains("cash_ledger") && text.contains("1 rows reference no order_fill"),
        "{text}"
    );
    assert_eq!(ledger, 0);
    assert!(
        trig.contains("trg_noop") && trig.contains("order_fill"),
        "{trig}"
    );
}

/// md5 of every row of `table` as text, in row order: equal digests mean equal contents.
async fn table_digest(conn: &mut PgConnection, table: &str) -> String {
    sqlx::query_scalar(&format!(
        "SELECT coalesce(md5(string_agg(t::text, E'\\n' ORDER BY t::text)), '') FROM {table} t"
    ))
    .fetch_one(&mut *conn)
    .await
    .unwrap_or_else(|e| panic!("digest {table}: {e}"))
}

#[tokio::test]
async fn a_streamed_seed_writes_exactly_the_generated_world() {
    let params = WorldParams {
        accounts: 4,
        instruments: 6,
        hours: 120,
        target_fills: 1_500,
    };
    let world = generators::generate_world(7, &params);
    let mut held = Scratch::new("held").await;
    seed_world_with(&mut held.conn, &world, &BULK)
        .await
        .unwrap_or_else(|e| panic!("seed: {e}"));
    let mut streamed = Scratch::new("streamed").await;
    // Small chunks and a short queue: tables interleave and the generator waits on the COPY.
    let options = generators::StreamOptions {
        chunk_bytes: 8 << 10,
        queue: 1,
    };
    let stats = generators::seed_streamed(&mut streamed.conn, 7, &params, &options)
        .await
        .unwrap_or_else(|e| panic!("streamed seed: {e}"));
    assert_eq!(stats.total_rows, world.total_rows());
    assert!(
        stats.generated.chunks > 20,
        "chunks {}",
        stats.generated.chunks
    );
    for (table, rows) in world.row_counts() {
        let a = table_digest(&mut held.conn, table).await;
        let b = table_digest(&mut streamed.conn, table).await;
        assert_eq!(
            a, b,
            "{table} ({rows} rows) differs between held and streamed seeding"
        );
    }
    let failures = check_rules(&mut streamed.conn, "streamed").await;
    held.finish().await;
    streamed.finish().await;
    assert!(
        failures.is_empty(),
        "streamed: rules violated: {failures:?}"
    );
}

#[tokio::test]
async fn a_failed_streamed_seed_rolls_back_and_names_the_table() {
    let mut db = Scratch::new("streamfail").await;
    // The first order_fill chunk fails, long before the generator is done (the generator's
    // stop on a closed channel is a unit test of generators::stream).
    sqlx::raw_sql("ALTER TABLE order_fill ADD CONSTRAINT no_fills_here CHECK (fill_id < 0)")
        .execute(&mut db.conn)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let params = WorldParams {
        accounts: 3,
        instruments: 4,
        hours: 400,
        target_fills: 4_000,
    };
    let options = generators::StreamOptions {
        chunk_bytes: 4 << 10,
        queue: 1,
    };
    let err = generators::seed_streamed(&mut db.conn, 3, &params, &options)
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    let fills: i64 = sqlx::query_scalar("SELECT count(*) FROM order_fill")
        .fetch_one(&mut db.conn)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    db.finish().await;
    assert!(
        err.contains("order_fill") && err.contains("COPY failed") && err.contains("no_fills_here"),
        "{err}"
    );
    assert_eq!(fills, 0, "a failed streamed seed must leave nothing");
}
