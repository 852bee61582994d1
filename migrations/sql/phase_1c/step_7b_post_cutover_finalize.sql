-- STEP_7B_POST_CUTOVER_FINALIZE: finalize the canonical tables after the cutover.
--
-- 1. Append-only triggers (re)applied on the canonical order_fill, cash_ledger and risk_event:
--    they were born on the `*_v2` tables in Phase 1B and followed the rename, but this step
--    does not rely on that: it drops and recreates them, so a run resumed after a failure in
--    the compression stage (or a database where someone disabled one) ends with all three
--    present and enabled.
-- 2. Compression policies, the safe way: only on target hypertables that have compression
--    enabled on a non-Apache build; every skip is recorded, nothing errors. This is the
--    compression handling the failed STEP_7 stage should have had.
-- Idempotent.

DO $$
BEGIN
    IF to_regclass('public.order_fill_v2') IS NOT NULL OR to_regclass('public.order_fill_phase1a_archive') IS NULL THEN
        RAISE EXCEPTION 'STEP_7B_POST_CUTOVER_FINALIZE: the cutover has not committed yet (run STEP_7_M10_CUTOVER first)';
    END IF;
END $$;

DROP TRIGGER IF EXISTS trg_order_fill_append_only ON order_fill;
CREATE TRIGGER trg_order_fill_append_only BEFORE UPDATE OR DELETE ON order_fill
    FOR EACH ROW EXECUTE FUNCTION reject_append_only_change();
DROP TRIGGER IF EXISTS trg_cash_ledger_append_only ON cash_ledger;
CREATE TRIGGER trg_cash_ledger_append_only BEFORE UPDATE OR DELETE ON cash_ledger
    FOR EACH ROW EXECUTE FUNCTION reject_append_only_change();
DROP TRIGGER IF EXISTS trg_risk_event_append_only ON risk_event;
CREATE TRIGGER trg_risk_event_append_only BEFORE UPDATE OR DELETE ON risk_event
    FOR EACH ROW EXECUTE FUNCTION reject_append_only_change();

DO $$
DECLARE
    targets text[] := ARRAY['feature_snapshot', 'model_prediction', 'meta_learner_component', 'order_fill',
                            'cash_ledger', 'position_hourly_state', 'portfolio_hourly_state', 'risk_hourly_state'];
    license text := coalesce(current_setting('timescaledb.license', true), 'unknown');
    t       text;
    ht      record;
    skipped text[] := '{}';
    added   text[] := '{}';
BEGIN
    FOREACH t IN ARRAY targets LOOP
        SELECT h.hypertable_name, h.compression_enabled INTO ht
          FROM timescaledb_information.hypertables h
         WHERE h.hypertable_schema = 'public' AND h.hypertable_name = t;
        IF NOT FOUND THEN
            CONTINUE;
        ELSIF license = 'apache' OR NOT ht.compression_enabled THEN
            skipped := skipped || t;
        ELSE
            PERFORM add_compression_policy(t::regclass, compress_after => interval '7 days', if_not_exists => true);
            added := added || t;
        END IF;
    END LOOP;
    PERFORM set_config('migrations.step_notes',
        format('Append-only triggers re-applied; compression policy handling made safe for disabled compression '
               '(timescaledb.license = %s; policies ensured: %s; skipped: %s)',
               license,
               coalesce(nullif(array_to_string(added, ', '), ''), 'none'),
               coalesce(nullif(array_to_string(skipped, ', '), ''), 'none')), true);
END $$;
