-- STEP_2_IDENTITY_TABLES: regular-table mirrors of the portfolio and risk hypertables.
--
-- No foreign key may point at a hypertable, yet orders and cluster states must reference a
-- risk state. So each state row gets an identity row (account_id, hour_ts, state_hash) in a
-- regular table that foreign keys can target. The identity tables are kept in bijection with
-- their hypertables by four triggers:
--   * trg_<hypertable>_identity_sync_ins (AFTER INSERT on the hypertable): every new state row
--     inserts its identity row in the same statement;
--   * trg_<identity>_append_only: identity rows are never updated or deleted;
--   * ctrg_<portfolio|risk>_identity_source_exists (constraint trigger, DEFERRABLE INITIALLY
--     DEFERRED): at commit, every identity row written in the transaction has its source row
--     with the same state_hash. Deferred so that source and identity may be written in either
--     order within one transaction.
-- Idempotent: IF NOT EXISTS / ON CONFLICT DO NOTHING, triggers dropped and recreated.
--
-- Order, for writers that keep writing and for speed at any size (same end state, same
-- errors): the sync and append-only triggers come first, so every state row written from then
-- on gets its identity row in its own transaction; the backfill then copies the older rows in
-- batches (short transactions, cursor in migration_backfill_progress, ON CONFLICT DO NOTHING
-- for rows the trigger wrote); the account FK (NOT VALID, then VALIDATEd without blocking
-- writes) and the source-exists constraint triggers come last. Fired per backfilled row, they
-- ran one dynamic query per row against the hypertable; the parity check (one FULL JOIN)
-- proves exactly what the source-exists triggers would have: every identity row has its source
-- row with that hash.

--@stage tables
-- Deferred constraints (the identity-table FKs and source-exists triggers) are checked at the
-- end of each statement in this step: DDL below refuses to run on a table with pending
-- deferred trigger events, and an error should name the statement that caused it.
SET CONSTRAINTS ALL IMMEDIATE;
SET LOCAL jit = off;        -- compiling these one-off statements costs more than it saves

CREATE TABLE IF NOT EXISTS portfolio_hourly_state_identity (
    account_id bigint      NOT NULL,
    hour_ts    timestamptz NOT NULL,
    state_hash text        NOT NULL,
    PRIMARY KEY (account_id, hour_ts)
);

CREATE TABLE IF NOT EXISTS risk_hourly_state_identity (
    account_id bigint      NOT NULL,
    hour_ts    timestamptz NOT NULL,
    state_hash text        NOT NULL,
    PRIMARY KEY (account_id, hour_ts)
);

-- Sync insert: hypertable row -> identity row. TG_ARGV[0] names the identity table (TimescaleDB
-- fires the trigger on the chunk, so TG_TABLE_NAME is a chunk name, not the hypertable's).
CREATE OR REPLACE FUNCTION identity_sync_insert() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    existing text;
    inserted bigint;
BEGIN
    EXECUTE format('INSERT INTO %I (account_id, hour_ts, state_hash) VALUES ($1, $2, $3)
                    ON CONFLICT (account_id, hour_ts) DO NOTHING', TG_ARGV[0])
        USING NEW.account_id, NEW.hour_ts, NEW.state_hash;
    GET DIAGNOSTICS inserted = ROW_COUNT;
    IF inserted = 0 THEN
        -- An identity row written ahead of its source (same transaction) is fine when it
        -- names the same state; any other hash would break the bijection.
        EXECUTE format('SELECT state_hash FROM %I WHERE account_id = $1 AND hour_ts = $2', TG_ARGV[0])
            INTO existing USING NEW.account_id, NEW.hour_ts;
        IF existing IS DISTINCT FROM NEW.state_hash THEN
            RAISE EXCEPTION '% already has a row for (account_id=%, hour_ts=%) with state_hash %, not % (%): identity rows are append-only',
                TG_ARGV[0], NEW.account_id, hash_ts(NEW.hour_ts), existing, NEW.state_hash, TG_NAME
                USING ERRCODE = 'unique_violation';
        END IF;
    END IF;
    RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS trg_portfolio_hourly_state_identity_sync_ins ON portfolio_hourly_state;
CREATE TRIGGER trg_portfolio_hourly_state_identity_sync_ins
    AFTER INSERT ON portfolio_hourly_state
    FOR EACH ROW EXECUTE FUNCTION identity_sync_insert('portfolio_hourly_state_identity');

DROP TRIGGER IF EXISTS trg_risk_hourly_state_identity_sync_ins ON risk_hourly_state;
CREATE TRIGGER trg_risk_hourly_state_identity_sync_ins
    AFTER INSERT ON risk_hourly_state
    FOR EACH ROW EXECUTE FUNCTION identity_sync_insert('risk_hourly_state_identity');

-- Append-only identity rows.
DROP TRIGGER IF EXISTS trg_portfolio_hourly_state_identity_append_only ON portfolio_hourly_state_identity;
CREATE TRIGGER trg_portfolio_hourly_state_identity_append_only
    BEFORE UPDATE OR DELETE ON portfolio_hourly_state_identity
    FOR EACH ROW EXECUTE FUNCTION reject_append_only_change();

DROP TRIGGER IF EXISTS trg_risk_hourly_state_identity_append_only ON risk_hourly_state_identity;
CREATE TRIGGER trg_risk_hourly_state_identity_append_only
    BEFORE UPDATE OR DELETE ON risk_hourly_state_identity
    FOR EACH ROW EXECUTE FUNCTION reject_append_only_change();

-- Backfill, in key order and in batches (migration_backfill_batch of Phase 1B). Nothing fires
-- per row here (see the header); the FK and the parity check below verify the rows set-based.
--@stage backfill_portfolio batch
SELECT set_config('migrations.batch_rows', migration_backfill_batch('step_2:portfolio_hourly_state_identity', 'portfolio_hourly_state', 'portfolio_hourly_state_identity', ARRAY['account_id', 'hour_ts'], current_setting('migrations.batch_size')::int, false)::text, true);

--@stage backfill_risk batch
SELECT set_config('migrations.batch_rows', migration_backfill_batch('step_2:risk_hourly_state_identity', 'risk_hourly_state', 'risk_hourly_state_identity', ARRAY['account_id', 'hour_ts'], current_setting('migrations.batch_size')::int, false)::text, true);

--@stage constraints
SET CONSTRAINTS ALL IMMEDIATE;
SET LOCAL jit = off;

-- The identity rows' account FK (named as an inline REFERENCES would name it), added NOT VALID
-- now and validated in the last stage without blocking writers.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_constraint
                   WHERE conrelid = 'portfolio_hourly_state_identity'::regclass
                     AND conname = 'portfolio_hourly_state_identity_account_id_fkey') THEN
        ALTER TABLE portfolio_hourly_state_identity
            ADD CONSTRAINT portfolio_hourly_state_identity_account_id_fkey
            FOREIGN KEY (account_id) REFERENCES account (account_id) NOT VALID;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_constraint
                   WHERE conrelid = 'risk_hourly_state_identity'::regclass
                     AND conname = 'risk_hourly_state_identity_account_id_fkey') THEN
        ALTER TABLE risk_hourly_state_identity
            ADD CONSTRAINT risk_hourly_state_identity_account_id_fkey
            FOREIGN KEY (account_id) REFERENCES account (account_id) NOT VALID;
    END IF;
END $$;

-- Source exists, checked at commit. TG_ARGV[0] names the source hypertable.
CREATE OR REPLACE FUNCTION identity_source_exists() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    ok boolean;
BEGIN
    EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I s WHERE s.account_id = $1 AND s.hour_ts = $2 AND s.state_hash = $3)',
                   TG_ARGV[0])
        INTO ok USING NEW.account_id, NEW.hour_ts, NEW.state_hash;
    IF NOT ok THEN
        RAISE EXCEPTION '% row (account_id=%, hour_ts=%, state_hash=%) has no source row in % with that state_hash (%)',
            TG_TABLE_NAME, NEW.account_id, hash_ts(NEW.hour_ts), NEW.state_hash, TG_ARGV[0], TG_NAME
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS ctrg_portfolio_identity_source_exists ON portfolio_hourly_state_identity;
CREATE CONSTRAINT TRIGGER ctrg_portfolio_identity_source_exists
    AFTER INSERT OR UPDATE ON portfolio_hourly_state_identity
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION identity_source_exists('portfolio_hourly_state');

DROP TRIGGER IF EXISTS ctrg_risk_identity_source_exists ON risk_hourly_state_identity;
CREATE CONSTRAINT TRIGGER ctrg_risk_identity_source_exists
    AFTER INSERT OR UPDATE ON risk_hourly_state_identity
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION identity_source_exists('risk_hourly_state');

--@stage parity
ALTER TABLE portfolio_hourly_state_identity VALIDATE CONSTRAINT portfolio_hourly_state_identity_account_id_fkey;
ALTER TABLE risk_hourly_state_identity VALIDATE CONSTRAINT risk_hourly_state_identity_account_id_fkey;

-- Parity: one identity row per hypertable row, same hash, nothing extra. A rerun on a database
-- whose identity rows drifted fails here instead of papering over it. A state row and its
-- identity row are written by one statement, so every snapshot sees both or neither.
DO $$
DECLARE
    bad_p bigint;
    bad_r bigint;
    n_p   bigint;
    n_r   bigint;
BEGIN
    SELECT count(*) INTO bad_p FROM portfolio_hourly_state s
      FULL JOIN portfolio_hourly_state_identity i USING (account_id, hour_ts)
     WHERE s.state_hash IS DISTINCT FROM i.state_hash;
    SELECT count(*) INTO bad_r FROM risk_hourly_state s
      FULL JOIN risk_hourly_state_identity i USING (account_id, hour_ts)
     WHERE s.state_hash IS DISTINCT FROM i.state_hash;
    IF bad_p > 0 OR bad_r > 0 THEN
        RAISE EXCEPTION 'STEP_2_IDENTITY_TABLES: identity parity broken: % portfolio and % risk rows differ from their hypertables',
            bad_p, bad_r;
    END IF;
    SELECT count(*) INTO n_p FROM portfolio_hourly_state_identity;
    SELECT count(*) INTO n_r FROM risk_hourly_state_identity;
    PERFORM set_config('migrations.step_notes',
        format('Identity tables/triggers/backfill complete (portfolio %s rows, risk %s rows, parity PASS)', n_p, n_r), true);
END $$;
