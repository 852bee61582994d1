-- Phase 1A: the baseline schema, as production had it before the contract migration.
--
-- Reference tables and the four hypertables keep their names forever. The ten canonical event
-- tables are in their *legacy* shape: the same columns (and so the same facts) as the Phase 1B
-- `*_v2` contract shape, but without hash columns and with weaker constraints (no composite
-- account keys, few CHECKs, mutable rows). Keeping the column names identical is deliberate:
-- Phase 1B backfills by name, and every validation check is one query over either table set.
--
-- Conventions (CONTRACT.md section 1): money/prices/quantities/weights numeric(20,8), basis
-- points numeric(10,4), timestamptz in UTC, `hour_ts` a whole hour.

CREATE EXTENSION IF NOT EXISTS timescaledb;

-- Reference tables ---------------------------------------------------------------------------

CREATE TABLE account (
    account_id   bigint PRIMARY KEY,
    account_name text   NOT NULL
);

-- The schedule in effect at time t is the row with the latest effective_from <= t.
CREATE TABLE fee_schedule (
    account_id     bigint        NOT NULL REFERENCES account (account_id),
    effective_from timestamptz   NOT NULL,
    fee_bps        numeric(10,4) NOT NULL CHECK (fee_bps >= 0),
    min_fee        numeric(20,8) NOT NULL CHECK (min_fee >= 0),
    PRIMARY KEY (account_id, effective_from)
);

CREATE TABLE instrument (
    instrument_id bigint        PRIMARY KEY,
    symbol        text          NOT NULL UNIQUE,
    slippage_bps  numeric(10,4) NOT NULL CHECK (slippage_bps >= 0)
);

CREATE TABLE cluster (
    cluster_id   bigint        PRIMARY KEY,
    cluster_name text          NOT NULL,
    cap_fraction numeric(20,8) NOT NULL CHECK (cap_fraction > 0 AND cap_fraction <= 1)
);

-- Each instrument sits in exactly one cluster.
CREATE TABLE instrument_cluster (
    instrument_id bigint PRIMARY KEY REFERENCES instrument (instrument_id),
    cluster_id    bigint NOT NULL REFERENCES cluster (cluster_id)
);

CREATE TABLE model_registry (
    model_id    bigint      PRIMARY KEY,
    model_kind  text        NOT NULL CHECK (model_kind IN ('BASE', 'META', 'REGIME')),
    train_start timestamptz NOT NULL,
    train_end   timestamptz NOT NULL,
    CHECK (train_start <= train_end)
);

-- Hypertables (partitioned on hour_ts; no foreign key may ever point at them) ----------------

CREATE TABLE feature_snapshot (
    instrument_id bigint        NOT NULL,
    hour_ts       timestamptz   NOT NULL,
    close_price   numeric(20,8) NOT NULL,
    features      jsonb         NOT NULL,
    feature_hash  text          NOT NULL,
    PRIMARY KEY (instrument_id, hour_ts)
);
SELECT create_hypertable('feature_snapshot', 'hour_ts', chunk_time_interval => interval '7 days');

CREATE TABLE position_hourly_state (
    account_id    bigint        NOT NULL,
    instrument_id bigint        NOT NULL,
    hour_ts       timestamptz   NOT NULL,
    quantity      numeric(20,8) NOT NULL,
    mark_price    numeric(20,8) NOT NULL,
    market_value  numeric(20,8) NOT NULL,
    state_hash    text          NOT NULL,
    PRIMARY KEY (account_id, instrument_id, hour_ts)
);
SELECT create_hypertable('position_hourly_state', 'hour_ts', chunk_time_interval => interval '7 days');

CREATE TABLE portfolio_hourly_state (
    account_id   bigint        NOT NULL,
    hour_ts      timestamptz   NOT NULL,
    cash         numeric(20,8) NOT NULL,
    market_value numeric(20,8) NOT NULL,
    equity       numeric(20,8) NOT NULL,
    peak_equity  numeric(20,8) NOT NULL,
    state_hash   text          NOT NULL,
    PRIMARY KEY (account_id, hour_ts)
);
SELECT create_hypertable('portfolio_hourly_state', 'hour_ts', chunk_time_interval => interval '7 days');

CREATE TABLE risk_hourly_state (
    account_id            bigint        NOT NULL,
    hour_ts               timestamptz   NOT NULL,
    gross_exposure        numeric(20,8) NOT NULL,
    drawdown              numeric(20,8) NOT NULL,
    trading_state         text          NOT NULL,
    state_hash            text          NOT NULL,
    parent_portfolio_hash text          NOT NULL,
    PRIMARY KEY (account_id, hour_ts)
);
SELECT create_hypertable('risk_hourly_state', 'hour_ts', chunk_time_interval => interval '7 days');

-- The ten canonical event tables, legacy shape ------------------------------------------------

-- A regime model's output for an hour (market-wide, not account-owned).
CREATE TABLE regime_output (
    regime_output_id bigint        PRIMARY KEY,
    model_id         bigint        NOT NULL REFERENCES model_registry (model_id),
    hour_ts          timestamptz   NOT NULL,
    regime           text          NOT NULL,
    score            numeric(20,8) NOT NULL
);

-- A BASE or META prediction for one instrument and hour, made from the feature snapshot at
-- (instrument_id, feature_hour_ts), linked by value and hash (never a FK to the hypertable).
CREATE TABLE model_prediction (
    prediction_id   bigint        PRIMARY KEY,
    model_id        bigint        NOT NULL REFERENCES model_registry (model_id),
    instrument_id   bigint        NOT NULL REFERENCES instrument (instrument_id),
    hour_ts         timestamptz   NOT NULL,
    feature_hour_ts timestamptz   NOT NULL,
    feature_hash    text          NOT NULL,
    score           numeric(20,8) NOT NULL
);

-- One BASE component of a META prediction; weights of one META prediction sum to 1.
CREATE TABLE meta_learner_component (
    meta_prediction_id bigint        NOT NULL REFERENCES model_prediction (prediction_id),
    base_prediction_id bigint        NOT NULL REFERENCES model_prediction (prediction_id),
    weight             numeric(20,8) NOT NULL,
    PRIMARY KEY (meta_prediction_id, base_prediction_id)
);

CREATE TABLE trade_signal (
    signal_id        bigint        PRIMARY KEY,
    account_id       bigint        NOT NULL REFERENCES account (account_id),
    instrument_id    bigint        NOT NULL REFERENCES instrument (instrument_id),
    hour_ts          timestamptz   NOT NULL,
    prediction_id    bigint        NOT NULL REFERENCES model_prediction (prediction_id),
    regime_output_id bigint        NOT NULL REFERENCES regime_output (regime_output_id),
    target_weight    numeric(20,8) NOT NULL
);

-- An order requested at requested_ts is bound to its account's risk state of hour
-- date_trunc('hour', requested_ts) - 1h, recorded in risk_hour_ts (by value: the risk state is
-- a hypertable row).
CREATE TABLE order_request (
    order_id        bigint        PRIMARY KEY,
    account_id      bigint        NOT NULL REFERENCES account (account_id),
    signal_id       bigint        NOT NULL REFERENCES trade_signal (signal_id),
    instrument_id   bigint        NOT NULL REFERENCES instrument (instrument_id),
    side            text          NOT NULL,
    quantity        numeric(20,8) NOT NULL,
    reference_price numeric(20,8) NOT NULL,
    requested_ts    timestamptz   NOT NULL,
    risk_hour_ts    timestamptz   NOT NULL,
    filled_quantity numeric(20,8) NOT NULL
);

CREATE TABLE order_fill (
    fill_id         bigint        PRIMARY KEY,
    account_id      bigint        NOT NULL,
    order_id        bigint        NOT NULL REFERENCES order_request (order_id),
    instrument_id   bigint        NOT NULL REFERENCES instrument (instrument_id),
    side            text          NOT NULL,
    fill_ts         timestamptz   NOT NULL,
    fill_qty        numeric(20,8) NOT NULL,
    reference_price numeric(20,8) NOT NULL,
    fill_price      numeric(20,8) NOT NULL,
    fee             numeric(20,8) NOT NULL,
    slippage_cost   numeric(20,8) NOT NULL
);

-- Opened by one BUY fill; remaining_qty is reduced as SELL fills consume it FIFO.
CREATE TABLE position_lot (
    lot_id          bigint        PRIMARY KEY,
    account_id      bigint        NOT NULL,
    instrument_id   bigint        NOT NULL REFERENCES instrument (instrument_id),
    opening_fill_id bigint        NOT NULL REFERENCES order_fill (fill_id),
    opened_ts       timestamptz   NOT NULL,
    original_qty    numeric(20,8) NOT NULL,
    remaining_qty   numeric(20,8) NOT NULL,
    cost_basis      numeric(20,8) NOT NULL
);

-- One row per lot touched by a SELL fill.
CREATE TABLE executed_trade (
    executed_trade_id bigint        PRIMARY KEY,
    account_id        bigint        NOT NULL,
    instrument_id     bigint        NOT NULL REFERENCES instrument (instrument_id),
    lot_id            bigint        NOT NULL REFERENCES position_lot (lot_id),
    sell_fill_id      bigint        NOT NULL REFERENCES order_fill (fill_id),
    executed_ts       timestamptz   NOT NULL,
    quantity          numeric(20,8) NOT NULL,
    proceeds          numeric(20,8) NOT NULL,
    cost_basis        numeric(20,8) NOT NULL,
    realized_pnl      numeric(20,8) NOT NULL
);

-- Per account, ledger_seq runs 1, 2, 3, ... and balance_after is the running balance.
CREATE TABLE cash_ledger (
    account_id    bigint        NOT NULL REFERENCES account (account_id),
    ledger_seq    bigint        NOT NULL,
    entry_ts      timestamptz   NOT NULL,
    entry_type    text          NOT NULL,
    amount        numeric(20,8) NOT NULL,
    balance_after numeric(20,8) NOT NULL,
    fill_id       bigint        REFERENCES order_fill (fill_id),
    PRIMARY KEY (account_id, ledger_seq)
);

-- A change of trading_state between consecutive hourly risk states of one account.
CREATE TABLE risk_event (
    risk_event_id bigint        PRIMARY KEY,
    account_id    bigint        NOT NULL REFERENCES account (account_id),
    hour_ts       timestamptz   NOT NULL,
    event_type    text          NOT NULL,
    from_state    text          NOT NULL,
    to_state      text          NOT NULL,
    drawdown      numeric(20,8) NOT NULL
);
