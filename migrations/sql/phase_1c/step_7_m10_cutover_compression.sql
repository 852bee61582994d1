-- STEP_7_M10_CUTOVER, stage 2: the post-commit compression stage.
--
-- Runs in its own transaction after the rename cutover committed. For each table on the
-- compression target list it adds a compression policy only where that is possible: the table
-- is a hypertable, the TimescaleDB license is not 'apache' (the Apache build has no
-- compression at all) and compression_enabled is TRUE. Everything else is skipped and
-- recorded in the step notes, never an error: the seed run's first STEP_7 failed exactly
-- here, calling add_compression_policy on hypertables with compression disabled.
--
-- Fault injection (test-only, see the runner's FaultHook): when the transaction-local setting
-- migrations.fault is 'unsafe_compression_policy', the checks are skipped and
-- add_compression_policy is called on every target hypertable, reproducing that failure with
-- TimescaleDB's real error. Unset in production runs.

DO $$
DECLARE
    targets text[] := ARRAY['feature_snapshot', 'model_prediction', 'meta_learner_component', 'order_fill',
                            'cash_ledger', 'position_hourly_state', 'portfolio_hourly_state', 'risk_hourly_state'];
    license text := coalesce(current_setting('timescaledb.license', true), 'unknown');
    unsafe  boolean := current_setting('migrations.fault', true) = 'unsafe_compression_policy';
    t       text;
    ht      record;
    policy  interval;
    notes   text[] := '{}';
    apache  text[] := '{}';
BEGIN
    FOREACH t IN ARRAY targets LOOP
        SELECT h.hypertable_name, h.compression_enabled INTO ht
          FROM timescaledb_information.hypertables h
         WHERE h.hypertable_schema = 'public' AND h.hypertable_name = t;
        IF NOT FOUND THEN
            notes := notes || format('%s: not a hypertable, skipped', t);
        ELSIF unsafe THEN
            PERFORM add_compression_policy(t::regclass, compress_after => interval '7 days');
        ELSIF license = 'apache' THEN
            apache := apache || t;
        ELSIF NOT ht.compression_enabled THEN
            notes := notes || format('%s: skipped (compression_enabled = FALSE)', t);
        ELSE
            SELECT (j.config ->> 'compress_after')::interval INTO policy
              FROM timescaledb_information.jobs j
             WHERE j.proc_name = 'policy_compression' AND j.hypertable_schema = 'public' AND j.hypertable_name = t
             LIMIT 1;
            IF policy IS NOT NULL THEN
                notes := notes || format('%s: compression policy already present (compress_after %s), kept', t, policy);
            ELSE
                PERFORM add_compression_policy(t::regclass, compress_after => interval '7 days');
                notes := notes || format('%s: compression policy added (compress_after 7 days)', t);
            END IF;
        END IF;
    END LOOP;
    IF cardinality(apache) > 0 THEN
        notes := notes || format('skipped (timescaledb.license = apache: this build has no compression): %s',
                                 array_to_string(apache, ', '));
    END IF;
    PERFORM set_config('migrations.step_notes', array_to_string(notes, '; '), true);
END $$;
