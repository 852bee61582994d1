-- Phase 1B (phase_1b_schema), part 3: dual write from the canonical tables into `*_v2`.
--
-- While the phase_1b_schema lock is held, every INSERT/UPDATE/DELETE that still reaches a
-- canonical (Phase 1A) event table is mirrored into its `*_v2` twin in the same transaction,
-- so nothing written between the backfill and the cutover is lost. A write the contract shape
-- refuses (a negative quantity, an UPDATE of an append-only fill) fails the original statement
-- too: the legacy writer learns at once instead of the row silently going missing.
--
-- The triggers exist before the backfill (004) starts, and the backfill runs in batches while
-- writers keep writing, so a mirrored write may meet a row the backfill has not copied yet:
--   * INSERT: the row is new, the backfill cannot have copied it (it copies committed rows, and
--     would skip it on conflict later): plain insert;
--   * UPDATE: upsert into `*_v2` (a row not copied yet is copied with its new values now; the
--     backfill then skips it);
--   * DELETE: delete from `*_v2` if there (a row not copied yet is never copied: the backfill
--     locks each batch's rows FOR KEY SHARE, so a delete either waits for the batch or removes
--     a row the backfill then no longer sees).
-- So each row is either backfilled or mirrored, never lost and never doubled.
-- Creating a trigger takes a SHARE ROW EXCLUSIVE lock for an instant; the runner takes it with
-- a lock_timeout and retries, so writers wait milliseconds, not for a queue behind it.
-- STEP_7_M10_CUTOVER drops the triggers. Idempotent (CREATE OR REPLACE).

--@stage triggers
CREATE OR REPLACE FUNCTION phase1b_dual_write() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    target   text := TG_TABLE_NAME || '_v2';
    cols     text;
    sets     text;
    key_cond text;
    keys     text;
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
    SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum)
      INTO cols
      FROM pg_attribute WHERE attrelid = TG_RELID AND attnum > 0 AND NOT attisdropped;
    SELECT string_agg(format('t.%1$I = ($1).%1$I', k), ' AND '), string_agg(quote_ident(k), ', ')
      INTO key_cond, keys
      FROM unnest(TG_ARGV) AS k;

    IF TG_OP = 'INSERT' THEN
        EXECUTE format('INSERT INTO %I (%s) SELECT %s FROM jsonb_populate_record(NULL::%I, $1)',
                       target, cols, cols, target)
            USING to_jsonb(NEW);
    ELSIF TG_OP = 'UPDATE' THEN
        IF (SELECT bool_or(to_jsonb(OLD) -> k IS DISTINCT FROM to_jsonb(NEW) -> k) FROM unnest(TG_ARGV) AS k) THEN
            EXECUTE format('DELETE FROM %I t WHERE %s', target, key_cond) USING OLD;
        END IF;
        -- Only the columns this UPDATE changed are set on an existing twin: column-scoped
        -- triggers there (the cluster cap fires on UPDATE OF quantity, side, ...) fire exactly
        -- when they would have on the original, not on every progress update. An UPDATE that
        -- changes nothing still updates the twin (its key onto itself), so the twin's row
        -- triggers judge it: an append-only table refuses even a no-op.
        SELECT string_agg(format('%1$I = excluded.%1$I', attname), ', ' ORDER BY attnum)
          INTO sets
          FROM pg_attribute
         WHERE attrelid = TG_RELID AND attnum > 0 AND NOT attisdropped
           AND to_jsonb(OLD) -> attname::text IS DISTINCT FROM to_jsonb(NEW) -> attname::text;
        EXECUTE format('INSERT INTO %I AS t (%s) SELECT %s FROM jsonb_populate_record(NULL::%I, $1)
                        ON CONFLICT (%s) DO %s',
                       target, cols, cols, target, keys,
                       'UPDATE SET ' || coalesce(sets, format('%1$I = excluded.%1$I', TG_ARGV[0])))
            USING to_jsonb(NEW);
    ELSE
        EXECUTE format('DELETE FROM %I t WHERE %s', target, key_cond) USING OLD;
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
        EXECUTE format('CREATE OR REPLACE TRIGGER %I AFTER INSERT OR UPDATE OR DELETE ON %I
                        FOR EACH ROW EXECUTE FUNCTION phase1b_dual_write(%s)',
                       'trg_' || t.tbl || '_dual_write', t.tbl,
                       (SELECT string_agg(quote_literal(k), ', ') FROM unnest(t.keys) AS k));
        EXECUTE format('CREATE OR REPLACE TRIGGER %I BEFORE TRUNCATE ON %I
                        FOR EACH STATEMENT EXECUTE FUNCTION phase1b_dual_write()',
                       'trg_' || t.tbl || '_dual_write_truncate', t.tbl);
    END LOOP;
    PERFORM set_config('migrations.step_notes', 'dual-write triggers on the 10 canonical tables', true);
END $$;
