-- STEP_6_M9_HASH_ADDITIONS: hash columns, backfilled in dependency order, then NOT NULL, then
-- triggers that keep every future write hashed and chained.
--
-- Columns (hash canon: the contract's hash rules and sql/phase_1a/002_hash_functions.sql):
--   row_hash on all ten tables; order_request.parent_signal_hash (the signal's row_hash; the
--   order's risk_state_hash came in STEP_3); order_fill.parent_order_hash;
--   position_lot.parent_fill_hash (opening fill); executed_trade.parent_fill_hash (sell fill)
--   and parent_lot_hash; cash_ledger.prev_hash (previous ledger_seq's row_hash of the account,
--   genesis = 64 '0' for ledger_seq 1); risk_event.parent_state_hash (risk state_hash at
--   (account_id, hour_ts)). A row_hash covers the parent hashes, so the rows form a Merkle DAG:
--   changing any fact changes every hash downstream of it.
-- Triggers:
--   * trg_<table>_v2_hashes (BEFORE INSERT OR UPDATE): on INSERT, fill the parent hashes from
--     the parent rows (or verify the ones given) and fill/verify row_hash; on UPDATE, reject any
--     change to a hashed column (only the progress columns order_request.filled_quantity and
--     position_lot.remaining_qty, outside the hash, may change).
--   * ctrg_risk_event_v2_parent_state_hash (constraint trigger): a risk event's
--     parent_state_hash must be the state_hash of the risk state it reports.
-- The functions find their parent tables by the name of the table they fire on (`_v2` suffix
-- or not), so they keep working after STEP_7 renames the tables.
--
-- Writers keep writing (through the dual write) while this step runs, so no stage holds a
-- table for longer than an instant:
--   1. the columns are added (nullable: no rewrite);
--   2. per table, parents first: the rows are hashed in batches of `migrations.batch_size` keys
--      after a cursor (migration_backfill_progress), each batch its own transaction; then the
--      table is sealed: for an instant under SHARE ROW EXCLUSIVE (writers wait, they are not
--      refused), the rows that arrived meanwhile or committed behind the cursor are hashed and
--      its hash trigger is created, so every later row is hashed as it is written. The seal
--      finds those rows through a partial index of the unhashed rows, built CONCURRENTLY just
--      before it (tiny by then: the batches hashed the rest) and dropped CONCURRENTLY after:
--      without it the seal scanned the whole table under its lock (up to 300 ms of writers
--      waiting on the 100k-fill world);
--   3. NOT NULL without an exclusive scan: one CHECK (... IS NOT NULL) per table added NOT
--      VALID, VALIDATEd under a lock writers pass, then SET NOT NULL (which trusts the validated
--      CHECK) and the CHECK dropped; a NULL left (a missing parent row, a ledger_seq gap)
--      aborts the step naming table.column and the count;
--   4. the risk event -> identity FK (NOT VALID, then VALIDATEd) and the parent-state-hash
--      constraint trigger; a spot check of the expressions against the canon's functions.
-- Filling the new hash columns is the one UPDATE the append-only tables ever get: their
-- append-only triggers let an UPDATE through that only fills NULL hash columns.
-- Idempotent: every batch and seal handles only rows whose hashes are missing or stale, and a
-- resumed step continues at the cursors.

--@stage columns
-- Deferred constraints (the identity-table FKs and source-exists triggers) are checked at the
-- end of each statement in this step: DDL below refuses to run on a table with pending
-- deferred trigger events, and an error should name the statement that caused it.
SET CONSTRAINTS ALL IMMEDIATE;

ALTER TABLE regime_output_v2          ADD COLUMN IF NOT EXISTS row_hash text;
ALTER TABLE model_prediction_v2       ADD COLUMN IF NOT EXISTS row_hash text;
ALTER TABLE meta_learner_component_v2 ADD COLUMN IF NOT EXISTS row_hash text;
ALTER TABLE trade_signal_v2           ADD COLUMN IF NOT EXISTS row_hash text;
ALTER TABLE order_request_v2          ADD COLUMN IF NOT EXISTS parent_signal_hash text,
                                      ADD COLUMN IF NOT EXISTS row_hash text;
ALTER TABLE order_fill_v2             ADD COLUMN IF NOT EXISTS parent_order_hash text,
                                      ADD COLUMN IF NOT EXISTS row_hash text;
ALTER TABLE position_lot_v2           ADD COLUMN IF NOT EXISTS parent_fill_hash text,
                                      ADD COLUMN IF NOT EXISTS row_hash text;
ALTER TABLE executed_trade_v2         ADD COLUMN IF NOT EXISTS parent_fill_hash text,
                                      ADD COLUMN IF NOT EXISTS parent_lot_hash text,
                                      ADD COLUMN IF NOT EXISTS row_hash text;
ALTER TABLE cash_ledger_v2            ADD COLUMN IF NOT EXISTS prev_hash text,
                                      ADD COLUMN IF NOT EXISTS row_hash text;
ALTER TABLE risk_event_v2             ADD COLUMN IF NOT EXISTS parent_state_hash text,
                                      ADD COLUMN IF NOT EXISTS row_hash text;

--@stage functions
-- Trigger helpers ----------------------------------------------------------------------------

-- '_v2' while the trigger fires on a `*_v2` table, '' after the cutover renamed it canonical.
CREATE OR REPLACE FUNCTION v2_suffix(tbl text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$ SELECT CASE WHEN tbl LIKE '%\_v2' THEN '_v2' ELSE '' END $$;

-- A parent hash on INSERT: filled from the parent row when not given, verified when given.
CREATE OR REPLACE FUNCTION settle_parent_hash(given text, expected text, what text, trig text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    IF expected IS NULL THEN
        RAISE EXCEPTION '% cannot be derived: the parent row is missing (%)', what, trig
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    IF given IS NOT NULL AND given <> expected THEN
        RAISE EXCEPTION '% is % but the parent row''s hash is % (%)', what, given, expected, trig
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN expected;
END $$;

-- row_hash: on INSERT filled or verified; on UPDATE the hashed columns must not change.
CREATE OR REPLACE FUNCTION settle_row_hash(op text, tbl text, trig text, given text, old_hash text, computed text)
RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    IF op = 'INSERT' THEN
        IF given IS NOT NULL AND given <> computed THEN
            RAISE EXCEPTION '%.row_hash % does not match the row''s canonical hash % (%)', tbl, given, computed, trig
                USING ERRCODE = 'check_violation';
        END IF;
        RETURN computed;
    END IF;
    IF computed <> old_hash OR given IS DISTINCT FROM old_hash THEN
        RAISE EXCEPTION '% rows are immutable except their progress columns (%): UPDATE of a hashed column rejected',
            tbl, trig USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN old_hash;
END $$;

CREATE OR REPLACE FUNCTION parent_row_hash(tbl text, where_sql text, VARIADIC args bigint[]) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
    h text;
BEGIN
    EXECUTE format('SELECT row_hash FROM %I WHERE %s', tbl, where_sql) INTO h USING args;
    RETURN h;
END $$;

-- Per-table hash triggers ----------------------------------------------------------------------

CREATE OR REPLACE FUNCTION regime_output_hashes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.row_hash := settle_row_hash(TG_OP, TG_TABLE_NAME, TG_NAME, NEW.row_hash,
        CASE WHEN TG_OP = 'UPDATE' THEN OLD.row_hash END,
        regime_output_row_hash(NEW.regime_output_id, NEW.model_id, NEW.hour_ts, NEW.regime, NEW.score));
    RETURN NEW;
END $$;

CREATE OR REPLACE FUNCTION model_prediction_hashes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.row_hash := settle_row_hash(TG_OP, TG_TABLE_NAME, TG_NAME, NEW.row_hash,
        CASE WHEN TG_OP = 'UPDATE' THEN OLD.row_hash END,
        model_prediction_row_hash(NEW.prediction_id, NEW.model_id, NEW.instrument_id, NEW.hour_ts,
                                  NEW.feature_hour_ts, NEW.feature_hash, NEW.score));
    RETURN NEW;
END $$;

CREATE OR REPLACE FUNCTION meta_learner_component_hashes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.row_hash := settle_row_hash(TG_OP, TG_TABLE_NAME, TG_NAME, NEW.row_hash,
        CASE WHEN TG_OP = 'UPDATE' THEN OLD.row_hash END,
        meta_learner_component_row_hash(NEW.meta_prediction_id, NEW.base_prediction_id, NEW.weight));
    RETURN NEW;
END $$;

CREATE OR REPLACE FUNCTION trade_signal_hashes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.row_hash := settle_row_hash(TG_OP, TG_TABLE_NAME, TG_NAME, NEW.row_hash,
        CASE WHEN TG_OP = 'UPDATE' THEN OLD.row_hash END,
        trade_signal_row_hash(NEW.signal_id, NEW.account_id, NEW.instrument_id, NEW.hour_ts, NEW.prediction_id,
                              NEW.regime_output_id, NEW.target_weight));
    RETURN NEW;
END $$;

CREATE OR REPLACE FUNCTION order_request_hashes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        NEW.parent_signal_hash := settle_parent_hash(NEW.parent_signal_hash,
            parent_row_hash('trade_signal' || v2_suffix(TG_TABLE_NAME), 'account_id = $1[1] AND signal_id = $1[2]',
                            NEW.account_id, NEW.signal_id),
            TG_TABLE_NAME || '.parent_signal_hash', TG_NAME);
    END IF;
    NEW.row_hash := settle_row_hash(TG_OP, TG_TABLE_NAME, TG_NAME, NEW.row_hash,
        CASE WHEN TG_OP = 'UPDATE' THEN OLD.row_hash END,
        order_request_row_hash(NEW.order_id, NEW.account_id, NEW.signal_id, NEW.instrument_id, NEW.side, NEW.quantity,
                               NEW.reference_price, NEW.requested_ts, NEW.risk_hour_ts, NEW.parent_signal_hash,
                               NEW.risk_state_hash));
    RETURN NEW;
END $$;

CREATE OR REPLACE FUNCTION order_fill_hashes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        NEW.parent_order_hash := settle_parent_hash(NEW.parent_order_hash,
            parent_row_hash('order_request' || v2_suffix(TG_TABLE_NAME), 'account_id = $1[1] AND order_id = $1[2]',
                            NEW.account_id, NEW.order_id),
            TG_TABLE_NAME || '.parent_order_hash', TG_NAME);
    END IF;
    NEW.row_hash := settle_row_hash(TG_OP, TG_TABLE_NAME, TG_NAME, NEW.row_hash,
        CASE WHEN TG_OP = 'UPDATE' THEN OLD.row_hash END,
        order_fill_row_hash(NEW.fill_id, NEW.account_id, NEW.order_id, NEW.instrument_id, NEW.side, NEW.fill_ts,
                            NEW.fill_qty, NEW.reference_price, NEW.fill_price, NEW.fee, NEW.slippage_cost,
                            NEW.parent_order_hash));
    RETURN NEW;
END $$;

CREATE OR REPLACE FUNCTION position_lot_hashes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        NEW.parent_fill_hash := settle_parent_hash(NEW.parent_fill_hash,
            parent_row_hash('order_fill' || v2_suffix(TG_TABLE_NAME), 'account_id = $1[1] AND fill_id = $1[2]',
                            NEW.account_id, NEW.opening_fill_id),
            TG_TABLE_NAME || '.parent_fill_hash', TG_NAME);
    END IF;
    NEW.row_hash := settle_row_hash(TG_OP, TG_TABLE_NAME, TG_NAME, NEW.row_hash,
        CASE WHEN TG_OP = 'UPDATE' THEN OLD.row_hash END,
        position_lot_row_hash(NEW.lot_id, NEW.account_id, NEW.instrument_id, NEW.opening_fill_id, NEW.opened_ts,
                              NEW.original_qty, NEW.cost_basis, NEW.parent_fill_hash));
    RETURN NEW;
END $$;

CREATE OR REPLACE FUNCTION executed_trade_hashes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        NEW.parent_fill_hash := settle_parent_hash(NEW.parent_fill_hash,
            parent_row_hash('order_fill' || v2_suffix(TG_TABLE_NAME), 'account_id = $1[1] AND fill_id = $1[2]',
                            NEW.account_id, NEW.sell_fill_id),
            TG_TABLE_NAME || '.parent_fill_hash', TG_NAME);
        NEW.parent_lot_hash := settle_parent_hash(NEW.parent_lot_hash,
            parent_row_hash('position_lot' || v2_suffix(TG_TABLE_NAME), 'account_id = $1[1] AND lot_id = $1[2]',
                            NEW.account_id, NEW.lot_id),
            TG_TABLE_NAME || '.parent_lot_hash', TG_NAME);
    END IF;
    NEW.row_hash := settle_row_hash(TG_OP, TG_TABLE_NAME, TG_NAME, NEW.row_hash,
        CASE WHEN TG_OP = 'UPDATE' THEN OLD.row_hash END,
        executed_trade_row_hash(NEW.executed_trade_id, NEW.account_id, NEW.instrument_id, NEW.lot_id,
                                NEW.sell_fill_id, NEW.executed_ts, NEW.quantity, NEW.proceeds, NEW.cost_basis,
                                NEW.realized_pnl, NEW.parent_fill_hash, NEW.parent_lot_hash));
    RETURN NEW;
END $$;

CREATE OR REPLACE FUNCTION cash_ledger_hashes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        NEW.prev_hash := settle_parent_hash(NEW.prev_hash,
            CASE WHEN NEW.ledger_seq = 1 THEN genesis_hash()
                 ELSE parent_row_hash(TG_TABLE_NAME, 'account_id = $1[1] AND ledger_seq = $1[2]',
                                      NEW.account_id, NEW.ledger_seq - 1) END,
            TG_TABLE_NAME || '.prev_hash', TG_NAME);
    END IF;
    NEW.row_hash := settle_row_hash(TG_OP, TG_TABLE_NAME, TG_NAME, NEW.row_hash,
        CASE WHEN TG_OP = 'UPDATE' THEN OLD.row_hash END,
        cash_ledger_row_hash(NEW.account_id, NEW.ledger_seq, NEW.entry_ts, NEW.entry_type, NEW.amount,
                             NEW.balance_after, NEW.fill_id, NEW.prev_hash));
    RETURN NEW;
END $$;

-- risk_event's parent hash is only filled here; verifying it is the job of the named
-- constraint trigger ctrg_risk_event_v2_parent_state_hash below.
CREATE OR REPLACE FUNCTION risk_event_hashes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' AND NEW.parent_state_hash IS NULL THEN
        SELECT i.state_hash INTO NEW.parent_state_hash
          FROM risk_hourly_state_identity i
         WHERE i.account_id = NEW.account_id AND i.hour_ts = NEW.hour_ts;
    END IF;
    NEW.row_hash := settle_row_hash(TG_OP, TG_TABLE_NAME, TG_NAME, NEW.row_hash,
        CASE WHEN TG_OP = 'UPDATE' THEN OLD.row_hash END,
        risk_event_row_hash(NEW.risk_event_id, NEW.account_id, NEW.hour_ts, NEW.event_type, NEW.from_state,
                            NEW.to_state, NEW.drawdown, NEW.parent_state_hash));
    RETURN NEW;
END $$;

CREATE OR REPLACE FUNCTION risk_event_parent_state_hash() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    expected text;
BEGIN
    SELECT i.state_hash INTO expected
      FROM risk_hourly_state_identity i
     WHERE i.account_id = NEW.account_id AND i.hour_ts = NEW.hour_ts;
    IF expected IS NULL OR NEW.parent_state_hash IS DISTINCT FROM expected THEN
        RAISE EXCEPTION 'risk_event % (account %, hour %): parent_state_hash % is not the risk state_hash % (%)',
            NEW.risk_event_id, NEW.account_id, hash_ts(NEW.hour_ts), coalesce(NEW.parent_state_hash, 'NULL'),
            coalesce(expected, 'missing'), TG_NAME
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END $$;

-- The UPDATE that fills a table's hash columns for the rows of `{where}`: its parent hashes
-- joined from the parent rows (hashed already: parents are sealed first), its row_hash computed
-- by the canon written out as one plain expression
--   H(f1, ..., fn) = encode(sha256(convert_to(array_to_string(ARRAY[f1, ..., fn], '|', '\N'), 'UTF8')), 'hex')
-- with timestamps as to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), numerics
-- as round(x, 8)::text and bigints as ::text: the body of the `<table>_row_hash` functions of
-- phase_1a/002_hash_functions.sql with hash_fields/hash_ts/hash_num expanded (those cannot be
-- inlined by the planner and cost one function call per field per row: 4x slower). The spot
-- check at the end compares both on real rows, so the two cannot drift apart. cash_ledger
-- (a chain) and risk_event (a lookup) have their own functions.
CREATE OR REPLACE FUNCTION step_6_update_sql(p_table text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE p_table
        WHEN 'regime_output' THEN 'UPDATE regime_output_v2 t SET row_hash = encode(sha256(convert_to(array_to_string(ARRAY[t.regime_output_id::text, t.model_id::text, to_char(t.hour_ts AT TIME ZONE ''UTC'', ''YYYY-MM-DD"T"HH24:MI:SS.US"Z"''), t.regime, round(t.score, 8)::text], ''|'', ''\N''), ''UTF8'')), ''hex'') WHERE ({where})'
        WHEN 'model_prediction' THEN 'UPDATE model_prediction_v2 t SET row_hash = encode(sha256(convert_to(array_to_string(ARRAY[t.prediction_id::text, t.model_id::text, t.instrument_id::text, to_char(t.hour_ts AT TIME ZONE ''UTC'', ''YYYY-MM-DD"T"HH24:MI:SS.US"Z"''), to_char(t.feature_hour_ts AT TIME ZONE ''UTC'', ''YYYY-MM-DD"T"HH24:MI:SS.US"Z"''), t.feature_hash, round(t.score, 8)::text], ''|'', ''\N''), ''UTF8'')), ''hex'') WHERE ({where})'
        WHEN 'meta_learner_component' THEN 'UPDATE meta_learner_component_v2 t SET row_hash = encode(sha256(convert_to(array_to_string(ARRAY[t.meta_prediction_id::text, t.base_prediction_id::text, round(t.weight, 8)::text], ''|'', ''\N''), ''UTF8'')), ''hex'') WHERE ({where})'
        WHEN 'trade_signal' THEN 'UPDATE trade_signal_v2 t SET row_hash = encode(sha256(convert_to(array_to_string(ARRAY[t.signal_id::text, t.account_id::text, t.instrument_id::text, to_char(t.hour_ts AT TIME ZONE ''UTC'', ''YYYY-MM-DD"T"HH24:MI:SS.US"Z"''), t.prediction_id::text, t.regime_output_id::text, round(t.target_weight, 8)::text], ''|'', ''\N''), ''UTF8'')), ''hex'') WHERE ({where})'
        WHEN 'order_request' THEN 'UPDATE order_request_v2 t SET parent_signal_hash = s.row_hash, row_hash = encode(sha256(convert_to(array_to_string(ARRAY[t.order_id::text, t.account_id::text, t.signal_id::text, t.instrument_id::text, t.side, round(t.quantity, 8)::text, round(t.reference_price, 8)::text, to_char(t.requested_ts AT TIME ZONE ''UTC'', ''YYYY-MM-DD"T"HH24:MI:SS.US"Z"''), to_char(t.risk_hour_ts AT TIME ZONE ''UTC'', ''YYYY-MM-DD"T"HH24:MI:SS.US"Z"''), s.row_hash, t.risk_state_hash], ''|'', ''\N''), ''UTF8'')), ''hex'') FROM trade_signal_v2 s WHERE s.account_id = t.account_id AND s.signal_id = t.signal_id AND ({where})'
        WHEN 'order_fill' THEN 'UPDATE order_fill_v2 t SET parent_order_hash = o.row_hash, row_hash = encode(sha256(convert_to(array_to_string(ARRAY[t.fill_id::text, t.account_id::text, t.order_id::text, t.instrument_id::text, t.side, to_char(t.fill_ts AT TIME ZONE ''UTC'', ''YYYY-MM-DD"T"HH24:MI:SS.US"Z"''), round(t.fill_qty, 8)::text, round(t.reference_price, 8)::text, round(t.fill_price, 8)::text, round(t.fee, 8)::text, round(t.slippage_cost, 8)::text, o.row_hash], ''|'', ''\N''), ''UTF8'')), ''hex'') FROM order_request_v2 o WHERE o.account_id = t.account_id AND o.order_id = t.order_id AND ({where})'
        WHEN 'position_lot' THEN 'UPDATE position_lot_v2 t SET parent_fill_hash = f.row_hash, row_hash = encode(sha256(convert_to(array_to_string(ARRAY[t.lot_id::text, t.account_id::text, t.instrument_id::text, t.opening_fill_id::text, to_char(t.opened_ts AT TIME ZONE ''UTC'', ''YYYY-MM-DD"T"HH24:MI:SS.US"Z"''), round(t.original_qty, 8)::text, round(t.cost_basis, 8)::text, f.row_hash], ''|'', ''\N''), ''UTF8'')), ''hex'') FROM order_fill_v2 f WHERE f.account_id = t.account_id AND f.fill_id = t.opening_fill_id AND ({where})'
        WHEN 'executed_trade' THEN 'UPDATE executed_trade_v2 t SET parent_lot_hash = l.row_hash, parent_fill_hash = f.row_hash, row_hash = encode(sha256(convert_to(array_to_string(ARRAY[t.executed_trade_id::text, t.account_id::text, t.instrument_id::text, t.lot_id::text, t.sell_fill_id::text, to_char(t.executed_ts AT TIME ZONE ''UTC'', ''YYYY-MM-DD"T"HH24:MI:SS.US"Z"''), round(t.quantity, 8)::text, round(t.proceeds, 8)::text, round(t.cost_basis, 8)::text, round(t.realized_pnl, 8)::text, f.row_hash, l.row_hash], ''|'', ''\N''), ''UTF8'')), ''hex'') FROM order_fill_v2 f, position_lot_v2 l WHERE f.account_id = t.account_id AND f.fill_id = t.sell_fill_id AND l.account_id = t.account_id AND l.lot_id = t.lot_id AND ({where})'
    END
$$;

-- The key columns of each table, in key order.
CREATE OR REPLACE FUNCTION step_6_keys(p_table text) RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE p_table
        WHEN 'regime_output' THEN ARRAY['regime_output_id']
        WHEN 'model_prediction' THEN ARRAY['prediction_id']
        WHEN 'meta_learner_component' THEN ARRAY['meta_prediction_id', 'base_prediction_id']
        WHEN 'trade_signal' THEN ARRAY['signal_id']
        WHEN 'order_request' THEN ARRAY['order_id']
        WHEN 'order_fill' THEN ARRAY['fill_id']
        WHEN 'position_lot' THEN ARRAY['lot_id']
        WHEN 'executed_trade' THEN ARRAY['executed_trade_id']
        WHEN 'cash_ledger' THEN ARRAY['account_id', 'ledger_seq']
        WHEN 'risk_event' THEN ARRAY['risk_event_id']
    END
$$;

-- `(t.k1[, t.k2]) > (lo) AND (t.k1[, t.k2]) <= (hi)` for a table's keys (bounds as text; no
-- lower bound when lo is NULL).
CREATE OR REPLACE FUNCTION step_6_range(p_table text, p_lo text[], p_hi text[]) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT concat_ws(' AND ',
        CASE WHEN p_lo IS NOT NULL THEN format('(%s) > (%s)', k.cols, k.lo) END,
        format('(%s) <= (%s)', k.cols, k.hi))
      FROM (SELECT string_agg('t.' || quote_ident(c), ', ' ORDER BY i) AS cols,
                   string_agg(quote_literal(p_lo[i]) || '::bigint', ', ' ORDER BY i) AS lo,
                   string_agg(quote_literal(p_hi[i]) || '::bigint', ', ' ORDER BY i) AS hi
              FROM unnest(step_6_keys(p_table)) WITH ORDINALITY AS u(c, i)) k
$$;

-- The ledger chain for the rows of `p_where` (alias t), in ledger_seq order per account: each
-- row's prev_hash is the previous row's row_hash (genesis = 64 '0' at ledger_seq 1), read from
-- the table for the first row of an account in this set, computed here for the others. A row
-- whose previous row has no hash yet (a gap, or a row committed behind the cursor) is left
-- NULL: the seal fills it once its predecessor is there, and NOT NULL names what is left.
CREATE OR REPLACE FUNCTION step_6_ledger_chain(p_where text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    r         record;
    acct      bigint;
    expect    bigint;
    prev      text;
    accounts  bigint[] := '{}';
    seqs      bigint[] := '{}';
    prevs     text[]   := '{}';
    hashes    text[]   := '{}';
    n         bigint;
BEGIN
    FOR r IN EXECUTE format(
        'SELECT t.account_id, t.ledger_seq,
                array_to_string(ARRAY[
                    t.account_id::text, t.ledger_seq::text,
                    to_char(t.entry_ts AT TIME ZONE ''UTC'', ''YYYY-MM-DD"T"HH24:MI:SS.US"Z"''), t.entry_type,
                    round(t.amount, 8)::text, round(t.balance_after, 8)::text, t.fill_id::text], ''|'', ''\N'') AS fields,
                (SELECT p.row_hash FROM cash_ledger_v2 p
                  WHERE p.account_id = t.account_id AND p.ledger_seq = t.ledger_seq - 1) AS stored_prev
           FROM cash_ledger_v2 t WHERE %s ORDER BY t.account_id, t.ledger_seq', p_where)
    LOOP
        IF acct IS DISTINCT FROM r.account_id OR r.ledger_seq IS DISTINCT FROM expect THEN
            -- first row of an account here, or past a hole in this set: start from the table
            acct := r.account_id;
            prev := CASE WHEN r.ledger_seq = 1 THEN genesis_hash() ELSE r.stored_prev END;
        END IF;
        expect := r.ledger_seq + 1;
        CONTINUE WHEN prev IS NULL;
        accounts := accounts || r.account_id;
        seqs     := seqs || r.ledger_seq;
        prevs    := prevs || prev;
        -- prev is never NULL here, so appending '|' || prev is the canon's last field.
        prev     := encode(sha256(convert_to(r.fields || '|' || prev, 'UTF8')), 'hex');
        hashes   := hashes || prev;
    END LOOP;
    UPDATE cash_ledger_v2 t SET prev_hash = c.prev_hash, row_hash = c.row_hash
      FROM unnest(accounts, seqs, prevs, hashes) AS c(account_id, ledger_seq, prev_hash, row_hash)
     WHERE c.account_id = t.account_id AND c.ledger_seq = t.ledger_seq
       AND (t.prev_hash IS DISTINCT FROM c.prev_hash OR t.row_hash IS DISTINCT FROM c.row_hash);
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$;

-- risk_event: its risk state need not exist (no FK until the end), so the parent hash is filled
-- where the identity row is found and the row_hash computed from whatever it holds, exactly as
-- risk_event_row_hash would (NULL as \N); NOT NULL then names the orphans.
CREATE OR REPLACE FUNCTION step_6_risk_events(p_where text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    EXECUTE format('UPDATE risk_event_v2 t SET parent_state_hash = i.state_hash
                      FROM risk_hourly_state_identity i
                     WHERE i.account_id = t.account_id AND i.hour_ts = t.hour_ts
                       AND t.parent_state_hash IS DISTINCT FROM i.state_hash AND (%s)', p_where);
    EXECUTE format('UPDATE risk_event_v2 t
                       SET row_hash = encode(sha256(convert_to(array_to_string(ARRAY[
                               t.risk_event_id::text, t.account_id::text,
                               to_char(t.hour_ts AT TIME ZONE ''UTC'', ''YYYY-MM-DD"T"HH24:MI:SS.US"Z"''), t.event_type,
                               t.from_state, t.to_state, round(t.drawdown, 8)::text, t.parent_state_hash], ''|'', ''\N''), ''UTF8'')), ''hex'')
                     WHERE (%s)', p_where);
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$;

-- Hash the rows of `p_where` (alias t) of one table.
CREATE OR REPLACE FUNCTION step_6_hash_rows(p_table text, p_where text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    IF p_table = 'cash_ledger' THEN
        RETURN step_6_ledger_chain(p_where);
    ELSIF p_table = 'risk_event' THEN
        RETURN step_6_risk_events(p_where);
    END IF;
    EXECUTE replace(step_6_update_sql(p_table), '{where}', p_where);
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$;

-- One batch: the next p_batch keys after the table's cursor, hashed; the keys handled.
CREATE OR REPLACE FUNCTION step_6_hash_batch(p_table text, p_batch int) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    v_task  text := 'step_6:' || p_table;
    v_keys  text[] := step_6_keys(p_table);
    v_cols  text := (SELECT string_agg('t.' || quote_ident(c), ', ' ORDER BY i)
                       FROM unnest(step_6_keys(p_table)) WITH ORDINALITY AS u(c, i));
    v_text  text := (SELECT string_agg('b.' || quote_ident(c) || '::text', ', ' ORDER BY i)
                       FROM unnest(step_6_keys(p_table)) WITH ORDINALITY AS u(c, i));
    v_desc  text := (SELECT string_agg('b.' || quote_ident(c) || ' DESC', ', ' ORDER BY i)
                       FROM unnest(step_6_keys(p_table)) WITH ORDINALITY AS u(c, i));
    v_after text := 'true';
    v_lo    text[];
    v_hi    text[];
    n       bigint;
BEGIN
    SELECT p.last_key INTO v_lo FROM migration_backfill_progress p WHERE p.task = v_task;
    IF v_lo IS NOT NULL THEN
        v_after := format('(%s) > (%s)', v_cols,
                          (SELECT string_agg(quote_literal(v_lo[i]) || '::bigint', ', ' ORDER BY i)
                             FROM generate_subscripts(v_lo, 1) AS i));
    END IF;
    EXECUTE format('WITH b AS (SELECT %s FROM %I t WHERE %s ORDER BY %s LIMIT %s)
                    SELECT (SELECT count(*) FROM b), (SELECT ARRAY[%s] FROM b ORDER BY %s LIMIT 1)',
                   v_cols, p_table || '_v2', v_after, v_cols, p_batch, v_text, v_desc)
        INTO n, v_hi;
    IF n = 0 THEN
        RETURN 0;
    END IF;
    PERFORM step_6_hash_rows(p_table, step_6_range(p_table, v_lo, v_hi));
    PERFORM migration_backfill_advance(v_task, v_hi, n);
    RETURN n;
END $$;

-- Seal one table: for an instant under SHARE ROW EXCLUSIVE (writers wait), hash the rows still
-- without a hash (arrived after the batches, or committed behind the cursor), then create its
-- hash trigger: from here on every row is hashed as it is written.
CREATE OR REPLACE FUNCTION step_6_seal(p_table text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
    f text := CASE p_table WHEN 'meta_learner_component' THEN 'meta_learner_component_hashes'
                           ELSE p_table || '_hashes' END;
BEGIN
    EXECUTE format('LOCK TABLE %I IN SHARE ROW EXCLUSIVE MODE', p_table || '_v2');
    n := step_6_hash_rows(p_table, 't.row_hash IS NULL');
    EXECUTE format('CREATE OR REPLACE TRIGGER %I BEFORE INSERT OR UPDATE ON %I FOR EACH ROW EXECUTE FUNCTION %I()',
                   'trg_' || p_table || '_v2_hashes', p_table || '_v2', f);
    RETURN n;
END $$;

--@stage hash_regime_output batch
SELECT set_config('migrations.batch_rows', step_6_hash_batch('regime_output', current_setting('migrations.batch_size')::int)::text, true);

--@stage seal_regime_output_index autocommit
CREATE INDEX CONCURRENTLY IF NOT EXISTS step_6_unhashed_regime_output ON regime_output_v2 (row_hash) WHERE row_hash IS NULL;

--@stage seal_regime_output
SELECT step_6_seal('regime_output');

--@stage seal_regime_output_index_drop autocommit
DROP INDEX CONCURRENTLY IF EXISTS step_6_unhashed_regime_output;

--@stage hash_model_prediction batch
SELECT set_config('migrations.batch_rows', step_6_hash_batch('model_prediction', current_setting('migrations.batch_size')::int)::text, true);

--@stage seal_model_prediction_index autocommit
CREATE INDEX CONCURRENTLY IF NOT EXISTS step_6_unhashed_model_prediction ON model_prediction_v2 (row_hash) WHERE row_hash IS NULL;

--@stage seal_model_prediction
SELECT step_6_seal('model_prediction');

--@stage seal_model_prediction_index_drop autocommit
DROP INDEX CONCURRENTLY IF EXISTS step_6_unhashed_model_prediction;

--@stage hash_meta_learner_component batch
SELECT set_config('migrations.batch_rows', step_6_hash_batch('meta_learner_component', current_setting('migrations.batch_size')::int)::text, true);

--@stage seal_meta_learner_component_index autocommit
CREATE INDEX CONCURRENTLY IF NOT EXISTS step_6_unhashed_meta_learner_component ON meta_learner_component_v2 (row_hash) WHERE row_hash IS NULL;

--@stage seal_meta_learner_component
SELECT step_6_seal('meta_learner_component');

--@stage seal_meta_learner_component_index_drop autocommit
DROP INDEX CONCURRENTLY IF EXISTS step_6_unhashed_meta_learner_component;

--@stage hash_trade_signal batch
SELECT set_config('migrations.batch_rows', step_6_hash_batch('trade_signal', current_setting('migrations.batch_size')::int)::text, true);

--@stage seal_trade_signal_index autocommit
CREATE INDEX CONCURRENTLY IF NOT EXISTS step_6_unhashed_trade_signal ON trade_signal_v2 (row_hash) WHERE row_hash IS NULL;

--@stage seal_trade_signal
SELECT step_6_seal('trade_signal');

--@stage seal_trade_signal_index_drop autocommit
DROP INDEX CONCURRENTLY IF EXISTS step_6_unhashed_trade_signal;

--@stage hash_order_request batch
SELECT set_config('migrations.batch_rows', step_6_hash_batch('order_request', current_setting('migrations.batch_size')::int)::text, true);

--@stage seal_order_request_index autocommit
CREATE INDEX CONCURRENTLY IF NOT EXISTS step_6_unhashed_order_request ON order_request_v2 (row_hash) WHERE row_hash IS NULL;

--@stage seal_order_request
SELECT step_6_seal('order_request');

--@stage seal_order_request_index_drop autocommit
DROP INDEX CONCURRENTLY IF EXISTS step_6_unhashed_order_request;

--@stage hash_order_fill batch
SELECT set_config('migrations.batch_rows', step_6_hash_batch('order_fill', current_setting('migrations.batch_size')::int)::text, true);

--@stage seal_order_fill_index autocommit
CREATE INDEX CONCURRENTLY IF NOT EXISTS step_6_unhashed_order_fill ON order_fill_v2 (row_hash) WHERE row_hash IS NULL;

--@stage seal_order_fill
SELECT step_6_seal('order_fill');

--@stage seal_order_fill_index_drop autocommit
DROP INDEX CONCURRENTLY IF EXISTS step_6_unhashed_order_fill;

--@stage hash_position_lot batch
SELECT set_config('migrations.batch_rows', step_6_hash_batch('position_lot', current_setting('migrations.batch_size')::int)::text, true);

--@stage seal_position_lot_index autocommit
CREATE INDEX CONCURRENTLY IF NOT EXISTS step_6_unhashed_position_lot ON position_lot_v2 (row_hash) WHERE row_hash IS NULL;

--@stage seal_position_lot
SELECT step_6_seal('position_lot');

--@stage seal_position_lot_index_drop autocommit
DROP INDEX CONCURRENTLY IF EXISTS step_6_unhashed_position_lot;

--@stage hash_executed_trade batch
SELECT set_config('migrations.batch_rows', step_6_hash_batch('executed_trade', current_setting('migrations.batch_size')::int)::text, true);

--@stage seal_executed_trade_index autocommit
CREATE INDEX CONCURRENTLY IF NOT EXISTS step_6_unhashed_executed_trade ON executed_trade_v2 (row_hash) WHERE row_hash IS NULL;

--@stage seal_executed_trade
SELECT step_6_seal('executed_trade');

--@stage seal_executed_trade_index_drop autocommit
DROP INDEX CONCURRENTLY IF EXISTS step_6_unhashed_executed_trade;

--@stage hash_cash_ledger batch
SELECT set_config('migrations.batch_rows', step_6_hash_batch('cash_ledger', current_setting('migrations.batch_size')::int)::text, true);

--@stage seal_cash_ledger_index autocommit
CREATE INDEX CONCURRENTLY IF NOT EXISTS step_6_unhashed_cash_ledger ON cash_ledger_v2 (row_hash) WHERE row_hash IS NULL;

--@stage seal_cash_ledger
SELECT step_6_seal('cash_ledger');

--@stage seal_cash_ledger_index_drop autocommit
DROP INDEX CONCURRENTLY IF EXISTS step_6_unhashed_cash_ledger;

--@stage hash_risk_event batch
SELECT set_config('migrations.batch_rows', step_6_hash_batch('risk_event', current_setting('migrations.batch_size')::int)::text, true);

--@stage seal_risk_event_index autocommit
CREATE INDEX CONCURRENTLY IF NOT EXISTS step_6_unhashed_risk_event ON risk_event_v2 (row_hash) WHERE row_hash IS NULL;

--@stage seal_risk_event
SELECT step_6_seal('risk_event');

--@stage seal_risk_event_index_drop autocommit
DROP INDEX CONCURRENTLY IF EXISTS step_6_unhashed_risk_event;

--@stage not_null_checks
-- One CHECK per table over its hash columns, NOT VALID (an instant); a NULL left aborts here,
-- naming table.column and the count.
DO $$
DECLARE
    c       record;
    counts  bigint[];
    missing text[] := '{}';
BEGIN
    FOR c IN SELECT * FROM (VALUES
        (1, 'regime_output_v2', ARRAY['row_hash']), (2, 'model_prediction_v2', ARRAY['row_hash']),
        (3, 'meta_learner_component_v2', ARRAY['row_hash']), (4, 'trade_signal_v2', ARRAY['row_hash']),
        (5, 'order_request_v2', ARRAY['parent_signal_hash', 'row_hash']),
        (6, 'order_fill_v2', ARRAY['parent_order_hash', 'row_hash']),
        (7, 'position_lot_v2', ARRAY['parent_fill_hash', 'row_hash']),
        (8, 'executed_trade_v2', ARRAY['parent_fill_hash', 'parent_lot_hash', 'row_hash']),
        (9, 'cash_ledger_v2', ARRAY['prev_hash', 'row_hash']),
        (10, 'risk_event_v2', ARRAY['parent_state_hash', 'row_hash'])) AS v(ord, tbl, cols)
        ORDER BY ord
    LOOP
        IF (SELECT bool_and(attnotnull) FROM pg_attribute
             WHERE attrelid = c.tbl::regclass AND attname = ANY (c.cols)) THEN
            CONTINUE;
        END IF;
        EXECUTE format('SELECT ARRAY[%s]::bigint[] FROM %I',
                       (SELECT string_agg(format('count(*) FILTER (WHERE %I IS NULL)', col), ', ' ORDER BY n)
                          FROM unnest(c.cols) WITH ORDINALITY AS u(col, n)),
                       c.tbl)
            INTO counts;
        FOR i IN 1 .. cardinality(c.cols) LOOP
            IF counts[i] > 0 THEN
                missing := missing || format('%s.%s: %s rows', c.tbl, c.cols[i], counts[i]);
            END IF;
        END LOOP;
        IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = c.tbl::regclass AND conname = 'ck_' || c.tbl || '_hashes_nn') THEN
            EXECUTE format('ALTER TABLE %I ADD CONSTRAINT %I CHECK (%s) NOT VALID', c.tbl, 'ck_' || c.tbl || '_hashes_nn',
                           (SELECT string_agg(format('%I IS NOT NULL', col), ' AND ') FROM unnest(c.cols) AS col));
        END IF;
    END LOOP;
    IF cardinality(missing) > 0 THEN
        RAISE EXCEPTION 'STEP_6_M9_HASH_ADDITIONS: hashes could not be derived (missing parent row or ledger_seq gap): %',
            array_to_string(missing, '; ');
    END IF;
END $$;

--@stage not_null_validate
DO $$
DECLARE
    c record;
BEGIN
    FOR c IN SELECT conrelid::regclass::text AS tbl, conname FROM pg_constraint
              WHERE conname LIKE 'ck\_%\_v2\_hashes\_nn' AND NOT convalidated ORDER BY 1
    LOOP
        EXECUTE format('ALTER TABLE %s VALIDATE CONSTRAINT %I', c.tbl, c.conname);
    END LOOP;
END $$;

--@stage not_null_set
-- SET NOT NULL trusts the validated CHECKs (no scan), then the CHECKs go.
DO $$
DECLARE
    c record;
BEGIN
    FOR c IN SELECT * FROM (VALUES
        ('regime_output_v2', ARRAY['row_hash']), ('model_prediction_v2', ARRAY['row_hash']),
        ('meta_learner_component_v2', ARRAY['row_hash']), ('trade_signal_v2', ARRAY['row_hash']),
        ('order_request_v2', ARRAY['parent_signal_hash', 'row_hash']),
        ('order_fill_v2', ARRAY['parent_order_hash', 'row_hash']),
        ('position_lot_v2', ARRAY['parent_fill_hash', 'row_hash']),
        ('executed_trade_v2', ARRAY['parent_fill_hash', 'parent_lot_hash', 'row_hash']),
        ('cash_ledger_v2', ARRAY['prev_hash', 'row_hash']),
        ('risk_event_v2', ARRAY['parent_state_hash', 'row_hash'])) AS v(tbl, cols)
    LOOP
        EXECUTE format('ALTER TABLE %I %s', c.tbl,
                       (SELECT string_agg(format('ALTER COLUMN %I SET NOT NULL', col), ', ') FROM unnest(c.cols) AS col));
        EXECUTE format('ALTER TABLE %I DROP CONSTRAINT IF EXISTS %I', c.tbl, 'ck_' || c.tbl || '_hashes_nn');
    END LOOP;
END $$;

--@stage risk_event_binding
SET CONSTRAINTS ALL IMMEDIATE;
-- A risk event is bound to its risk state's identity row (regular table to regular table).
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_constraint
                   WHERE conrelid = 'risk_event_v2'::regclass AND conname = 'fk_risk_event_v2_risk_identity') THEN
        ALTER TABLE risk_event_v2
            ADD CONSTRAINT fk_risk_event_v2_risk_identity FOREIGN KEY (account_id, hour_ts, parent_state_hash)
            REFERENCES risk_hourly_state_identity (account_id, hour_ts, state_hash)
            DEFERRABLE INITIALLY DEFERRED NOT VALID;
    END IF;
END $$;

DROP TRIGGER IF EXISTS ctrg_risk_event_v2_parent_state_hash ON risk_event_v2;
CREATE CONSTRAINT TRIGGER ctrg_risk_event_v2_parent_state_hash
    AFTER INSERT OR UPDATE ON risk_event_v2
    DEFERRABLE INITIALLY IMMEDIATE
    FOR EACH ROW EXECUTE FUNCTION risk_event_parent_state_hash();

--@stage risk_event_binding_validate
ALTER TABLE risk_event_v2 VALIDATE CONSTRAINT fk_risk_event_v2_risk_identity;

--@stage spot_check
-- Spot check: the expressions above are the canon. For the first rows (in key order) of every
-- table, the stored hashes must equal what the `<table>_row_hash` functions compute from the
-- stored columns; a mismatch means this file and phase_1a/002_hash_functions.sql disagree.
DO $$
DECLARE
    c   record;
    bad bigint;
BEGIN
    FOR c IN SELECT * FROM (VALUES
        ('regime_output_v2', 'regime_output_id',
         'regime_output_row_hash(regime_output_id, model_id, hour_ts, regime, score)'),
        ('model_prediction_v2', 'prediction_id',
         'model_prediction_row_hash(prediction_id, model_id, instrument_id, hour_ts, feature_hour_ts, feature_hash, score)'),
        ('meta_learner_component_v2', 'meta_prediction_id, base_prediction_id',
         'meta_learner_component_row_hash(meta_prediction_id, base_prediction_id, weight)'),
        ('trade_signal_v2', 'signal_id',
         'trade_signal_row_hash(signal_id, account_id, instrument_id, hour_ts, prediction_id, regime_output_id, target_weight)'),
        ('order_request_v2', 'order_id',
         'order_request_row_hash(order_id, account_id, signal_id, instrument_id, side, quantity, reference_price, '
         'requested_ts, risk_hour_ts, parent_signal_hash, risk_state_hash)'),
        ('order_fill_v2', 'fill_id',
         'order_fill_row_hash(fill_id, account_id, order_id, instrument_id, side, fill_ts, fill_qty, '
         'reference_price, fill_price, fee, slippage_cost, parent_order_hash)'),
        ('position_lot_v2', 'lot_id',
         'position_lot_row_hash(lot_id, account_id, instrument_id, opening_fill_id, opened_ts, original_qty, '
         'cost_basis, parent_fill_hash)'),
        ('executed_trade_v2', 'executed_trade_id',
         'executed_trade_row_hash(executed_trade_id, account_id, instrument_id, lot_id, sell_fill_id, executed_ts, '
         'quantity, proceeds, cost_basis, realized_pnl, parent_fill_hash, parent_lot_hash)'),
        ('cash_ledger_v2', 'account_id, ledger_seq',
         'cash_ledger_row_hash(account_id, ledger_seq, entry_ts, entry_type, amount, balance_after, fill_id, prev_hash)'),
        ('risk_event_v2', 'risk_event_id',
         'risk_event_row_hash(risk_event_id, account_id, hour_ts, event_type, from_state, to_state, drawdown, '
         'parent_state_hash)')) AS v(tbl, key, fn)
    LOOP
        EXECUTE format('SELECT count(*) FROM (SELECT row_hash, %s AS canon FROM %I ORDER BY %s LIMIT 8) s
                         WHERE row_hash IS NOT NULL AND row_hash <> canon', c.fn, c.tbl, c.key)
            INTO bad;
        IF bad > 0 THEN
            RAISE EXCEPTION 'STEP_6_M9_HASH_ADDITIONS: backfilled %.row_hash differs from %: the inline canon drifted',
                c.tbl, split_part(c.fn, '(', 1);
        END IF;
    END LOOP;
END $$;

SELECT set_config('migrations.step_notes',
    format('Parent-hash triggers + required hash columns added (17 hash columns backfilled and NOT NULL; hashed in batches: %s rows in %s batches over %s tables)',
           coalesce(sum(rows_done), 0), coalesce(sum(batches), 0), count(*)), true)
  FROM migration_backfill_progress WHERE task LIKE 'step\_6:%';
