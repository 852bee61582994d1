-- STEP_3_REVISED_M6: bind every order to its risk state through the identity table.
--
-- Revision A's M6 pointed a FK at the risk_hourly_state hypertable. Revision B points it at
-- risk_hourly_state_identity instead, through the 3-column unique
-- uq_risk_hourly_state_identity_hour (account_id, hour_ts, state_hash): an order names the
-- account, the hour and the exact state it was accepted against, so a later change of that
-- state cannot go unnoticed, and the account is part of the key (no cross-account binding).
--   1. the unique target (the first Revision B run failed without it: "there is no unique
--      constraint matching given keys for referenced table");
--   2. order_request_v2.risk_state_hash, backfilled from the identity rows, then NOT NULL;
--   3. fk_order_request_v2_risk_state (DEFERRABLE INITIALLY DEFERRED, so an order and its
--      state may arrive in either order inside one transaction);
--   4. trg_order_request_v2_bind_risk_state (BEFORE INSERT): fills risk_state_hash for writers
--      that do not know it (the dual write from the legacy table, the application);
--   5. ctrg_order_request_v2_risk_gate: a BUY is accepted only when its bound state is NORMAL.
-- Idempotent throughout.
--
-- Fault injection (test-only, see the runner's FaultHook): when the transaction-local setting
-- migrations.fault is 'omit_identity_unique', part 1 is skipped, reproducing the seed run's
-- first STEP_3 abort with PostgreSQL's real error. Unset in production runs.

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

ALTER TABLE order_request_v2 ADD COLUMN IF NOT EXISTS risk_state_hash text;

UPDATE order_request_v2 o
   SET risk_state_hash = i.state_hash
  FROM risk_hourly_state_identity i
 WHERE i.account_id = o.account_id AND i.hour_ts = o.risk_hour_ts
   AND o.risk_state_hash IS DISTINCT FROM i.state_hash;

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
END $$;

ALTER TABLE order_request_v2 ALTER COLUMN risk_state_hash SET NOT NULL;

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_constraint
                   WHERE conrelid = 'order_request_v2'::regclass AND conname = 'fk_order_request_v2_risk_state') THEN
        ALTER TABLE order_request_v2
            ADD CONSTRAINT fk_order_request_v2_risk_state FOREIGN KEY (account_id, risk_hour_ts, risk_state_hash)
            REFERENCES risk_hourly_state_identity (account_id, hour_ts, state_hash)
            DEFERRABLE INITIALLY DEFERRED;
    END IF;
END $$;

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

DROP TRIGGER IF EXISTS trg_order_request_v2_bind_risk_state ON order_request_v2;
CREATE TRIGGER trg_order_request_v2_bind_risk_state
    BEFORE INSERT ON order_request_v2
    FOR EACH ROW EXECUTE FUNCTION order_request_bind_risk_state();

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

SELECT set_config('migrations.step_notes',
    format('Revised risk-state binding + risk-gate trigger applied (%s orders bound via uq_risk_hourly_state_identity_hour)',
           (SELECT count(*) FROM order_request_v2)), true);
