-- Phase 1B (phase_1b_schema), part 4: deterministic backfill of `*_v2`, in batches.
--
-- Parents before children, each table in key order, same keys and same facts. Each batch is
-- its own short transaction: the next `migrations.batch_size` rows after the table's cursor
-- (kept in migration_backfill_progress), copied with ON CONFLICT DO NOTHING (rows the dual
-- write mirrored already stand) and locked FOR KEY SHARE while they are copied, so a concurrent
-- DELETE waits for the batch instead of slipping between its read and its commit (see
-- 003_dual_write.sql). Writers are never blocked for longer than one batch, and an interrupted
-- backfill resumes at its cursor. A legacy row the contract shape refuses (a CHECK) fails the
-- batch, naming the constraint: better than migrating it. The foreign keys come after the
-- backfill (005_keys.sql).

--@stage functions
-- One batch of `p_source` -> `p_target` after the task's cursor: the rows copied. Columns are
-- the source's that the target also has, in the source's order; the cursor is the last key
-- copied, as text (ISO 8601 for timestamps: no session setting changes how it reads back).
CREATE OR REPLACE FUNCTION migration_backfill_batch(p_task text, p_source text, p_target text,
                                                    p_keys text[], p_batch int, p_lock boolean)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    cols     text;
    keylist  text;
    keytypes text[];
    cursor   text[];
    cond     text := 'true';
    n        bigint;
    last     text[];
BEGIN
    SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum) INTO cols
      FROM pg_attribute a
     WHERE a.attrelid = p_source::regclass AND a.attnum > 0 AND NOT a.attisdropped
       AND EXISTS (SELECT 1 FROM pg_attribute b
                    WHERE b.attrelid = p_target::regclass AND b.attname = a.attname AND NOT b.attisdropped);
    SELECT array_agg(format_type(a.atttypid, a.atttypmod) ORDER BY k.ord),
           string_agg('t.' || quote_ident(k.name), ', ' ORDER BY k.ord)
      INTO keytypes, keylist
      FROM unnest(p_keys) WITH ORDINALITY AS k(name, ord)
      JOIN pg_attribute a ON a.attrelid = p_source::regclass AND a.attname = k.name;
    SELECT last_key INTO cursor FROM migration_backfill_progress WHERE task = p_task;
    IF cursor IS NOT NULL THEN
        cond := format('(%s) > (%s)', keylist,
                       (SELECT string_agg(format('($1[%s])::%s', i, keytypes[i]), ', ' ORDER BY i)
                          FROM generate_series(1, cardinality(p_keys)) AS i));
    END IF;
    EXECUTE format(
        'WITH src AS (SELECT %1$s FROM %2$I t WHERE %3$s ORDER BY %4$s LIMIT %5$s %6$s),
              ins AS (INSERT INTO %7$I (%1$s) SELECT %1$s FROM src ON CONFLICT DO NOTHING)
         SELECT (SELECT count(*) FROM src),
                (SELECT ARRAY[%8$s] FROM src ORDER BY %9$s LIMIT 1)',
        cols, p_source, cond, keylist, p_batch,
        CASE WHEN p_lock THEN 'FOR KEY SHARE OF t' ELSE '' END,
        p_target,
        (SELECT string_agg(format('to_jsonb(%I) #>> ''{}''', k), ', ') FROM unnest(p_keys) AS k),
        (SELECT string_agg(format('%I DESC', k), ', ') FROM unnest(p_keys) AS k))
        INTO n, last USING cursor;
    IF n > 0 THEN
        PERFORM migration_backfill_advance(p_task, last, n);
    END IF;
    RETURN n;
END $$;

--@stage regime_output batch
SELECT set_config('migrations.batch_rows', migration_backfill_batch('phase_1b:regime_output', 'regime_output', 'regime_output_v2', ARRAY['regime_output_id'], current_setting('migrations.batch_size')::int, true)::text, true);

--@stage model_prediction batch
SELECT set_config('migrations.batch_rows', migration_backfill_batch('phase_1b:model_prediction', 'model_prediction', 'model_prediction_v2', ARRAY['prediction_id'], current_setting('migrations.batch_size')::int, true)::text, true);

--@stage meta_learner_component batch
SELECT set_config('migrations.batch_rows', migration_backfill_batch('phase_1b:meta_learner_component', 'meta_learner_component', 'meta_learner_component_v2', ARRAY['meta_prediction_id', 'base_prediction_id'], current_setting('migrations.batch_size')::int, true)::text, true);

--@stage trade_signal batch
SELECT set_config('migrations.batch_rows', migration_backfill_batch('phase_1b:trade_signal', 'trade_signal', 'trade_signal_v2', ARRAY['signal_id'], current_setting('migrations.batch_size')::int, true)::text, true);

--@stage order_request batch
SELECT set_config('migrations.batch_rows', migration_backfill_batch('phase_1b:order_request', 'order_request', 'order_request_v2', ARRAY['order_id'], current_setting('migrations.batch_size')::int, true)::text, true);

--@stage order_fill batch
SELECT set_config('migrations.batch_rows', migration_backfill_batch('phase_1b:order_fill', 'order_fill', 'order_fill_v2', ARRAY['fill_id'], current_setting('migrations.batch_size')::int, true)::text, true);

--@stage position_lot batch
SELECT set_config('migrations.batch_rows', migration_backfill_batch('phase_1b:position_lot', 'position_lot', 'position_lot_v2', ARRAY['lot_id'], current_setting('migrations.batch_size')::int, true)::text, true);

--@stage executed_trade batch
SELECT set_config('migrations.batch_rows', migration_backfill_batch('phase_1b:executed_trade', 'executed_trade', 'executed_trade_v2', ARRAY['executed_trade_id'], current_setting('migrations.batch_size')::int, true)::text, true);

--@stage cash_ledger batch
SELECT set_config('migrations.batch_rows', migration_backfill_batch('phase_1b:cash_ledger', 'cash_ledger', 'cash_ledger_v2', ARRAY['account_id', 'ledger_seq'], current_setting('migrations.batch_size')::int, true)::text, true);

--@stage risk_event batch
SELECT set_config('migrations.batch_rows', migration_backfill_batch('phase_1b:risk_event', 'risk_event', 'risk_event_v2', ARRAY['risk_event_id'], current_setting('migrations.batch_size')::int, true)::text, true);

--@stage summary
SELECT set_config('migrations.step_notes',
    'backfilled in batches: ' || coalesce((
        SELECT string_agg(format('%s %s rows', split_part(task, ':', 2), rows_done), ', ' ORDER BY task)
          FROM migration_backfill_progress WHERE task LIKE 'phase\_1b:%'), 'no rows'), true);
