-- Revision A, migration M6 ("bind orders to their risk state"), as it ran and failed.
--
-- NOT part of the migration: this file reproduces the state a failed Revision A M6 left behind,
-- so that Phase 1C Revision B's STEP_1_CLEANUP_M6 has something real to normalize (the seed
-- run resumed from exactly this). Apply it after Phase 1B, before Phase 1C.
--
-- Revision A bound orders straight to the risk_hourly_state hypertable, and ran its statements
-- one by one in autocommit mode, so everything before the failing statement stayed:
--   1. order_request_v2.risk_state_hash, a nullable column, filled from the hypertable;
--   2. unique indexes (account_id, hour_ts, state_hash) on risk_hourly_state and
--      portfolio_hourly_state, as FK targets;
--   3. fk_order_request_v2_risk_state_rev_a: order_request_v2 -> risk_hourly_state
--      (TimescaleDB >= 2.16 accepts a FK from a plain table to a hypertable; the contract
--      forbids it: it pins chunks and blocks compression);
--   4. rev_a_m6_bind_risk_state() + trigger trg_order_request_v2_bind_risk_state_rev_a,
--      and rev_a_m6_risk_gate() + constraint trigger ctrg_order_request_v2_risk_gate, both
--      reading the hypertable;
--   5. the statement that failed: chaining risk_hourly_state -> portfolio_hourly_state by FK.
--      TimescaleDB refuses it ("hypertables cannot be used as foreign key references of
--      hypertables"); the real error text is captured into migration_step_log as Revision A's
--      failed M6 row.

ALTER TABLE order_request_v2 ADD COLUMN risk_state_hash text;

CREATE UNIQUE INDEX rev_a_m6_risk_hourly_state_hash_uidx
    ON risk_hourly_state (account_id, hour_ts, state_hash);

UPDATE order_request_v2 o SET risk_state_hash = r.state_hash
  FROM risk_hourly_state r
 WHERE r.account_id = o.account_id AND r.hour_ts = o.risk_hour_ts;

ALTER TABLE order_request_v2
    ADD CONSTRAINT fk_order_request_v2_risk_state_rev_a FOREIGN KEY (account_id, risk_hour_ts, risk_state_hash)
    REFERENCES risk_hourly_state (account_id, hour_ts, state_hash);

CREATE FUNCTION rev_a_m6_bind_risk_state() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    SELECT r.state_hash INTO NEW.risk_state_hash
      FROM risk_hourly_state r
     WHERE r.account_id = NEW.account_id AND r.hour_ts = NEW.risk_hour_ts;
    RETURN NEW;
END $$;

CREATE TRIGGER trg_order_request_v2_bind_risk_state_rev_a
    BEFORE INSERT ON order_request_v2
    FOR EACH ROW EXECUTE FUNCTION rev_a_m6_bind_risk_state();

CREATE FUNCTION rev_a_m6_risk_gate() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.side = 'BUY' AND NOT EXISTS (
        SELECT 1 FROM risk_hourly_state r
         WHERE r.account_id = NEW.account_id AND r.hour_ts = NEW.risk_hour_ts AND r.trading_state = 'NORMAL') THEN
        RAISE EXCEPTION 'risk gate: BUY rejected';
    END IF;
    RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER ctrg_order_request_v2_risk_gate
    AFTER INSERT ON order_request_v2
    FOR EACH ROW EXECUTE FUNCTION rev_a_m6_risk_gate();

CREATE UNIQUE INDEX rev_a_m6_portfolio_hourly_state_hash_uidx
    ON portfolio_hourly_state (account_id, hour_ts, state_hash);

DO $$
DECLARE
    started timestamptz := clock_timestamp();
    msg     text;
BEGIN
    ALTER TABLE risk_hourly_state
        ADD CONSTRAINT fk_risk_hourly_state_portfolio_rev_a FOREIGN KEY (account_id, hour_ts, parent_portfolio_hash)
        REFERENCES portfolio_hourly_state (account_id, hour_ts, state_hash);
    -- Only reached on a TimescaleDB that accepts hypertable -> hypertable FKs: the FK is then one
    -- more artifact for STEP_1, and M6 is still recorded as failed (it never completed).
    INSERT INTO migration_step_log (run_id, phase, step_name, started_at_utc, ended_at_utc, status, notes, error_text)
    VALUES ('revision_a', 'PHASE_1C_REVISION_A', 'M6', started, clock_timestamp(), 'FAILED',
            'Revision A M6 did not complete; partial artifacts left (statements auto-committed)',
            'M6 interrupted after chaining risk_hourly_state -> portfolio_hourly_state');
EXCEPTION WHEN others THEN
    GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT;
    INSERT INTO migration_step_log (run_id, phase, step_name, started_at_utc, ended_at_utc, status, notes, error_text)
    VALUES ('revision_a', 'PHASE_1C_REVISION_A', 'M6', started, clock_timestamp(), 'FAILED',
            'Revision A M6 aborted; statements before the failure had auto-committed (partial artifacts left)', msg);
END $$;
