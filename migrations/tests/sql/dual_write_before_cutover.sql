-- Phase 1B dual write (before the cutover; run after Phase 1B, optionally after STEP_6 too):
-- writes that still reach the canonical tables are mirrored into `*_v2`, writes the contract
-- shape refuses fail the legacy statement as well. Needs assert_helpers.sql first.

DO $test$
BEGIN
    PERFORM pg_temp.expect((SELECT count(*) FROM order_fill_v2) = (SELECT count(*) FROM order_fill), 'backfill complete');
    -- INSERT, UPDATE of a progress column, DELETE: mirrored.
    PERFORM pg_temp.expect_ok($q$
        INSERT INTO trade_signal VALUES (901, 1, 1, '2026-01-05 04:00+00', 114, 304, 0.05);
        INSERT INTO order_request VALUES (901, 1, 901, 1, 'SELL', 1, 104, '2026-01-05 04:10+00', '2026-01-05 03:00+00', 0);
        UPDATE order_request SET filled_quantity = 1 WHERE order_id = 901;
        DO $d$ BEGIN
            PERFORM pg_temp.expect((SELECT filled_quantity FROM order_request_v2 WHERE order_id = 901) = 1, 'insert+update mirrored');
        END $d$;
        DELETE FROM order_request WHERE order_id = 901;
        DO $d$ BEGIN
            PERFORM pg_temp.expect(NOT EXISTS (SELECT 1 FROM order_request_v2 WHERE order_id = 901), 'delete mirrored');
        END $d$$q$);
    -- The contract shape refuses: an append-only fill update, a non-positive quantity, a
    -- cross-account reference (order of account 2 naming a signal of account 1), a TRUNCATE.
    PERFORM pg_temp.expect_error('UPDATE order_fill SET fee = fee WHERE fill_id = 11', 'trg_order_fill_append_only');
    PERFORM pg_temp.expect_error($q$INSERT INTO order_request VALUES (902, 1, 1, 1, 'BUY', 0, 100, '2026-01-05 04:10+00', '2026-01-05 03:00+00', 0)$q$,
                                 'order_request_v2_quantity_check');
    PERFORM pg_temp.expect_error($q$INSERT INTO order_request VALUES (903, 2, 1, 1, 'SELL', 1, 100, '2026-01-05 04:10+00', '2026-01-05 03:00+00', 0)$q$,
                                 -- after STEP_6 the hash trigger finds no same-account signal first
                                 'order_request_v2');
    PERFORM pg_temp.expect_error('TRUNCATE risk_event', 'trg_risk_event_dual_write_truncate');
    RAISE NOTICE 'dual_write_before_cutover.sql: all expectations met';
END $test$;
