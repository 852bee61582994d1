-- STEP_4_REVISED_M7: the cluster model, bound to the risk identity table.
--
-- cluster_exposure_hourly_state holds, per account, cluster and hour that has a risk state:
--   exposure         = sum of the account's position market_value in the cluster at hour_ts
--                      (0 when it holds nothing there),
--   cap              = round(cluster.cap_fraction * portfolio equity at hour_ts, 8),
--   parent_risk_hash = the risk state_hash at (account_id, hour_ts).
-- It is a regular table (so it may be referenced and may reference), bound to
-- risk_hourly_state_identity through uq_risk_hourly_state_identity_hour.
--   * trg_risk_hourly_state_sync_cluster_exposure (AFTER INSERT on risk_hourly_state):
--     a new risk state writes its hour's cluster rows (positions and portfolio of that hour
--     are written before the risk state, whose hash depends on the portfolio's). It takes the
--     risk state's hash from the trigger's own row (NEW), never by reading the hypertable back:
--     a row inserted into a compressed chunk is not visible to a re-read inside its own
--     trigger, and the re-read found no row and wrote nothing. Its name sorts after
--     trg_risk_hourly_state_identity_sync_ins on purpose: PostgreSQL fires same-event triggers
--     in name order, and the cluster rows' parent-hash check needs the identity row to exist;
--   * ctrg_order_request_v2_cluster_cap: a BUY is accepted only when exposure at its bound
--     hour + round(quantity * reference_price, 8) <= cap at that hour;
--   * ctrg_cluster_exposure_parent_risk_hash: parent_risk_hash must be the state_hash of the
--     risk state at (account_id, hour_ts). Immediate (but DEFERRABLE) so it reports before the
--     deferred FK does, with its own name in the message.
-- Idempotent: IF NOT EXISTS, ON CONFLICT DO NOTHING, triggers recreated.
--
-- Writers keep writing, and the order below keeps them safe: the table and its sync trigger
-- first (every risk state written from then on brings its rows), then the older risk states in
-- batches (set-based: positions aggregated once per (account, hour, cluster) of the batch;
-- cursor in migration_backfill_progress), then the keys (NOT VALID, VALIDATEd without blocking
-- writes) and the hour index (built CONCURRENTLY), then the coverage check and the two
-- constraint triggers: the cluster cap can only be enforced once every bound hour has its rows.
-- fk_cluster_exposure_risk_identity (3 columns, into the identity table whose key is
-- (account_id, hour_ts)) proves for every row what the parent-risk-hash trigger checks for
-- each new one: parent_risk_hash is the state_hash of the identity row at that hour.

--@stage table
-- Deferred constraints (the identity-table FKs and source-exists triggers) are checked at the
-- end of each statement in this step: DDL below refuses to run on a table with pending
-- deferred trigger events, and an error should name the statement that caused it.
SET CONSTRAINTS ALL IMMEDIATE;
SET LOCAL jit = off;        -- compiling these one-off statements costs more than it saves
SET LOCAL work_mem = '64MB';

CREATE TABLE IF NOT EXISTS cluster_exposure_hourly_state (
    account_id       bigint        NOT NULL,
    cluster_id       bigint        NOT NULL,
    hour_ts          timestamptz   NOT NULL CHECK (is_whole_hour(hour_ts)),
    exposure         numeric(20,8) NOT NULL CHECK (exposure >= 0),
    cap              numeric(20,8) NOT NULL CHECK (cap >= 0),
    parent_risk_hash text          NOT NULL,
    PRIMARY KEY (account_id, cluster_id, hour_ts)
);

-- The cluster rows of one risk state, derived by value: its hash is given (the trigger passes
-- its own row's), positions and portfolio equity are read from the hypertables (written before
-- the risk state, in the same or an earlier transaction). The account's positions of that hour
-- are aggregated once per cluster (not one subquery per cluster).
CREATE OR REPLACE FUNCTION cluster_exposure_rows(p_account_id bigint, p_hour_ts timestamptz, p_risk_hash text)
RETURNS TABLE (account_id bigint, cluster_id bigint, hour_ts timestamptz, exposure numeric, cap numeric, parent_risk_hash text)
LANGUAGE sql STABLE AS $$
    SELECT p_account_id, c.cluster_id, p_hour_ts,
           coalesce(e.exposure, 0),
           round(c.cap_fraction * pf.equity, 8),
           p_risk_hash
      FROM portfolio_hourly_state pf
     CROSS JOIN cluster c
      LEFT JOIN (SELECT ic.cluster_id, sum(p.market_value) AS exposure
                   FROM position_hourly_state p
                   JOIN instrument_cluster ic ON ic.instrument_id = p.instrument_id
                  WHERE p.account_id = p_account_id AND p.hour_ts = p_hour_ts
                  GROUP BY ic.cluster_id) e ON e.cluster_id = c.cluster_id
     WHERE pf.account_id = p_account_id AND pf.hour_ts = p_hour_ts
$$;

-- One generic plan per session (plan_cache_mode), not a plan per risk state: TimescaleDB
-- excludes the other chunks at executor startup from the parameters ("Chunks excluded during
-- startup"), so the generic plan reads one chunk per hypertable through the primary keys. A
-- custom plan per call spent 1.1-1.7 ms planning for 0.3-0.5 ms of work: 40 risk states (one
-- hour's close at 40 accounts) took 55-82 ms to insert with custom plans, 19-21 ms with the
-- generic one, on a 720-hour world.
CREATE OR REPLACE FUNCTION cluster_exposure_sync_insert() RETURNS trigger
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
BEGIN
    INSERT INTO cluster_exposure_hourly_state (account_id, cluster_id, hour_ts, exposure, cap, parent_risk_hash)
    SELECT x.account_id, x.cluster_id, x.hour_ts, x.exposure, x.cap, x.parent_risk_hash
      FROM cluster_exposure_rows(NEW.account_id, NEW.hour_ts, NEW.state_hash) x
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS trg_risk_hourly_state_sync_cluster_exposure ON risk_hourly_state;
CREATE TRIGGER trg_risk_hourly_state_sync_cluster_exposure
    AFTER INSERT ON risk_hourly_state
    FOR EACH ROW EXECUTE FUNCTION cluster_exposure_sync_insert();

-- One batch of the older risk states after the cursor (key order of the identity table):
-- exactly the rows cluster_exposure_rows gives for each, computed for the batch at once. A risk
-- state without its portfolio state yields no rows and is caught by the coverage check.
CREATE OR REPLACE FUNCTION step_4_backfill_batch(p_batch int) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    cursor text[];
    n      bigint;
    last   text[];
BEGIN
    SELECT last_key INTO cursor FROM migration_backfill_progress WHERE task = 'step_4:cluster_exposure_hourly_state';
    CREATE TEMP TABLE IF NOT EXISTS step_4_batch (account_id bigint, hour_ts timestamptz, state_hash text) ON COMMIT DROP;
    TRUNCATE step_4_batch;
    INSERT INTO step_4_batch
    SELECT i.account_id, i.hour_ts, i.state_hash
      FROM risk_hourly_state_identity i
     WHERE cursor IS NULL OR (i.account_id, i.hour_ts) > (cursor[1]::bigint, cursor[2]::timestamptz)
     ORDER BY i.account_id, i.hour_ts LIMIT p_batch;
    INSERT INTO cluster_exposure_hourly_state (account_id, cluster_id, hour_ts, exposure, cap, parent_risk_hash)
    SELECT b.account_id, c.cluster_id, b.hour_ts,
           coalesce(e.exposure, 0),
           round(c.cap_fraction * pf.equity, 8),
           b.state_hash
      FROM step_4_batch b
      JOIN portfolio_hourly_state pf ON pf.account_id = b.account_id AND pf.hour_ts = b.hour_ts
     CROSS JOIN cluster c
      LEFT JOIN (SELECT p.account_id, p.hour_ts, ic.cluster_id, sum(p.market_value) AS exposure
                   FROM step_4_batch b2
                   JOIN position_hourly_state p ON p.account_id = b2.account_id AND p.hour_ts = b2.hour_ts
                   JOIN instrument_cluster ic ON ic.instrument_id = p.instrument_id
                  GROUP BY p.account_id, p.hour_ts, ic.cluster_id) e
             ON e.account_id = b.account_id AND e.hour_ts = b.hour_ts AND e.cluster_id = c.cluster_id
     ORDER BY b.account_id, c.cluster_id, b.hour_ts
    ON CONFLICT DO NOTHING;
    SELECT count(*) INTO n FROM step_4_batch;
    SELECT ARRAY[account_id::text, to_jsonb(hour_ts) #>> '{}'] INTO last
      FROM step_4_batch ORDER BY account_id DESC, hour_ts DESC LIMIT 1;
    IF n > 0 THEN
        PERFORM migration_backfill_advance('step_4:cluster_exposure_hourly_state', last, n);
    END IF;
    RETURN n;
END $$;

--@stage backfill batch
SELECT set_config('migrations.batch_rows', step_4_backfill_batch(current_setting('migrations.batch_size')::int)::text, true);

--@stage keys
SET CONSTRAINTS ALL IMMEDIATE;
-- Keys, now that the rows are in (names as the inline clauses would give them), NOT VALID:
-- checked for every later write at once, validated below without blocking writers.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_constraint
                   WHERE conrelid = 'cluster_exposure_hourly_state'::regclass
                     AND conname = 'cluster_exposure_hourly_state_account_id_fkey') THEN
        ALTER TABLE cluster_exposure_hourly_state
            ADD CONSTRAINT cluster_exposure_hourly_state_account_id_fkey
            FOREIGN KEY (account_id) REFERENCES account (account_id) NOT VALID;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_constraint
                   WHERE conrelid = 'cluster_exposure_hourly_state'::regclass
                     AND conname = 'cluster_exposure_hourly_state_cluster_id_fkey') THEN
        ALTER TABLE cluster_exposure_hourly_state
            ADD CONSTRAINT cluster_exposure_hourly_state_cluster_id_fkey
            FOREIGN KEY (cluster_id) REFERENCES cluster (cluster_id) NOT VALID;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_constraint
                   WHERE conrelid = 'cluster_exposure_hourly_state'::regclass
                     AND conname = 'fk_cluster_exposure_risk_identity') THEN
        ALTER TABLE cluster_exposure_hourly_state
            ADD CONSTRAINT fk_cluster_exposure_risk_identity FOREIGN KEY (account_id, hour_ts, parent_risk_hash)
            REFERENCES risk_hourly_state_identity (account_id, hour_ts, state_hash)
            DEFERRABLE INITIALLY DEFERRED NOT VALID;
    END IF;
END $$;

--@stage keys_validate
ALTER TABLE cluster_exposure_hourly_state VALIDATE CONSTRAINT cluster_exposure_hourly_state_account_id_fkey;
ALTER TABLE cluster_exposure_hourly_state VALIDATE CONSTRAINT cluster_exposure_hourly_state_cluster_id_fkey;
ALTER TABLE cluster_exposure_hourly_state VALIDATE CONSTRAINT fk_cluster_exposure_risk_identity;

--@stage hour_index autocommit
CREATE INDEX CONCURRENTLY IF NOT EXISTS cluster_exposure_hourly_state_hour_idx
    ON cluster_exposure_hourly_state (account_id, hour_ts);

--@stage constraint_triggers
SET CONSTRAINTS ALL IMMEDIATE;

-- Coverage: one row per (risk identity row, cluster). The table's key is (account_id,
-- cluster_id, hour_ts) and its FKs (validated above) tie every row to one identity row and one
-- cluster, so its rows are a subset of identity x cluster and the missing ones are counted
-- exactly by the difference of the counts (no anti-join over the product needed).
DO $$
DECLARE
    missing bigint;
BEGIN
    SELECT (SELECT count(*) FROM risk_hourly_state_identity) * (SELECT count(*) FROM cluster)
           - (SELECT count(*) FROM cluster_exposure_hourly_state)
      INTO missing;
    IF missing > 0 THEN
        RAISE EXCEPTION 'STEP_4_REVISED_M7: % (account, cluster, hour) rows could not be derived (risk state without portfolio state?)',
            missing;
    END IF;
END $$;

CREATE OR REPLACE FUNCTION order_request_cluster_cap() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_cluster  bigint;
    v_exposure numeric;
    v_cap      numeric;
    v_notional numeric;
BEGIN
    IF NEW.side <> 'BUY' THEN
        RETURN NULL;
    END IF;
    SELECT ic.cluster_id INTO v_cluster FROM instrument_cluster ic WHERE ic.instrument_id = NEW.instrument_id;
    SELECT x.exposure, x.cap INTO v_exposure, v_cap
      FROM cluster_exposure_hourly_state x
     WHERE x.account_id = NEW.account_id AND x.cluster_id = v_cluster AND x.hour_ts = NEW.risk_hour_ts;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'cluster cap (%): BUY order % of account % has no cluster_exposure_hourly_state row for cluster % at its bound hour %',
            TG_NAME, NEW.order_id, NEW.account_id, coalesce(v_cluster::text, '(instrument has no cluster)'), hash_ts(NEW.risk_hour_ts)
            USING ERRCODE = 'check_violation';
    END IF;
    v_notional := round(NEW.quantity * NEW.reference_price, 8);
    IF v_exposure + v_notional > v_cap THEN
        RAISE EXCEPTION 'cluster cap (%): BUY order % of account % would take cluster % to % (exposure % + notional %) above its cap % at %',
            TG_NAME, NEW.order_id, NEW.account_id, v_cluster, v_exposure + v_notional, v_exposure, v_notional, v_cap,
            hash_ts(NEW.risk_hour_ts)
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS ctrg_order_request_v2_cluster_cap ON order_request_v2;
CREATE CONSTRAINT TRIGGER ctrg_order_request_v2_cluster_cap
    AFTER INSERT OR UPDATE OF account_id, instrument_id, side, quantity, reference_price, risk_hour_ts ON order_request_v2
    DEFERRABLE INITIALLY IMMEDIATE
    FOR EACH ROW EXECUTE FUNCTION order_request_cluster_cap();

CREATE OR REPLACE FUNCTION cluster_exposure_parent_risk_hash() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    expected text;
BEGIN
    SELECT i.state_hash INTO expected
      FROM risk_hourly_state_identity i
     WHERE i.account_id = NEW.account_id AND i.hour_ts = NEW.hour_ts;
    IF expected IS DISTINCT FROM NEW.parent_risk_hash THEN
        RAISE EXCEPTION 'cluster_exposure_hourly_state (account %, cluster %, hour %): parent_risk_hash % is not the risk state_hash % (%)',
            NEW.account_id, NEW.cluster_id, hash_ts(NEW.hour_ts), NEW.parent_risk_hash, coalesce(expected, 'missing'), TG_NAME
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS ctrg_cluster_exposure_parent_risk_hash ON cluster_exposure_hourly_state;
CREATE CONSTRAINT TRIGGER ctrg_cluster_exposure_parent_risk_hash
    AFTER INSERT OR UPDATE ON cluster_exposure_hourly_state
    DEFERRABLE INITIALLY IMMEDIATE
    FOR EACH ROW EXECUTE FUNCTION cluster_exposure_parent_risk_hash();

SELECT set_config('migrations.step_notes',
    format('Cluster model + cluster-cap trigger bound to identity table (%s cluster_exposure_hourly_state rows)',
           (SELECT count(*) FROM cluster_exposure_hourly_state)), true);
