-- STEP_3_REVISED_M6: bind every order to its risk state through the identity table.
--
-- Revision A's M6 pointed a FK at the risk_hourly_state hypertable. Revision B points it at
-- risk_hourly_state_identity instead, through the 3-column unique
-- uq_risk_hourly_state_identity_hour (account_id, hour_ts, state_hash): an order names the
-- account, the hour and the exact state it was accepted against, so a later change of that
-- state cannot go unnoticed, and the account is part of the key (no cross-account binding).
--   1. the unique target (the first Revision B run failed without it: "there is no unique
--      constraint matching given keys for referenced table");
--   2. order_request_v2.risk_state_hash and trg_order_request_v2_bind_risk_state (BEFORE
--      INSERT), which fills it for writers that do not know it (the dual write from the legacy
--      table, the application): from here on every new order is bound as it is written;
--   3. the older orders bound in batches (cursor in migration_backfill_progress);
--   4. NOT NULL without a long exclusive scan: a CHECK (risk_state_hash IS NOT NULL) added NOT
--      VALID, VALIDATEd under a lock writers pass, then SET NOT NULL (which uses the validated
--      CHECK instead of scanning) and the CHECK dropped;
--   5. fk_order_request_v2_risk_state (DEFERRABLE INITIALLY DEFERRED, so an order and its
--      state may arrive in either order inside one transaction), NOT VALID then VALIDATEd;
--   6. ctrg_order_request_v2_risk_gate: a BUY is accepted only when its bound state is NORMAL.
-- Idempotent throughout.
--
-- Fault injection (test-only, see the runner's FaultHook): when the transaction-local setting
-- migrations.fault is 'omit_identity_unique', part 1 is skipped, reproducing the seed run's
-- first STEP_3 abort with PostgreSQL's real error. Unset in production runs.

--@stage unique_target
-- Deferred constraints (the identity-table FKs and source-exists triggers) are checked at the
-- end of each statement in this step: DDL below refuses to run on a table with pending
-- deferred trigger events, and an error should name the statement that caused it.
SET CONSTRAINTS ALL IMMEDIATE;
SET LOCAL jit = off;        -- compiling these one-off statements costs more than it saves

DO $$
BEGIN
    IF current_setting('migrations.fault', true) = 'omit_identity_unique' THEN
        RAISE NOTICE 'fault injection: uq_risk_hourly_state_identity_hour not created';
    ELSIF NOT EXISTS (SELECT 1 FROM pg_constraint
                      WHERE conrelid = 'risk_hourly_state_identity'::regclass
                        AND conname = 'uq_risk_hourly_state_identity_hour') THEN
        ALTER TABLE risk_hourly_state_identity
            ADD CONSTRAINT uq_risk_hourly_state_identity_hour UNIQUE (account_id, hour_ts, state_hash);
    END IF;
END $$;

--@stage bind_on_insert
ALTER TABLE order_request_v2 ADD COLUMN IF NOT EXISTS risk_state_hash text;

CREATE OR REPLACE FUNCTION order_request_bind_risk_state() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.risk_state_hash IS NULL THEN
        SELECT i.state_hash INTO NEW.risk_state_hash
          FROM risk_hourly_state_identity i
         WHERE i.account_id = NEW.account_id AND i.hour_ts = NEW.risk_hour_ts;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'order % (account %) has no risk state at its bound hour % (%)',
                NEW.order_id, NEW.account_id, hash_ts(NEW.risk_hour_ts), TG_NAME
                USING ERRCODE = 'foreign_key_violation';
        END IF;
    END IF;
    RETURN NEW;
END $$;

-- CREATE OR REPLACE: the trigger is never absent, not even between two statements.
CREATE OR REPLACE TRIGGER trg_order_request_v2_bind_risk_state
    BEFORE INSERT ON order_request_v2
    FOR EACH ROW EXECUTE FUNCTION order_request_bind_risk_state();

-- One batch of the older orders after the cursor: bound to their risk state's hash.
CREATE OR REPLACE FUNCTION step_3_bind_batch(p_batch int) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    cursor bigint;
    n      bigint;
    last   bigint;
BEGIN
    SELECT last_key[1]::bigint INTO cursor FROM migration_backfill_progress WHERE task = 'step_3:order_request_v2';
    WITH batch AS (
        SELECT o.order_id FROM order_request_v2 o
         WHERE o.order_id > coalesce(cursor, -9223372036854775808)
         ORDER BY o.order_id LIMIT p_batch
    ), bound AS (
        UPDATE order_request_v2 o
           SET risk_state_hash = i.state_hash
          FROM batch b, risk_hourly_state_identity i
         WHERE o.order_id = b.order_id
           AND i.account_id = o.account_id AND i.hour_ts = o.risk_hour_ts
           AND o.risk_state_hash IS DISTINCT FROM i.state_hash
    )
    SELECT count(*), max(order_id) INTO n, last FROM batch;
    IF n > 0 THEN
        PERFORM migration_backfill_advance('step_3:order_request_v2', ARRAY[last::text], n);
    END IF;
    RETURN n;
END $$;

--@stage bind_older batch
SELECT set_config('migrations.batch_rows', step_3_bind_batch(current_setting('migrations.batch_size')::int)::text, true);

--@stage not_null_check
DO $$
DECLARE
    unbound bigint;
    sample  text;
BEGIN
    SELECT count(*), string_agg(format('order %s (account %s, risk hour %s)', order_id, account_id, hash_ts(risk_hour_ts)), '; ')
      INTO unbound, sample
      FROM (SELECT * FROM order_request_v2 WHERE risk_state_hash IS NULL ORDER BY order_id) o;
    IF unbound > 0 THEN
        RAISE EXCEPTION 'STEP_3_REVISED_M6: % order(s) have no risk state at their bound hour: %',
            unbound, left(sample, 500);
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = 'order_request_v2'::regclass
                     AND attname = 'risk_state_hash' AND attnotnull)
       AND NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = 'order_request_v2'::regclass
                         AND conname = 'ck_order_request_v2_risk_state_hash_nn') THEN
        ALTER TABLE order_request_v2 ADD CONSTRAINT ck_order_request_v2_risk_state_hash_nn
            CHECK (risk_state_hash IS NOT NULL) NOT VALID;
    END IF;
END $$;

--@stage not_null_validate
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = 'order_request_v2'::regclass
                 AND conname = 'ck_order_request_v2_risk_state_hash_nn' AND NOT convalidated) THEN
        ALTER TABLE order_request_v2 VALIDATE CONSTRAINT ck_order_request_v2_risk_state_hash_nn;
    END IF;
END $$;

--@stage not_null_set
-- SET NOT NULL finds the validated CHECK and skips its scan: an instant under its lock.
ALTER TABLE order_request_v2 ALTER COLUMN risk_state_hash SET NOT NULL;
ALTER TABLE order_request_v2 DROP CONSTRAINT IF EXISTS ck_order_request_v2_risk_state_hash_nn;

--@stage binding
SET CONSTRAINTS ALL IMMEDIATE;
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_constraint
                   WHERE conrelid = 'order_request_v2'::regclass AND conname = 'fk_order_request_v2_risk_state') THEN
        ALTER TABLE order_request_v2
            ADD CONSTRAINT fk_order_request_v2_risk_state FOREIGN KEY (account_id, risk_hour_ts, risk_state_hash)
            REFERENCES risk_hourly_state_identity (account_id, hour_ts, state_hash)
            DEFERRABLE INITIALLY DEFERRED NOT VALID;
    END IF;
END $$;

-- The gate reads trading_state from the hypertable by value (its primary key), through the
-- exact state the order is bound to: a mismatching hash finds no row and is rejected too.
CREATE OR REPLACE FUNCTION order_request_risk_gate() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    state text;
BEGIN
    IF NEW.side <> 'BUY' THEN
        RETURN NULL;
    END IF;
    SELECT r.trading_state INTO state
      FROM risk_hourly_state r
     WHERE r.account_id = NEW.account_id AND r.hour_ts = NEW.risk_hour_ts AND r.state_hash = NEW.risk_state_hash;
    IF state IS DISTINCT FROM 'NORMAL' THEN
        RAISE EXCEPTION 'risk gate (%): BUY order % of account % is bound to risk state % at % (trading_state %), only NORMAL allows a BUY',
            TG_NAME, NEW.order_id, NEW.account_id, NEW.risk_state_hash, hash_ts(NEW.risk_hour_ts),
            coalesce(state, 'missing')
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS ctrg_order_request_v2_risk_gate ON order_request_v2;
CREATE CONSTRAINT TRIGGER ctrg_order_request_v2_risk_gate
    AFTER INSERT OR UPDATE OF account_id, side, risk_hour_ts, risk_state_hash ON order_request_v2
    DEFERRABLE INITIALLY IMMEDIATE
    FOR EACH ROW EXECUTE FUNCTION order_request_risk_gate();

--@stage binding_validate
ALTER TABLE order_request_v2 VALIDATE CONSTRAINT fk_order_request_v2_risk_state;

SELECT set_config('migrations.step_notes',
    format('Revised risk-state binding + risk-gate trigger applied (%s orders bound via uq_risk_hourly_state_identity_hour)',
           (SELECT count(*) FROM order_request_v2)), true);
