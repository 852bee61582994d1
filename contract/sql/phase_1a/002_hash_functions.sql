-- Phase 1A: the hash canon as SQL functions (CONTRACT.md section 1).
--
-- A hash is the lower-case hex SHA-256 of a canonical UTF-8 text: the documented fields joined
-- by '|', numerics at column scale (every hashed numeric column is numeric(20,8), so '1.50000000'),
-- timestamps as YYYY-MM-DDTHH:MM:SS.ffffffZ in UTC, NULL as \N, bigint as decimal, text as is.
-- Production computed the hypertables' state hashes with these functions; Phase 1B/1C reuse them
-- for the row hashes of the contract tables, and the Rust side (generators::hash) pins shared
-- test vectors so the two implementations cannot drift apart.
--
-- All functions are IMMUTABLE: to_char with the fixed pattern below uses no locale-dependent
-- fields, and the time zone is fixed to UTC, so the result never depends on session settings.

-- sha256 hex of a text.
CREATE OR REPLACE FUNCTION hash_text(txt text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$ SELECT encode(sha256(convert_to(txt, 'UTF8')), 'hex') $$;

-- The canonical text of a timestamp (UTC, microseconds, 'Z'); NULL stays NULL (joined as \N).
CREATE OR REPLACE FUNCTION hash_ts(ts timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') $$;

-- The canonical text of a numeric(20,8) value. round(x, 8) pins the scale to 8 even for values
-- that did not come straight from a column (e.g. 0 computed in a trigger).
CREATE OR REPLACE FUNCTION hash_num(x numeric) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT round(x, 8)::text $$;

-- sha256 hex of the fields joined by '|', NULL fields rendered as \N.
CREATE OR REPLACE FUNCTION hash_fields(VARIADIC fields text[]) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT hash_text(array_to_string(fields, '|', '\N')) $$;

-- The ledger chain's genesis prev_hash: 64 '0' characters.
CREATE OR REPLACE FUNCTION genesis_hash() RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT repeat('0', 64) $$;

-- Hypertable state hashes ----------------------------------------------------------------------

-- feature_hash = H(instrument_id|hour_ts|close_price|features::text)
CREATE OR REPLACE FUNCTION feature_snapshot_hash(
    instrument_id bigint, hour_ts timestamptz, close_price numeric, features jsonb
) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT hash_fields(instrument_id::text, hash_ts(hour_ts), hash_num(close_price), features::text) $$;

-- position state_hash = H(account_id|instrument_id|hour_ts|quantity|mark_price|market_value)
CREATE OR REPLACE FUNCTION position_state_hash(
    account_id bigint, instrument_id bigint, hour_ts timestamptz,
    quantity numeric, mark_price numeric, market_value numeric
) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT hash_fields(account_id::text, instrument_id::text, hash_ts(hour_ts),
                         hash_num(quantity), hash_num(mark_price), hash_num(market_value)) $$;

-- portfolio state_hash = H(account_id|hour_ts|cash|market_value|equity|peak_equity)
CREATE OR REPLACE FUNCTION portfolio_state_hash(
    account_id bigint, hour_ts timestamptz,
    cash numeric, market_value numeric, equity numeric, peak_equity numeric
) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT hash_fields(account_id::text, hash_ts(hour_ts), hash_num(cash), hash_num(market_value),
                         hash_num(equity), hash_num(peak_equity)) $$;

-- risk state_hash = H(account_id|hour_ts|gross_exposure|drawdown|trading_state|parent_portfolio_hash)
CREATE OR REPLACE FUNCTION risk_state_hash(
    account_id bigint, hour_ts timestamptz, gross_exposure numeric, drawdown numeric,
    trading_state text, parent_portfolio_hash text
) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT hash_fields(account_id::text, hash_ts(hour_ts), hash_num(gross_exposure), hash_num(drawdown),
                         trading_state, parent_portfolio_hash) $$;

-- Event-table row hashes -----------------------------------------------------------------------
-- row_hash = H(every legacy column in table order, except the mutable progress columns
-- order_request.filled_quantity and position_lot.remaining_qty, then the parent-hash columns).

CREATE OR REPLACE FUNCTION regime_output_row_hash(
    regime_output_id bigint, model_id bigint, hour_ts timestamptz, regime text, score numeric
) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT hash_fields(regime_output_id::text, model_id::text, hash_ts(hour_ts), regime, hash_num(score)) $$;

CREATE OR REPLACE FUNCTION model_prediction_row_hash(
    prediction_id bigint, model_id bigint, instrument_id bigint, hour_ts timestamptz,
    feature_hour_ts timestamptz, feature_hash text, score numeric
) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT hash_fields(prediction_id::text, model_id::text, instrument_id::text, hash_ts(hour_ts),
                         hash_ts(feature_hour_ts), feature_hash, hash_num(score)) $$;

CREATE OR REPLACE FUNCTION meta_learner_component_row_hash(
    meta_prediction_id bigint, base_prediction_id bigint, weight numeric
) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT hash_fields(meta_prediction_id::text, base_prediction_id::text, hash_num(weight)) $$;

CREATE OR REPLACE FUNCTION trade_signal_row_hash(
    signal_id bigint, account_id bigint, instrument_id bigint, hour_ts timestamptz,
    prediction_id bigint, regime_output_id bigint, target_weight numeric
) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT hash_fields(signal_id::text, account_id::text, instrument_id::text, hash_ts(hour_ts),
                         prediction_id::text, regime_output_id::text, hash_num(target_weight)) $$;

-- filled_quantity (mutable progress) is excluded.
CREATE OR REPLACE FUNCTION order_request_row_hash(
    order_id bigint, account_id bigint, signal_id bigint, instrument_id bigint, side text,
    quantity numeric, reference_price numeric, requested_ts timestamptz, risk_hour_ts timestamptz,
    parent_signal_hash text, risk_state_hash text
) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT hash_fields(order_id::text, account_id::text, signal_id::text, instrument_id::text, side,
                         hash_num(quantity), hash_num(reference_price), hash_ts(requested_ts),
                         hash_ts(risk_hour_ts), parent_signal_hash, risk_state_hash) $$;

CREATE OR REPLACE FUNCTION order_fill_row_hash(
    fill_id bigint, account_id bigint, order_id bigint, instrument_id bigint, side text,
    fill_ts timestamptz, fill_qty numeric, reference_price numeric, fill_price numeric,
    fee numeric, slippage_cost numeric, parent_order_hash text
) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT hash_fields(fill_id::text, account_id::text, order_id::text, instrument_id::text, side,
                         hash_ts(fill_ts), hash_num(fill_qty), hash_num(reference_price),
                         hash_num(fill_price), hash_num(fee), hash_num(slippage_cost),
                         parent_order_hash) $$;

-- remaining_qty (mutable progress) is excluded.
CREATE OR REPLACE FUNCTION position_lot_row_hash(
    lot_id bigint, account_id bigint, instrument_id bigint, opening_fill_id bigint,
    opened_ts timestamptz, original_qty numeric, cost_basis numeric, parent_fill_hash text
) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT hash_fields(lot_id::text, account_id::text, instrument_id::text, opening_fill_id::text,
                         hash_ts(opened_ts), hash_num(original_qty), hash_num(cost_basis),
                         parent_fill_hash) $$;

CREATE OR REPLACE FUNCTION executed_trade_row_hash(
    executed_trade_id bigint, account_id bigint, instrument_id bigint, lot_id bigint,
    sell_fill_id bigint, executed_ts timestamptz, quantity numeric, proceeds numeric,
    cost_basis numeric, realized_pnl numeric, parent_fill_hash text, parent_lot_hash text
) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT hash_fields(executed_trade_id::text, account_id::text, instrument_id::text, lot_id::text,
                         sell_fill_id::text, hash_ts(executed_ts), hash_num(quantity),
                         hash_num(proceeds), hash_num(cost_basis), hash_num(realized_pnl),
                         parent_fill_hash, parent_lot_hash) $$;

CREATE OR REPLACE FUNCTION cash_ledger_row_hash(
    account_id bigint, ledger_seq bigint, entry_ts timestamptz, entry_type text, amount numeric,
    balance_after numeric, fill_id bigint, prev_hash text
) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT hash_fields(account_id::text, ledger_seq::text, hash_ts(entry_ts), entry_type,
                         hash_num(amount), hash_num(balance_after), fill_id::text, prev_hash) $$;

CREATE OR REPLACE FUNCTION risk_event_row_hash(
    risk_event_id bigint, account_id bigint, hour_ts timestamptz, event_type text,
    from_state text, to_state text, drawdown numeric, parent_state_hash text
) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT hash_fields(risk_event_id::text, account_id::text, hash_ts(hour_ts), event_type,
                         from_state, to_state, hash_num(drawdown), parent_state_hash) $$;
