-- STEP_7_M10_CUTOVER, stage 1: the atomic rename cutover (ONE transaction, run by the runner).
--
-- Every canonical (Phase 1A) event table becomes `<name>_phase1a_archive` and every `<name>_v2`
-- becomes `<name>`: readers and writers see the legacy shape or the contract shape, never a mix.
-- The dual-write triggers are dropped first (the archives are history now and must not write
-- into the new canonical tables). Objects keep their names across a rename (constraints,
-- indexes, triggers such as ctrg_order_request_v2_risk_gate), and foreign keys follow the
-- tables, so the new canonical tables reference each other and the archives each other.
-- ACCESS EXCLUSIVE locks on all twenty tables are taken up front, children before parents
-- (cash_ledger before order_fill before order_request ...), each table before its `*_v2`: the
-- order in which a writer's foreign-key checks and dual writes take theirs (a ledger INSERT
-- locks cash_ledger, then order_fill for its FK check). The runner sets a short lock_timeout:
-- when a writer holds one of the tables, this transaction gives up at once and retries after a
-- backoff instead of queueing every other writer behind its request, and it is the one that
-- yields should a writer take its locks in another order (a lock timeout, not a deadlock the
-- writer would see). The swap itself renames only: no scan, the locks last milliseconds.
-- Idempotent: after a committed cutover (no `*_v2` left, ten archives) it does nothing.
-- Stage 2, the compression stage, runs after this commits (step_7_m10_cutover_compression.sql).

DO $$
DECLARE
    tables   text[] := ARRAY['trade_signal', 'regime_output', 'model_prediction', 'meta_learner_component',
                             'order_request', 'order_fill', 'position_lot', 'executed_trade',
                             'cash_ledger', 'risk_event'];
    t        text;
    v2       int;
    archives text[];
BEGIN
    SELECT count(*) FILTER (WHERE to_regclass('public.' || x || '_v2') IS NOT NULL),
           coalesce(array_agg(x || '_phase1a_archive') FILTER (WHERE to_regclass('public.' || x || '_phase1a_archive') IS NOT NULL), '{}')
      INTO v2, archives FROM unnest(tables) AS x;
    IF v2 = 0 AND cardinality(archives) = 10 THEN
        PERFORM set_config('migrations.step_notes', 'Cutover already committed; nothing to rename', true);
        RETURN;
    END IF;
    IF v2 <> 10 THEN
        RAISE EXCEPTION 'STEP_7_M10_CUTOVER: expected 10 *_v2 tables, found %', v2;
    END IF;
    IF cardinality(archives) > 0 THEN
        RAISE EXCEPTION 'STEP_7_M10_CUTOVER: archive name(s) already taken: %', array_to_string(archives, ', ');
    END IF;

    EXECUTE format('LOCK TABLE %s IN ACCESS EXCLUSIVE MODE',
                   (SELECT string_agg(format('%I, %I', x, x || '_v2'), ', ' ORDER BY o)
                      FROM unnest(ARRAY['cash_ledger', 'executed_trade', 'position_lot', 'order_fill',
                                        'order_request', 'trade_signal', 'meta_learner_component',
                                        'model_prediction', 'regime_output', 'risk_event'])
                           WITH ORDINALITY AS u(x, o)));
    FOREACH t IN ARRAY tables LOOP
        EXECUTE format('DROP TRIGGER IF EXISTS %I ON %I', 'trg_' || t || '_dual_write', t);
        EXECUTE format('DROP TRIGGER IF EXISTS %I ON %I', 'trg_' || t || '_dual_write_truncate', t);
    END LOOP;
    FOREACH t IN ARRAY tables LOOP
        EXECUTE format('ALTER TABLE %I RENAME TO %I', t, t || '_phase1a_archive');
        EXECUTE format('ALTER TABLE %I RENAME TO %I', t || '_v2', t);
        EXECUTE format('COMMENT ON TABLE %I IS %L', t || '_phase1a_archive',
                       'Phase 1A canonical table, archived by STEP_7_M10_CUTOVER');
        EXECUTE format('COMMENT ON TABLE %I IS %L', t,
                       'Contract-shape table (former ' || t || '_v2), canonical since STEP_7_M10_CUTOVER');
    END LOOP;
    PERFORM set_config('migrations.step_notes',
        'Rename cutover transaction committed: 10 canonical tables -> *_phase1a_archive, 10 *_v2 -> canonical', true);
END $$;
