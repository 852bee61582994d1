-- Phase 1B (phase_1b_schema), part 3: dual write from the canonical tables into `*_v2`.
--
-- While the phase_1b_schema lock is held, every INSERT/UPDATE/DELETE that still reaches a
-- canonical (Phase 1A) event table is mirrored into its `*_v2` twin in the same transaction,
-- so nothing written between the backfill and the cutover is lost. A write the contract shape
-- refuses (a negative quantity, an UPDATE of an append-only fill) fails the original statement
-- too: the legacy writer learns at once instead of the row silently going missing.
--
-- These triggers are created BEFORE the backfill (004) in the same transaction: CREATE TRIGGER
-- takes a SHARE ROW EXCLUSIVE lock that makes concurrent writers wait until Phase 1B commits,
-- and every write committed before that lock is visible to the backfill's snapshot. So each
-- row is either backfilled or mirrored, never neither. STEP_7_M10_CUTOVER drops them.

CREATE OR REPLACE FUNCTION phase1b_dual_write() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    target   text := TG_TABLE_NAME || '_v2';
    cols     text;
    key_cond text;
    n        bigint;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM migration_lock
                   WHERE migration_name = 'phase_1b_schema' AND locked) THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'TRUNCATE' THEN
        RAISE EXCEPTION 'dual write (%): TRUNCATE of % rejected while phase_1b_schema is locked',
            TG_NAME, TG_TABLE_NAME USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    -- The legacy columns, in table order; the v2 twin has all of them (plus hash columns that
    -- its own BEFORE triggers fill in).
    SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) INTO cols
    FROM pg_attribute WHERE attrelid = TG_RELID AND attnum > 0 AND NOT attisdropped;
    SELECT string_agg(format('t.%1$I = ($1).%1$I', k), ' AND ') INTO key_cond
    FROM unnest(TG_ARGV) AS k;

    IF TG_OP = 'INSERT' THEN
        EXECUTE format('INSERT INTO %I (%s) SELECT %s FROM jsonb_populate_record(NULL::%I, $1)',
                       target, cols, cols, target)
            USING to_jsonb(NEW);
        RETURN NULL;
    ELSIF TG_OP = 'UPDATE' THEN
        EXECUTE format('UPDATE %I t SET (%s) = (SELECT %s FROM jsonb_populate_record(NULL::%I, $2)) WHERE %s',
                       target, cols, cols, target, key_cond)
            USING OLD, to_jsonb(NEW);
    ELSE
        EXECUTE format('DELETE FROM %I t WHERE %s', target, key_cond) USING OLD;
    END IF;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n <> 1 THEN
        RAISE EXCEPTION 'dual write (%): % on % matched % rows in % (expected 1)',
            TG_NAME, TG_OP, TG_TABLE_NAME, n, target USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NULL;
END $$;

DO $$
DECLARE
    t record;
BEGIN
    FOR t IN SELECT * FROM (VALUES
        ('regime_output',          ARRAY['regime_output_id']),
        ('model_prediction',       ARRAY['prediction_id']),
        ('meta_learner_component', ARRAY['meta_prediction_id', 'base_prediction_id']),
        ('trade_signal',           ARRAY['signal_id']),
        ('order_request',          ARRAY['order_id']),
        ('order_fill',             ARRAY['fill_id']),
        ('position_lot',           ARRAY['lot_id']),
        ('executed_trade',         ARRAY['executed_trade_id']),
        ('cash_ledger',            ARRAY['account_id', 'ledger_seq']),
        ('risk_event',             ARRAY['risk_event_id'])) AS v(tbl, keys)
    LOOP
        EXECUTE format('CREATE TRIGGER %I AFTER INSERT OR UPDATE OR DELETE ON %I
                        FOR EACH ROW EXECUTE FUNCTION phase1b_dual_write(%s)',
                       'trg_' || t.tbl || '_dual_write', t.tbl,
                       (SELECT string_agg(quote_literal(k), ', ') FROM unnest(t.keys) AS k));
        EXECUTE format('CREATE TRIGGER %I BEFORE TRUNCATE ON %I
                        FOR EACH STATEMENT EXECUTE FUNCTION phase1b_dual_write()',
                       'trg_' || t.tbl || '_dual_write_truncate', t.tbl);
    END LOOP;
END $$;
