-- Phase 1B (phase_1b_schema), part 5: secondary indexes and foreign keys of `*_v2`, now that the
-- backfill is complete.
--
-- Indexes are built CONCURRENTLY (writers keep writing through the dual write while they
-- build; the runner drops an index a killed build left INVALID before building it again).
-- Foreign keys are added NOT VALID (an instant's SHARE ROW EXCLUSIVE lock; every later write is
-- checked from then on) and then VALIDATEd, which scans the table under a lock that lets
-- writers write. The constraints are the same as inline clauses would give (same names, same
-- columns, same NO ACTION rules), and a legacy row that breaks one (a cross-account reference, a
-- dangling id) still fails Phase 1B with PostgreSQL's own "violates foreign key constraint
-- <name>" error, at the VALIDATE. Every account-owned reference goes through the composite
-- (account_id, id) keys, so isolation is structural. Idempotent.

--@stage indexes autocommit
CREATE INDEX CONCURRENTLY IF NOT EXISTS model_prediction_v2_instrument_hour_idx ON model_prediction_v2 (instrument_id, hour_ts);
CREATE INDEX CONCURRENTLY IF NOT EXISTS meta_learner_component_v2_base_idx ON meta_learner_component_v2 (base_prediction_id);
CREATE INDEX CONCURRENTLY IF NOT EXISTS trade_signal_v2_prediction_idx ON trade_signal_v2 (prediction_id);
CREATE INDEX CONCURRENTLY IF NOT EXISTS trade_signal_v2_regime_idx ON trade_signal_v2 (regime_output_id);
CREATE INDEX CONCURRENTLY IF NOT EXISTS order_request_v2_signal_idx ON order_request_v2 (account_id, signal_id);
CREATE INDEX CONCURRENTLY IF NOT EXISTS order_request_v2_risk_hour_idx ON order_request_v2 (account_id, risk_hour_ts);
CREATE INDEX CONCURRENTLY IF NOT EXISTS order_fill_v2_order_idx ON order_fill_v2 (account_id, order_id);
CREATE INDEX CONCURRENTLY IF NOT EXISTS order_fill_v2_account_instrument_ts_idx ON order_fill_v2 (account_id, instrument_id, fill_ts);
CREATE INDEX CONCURRENTLY IF NOT EXISTS position_lot_v2_fifo_idx ON position_lot_v2 (account_id, instrument_id, opened_ts, lot_id);
CREATE INDEX CONCURRENTLY IF NOT EXISTS executed_trade_v2_lot_idx ON executed_trade_v2 (account_id, lot_id);
CREATE INDEX CONCURRENTLY IF NOT EXISTS executed_trade_v2_sell_fill_idx ON executed_trade_v2 (account_id, sell_fill_id);
CREATE INDEX CONCURRENTLY IF NOT EXISTS cash_ledger_v2_fill_idx ON cash_ledger_v2 (account_id, fill_id) WHERE fill_id IS NOT NULL;

--@stage foreign_keys
-- (table, constraint, definition) of every foreign key, added NOT VALID where missing.
DO $$
DECLARE
    fk record;
BEGIN
    FOR fk IN SELECT * FROM (VALUES
        ('regime_output_v2', 'regime_output_v2_model_id_fkey', 'FOREIGN KEY (model_id) REFERENCES model_registry (model_id)'),
        ('model_prediction_v2', 'model_prediction_v2_model_id_fkey', 'FOREIGN KEY (model_id) REFERENCES model_registry (model_id)'),
        ('model_prediction_v2', 'model_prediction_v2_instrument_id_fkey', 'FOREIGN KEY (instrument_id) REFERENCES instrument (instrument_id)'),
        ('meta_learner_component_v2', 'meta_learner_component_v2_meta_prediction_id_fkey', 'FOREIGN KEY (meta_prediction_id) REFERENCES model_prediction_v2 (prediction_id)'),
        ('meta_learner_component_v2', 'meta_learner_component_v2_base_prediction_id_fkey', 'FOREIGN KEY (base_prediction_id) REFERENCES model_prediction_v2 (prediction_id)'),
        ('trade_signal_v2', 'trade_signal_v2_account_id_fkey', 'FOREIGN KEY (account_id) REFERENCES account (account_id)'),
        ('trade_signal_v2', 'trade_signal_v2_instrument_id_fkey', 'FOREIGN KEY (instrument_id) REFERENCES instrument (instrument_id)'),
        ('trade_signal_v2', 'trade_signal_v2_prediction_id_fkey', 'FOREIGN KEY (prediction_id) REFERENCES model_prediction_v2 (prediction_id)'),
        ('trade_signal_v2', 'trade_signal_v2_regime_output_id_fkey', 'FOREIGN KEY (regime_output_id) REFERENCES regime_output_v2 (regime_output_id)'),
        ('order_request_v2', 'order_request_v2_account_id_fkey', 'FOREIGN KEY (account_id) REFERENCES account (account_id)'),
        ('order_request_v2', 'order_request_v2_instrument_id_fkey', 'FOREIGN KEY (instrument_id) REFERENCES instrument (instrument_id)'),
        ('order_request_v2', 'fk_order_request_v2_signal', 'FOREIGN KEY (account_id, signal_id) REFERENCES trade_signal_v2 (account_id, signal_id)'),
        ('order_fill_v2', 'order_fill_v2_account_id_fkey', 'FOREIGN KEY (account_id) REFERENCES account (account_id)'),
        ('order_fill_v2', 'order_fill_v2_instrument_id_fkey', 'FOREIGN KEY (instrument_id) REFERENCES instrument (instrument_id)'),
        ('order_fill_v2', 'fk_order_fill_v2_order', 'FOREIGN KEY (account_id, order_id) REFERENCES order_request_v2 (account_id, order_id)'),
        ('position_lot_v2', 'position_lot_v2_account_id_fkey', 'FOREIGN KEY (account_id) REFERENCES account (account_id)'),
        ('position_lot_v2', 'position_lot_v2_instrument_id_fkey', 'FOREIGN KEY (instrument_id) REFERENCES instrument (instrument_id)'),
        ('position_lot_v2', 'fk_position_lot_v2_opening_fill', 'FOREIGN KEY (account_id, opening_fill_id) REFERENCES order_fill_v2 (account_id, fill_id)'),
        ('executed_trade_v2', 'executed_trade_v2_account_id_fkey', 'FOREIGN KEY (account_id) REFERENCES account (account_id)'),
        ('executed_trade_v2', 'executed_trade_v2_instrument_id_fkey', 'FOREIGN KEY (instrument_id) REFERENCES instrument (instrument_id)'),
        ('executed_trade_v2', 'fk_executed_trade_v2_lot', 'FOREIGN KEY (account_id, lot_id) REFERENCES position_lot_v2 (account_id, lot_id)'),
        ('executed_trade_v2', 'fk_executed_trade_v2_sell_fill', 'FOREIGN KEY (account_id, sell_fill_id) REFERENCES order_fill_v2 (account_id, fill_id)'),
        ('cash_ledger_v2', 'cash_ledger_v2_account_id_fkey', 'FOREIGN KEY (account_id) REFERENCES account (account_id)'),
        ('cash_ledger_v2', 'fk_cash_ledger_v2_fill', 'FOREIGN KEY (account_id, fill_id) REFERENCES order_fill_v2 (account_id, fill_id)'),
        ('risk_event_v2', 'risk_event_v2_account_id_fkey', 'FOREIGN KEY (account_id) REFERENCES account (account_id)')
    ) AS v(tbl, name, def)
    LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = fk.tbl::regclass AND conname = fk.name) THEN
            EXECUTE format('ALTER TABLE %I ADD CONSTRAINT %I %s NOT VALID', fk.tbl, fk.name, fk.def);
        END IF;
    END LOOP;
END $$;

--@stage validate
-- Each NOT VALID foreign key checked against every row (SHARE UPDATE EXCLUSIVE: writes go on).
DO $$
DECLARE
    c record;
    n int := 0;
BEGIN
    FOR c IN SELECT conrelid::regclass::text AS tbl, conname
               FROM pg_constraint
              WHERE contype = 'f' AND NOT convalidated
                AND conrelid IN (SELECT to_regclass(t || '_v2') FROM unnest(ARRAY[
                        'regime_output', 'model_prediction', 'meta_learner_component', 'trade_signal',
                        'order_request', 'order_fill', 'position_lot', 'executed_trade', 'cash_ledger',
                        'risk_event']) AS t)
              ORDER BY 1, 2
    LOOP
        EXECUTE format('ALTER TABLE %s VALIDATE CONSTRAINT %I', c.tbl, c.conname);
        n := n + 1;
    END LOOP;
    PERFORM set_config('migrations.step_notes',
        format('12 secondary indexes built concurrently; 25 foreign keys in place (%s validated now)', n), true);
END $$;
