-- Phase 1B (phase_1b_schema), part 2: the ten `*_v2` tables in contract shape.
--
-- Same columns, same order, same types as the Phase 1A canonical tables (Phase 1C adds the hash
-- columns in STEP_3 and STEP_6). What changes is the shape:
--   * NOT NULL everywhere a fact is mandatory, CHECKs on value domains (sides, entry types,
--     trading states, positive quantities, whole hours);
--   * every account-owned table has a composite key (account_id, id), and every reference
--     between account-owned rows goes through it, so a fill can only name an order of its own
--     account, a lot only its own account's fill, and so on: isolation is structural;
--   * foreign keys only between regular tables. Hypertables are referenced by value
--     (risk_hour_ts, feature_hour_ts + feature_hash), never by a foreign key.
-- Cross-row rules (FIFO, fee and slippage formulas, ledger continuity, walk-forward) are not
-- expressible as constraints; the STEP_8 validation checks own them.
--
-- Here: columns, keys (the primary and unique keys, which also arbitrate the backfill's ON
-- CONFLICT) and CHECKs. The secondary indexes and the foreign keys (model, instrument and
-- account references, and the composite account-scoped ones: order -> signal, fill -> order,
-- lot -> opening fill, executed trade -> lot and sell fill, ledger entry -> fill) come after
-- the backfill (005_keys.sql): an index built once over the filled table, and a foreign key
-- validated by one scan over it, cost far less than maintaining and checking them row by row
-- for every backfilled row, and while the backfill runs in batches a dual-written row may name
-- a parent the backfill has not reached yet. Idempotent (IF NOT EXISTS, OR REPLACE).

--@stage tables

-- Whole UTC hour: the same test in every session time zone.
CREATE OR REPLACE FUNCTION is_whole_hour(ts timestamptz) RETURNS boolean
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$ SELECT (ts AT TIME ZONE 'UTC') = date_trunc('hour', ts AT TIME ZONE 'UTC') $$;

-- The hour an order is bound to: the hour before the one it was requested in.
CREATE OR REPLACE FUNCTION bound_risk_hour(requested_ts timestamptz) RETURNS timestamptz
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$ SELECT (date_trunc('hour', requested_ts AT TIME ZONE 'UTC') - interval '1 hour') AT TIME ZONE 'UTC' $$;

CREATE TABLE IF NOT EXISTS regime_output_v2 (
    regime_output_id bigint        PRIMARY KEY,
    model_id         bigint        NOT NULL,
    hour_ts          timestamptz   NOT NULL CHECK (is_whole_hour(hour_ts)),
    regime           text          NOT NULL CHECK (regime <> ''),
    score            numeric(20,8) NOT NULL
);

CREATE TABLE IF NOT EXISTS model_prediction_v2 (
    prediction_id   bigint        PRIMARY KEY,
    model_id        bigint        NOT NULL,
    instrument_id   bigint        NOT NULL,
    hour_ts         timestamptz   NOT NULL CHECK (is_whole_hour(hour_ts)),
    -- Walk-forward link to feature_snapshot (a hypertable): by value and hash, never a FK.
    feature_hour_ts timestamptz   NOT NULL CHECK (is_whole_hour(feature_hour_ts)),
    feature_hash    text          NOT NULL,
    score           numeric(20,8) NOT NULL
);

CREATE TABLE IF NOT EXISTS meta_learner_component_v2 (
    meta_prediction_id bigint        NOT NULL,
    base_prediction_id bigint        NOT NULL,
    weight             numeric(20,8) NOT NULL,
    PRIMARY KEY (meta_prediction_id, base_prediction_id),
    CHECK (meta_prediction_id <> base_prediction_id)
);

CREATE TABLE IF NOT EXISTS trade_signal_v2 (
    signal_id        bigint        PRIMARY KEY,
    account_id       bigint        NOT NULL,
    instrument_id    bigint        NOT NULL,
    hour_ts          timestamptz   NOT NULL CHECK (is_whole_hour(hour_ts)),
    prediction_id    bigint        NOT NULL,
    regime_output_id bigint        NOT NULL,
    target_weight    numeric(20,8) NOT NULL CHECK (target_weight >= 0),
    CONSTRAINT uq_trade_signal_v2_account UNIQUE (account_id, signal_id)
);

CREATE TABLE IF NOT EXISTS order_request_v2 (
    order_id        bigint        PRIMARY KEY,
    account_id      bigint        NOT NULL,
    signal_id       bigint        NOT NULL,
    instrument_id   bigint        NOT NULL,
    side            text          NOT NULL CHECK (side IN ('BUY', 'SELL')),
    quantity        numeric(20,8) NOT NULL CHECK (quantity > 0),
    reference_price numeric(20,8) NOT NULL CHECK (reference_price > 0),
    requested_ts    timestamptz   NOT NULL,
    risk_hour_ts    timestamptz   NOT NULL,
    filled_quantity numeric(20,8) NOT NULL CHECK (filled_quantity >= 0 AND filled_quantity <= quantity),
    CONSTRAINT uq_order_request_v2_account UNIQUE (account_id, order_id),
    CONSTRAINT ck_order_request_v2_bound_hour CHECK (risk_hour_ts = bound_risk_hour(requested_ts))
);

CREATE TABLE IF NOT EXISTS order_fill_v2 (
    fill_id         bigint        PRIMARY KEY,
    account_id      bigint        NOT NULL,
    order_id        bigint        NOT NULL,
    instrument_id   bigint        NOT NULL,
    side            text          NOT NULL CHECK (side IN ('BUY', 'SELL')),
    fill_ts         timestamptz   NOT NULL,
    fill_qty        numeric(20,8) NOT NULL CHECK (fill_qty > 0),
    reference_price numeric(20,8) NOT NULL CHECK (reference_price > 0),
    fill_price      numeric(20,8) NOT NULL CHECK (fill_price > 0),
    fee             numeric(20,8) NOT NULL CHECK (fee >= 0),
    slippage_cost   numeric(20,8) NOT NULL,
    CONSTRAINT uq_order_fill_v2_account UNIQUE (account_id, fill_id)
);

CREATE TABLE IF NOT EXISTS position_lot_v2 (
    lot_id          bigint        PRIMARY KEY,
    account_id      bigint        NOT NULL,
    instrument_id   bigint        NOT NULL,
    opening_fill_id bigint        NOT NULL,
    opened_ts       timestamptz   NOT NULL,
    original_qty    numeric(20,8) NOT NULL CHECK (original_qty > 0),
    remaining_qty   numeric(20,8) NOT NULL CHECK (remaining_qty >= 0 AND remaining_qty <= original_qty),
    cost_basis      numeric(20,8) NOT NULL CHECK (cost_basis >= 0),
    CONSTRAINT uq_position_lot_v2_account UNIQUE (account_id, lot_id),
    -- A BUY fill opens exactly one lot.
    CONSTRAINT uq_position_lot_v2_opening_fill UNIQUE (opening_fill_id)
);

CREATE TABLE IF NOT EXISTS executed_trade_v2 (
    executed_trade_id bigint        PRIMARY KEY,
    account_id        bigint        NOT NULL,
    instrument_id     bigint        NOT NULL,
    lot_id            bigint        NOT NULL,
    sell_fill_id      bigint        NOT NULL,
    executed_ts       timestamptz   NOT NULL,
    quantity          numeric(20,8) NOT NULL CHECK (quantity > 0),
    proceeds          numeric(20,8) NOT NULL CHECK (proceeds >= 0),
    cost_basis        numeric(20,8) NOT NULL CHECK (cost_basis >= 0),
    realized_pnl      numeric(20,8) NOT NULL,
    CONSTRAINT uq_executed_trade_v2_fill_lot UNIQUE (sell_fill_id, lot_id),
    CONSTRAINT ck_executed_trade_v2_pnl CHECK (realized_pnl = proceeds - cost_basis)
);

CREATE TABLE IF NOT EXISTS cash_ledger_v2 (
    account_id    bigint        NOT NULL,
    ledger_seq    bigint        NOT NULL CHECK (ledger_seq >= 1),
    entry_ts      timestamptz   NOT NULL,
    entry_type    text          NOT NULL CHECK (entry_type IN ('DEPOSIT', 'WITHDRAWAL', 'TRADE', 'FEE')),
    amount        numeric(20,8) NOT NULL,
    balance_after numeric(20,8) NOT NULL,
    fill_id       bigint,
    PRIMARY KEY (account_id, ledger_seq),
    -- TRADE and FEE entries belong to a fill; deposits and withdrawals never do.
    CONSTRAINT ck_cash_ledger_v2_fill_link CHECK ((fill_id IS NOT NULL) = (entry_type IN ('TRADE', 'FEE'))),
    CONSTRAINT ck_cash_ledger_v2_amount_sign CHECK (
        (entry_type = 'DEPOSIT' AND amount > 0) OR (entry_type = 'WITHDRAWAL' AND amount < 0)
        OR (entry_type = 'FEE' AND amount <= 0) OR entry_type = 'TRADE')
);

CREATE TABLE IF NOT EXISTS risk_event_v2 (
    risk_event_id bigint        PRIMARY KEY,
    account_id    bigint        NOT NULL,
    hour_ts       timestamptz   NOT NULL CHECK (is_whole_hour(hour_ts)),
    event_type    text          NOT NULL CHECK (event_type = 'TRADING_STATE_CHANGE'),
    from_state    text          NOT NULL CHECK (from_state IN ('NORMAL', 'REDUCE_ONLY', 'HALTED')),
    to_state      text          NOT NULL CHECK (to_state IN ('NORMAL', 'REDUCE_ONLY', 'HALTED')),
    drawdown      numeric(20,8) NOT NULL,
    CONSTRAINT uq_risk_event_v2_account_hour UNIQUE (account_id, hour_ts),
    CHECK (from_state <> to_state)
);

-- Append-only from birth: a fill, a ledger entry and a risk event are facts, never edited. The
-- one UPDATE these rows may get is the hash backfill of STEP_6_M9_HASH_ADDITIONS, which fills
-- hash columns that were NULL and changes nothing else: the trigger lets exactly that through,
-- so it never has to be disabled (not even for a moment, while writers keep writing).
-- The same trigger names are re-applied on the canonical tables by STEP_7B after the cutover.
CREATE OR REPLACE FUNCTION reject_append_only_change() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    hash_columns text[] := ARRAY['row_hash', 'prev_hash', 'parent_order_hash', 'parent_state_hash',
                                 'parent_signal_hash', 'parent_fill_hash', 'parent_lot_hash'];
    old_row jsonb;
    new_row jsonb;
    c       text;
    filled  boolean := false;
BEGIN
    IF TG_OP = 'UPDATE' THEN
        old_row := to_jsonb(OLD);
        new_row := to_jsonb(NEW);
        IF (old_row - hash_columns) = (new_row - hash_columns) THEN
            FOREACH c IN ARRAY hash_columns LOOP
                IF old_row ? c AND old_row ->> c IS NOT NULL AND old_row -> c IS DISTINCT FROM new_row -> c THEN
                    RAISE EXCEPTION '% is append-only (%): UPDATE of its % rejected', TG_TABLE_NAME, TG_NAME, c
                        USING ERRCODE = 'integrity_constraint_violation';
                END IF;
                filled := filled OR (old_row ? c AND old_row ->> c IS NULL AND new_row ->> c IS NOT NULL);
            END LOOP;
            -- Only a hash fill passes; an UPDATE that fills nothing (even a no-op) is refused.
            IF filled THEN
                RETURN NEW;
            END IF;
        END IF;
    END IF;
    RAISE EXCEPTION '% is append-only (%): % rejected', TG_TABLE_NAME, TG_NAME, TG_OP
        USING ERRCODE = 'integrity_constraint_violation';
END $$;

--@stage append_only
DROP TRIGGER IF EXISTS trg_order_fill_append_only ON order_fill_v2;
CREATE TRIGGER trg_order_fill_append_only BEFORE UPDATE OR DELETE ON order_fill_v2
    FOR EACH ROW EXECUTE FUNCTION reject_append_only_change();
DROP TRIGGER IF EXISTS trg_cash_ledger_append_only ON cash_ledger_v2;
CREATE TRIGGER trg_cash_ledger_append_only BEFORE UPDATE OR DELETE ON cash_ledger_v2
    FOR EACH ROW EXECUTE FUNCTION reject_append_only_change();
DROP TRIGGER IF EXISTS trg_risk_event_append_only ON risk_event_v2;
CREATE TRIGGER trg_risk_event_append_only BEFORE UPDATE OR DELETE ON risk_event_v2
    FOR EACH ROW EXECUTE FUNCTION reject_append_only_change();

SELECT set_config('migrations.step_notes', '10 *_v2 tables in contract shape (keys, CHECKs, append-only triggers)', true);
