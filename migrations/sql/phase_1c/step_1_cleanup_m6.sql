-- STEP_1_CLEANUP_M6: normalize what a failed Revision A M6 left behind.
--
-- Revision A bound orders straight to the risk_hourly_state hypertable. It ran statement by
-- statement in autocommit, and died on "hypertables cannot be used as foreign key references of
-- hypertables" while chaining risk_hourly_state -> portfolio_hourly_state; everything before
-- that statement stayed: a half-made order_request_v2.risk_state_hash column filled from the
-- hypertable, 3-column unique indexes on two hypertables (FK targets), a FK from
-- order_request_v2 to the hypertable, a BEFORE INSERT binding trigger and a risk-gate trigger
-- reading the hypertable (see sql/revision_a/m6_partial.sql). Revision B rebuilds the binding
-- through risk_hourly_state_identity in STEP_3, so all of it goes.
--
-- Safe on a clean database (every statement is guarded) and idempotent. It never touches what
-- Revision B itself built: the risk_state_hash column is only dropped while it is not yet bound
-- to the identity table (STEP_3's fk_order_request_v2_risk_state).

DO $$
DECLARE
    done text[] := '{}';
    r    record;
BEGIN
    -- Any FK into the two hypertables M6 targeted: never legal (no FK may point at a hypertable).
    FOR r IN
        SELECT c.conname, c.conrelid::regclass AS tbl, c.confrelid::regclass AS target
          FROM pg_constraint c
         WHERE c.contype = 'f'
           AND c.confrelid IN (to_regclass('public.risk_hourly_state'), to_regclass('public.portfolio_hourly_state'))
           AND c.conparentid = 0
         ORDER BY c.conname
    LOOP
        EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', r.tbl, r.conname);
        done := done || format('dropped FK %s.%s -> %s', r.tbl, r.conname, r.target);
    END LOOP;

    -- Triggers on order_request_v2 whose function is one of Revision A's.
    FOR r IN
        SELECT t.tgname, p.proname
          FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid
         WHERE t.tgrelid = 'order_request_v2'::regclass AND NOT t.tgisinternal
           AND p.proname LIKE 'rev\_a\_m6\_%'
         ORDER BY t.tgname
    LOOP
        EXECUTE format('DROP TRIGGER %I ON order_request_v2', r.tgname);
        done := done || format('dropped trigger order_request_v2.%s (%s)', r.tgname, r.proname);
    END LOOP;

    FOR r IN
        SELECT p.oid::regprocedure::text AS fn FROM pg_proc p
         WHERE p.pronamespace = 'public'::regnamespace AND p.proname LIKE 'rev\_a\_m6\_%'
         ORDER BY 1
    LOOP
        EXECUTE format('DROP FUNCTION %s', r.fn);
        done := done || format('dropped function %s', r.fn);
    END LOOP;

    -- Revision A's FK-target indexes on the hypertables.
    FOR r IN
        SELECT i.indexrelid::regclass::text AS idx, i.indrelid::regclass::text AS tbl
          FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
         WHERE i.indrelid IN (to_regclass('public.risk_hourly_state'), to_regclass('public.portfolio_hourly_state'))
           AND c.relname LIKE 'rev\_a\_m6\_%'
         ORDER BY 1
    LOOP
        EXECUTE format('DROP INDEX %s', r.idx);
        done := done || format('dropped index %s on %s', r.idx, r.tbl);
    END LOOP;

    -- The half-made binding column, unless Revision B already owns it.
    IF EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = 'order_request_v2'::regclass
                  AND attname = 'risk_state_hash' AND NOT attisdropped)
       AND NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = 'order_request_v2'::regclass
                          AND conname = 'fk_order_request_v2_risk_state') THEN
        ALTER TABLE order_request_v2 DROP COLUMN risk_state_hash;
        done := done || 'dropped half-made column order_request_v2.risk_state_hash'::text;
    END IF;

    PERFORM set_config('migrations.step_notes',
        CASE WHEN cardinality(done) = 0
             THEN 'No partial M6 artifacts found (clean database); nothing to normalize'
             ELSE 'Partial M6 artifacts normalized idempotently: ' || array_to_string(done, '; ')
        END, true);
END $$;
