-- STEP_8_FULL_VALIDATION, structural part (read-only). The runner then runs the twelve
-- validation checks of CONTRACT.md section 5 (crate `invariants`) through its validation gate;
-- any violation fails this step and the lock stays held.
--
-- Structural preconditions checked here, each naming what is wrong:
--   * the cutover committed: ten archives, no `*_v2` left;
--   * no FK references a hypertable;
--   * identity tables in count parity with their hypertables;
--   * the thirteen contract triggers present and enabled on the table the contract names;
--   * the lock is still held (validation must happen inside the lock epoch).

DO $$
DECLARE
    tables   text[] := ARRAY['trade_signal', 'regime_output', 'model_prediction', 'meta_learner_component',
                             'order_request', 'order_fill', 'position_lot', 'executed_trade',
                             'cash_ledger', 'risk_event'];
    problems text[] := '{}';
    n        bigint;
    m        bigint;
    r        record;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM migration_lock WHERE migration_name = 'phase_1b_schema' AND locked) THEN
        problems := problems || 'phase_1b_schema lock is not held'::text;
    END IF;

    SELECT count(*) INTO n FROM unnest(tables) t WHERE to_regclass('public.' || t || '_v2') IS NOT NULL;
    IF n > 0 THEN problems := problems || format('%s *_v2 table(s) left', n); END IF;
    SELECT count(*) INTO n FROM unnest(tables) t WHERE to_regclass('public.' || t || '_phase1a_archive') IS NULL;
    IF n > 0 THEN problems := problems || format('%s *_phase1a_archive table(s) missing', n); END IF;

    SELECT count(*) INTO n FROM pg_constraint c
     WHERE c.contype = 'f'
       AND c.confrelid IN (SELECT format('%I.%I', h.hypertable_schema, h.hypertable_name)::regclass
                             FROM timescaledb_information.hypertables h);
    IF n > 0 THEN problems := problems || format('%s FK -> hypertable', n); END IF;

    SELECT count(*) INTO n FROM portfolio_hourly_state;
    SELECT count(*) INTO m FROM portfolio_hourly_state_identity;
    IF n <> m THEN problems := problems || format('portfolio identity parity: %s hypertable rows vs %s identity rows', n, m); END IF;
    SELECT count(*) INTO n FROM risk_hourly_state;
    SELECT count(*) INTO m FROM risk_hourly_state_identity;
    IF n <> m THEN problems := problems || format('risk identity parity: %s hypertable rows vs %s identity rows', n, m); END IF;

    FOR r IN
        SELECT e.tbl, e.trg, t.tgenabled
          FROM (VALUES
                ('order_fill', 'trg_order_fill_append_only'),
                ('cash_ledger', 'trg_cash_ledger_append_only'),
                ('risk_event', 'trg_risk_event_append_only'),
                ('portfolio_hourly_state_identity', 'trg_portfolio_hourly_state_identity_append_only'),
                ('risk_hourly_state_identity', 'trg_risk_hourly_state_identity_append_only'),
                ('portfolio_hourly_state', 'trg_portfolio_hourly_state_identity_sync_ins'),
                ('risk_hourly_state', 'trg_risk_hourly_state_identity_sync_ins'),
                ('portfolio_hourly_state_identity', 'ctrg_portfolio_identity_source_exists'),
                ('risk_hourly_state_identity', 'ctrg_risk_identity_source_exists'),
                ('order_request', 'ctrg_order_request_v2_risk_gate'),
                ('order_request', 'ctrg_order_request_v2_cluster_cap'),
                ('risk_event', 'ctrg_risk_event_v2_parent_state_hash'),
                ('cluster_exposure_hourly_state', 'ctrg_cluster_exposure_parent_risk_hash')) AS e(tbl, trg)
          LEFT JOIN pg_trigger t ON t.tgrelid = to_regclass('public.' || e.tbl) AND t.tgname = e.trg
    LOOP
        IF r.tgenabled IS NULL THEN
            problems := problems || format('trigger %s.%s missing', r.tbl, r.trg);
        ELSIF r.tgenabled = 'D' THEN
            problems := problems || format('trigger %s.%s disabled', r.tbl, r.trg);
        END IF;
    END LOOP;

    IF cardinality(problems) > 0 THEN
        RAISE EXCEPTION 'STEP_8_FULL_VALIDATION: structural confirmation failed: %', array_to_string(problems, '; ');
    END IF;
    PERFORM set_config('migrations.step_notes',
        'Structural confirmations passed (cutover, FK legality, identity parity, 13 triggers enabled)', true);
END $$;
