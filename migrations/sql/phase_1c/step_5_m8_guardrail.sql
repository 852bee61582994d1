-- STEP_5_M8_GUARDRAIL: no foreign key may point at a hypertable.
--
-- M8 is the walk-forward model: a prediction names the feature snapshot it was made from by
-- value and hash (instrument_id, feature_hour_ts, feature_hash), never by a FK into the
-- feature_snapshot hypertable. Foreign keys into hypertables block chunk drops and
-- compression, and Revision A's attempt at one is what broke M6. This step is the guardrail:
-- it lists every FK whose referenced table is a hypertable (or one of its chunks), from the
-- TimescaleDB catalog, and aborts if there is any. It also confirms the by-value link columns
-- are in place. Read-only.

DO $$
DECLARE
    offenders text;
    n         bigint;
BEGIN
    SELECT count(*), string_agg(format('%s.%s -> %s', c.conrelid::regclass, c.conname, c.confrelid::regclass), ', ' ORDER BY c.conname)
      INTO n, offenders
      FROM pg_constraint c
     WHERE c.contype = 'f'
       AND c.confrelid IN (
             SELECT format('%I.%I', h.hypertable_schema, h.hypertable_name)::regclass
               FROM timescaledb_information.hypertables h
             UNION ALL
             SELECT format('%I.%I', ch.chunk_schema, ch.chunk_name)::regclass
               FROM timescaledb_information.chunks ch);
    IF n > 0 THEN
        RAISE EXCEPTION 'STEP_5_M8_GUARDRAIL: % foreign key(s) reference a hypertable: %', n, offenders
            USING ERRCODE = 'invalid_foreign_key';
    END IF;

    IF (SELECT count(*) FROM pg_attribute
         WHERE attrelid = 'model_prediction_v2'::regclass AND NOT attisdropped AND attnotnull
           AND attname IN ('instrument_id', 'feature_hour_ts', 'feature_hash')) <> 3 THEN
        RAISE EXCEPTION 'STEP_5_M8_GUARDRAIL: model_prediction_v2 lacks its NOT NULL by-value walk-forward link (instrument_id, feature_hour_ts, feature_hash)';
    END IF;

    PERFORM set_config('migrations.step_notes', 'No walk-forward FK target on hypertable (0 FK -> hypertable)', true);
END $$;
