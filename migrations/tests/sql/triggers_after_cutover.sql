-- The thirteen contract triggers (CONTRACT.md section 4) after a complete Phase 1C run on the
-- hand-made world (fixture_phase_1a.sql): each rejects a write that breaks its rule with an
-- error naming the trigger, and accepts a valid write. Needs assert_helpers.sql first.
-- Every write is rolled back by the helpers, so the script can run on a kept database.

DO $test$
DECLARE
    h2   text;  -- risk state hash of account 2, hour 02 (REDUCE_ONLY)
    p6   text;
    r6   text;
BEGIN
    -- 1-3. append-only canonical event tables --------------------------------------------------
    PERFORM pg_temp.expect_error('UPDATE order_fill SET fee = fee + 1 WHERE fill_id = 11', 'trg_order_fill_append_only');
    PERFORM pg_temp.expect_error('DELETE FROM order_fill WHERE fill_id = 11', 'trg_order_fill_append_only');
    PERFORM pg_temp.expect_ok($q$INSERT INTO order_fill (fill_id, account_id, order_id, instrument_id, side, fill_ts, fill_qty,
                                  reference_price, fill_price, fee, slippage_cost)
                                  VALUES (901, 1, 2, 3, 'BUY', '2026-01-05 02:40+00', 1, 50, 50, 1, 0)$q$);
    PERFORM pg_temp.expect_error('UPDATE cash_ledger SET amount = amount WHERE account_id = 1 AND ledger_seq = 2', 'trg_cash_ledger_append_only');
    PERFORM pg_temp.expect_error('DELETE FROM cash_ledger WHERE account_id = 1 AND ledger_seq = 9', 'trg_cash_ledger_append_only');
    PERFORM pg_temp.expect_ok($q$INSERT INTO cash_ledger (account_id, ledger_seq, entry_ts, entry_type, amount, balance_after)
                                  VALUES (1, 10, '2026-01-05 05:30+00', 'DEPOSIT', 100, 9661.09200000)$q$);
    PERFORM pg_temp.expect_error('UPDATE risk_event SET drawdown = 0 WHERE risk_event_id = 1', 'trg_risk_event_append_only');
    PERFORM pg_temp.expect_error('DELETE FROM risk_event WHERE risk_event_id = 1', 'trg_risk_event_append_only');

    -- 4-5. append-only identity tables ---------------------------------------------------------
    PERFORM pg_temp.expect_error($q$UPDATE portfolio_hourly_state_identity SET state_hash = repeat('a', 64) WHERE account_id = 1$q$,
                                 'trg_portfolio_hourly_state_identity_append_only');
    PERFORM pg_temp.expect_error('DELETE FROM portfolio_hourly_state_identity WHERE account_id = 1',
                                 'trg_portfolio_hourly_state_identity_append_only');
    PERFORM pg_temp.expect_error($q$UPDATE risk_hourly_state_identity SET state_hash = repeat('a', 64) WHERE account_id = 2$q$,
                                 'trg_risk_hourly_state_identity_append_only');
    PERFORM pg_temp.expect_error('DELETE FROM risk_hourly_state_identity WHERE account_id = 2',
                                 'trg_risk_hourly_state_identity_append_only');

    -- 6-9. sync-insert and source-exists -------------------------------------------------------
    p6 := portfolio_state_hash(1, '2026-01-05 06:00+00', 9561.092, 470, 10031.092, 10031.092);
    r6 := risk_state_hash(1, '2026-01-05 06:00+00', 0.04685432, 0, 'NORMAL', p6);
    -- A valid hypertable insert creates its identity rows (and the cluster rows) in the same statement.
    PERFORM pg_temp.expect_ok(format($q$
        INSERT INTO portfolio_hourly_state VALUES (1, '2026-01-05 06:00+00', 9561.092, 470, 10031.092, 10031.092, %L);
        INSERT INTO risk_hourly_state VALUES (1, '2026-01-05 06:00+00', 0.04685432, 0, 'NORMAL', %L, %L);
        DO $d$ BEGIN
            PERFORM pg_temp.expect((SELECT state_hash FROM portfolio_hourly_state_identity
                                     WHERE account_id = 1 AND hour_ts = '2026-01-05 06:00+00') = %L, 'portfolio identity synced');
            PERFORM pg_temp.expect((SELECT state_hash FROM risk_hourly_state_identity
                                     WHERE account_id = 1 AND hour_ts = '2026-01-05 06:00+00') = %L, 'risk identity synced');
            PERFORM pg_temp.expect((SELECT count(*) FROM cluster_exposure_hourly_state
                                     WHERE account_id = 1 AND hour_ts = '2026-01-05 06:00+00') = 2, 'cluster rows synced');
        END $d$$q$, p6, r6, p6, p6, r6));
    -- An identity row written ahead with another hash makes the source insert fail, naming the sync trigger.
    PERFORM pg_temp.expect_error(format($q$
        INSERT INTO portfolio_hourly_state_identity VALUES (1, '2026-01-05 06:00+00', %L);
        INSERT INTO portfolio_hourly_state VALUES (1, '2026-01-05 06:00+00', 9561.092, 470, 10031.092, 10031.092, %L)$q$,
        repeat('b', 64), p6), 'trg_portfolio_hourly_state_identity_sync_ins');
    PERFORM pg_temp.expect_error(format($q$
        INSERT INTO portfolio_hourly_state VALUES (1, '2026-01-05 06:00+00', 9561.092, 470, 10031.092, 10031.092, %L);
        INSERT INTO risk_hourly_state_identity VALUES (1, '2026-01-05 06:00+00', %L);
        INSERT INTO risk_hourly_state VALUES (1, '2026-01-05 06:00+00', 0.04685432, 0, 'NORMAL', %L, %L)$q$,
        p6, repeat('b', 64), r6, p6), 'trg_risk_hourly_state_identity_sync_ins');
    -- Identity rows without their source are rejected at commit; written ahead of the source
    -- with the same hash they are accepted.
    PERFORM pg_temp.expect_error($q$INSERT INTO portfolio_hourly_state_identity VALUES (1, '2026-01-05 07:00+00', repeat('c', 64))$q$,
                                 'ctrg_portfolio_identity_source_exists');
    PERFORM pg_temp.expect_error($q$INSERT INTO risk_hourly_state_identity VALUES (1, '2026-01-05 07:00+00', repeat('c', 64))$q$,
                                 'ctrg_risk_identity_source_exists');
    PERFORM pg_temp.expect_ok(format($q$
        INSERT INTO portfolio_hourly_state_identity VALUES (1, '2026-01-05 06:00+00', %L);
        INSERT INTO portfolio_hourly_state VALUES (1, '2026-01-05 06:00+00', 9561.092, 470, 10031.092, 10031.092, %L);
        INSERT INTO risk_hourly_state_identity VALUES (1, '2026-01-05 06:00+00', %L);
        INSERT INTO risk_hourly_state VALUES (1, '2026-01-05 06:00+00', 0.04685432, 0, 'NORMAL', %L, %L)$q$,
        p6, p6, r6, r6, p6));

    -- 10. risk gate: BUY bound to a REDUCE_ONLY state rejected; SELL there and BUY on NORMAL accepted.
    PERFORM pg_temp.expect_error($q$INSERT INTO order_request (order_id, account_id, signal_id, instrument_id, side, quantity,
                                     reference_price, requested_ts, risk_hour_ts, filled_quantity)
                                     VALUES (901, 2, 5, 2, 'BUY', 1, 60, '2026-01-05 03:30+00', '2026-01-05 02:00+00', 0)$q$,
                                 'ctrg_order_request_v2_risk_gate');
    PERFORM pg_temp.expect_ok($q$INSERT INTO order_request (order_id, account_id, signal_id, instrument_id, side, quantity,
                                  reference_price, requested_ts, risk_hour_ts, filled_quantity)
                                  VALUES (901, 2, 5, 2, 'SELL', 1, 60, '2026-01-05 03:30+00', '2026-01-05 02:00+00', 0)$q$);
    PERFORM pg_temp.expect_ok($q$INSERT INTO order_request (order_id, account_id, signal_id, instrument_id, side, quantity,
                                  reference_price, requested_ts, risk_hour_ts, filled_quantity)
                                  VALUES (902, 1, 2, 1, 'BUY', 1, 102, '2026-01-05 03:30+00', '2026-01-05 02:00+00', 0)$q$);

    -- 11. cluster cap: cluster 1 of account 1 at 02:00 has exposure 1020 and cap 6009.9.
    PERFORM pg_temp.expect_error($q$INSERT INTO order_request (order_id, account_id, signal_id, instrument_id, side, quantity,
                                     reference_price, requested_ts, risk_hour_ts, filled_quantity)
                                     VALUES (903, 1, 2, 1, 'BUY', 50, 102, '2026-01-05 03:30+00', '2026-01-05 02:00+00', 0)$q$,
                                 'ctrg_order_request_v2_cluster_cap');
    PERFORM pg_temp.expect_ok($q$INSERT INTO order_request (order_id, account_id, signal_id, instrument_id, side, quantity,
                                  reference_price, requested_ts, risk_hour_ts, filled_quantity)
                                  VALUES (903, 1, 2, 1, 'BUY', 48, 102, '2026-01-05 03:30+00', '2026-01-05 02:00+00', 0)$q$);

    -- 12. risk event parent hash.
    PERFORM pg_temp.expect_error($q$INSERT INTO risk_event (risk_event_id, account_id, hour_ts, event_type, from_state, to_state,
                                     drawdown, parent_state_hash)
                                     VALUES (901, 1, '2026-01-05 00:00+00', 'TRADING_STATE_CHANGE', 'NORMAL', 'HALTED', 0, repeat('d', 64))$q$,
                                 'ctrg_risk_event_v2_parent_state_hash');
    PERFORM pg_temp.expect_ok($q$INSERT INTO risk_event (risk_event_id, account_id, hour_ts, event_type, from_state, to_state, drawdown)
                                  VALUES (901, 1, '2026-01-05 00:00+00', 'TRADING_STATE_CHANGE', 'NORMAL', 'HALTED', 0)$q$);

    -- 13. cluster exposure parent risk hash.
    SELECT state_hash INTO h2 FROM risk_hourly_state WHERE account_id = 2 AND hour_ts = '2026-01-05 02:00+00';
    PERFORM pg_temp.expect_error($q$UPDATE cluster_exposure_hourly_state SET parent_risk_hash = repeat('e', 64)
                                     WHERE account_id = 2 AND cluster_id = 1 AND hour_ts = '2026-01-05 02:00+00'$q$,
                                 'ctrg_cluster_exposure_parent_risk_hash');
    PERFORM pg_temp.expect_ok(format($q$INSERT INTO cluster VALUES (3, 'spare', 0.1);
                                        INSERT INTO cluster_exposure_hourly_state VALUES (2, 3, '2026-01-05 02:00+00', 0, 419.6999, %L)$q$, h2));
    PERFORM pg_temp.expect_error($q$INSERT INTO cluster VALUES (3, 'spare', 0.1);
                                     INSERT INTO cluster_exposure_hourly_state VALUES (2, 3, '2026-01-05 02:00+00', 0, 419.6999, repeat('e', 64))$q$,
                                 'ctrg_cluster_exposure_parent_risk_hash');

    -- Hash triggers: hashed columns immutable, progress columns free, new rows hashed and chained.
    PERFORM pg_temp.expect_error('UPDATE order_request SET quantity = quantity + 1 WHERE order_id = 1', 'immutable');
    PERFORM pg_temp.expect_ok('UPDATE order_request SET filled_quantity = 0 WHERE order_id = 1');
    PERFORM pg_temp.expect_ok('UPDATE position_lot SET remaining_qty = 0 WHERE lot_id = 41');
    PERFORM pg_temp.expect_error($q$INSERT INTO cash_ledger (account_id, ledger_seq, entry_ts, entry_type, amount, balance_after, prev_hash)
                                     VALUES (1, 10, '2026-01-05 05:30+00', 'DEPOSIT', 100, 9661.092, repeat('0', 64))$q$,
                                 'trg_cash_ledger_v2_hashes');
    PERFORM pg_temp.expect_ok($q$
        INSERT INTO cash_ledger (account_id, ledger_seq, entry_ts, entry_type, amount, balance_after)
        VALUES (1, 10, '2026-01-05 05:30+00', 'DEPOSIT', 100, 9661.092);
        DO $d$ BEGIN PERFORM pg_temp.expect(
            (SELECT prev_hash FROM cash_ledger WHERE account_id = 1 AND ledger_seq = 10)
          = (SELECT row_hash FROM cash_ledger WHERE account_id = 1 AND ledger_seq = 9), 'ledger chain extended'); END $d$$q$);
END $test$;

-- The migrated hashes agree with a recomputation from the canon functions.
DO $$
BEGIN
    PERFORM pg_temp.expect(NOT EXISTS (
        SELECT 1 FROM order_fill f JOIN order_request o USING (account_id, order_id)
         WHERE f.parent_order_hash <> o.row_hash
            OR f.row_hash <> order_fill_row_hash(f.fill_id, f.account_id, f.order_id, f.instrument_id, f.side, f.fill_ts,
                                                 f.fill_qty, f.reference_price, f.fill_price, f.fee, f.slippage_cost,
                                                 f.parent_order_hash)), 'order_fill hashes');
    PERFORM pg_temp.expect(NOT EXISTS (
        SELECT 1 FROM cash_ledger l
          LEFT JOIN cash_ledger p ON p.account_id = l.account_id AND p.ledger_seq = l.ledger_seq - 1
         WHERE l.prev_hash <> coalesce(p.row_hash, genesis_hash())), 'ledger chain');
    PERFORM pg_temp.expect((SELECT count(*) FROM order_request) = 5 AND (SELECT count(*) FROM order_fill) = 6
                           AND (SELECT count(*) FROM cash_ledger) = 14 AND (SELECT count(*) FROM risk_event) = 1,
                           'nothing lost across the cutover');
    PERFORM pg_temp.expect((SELECT count(*) FROM order_fill_phase1a_archive) = 6, 'archive kept');
    RAISE NOTICE 'triggers_after_cutover.sql: all expectations met';
END $$;
