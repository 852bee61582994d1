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
    -- TimescaleDB's catalog tables joined to pg_class by name: planning the
    -- timescaledb_information views cost ~10 ms, more than the whole check.
    SELECT count(*), string_agg(format('%s.%s -> %s', c.conrelid::regclass, c.conname, c.confrelid::regclass), ', ' ORDER BY c.conname)
      INTO n, offenders
      FROM pg_constraint c
      JOIN pg_class r ON r.oid = c.confrelid
      JOIN pg_namespace s ON s.oid = r.relnamespace
     WHERE c.contype = 'f'
       AND (EXISTS (SELECT 1 FROM _timescaledb_catalog.hypertable h
                     WHERE h.schema_name = s.nspname AND h.table_name = r.relname)
            OR EXISTS (SELECT 1 FROM _timescaledb_catalog.chunk k
                        WHERE k.schema_name = s.nspname AND k.table_name = r.relname AND NOT k.dropped));
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
