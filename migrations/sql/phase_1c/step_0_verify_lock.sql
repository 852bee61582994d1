-- STEP_0_VERIFY_LOCK: the run may only proceed while Phase 1B's lock is held.
--
-- Also refuses to start on a database whose table layout it does not recognise: either all
-- ten `*_v2` tables exist and no `*_phase1a_archive` name is taken (before the cutover), or the
-- cutover already committed (no `*_v2`, ten archives, canonical tables carry row_hash). A
-- foreign table already named `*_phase1a_archive` would make the cutover rename fail half way
-- through the run, so it is rejected here, before anything changes. Read-only.

DO $$
DECLARE
    tables   text[] := ARRAY['trade_signal', 'regime_output', 'model_prediction', 'meta_learner_component',
                             'order_request', 'order_fill', 'position_lot', 'executed_trade',
                             'cash_ledger', 'risk_event'];
    lock_row record;
    v2       text[];
    archives text[];
    hashed   int;
BEGIN
    IF to_regclass('public.migration_lock') IS NULL THEN
        RAISE EXCEPTION 'STEP_0_VERIFY_LOCK: Phase 1B is not applied (no migration_lock table)';
    END IF;
    SELECT * INTO lock_row FROM migration_lock WHERE migration_name = 'phase_1b_schema';
    IF NOT FOUND THEN
        RAISE EXCEPTION 'STEP_0_VERIFY_LOCK: lock row phase_1b_schema is missing from migration_lock';
    END IF;
    IF NOT lock_row.locked THEN
        RAISE EXCEPTION 'STEP_0_VERIFY_LOCK: phase_1b_schema is not locked (unlocked at %)', lock_row.unlocked_at_utc;
    END IF;

    SELECT coalesce(array_agg(t || '_v2') FILTER (WHERE to_regclass('public.' || t || '_v2') IS NOT NULL), '{}'),
           coalesce(array_agg(t || '_phase1a_archive') FILTER (WHERE to_regclass('public.' || t || '_phase1a_archive') IS NOT NULL), '{}')
      INTO v2, archives
      FROM unnest(tables) AS t;
    SELECT count(*) INTO hashed
      FROM pg_attribute a
     WHERE a.attrelid IN (SELECT to_regclass('public.' || t) FROM unnest(tables) AS t)
       AND a.attname = 'row_hash' AND NOT a.attisdropped;

    IF cardinality(v2) = 10 AND cardinality(archives) = 0 THEN
        PERFORM set_config('migrations.step_notes', '`phase_1b_schema.locked = TRUE` confirmed', true);
    ELSIF cardinality(v2) = 0 AND cardinality(archives) = 10 AND hashed = 10 THEN
        PERFORM set_config('migrations.step_notes',
            '`phase_1b_schema.locked = TRUE` confirmed; cutover already committed (resuming after STEP_7)', true);
    ELSIF cardinality(v2) = 10 THEN
        RAISE EXCEPTION 'STEP_0_VERIFY_LOCK: archive name(s) already taken by foreign table(s): %',
            array_to_string(archives, ', ');
    ELSE
        RAISE EXCEPTION 'STEP_0_VERIFY_LOCK: unrecognised table layout (v2 tables present: %; archives present: %)',
            array_to_string(v2, ', '), array_to_string(archives, ', ');
    END IF;
END $$;
