-- STEP_6_M9_HASH_ADDITIONS: hash columns, backfilled in dependency order, then NOT NULL, then
-- triggers that keep every future write hashed and chained.
--
-- Columns (hash canon: CONTRACT.md section 1 and sql/phase_1a/002_hash_functions.sql):
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
-- Idempotent: the triggers are dropped first and recreated last, backfills only touch rows
-- whose stored hash differs from the computed one.

-- Deferred constraints (the identity-table FKs and source-exists triggers) are checked at the
-- end of each statement in this step: DDL below refuses to run on a table with pending
-- deferred trigger events, and an error should name the statement that caused it.
SET CONSTRAINTS ALL IMMEDIATE;

DROP TRIGGER IF EXISTS trg_regime_output_v2_hashes ON regime_output_v2;
DROP TRIGGER IF EXISTS trg_model_prediction_v2_hashes ON model_prediction_v2;
DROP TRIGGER IF EXISTS trg_meta_learner_component_v2_hashes ON meta_learner_component_v2;
DROP TRIGGER IF EXISTS trg_trade_signal_v2_hashes ON trade_signal_v2;
DROP TRIGGER IF EXISTS trg_order_request_v2_hashes ON order_request_v2;
DROP TRIGGER IF EXISTS trg_order_fill_v2_hashes ON order_fill_v2;
DROP TRIGGER IF EXISTS trg_position_lot_v2_hashes ON position_lot_v2;
DROP TRIGGER IF EXISTS trg_executed_trade_v2_hashes ON executed_trade_v2;
DROP TRIGGER IF EXISTS trg_cash_ledger_v2_hashes ON cash_ledger_v2;
DROP TRIGGER IF EXISTS trg_risk_event_v2_hashes ON risk_event_v2;
DROP TRIGGER IF EXISTS ctrg_risk_event_v2_parent_state_hash ON risk_event_v2;

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

-- Backfill, parents before children -------------------------------------------------------------
-- Filling the new hash columns is the one UPDATE the append-only tables ever get: their
-- append-only triggers are suspended for it inside this transaction (the ALTER's lock keeps
-- every other writer out until commit) and re-enabled below.
--
-- Speed: each table is rewritten ONCE (its parent hashes and its row_hash in the same UPDATE,
-- with its secondary indexes dropped meanwhile and rebuilt afterwards),
-- and the hashes are computed by the canon written out as one plain expression per table:
--   H(f1, ..., fn) = encode(sha256(convert_to(array_to_string(ARRAY[f1, ..., fn], '|', '\N'), 'UTF8')), 'hex')
--   with timestamps as to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
--   numerics as round(x, 8)::text and bigints as ::text,
-- which is the body of the `<table>_row_hash` functions of phase_1a/002_hash_functions.sql with
-- hash_fields/hash_ts/hash_num expanded. Those functions cannot be inlined by the planner
-- (declared IMMUTABLE, their bodies call the STABLE to_char / array_to_string), so calling them
-- costs one SQL-function execution per field per row: 4x slower than the expression. The
-- spot check after the backfill compares both on real rows, so the two cannot drift apart.
-- Parents are joined, not looked up per row; the composite foreign keys of Phase 1B guarantee
-- every order has its signal, every fill its order, every lot its opening fill and every
-- executed trade its sell fill and lot, so the joins miss no row. `x IS NULL OR x <> computed`
-- is `x IS DISTINCT FROM computed` for a computed hash (never NULL) that is only evaluated once
-- on a fresh run.
SET LOCAL jit = off;        -- compiling these one-off statements costs more than it saves
SET LOCAL work_mem = '64MB';

ALTER TABLE order_fill_v2  DISABLE TRIGGER trg_order_fill_append_only;
ALTER TABLE cash_ledger_v2 DISABLE TRIGGER trg_cash_ledger_append_only;
ALTER TABLE risk_event_v2  DISABLE TRIGGER trg_risk_event_append_only;

-- The secondary indexes (non-unique, backing no constraint: no key, FK or ON CONFLICT needs
-- them) are dropped for the backfill and rebuilt below from their exact definitions: every
-- row gets a new version, and one sorted build per index is far cheaper than one index insert
-- per updated row. The primary and unique keys stay (foreign keys reference them).
DO $$
DECLARE
    names text[];
    defs  text[];
    n     text;
BEGIN
    SELECT coalesce(array_agg(i.indexrelid::regclass::text ORDER BY i.indexrelid::regclass::text), '{}'),
           coalesce(array_agg(pg_get_indexdef(i.indexrelid) ORDER BY i.indexrelid::regclass::text), '{}')
      INTO names, defs
      FROM pg_index i
     WHERE i.indrelid IN ('regime_output_v2'::regclass, 'model_prediction_v2'::regclass,
                          'meta_learner_component_v2'::regclass, 'trade_signal_v2'::regclass,
                          'order_request_v2'::regclass, 'order_fill_v2'::regclass,
                          'position_lot_v2'::regclass, 'executed_trade_v2'::regclass,
                          'cash_ledger_v2'::regclass, 'risk_event_v2'::regclass)
       AND NOT i.indisunique
       AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid);
    PERFORM set_config('migrations.step_6_secondary_indexes', array_to_json(defs)::text, true);
    FOREACH n IN ARRAY names LOOP
        EXECUTE format('DROP INDEX %s', n);
    END LOOP;
END $$;

-- regime_output_row_hash
UPDATE regime_output_v2 t
   SET row_hash = encode(sha256(convert_to(array_to_string(ARRAY[
           t.regime_output_id::text, t.model_id::text,
           to_char(t.hour_ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), t.regime,
           round(t.score, 8)::text], '|', '\N'), 'UTF8')), 'hex')
 WHERE t.row_hash IS NULL
    OR t.row_hash <> encode(sha256(convert_to(array_to_string(ARRAY[
           t.regime_output_id::text, t.model_id::text,
           to_char(t.hour_ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), t.regime,
           round(t.score, 8)::text], '|', '\N'), 'UTF8')), 'hex');

-- model_prediction_row_hash
UPDATE model_prediction_v2 t
   SET row_hash = encode(sha256(convert_to(array_to_string(ARRAY[
           t.prediction_id::text, t.model_id::text, t.instrument_id::text,
           to_char(t.hour_ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
           to_char(t.feature_hour_ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
           t.feature_hash, round(t.score, 8)::text], '|', '\N'), 'UTF8')), 'hex')
 WHERE t.row_hash IS NULL
    OR t.row_hash <> encode(sha256(convert_to(array_to_string(ARRAY[
           t.prediction_id::text, t.model_id::text, t.instrument_id::text,
           to_char(t.hour_ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
           to_char(t.feature_hour_ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
           t.feature_hash, round(t.score, 8)::text], '|', '\N'), 'UTF8')), 'hex');

-- meta_learner_component_row_hash
UPDATE meta_learner_component_v2 t
   SET row_hash = encode(sha256(convert_to(array_to_string(ARRAY[
           t.meta_prediction_id::text, t.base_prediction_id::text, round(t.weight, 8)::text],
           '|', '\N'), 'UTF8')), 'hex')
 WHERE t.row_hash IS NULL
    OR t.row_hash <> encode(sha256(convert_to(array_to_string(ARRAY[
           t.meta_prediction_id::text, t.base_prediction_id::text, round(t.weight, 8)::text],
           '|', '\N'), 'UTF8')), 'hex');

-- trade_signal_row_hash
UPDATE trade_signal_v2 t
   SET row_hash = encode(sha256(convert_to(array_to_string(ARRAY[
           t.signal_id::text, t.account_id::text, t.instrument_id::text,
           to_char(t.hour_ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
           t.prediction_id::text, t.regime_output_id::text, round(t.target_weight, 8)::text],
           '|', '\N'), 'UTF8')), 'hex')
 WHERE t.row_hash IS NULL
    OR t.row_hash <> encode(sha256(convert_to(array_to_string(ARRAY[
           t.signal_id::text, t.account_id::text, t.instrument_id::text,
           to_char(t.hour_ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
           t.prediction_id::text, t.regime_output_id::text, round(t.target_weight, 8)::text],
           '|', '\N'), 'UTF8')), 'hex');

-- order_request: parent_signal_hash = the signal's row_hash; order_request_row_hash
-- (filled_quantity, mutable progress, is not hashed).
UPDATE order_request_v2 t
   SET parent_signal_hash = s.row_hash,
       row_hash = encode(sha256(convert_to(array_to_string(ARRAY[
           t.order_id::text, t.account_id::text, t.signal_id::text, t.instrument_id::text, t.side,
           round(t.quantity, 8)::text, round(t.reference_price, 8)::text,
           to_char(t.requested_ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
           to_char(t.risk_hour_ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
           s.row_hash, t.risk_state_hash], '|', '\N'), 'UTF8')), 'hex')
  FROM trade_signal_v2 s
 WHERE s.account_id = t.account_id AND s.signal_id = t.signal_id
   AND (t.parent_signal_hash IS DISTINCT FROM s.row_hash
        OR t.row_hash IS NULL
        OR t.row_hash <> encode(sha256(convert_to(array_to_string(ARRAY[
               t.order_id::text, t.account_id::text, t.signal_id::text, t.instrument_id::text, t.side,
               round(t.quantity, 8)::text, round(t.reference_price, 8)::text,
               to_char(t.requested_ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
               to_char(t.risk_hour_ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
               s.row_hash, t.risk_state_hash], '|', '\N'), 'UTF8')), 'hex'));

-- order_fill: parent_order_hash = the order's row_hash; order_fill_row_hash
UPDATE order_fill_v2 t
   SET parent_order_hash = o.row_hash,
       row_hash = encode(sha256(convert_to(array_to_string(ARRAY[
           t.fill_id::text, t.account_id::text, t.order_id::text, t.instrument_id::text, t.side,
           to_char(t.fill_ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
           round(t.fill_qty, 8)::text, round(t.reference_price, 8)::text, round(t.fill_price, 8)::text,
           round(t.fee, 8)::text, round(t.slippage_cost, 8)::text,
           o.row_hash], '|', '\N'), 'UTF8')), 'hex')
  FROM order_request_v2 o
 WHERE o.account_id = t.account_id AND o.order_id = t.order_id
   AND (t.parent_order_hash IS DISTINCT FROM o.row_hash
        OR t.row_hash IS NULL
        OR t.row_hash <> encode(sha256(convert_to(array_to_string(ARRAY[
               t.fill_id::text, t.account_id::text, t.order_id::text, t.instrument_id::text, t.side,
               to_char(t.fill_ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
               round(t.fill_qty, 8)::text, round(t.reference_price, 8)::text, round(t.fill_price, 8)::text,
               round(t.fee, 8)::text, round(t.slippage_cost, 8)::text,
               o.row_hash], '|', '\N'), 'UTF8')), 'hex'));

-- position_lot: parent_fill_hash = the opening fill's row_hash; position_lot_row_hash
-- (remaining_qty, mutable progress, is not hashed).
UPDATE position_lot_v2 t
   SET parent_fill_hash = f.row_hash,
       row_hash = encode(sha256(convert_to(array_to_string(ARRAY[
           t.lot_id::text, t.account_id::text, t.instrument_id::text, t.opening_fill_id::text,
           to_char(t.opened_ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
           round(t.original_qty, 8)::text, round(t.cost_basis, 8)::text,
           f.row_hash], '|', '\N'), 'UTF8')), 'hex')
  FROM order_fill_v2 f
 WHERE f.account_id = t.account_id AND f.fill_id = t.opening_fill_id
   AND (t.parent_fill_hash IS DISTINCT FROM f.row_hash
        OR t.row_hash IS NULL
        OR t.row_hash <> encode(sha256(convert_to(array_to_string(ARRAY[
               t.lot_id::text, t.account_id::text, t.instrument_id::text, t.opening_fill_id::text,
               to_char(t.opened_ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
               round(t.original_qty, 8)::text, round(t.cost_basis, 8)::text,
               f.row_hash], '|', '\N'), 'UTF8')), 'hex'));

-- executed_trade: parent_fill_hash = the sell fill's row_hash, parent_lot_hash = the lot's;
-- executed_trade_row_hash
UPDATE executed_trade_v2 t
   SET parent_fill_hash = f.row_hash, parent_lot_hash = l.row_hash,
       row_hash = encode(sha256(convert_to(array_to_string(ARRAY[
           t.executed_trade_id::text, t.account_id::text, t.instrument_id::text, t.lot_id::text,
           t.sell_fill_id::text, to_char(t.executed_ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
           round(t.quantity, 8)::text, round(t.proceeds, 8)::text, round(t.cost_basis, 8)::text,
           round(t.realized_pnl, 8)::text, f.row_hash, l.row_hash], '|', '\N'), 'UTF8')), 'hex')
  FROM order_fill_v2 f, position_lot_v2 l
 WHERE f.account_id = t.account_id AND f.fill_id = t.sell_fill_id
   AND l.account_id = t.account_id AND l.lot_id = t.lot_id
   AND (t.parent_fill_hash IS DISTINCT FROM f.row_hash
        OR t.parent_lot_hash IS DISTINCT FROM l.row_hash
        OR t.row_hash IS NULL
        OR t.row_hash <> encode(sha256(convert_to(array_to_string(ARRAY[
               t.executed_trade_id::text, t.account_id::text, t.instrument_id::text, t.lot_id::text,
               t.sell_fill_id::text, to_char(t.executed_ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
               round(t.quantity, 8)::text, round(t.proceeds, 8)::text, round(t.cost_basis, 8)::text,
               round(t.realized_pnl, 8)::text, f.row_hash, l.row_hash], '|', '\N'), 'UTF8')), 'hex'));

-- The ledger chain: each row's prev_hash is the previous row's row_hash, so it is computed in
-- ledger_seq order per account. A gap in ledger_seq stops the chain there; the rows after it
-- stay NULL and the NOT NULL check below names them.
-- One ordered pass (O(n)): a recursive CTE re-plans nothing per level and, on a table without
-- fresh statistics, scans the whole ledger once per ledger_seq (minutes at 100k fills). The
-- row's own fields are rendered set-based by the query (cash_ledger_row_hash without its last
-- field); the loop only appends the previous hash and hashes.
DO $$
DECLARE
    r         record;
    acct      bigint;
    expect    bigint;
    prev      text;
    accounts  bigint[] := '{}';
    seqs      bigint[] := '{}';
    prevs     text[]   := '{}';
    hashes    text[]   := '{}';
BEGIN
    FOR r IN
        SELECT account_id, ledger_seq,
               array_to_string(ARRAY[
                   account_id::text, ledger_seq::text,
                   to_char(entry_ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), entry_type,
                   round(amount, 8)::text, round(balance_after, 8)::text, fill_id::text], '|', '\N') AS fields
          FROM cash_ledger_v2 ORDER BY account_id, ledger_seq
    LOOP
        IF acct IS DISTINCT FROM r.account_id THEN
            acct := r.account_id;
            expect := 1;
            prev := genesis_hash();
        END IF;
        CONTINUE WHEN r.ledger_seq IS DISTINCT FROM expect;  -- past a gap: leave the rest NULL
        accounts := accounts || r.account_id;
        seqs     := seqs || r.ledger_seq;
        prevs    := prevs || prev;
        -- prev is never NULL here, so appending '|' || prev is the canon's last field.
        prev     := encode(sha256(convert_to(r.fields || '|' || prev, 'UTF8')), 'hex');
        hashes   := hashes || prev;
        expect   := expect + 1;
    END LOOP;
    UPDATE cash_ledger_v2 t SET prev_hash = c.prev_hash, row_hash = c.row_hash
      FROM unnest(accounts, seqs, prevs, hashes) AS c(account_id, ledger_seq, prev_hash, row_hash)
     WHERE c.account_id = t.account_id AND c.ledger_seq = t.ledger_seq
       AND (t.prev_hash IS DISTINCT FROM c.prev_hash OR t.row_hash IS DISTINCT FROM c.row_hash);
END $$;

-- risk_event: its risk state need not exist yet (no FK until below), so the parent hash is
-- filled where the state is found and the row_hash computed from whatever it holds, exactly
-- as risk_event_row_hash would (NULL as \N); the NOT NULL check then names the orphans.
UPDATE risk_event_v2 e SET parent_state_hash = i.state_hash
  FROM risk_hourly_state_identity i
 WHERE i.account_id = e.account_id AND i.hour_ts = e.hour_ts
   AND e.parent_state_hash IS DISTINCT FROM i.state_hash;
UPDATE risk_event_v2 t
   SET row_hash = encode(sha256(convert_to(array_to_string(ARRAY[
           t.risk_event_id::text, t.account_id::text,
           to_char(t.hour_ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), t.event_type,
           t.from_state, t.to_state, round(t.drawdown, 8)::text, t.parent_state_hash], '|', '\N'), 'UTF8')), 'hex')
 WHERE t.row_hash IS NULL
    OR t.row_hash <> encode(sha256(convert_to(array_to_string(ARRAY[
           t.risk_event_id::text, t.account_id::text,
           to_char(t.hour_ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), t.event_type,
           t.from_state, t.to_state, round(t.drawdown, 8)::text, t.parent_state_hash], '|', '\N'), 'UTF8')), 'hex');

ALTER TABLE order_fill_v2  ENABLE TRIGGER trg_order_fill_append_only;
ALTER TABLE cash_ledger_v2 ENABLE TRIGGER trg_cash_ledger_append_only;
ALTER TABLE risk_event_v2  ENABLE TRIGGER trg_risk_event_append_only;

-- The secondary indexes dropped above, rebuilt from their saved definitions.
DO $$
DECLARE
    def text;
BEGIN
    FOR def IN SELECT json_array_elements_text(current_setting('migrations.step_6_secondary_indexes')::json) LOOP
        EXECUTE def;
    END LOOP;
END $$;

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

-- Every required hash present, else abort naming the columns ---------------------------------------
-- One ALTER TABLE per table sets all its hash columns NOT NULL together, in one validating scan.
-- Only when that fails (a NULL somewhere) are the NULLs counted, per column, for the message.

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
        BEGIN
            EXECUTE format('ALTER TABLE %I %s', c.tbl,
                           (SELECT string_agg(format('ALTER COLUMN %I SET NOT NULL', col), ', ' ORDER BY n)
                              FROM unnest(c.cols) WITH ORDINALITY AS u(col, n)));
        EXCEPTION WHEN not_null_violation THEN
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
        END;
    END LOOP;
    IF cardinality(missing) > 0 THEN
        RAISE EXCEPTION 'STEP_6_M9_HASH_ADDITIONS: hashes could not be derived (missing parent row or ledger_seq gap): %',
            array_to_string(missing, '; ');
    END IF;
END $$;

-- A risk event is bound to its risk state's identity row (regular table to regular table).
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_constraint
                   WHERE conrelid = 'risk_event_v2'::regclass AND conname = 'fk_risk_event_v2_risk_identity') THEN
        ALTER TABLE risk_event_v2
            ADD CONSTRAINT fk_risk_event_v2_risk_identity FOREIGN KEY (account_id, hour_ts, parent_state_hash)
            REFERENCES risk_hourly_state_identity (account_id, hour_ts, state_hash)
            DEFERRABLE INITIALLY DEFERRED;
    END IF;
END $$;

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

CREATE TRIGGER trg_regime_output_v2_hashes BEFORE INSERT OR UPDATE ON regime_output_v2
    FOR EACH ROW EXECUTE FUNCTION regime_output_hashes();
CREATE TRIGGER trg_model_prediction_v2_hashes BEFORE INSERT OR UPDATE ON model_prediction_v2
    FOR EACH ROW EXECUTE FUNCTION model_prediction_hashes();
CREATE TRIGGER trg_meta_learner_component_v2_hashes BEFORE INSERT OR UPDATE ON meta_learner_component_v2
    FOR EACH ROW EXECUTE FUNCTION meta_learner_component_hashes();
CREATE TRIGGER trg_trade_signal_v2_hashes BEFORE INSERT OR UPDATE ON trade_signal_v2
    FOR EACH ROW EXECUTE FUNCTION trade_signal_hashes();
CREATE TRIGGER trg_order_request_v2_hashes BEFORE INSERT OR UPDATE ON order_request_v2
    FOR EACH ROW EXECUTE FUNCTION order_request_hashes();
CREATE TRIGGER trg_order_fill_v2_hashes BEFORE INSERT OR UPDATE ON order_fill_v2
    FOR EACH ROW EXECUTE FUNCTION order_fill_hashes();
CREATE TRIGGER trg_position_lot_v2_hashes BEFORE INSERT OR UPDATE ON position_lot_v2
    FOR EACH ROW EXECUTE FUNCTION position_lot_hashes();
CREATE TRIGGER trg_executed_trade_v2_hashes BEFORE INSERT OR UPDATE ON executed_trade_v2
    FOR EACH ROW EXECUTE FUNCTION executed_trade_hashes();
CREATE TRIGGER trg_cash_ledger_v2_hashes BEFORE INSERT OR UPDATE ON cash_ledger_v2
    FOR EACH ROW EXECUTE FUNCTION cash_ledger_hashes();
CREATE TRIGGER trg_risk_event_v2_hashes BEFORE INSERT OR UPDATE ON risk_event_v2
    FOR EACH ROW EXECUTE FUNCTION risk_event_hashes();

CREATE CONSTRAINT TRIGGER ctrg_risk_event_v2_parent_state_hash
    AFTER INSERT OR UPDATE ON risk_event_v2
    DEFERRABLE INITIALLY IMMEDIATE
    FOR EACH ROW EXECUTE FUNCTION risk_event_parent_state_hash();

SELECT set_config('migrations.step_notes',
    'Parent-hash triggers + required hash columns added (17 hash columns backfilled and NOT NULL)', true);
