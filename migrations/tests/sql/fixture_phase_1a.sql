-- A small hand-made Phase 1A world for SQL-level tests of the migration (not the generators'
-- fixture world). Two accounts, three instruments in two clusters, six hours, deposits, partial
-- fills, a FIFO sell across two lots, a price crash that puts account 2 in REDUCE_ONLY (with
-- its risk_event) and a SELL while REDUCE_ONLY. Derived values are computed with the contract's
-- formulas, so the data obeys CONTRACT.md section 2.

INSERT INTO account VALUES (1, 'alpha'), (2, 'beta');
INSERT INTO fee_schedule VALUES
    (1, '2026-01-01 00:00+00', 10.0000, 1.00000000),
    (2, '2026-01-01 00:00+00',  5.0000, 0.50000000);
INSERT INTO instrument VALUES (1, 'AAA', 5.0000), (2, 'BBB', 10.0000), (3, 'CCC', 0.0000);
INSERT INTO cluster VALUES (1, 'tech', 0.60000000), (2, 'energy', 0.50000000);
INSERT INTO instrument_cluster VALUES (1, 1), (2, 1), (3, 2);
INSERT INTO model_registry VALUES
    (1, 'BASE',   '2025-12-01 00:00+00', '2025-12-31 23:00+00'),
    (2, 'META',   '2025-12-01 00:00+00', '2025-12-31 23:00+00'),
    (3, 'REGIME', '2025-12-01 00:00+00', '2025-12-31 23:00+00');

-- Hours 2026-01-05 00:00 .. 05:00; close prices per instrument and hour.
CREATE TEMP TABLE fx_price (instrument_id bigint, h int, close numeric(20,8));
INSERT INTO fx_price VALUES
    (1,0,100),(1,1,100),(1,2,102),(1,3,104),(1,4,103),(1,5,105),
    (2,0,100),(2,1,100),(2,2,60),(2,3,62),(2,4,63),(2,5,64),
    (3,0,50),(3,1,50),(3,2,50),(3,3,51),(3,4,52),(3,5,52);
CREATE TEMP VIEW fx_hour AS
SELECT h, timestamptz '2026-01-05 00:00+00' + h * interval '1 hour' AS hour_ts FROM generate_series(0, 5) h;

INSERT INTO feature_snapshot (instrument_id, hour_ts, close_price, features, feature_hash)
SELECT p.instrument_id, x.hour_ts, p.close, f.features,
       feature_snapshot_hash(p.instrument_id, x.hour_ts, p.close, f.features)
  FROM fx_price p JOIN fx_hour x USING (h)
 CROSS JOIN LATERAL (SELECT format('{"f1": %s, "f2": %s}', round(p.close / 1000, 8), round(-p.h::numeric / 10, 8))::jsonb AS features) f;

-- BASE predictions for every instrument and hour, from that hour's snapshot.
INSERT INTO model_prediction (prediction_id, model_id, instrument_id, hour_ts, feature_hour_ts, feature_hash, score)
SELECT 100 + p.instrument_id * 10 + p.h, 1, p.instrument_id, x.hour_ts, x.hour_ts, s.feature_hash,
       round(0.1 * p.instrument_id + 0.01 * p.h, 8)
  FROM fx_price p JOIN fx_hour x USING (h)
  JOIN feature_snapshot s ON s.instrument_id = p.instrument_id AND s.hour_ts = x.hour_ts;
-- One META prediction (instrument 1, hour 1) combining BASE predictions of hours 0 and 1.
INSERT INTO model_prediction (prediction_id, model_id, instrument_id, hour_ts, feature_hour_ts, feature_hash, score)
SELECT 200, 2, 1, hour_ts, hour_ts, feature_hash,
       round(0.4 * (SELECT score FROM model_prediction WHERE prediction_id = 110)
           + 0.6 * (SELECT score FROM model_prediction WHERE prediction_id = 111), 8)
  FROM feature_snapshot WHERE instrument_id = 1 AND hour_ts = '2026-01-05 01:00+00';
INSERT INTO meta_learner_component VALUES (200, 110, 0.40000000), (200, 111, 0.60000000);
INSERT INTO regime_output SELECT 300 + h, 3, hour_ts, CASE WHEN h < 2 THEN 'CALM' ELSE 'VOLATILE' END, round(h::numeric / 10, 8) FROM fx_hour;

-- Signals and orders: (signal/order id, account, instrument, side, qty, requested_ts).
CREATE TEMP TABLE fx_order (id bigint, account_id bigint, instrument_id bigint, side text, qty numeric(20,8), requested_ts timestamptz);
INSERT INTO fx_order VALUES
    (1, 1, 1, 'BUY', 10, '2026-01-05 01:05+00'),
    (2, 1, 3, 'BUY',  5, '2026-01-05 02:10+00'),
    (3, 1, 1, 'SELL', 8, '2026-01-05 03:15+00'),
    (4, 2, 2, 'BUY', 20, '2026-01-05 01:07+00'),
    (5, 2, 2, 'SELL', 5, '2026-01-05 03:20+00');
INSERT INTO trade_signal (signal_id, account_id, instrument_id, hour_ts, prediction_id, regime_output_id, target_weight)
SELECT o.id, o.account_id, o.instrument_id, date_trunc('hour', o.requested_ts AT TIME ZONE 'UTC') AT TIME ZONE 'UTC',
       CASE WHEN o.id = 1 THEN 200 ELSE 100 + o.instrument_id * 10 + extract(hour FROM o.requested_ts AT TIME ZONE 'UTC')::int END,
       300 + extract(hour FROM o.requested_ts AT TIME ZONE 'UTC')::int,
       CASE o.side WHEN 'BUY' THEN 0.10000000 ELSE 0 END
  FROM fx_order o;
-- Reference price = close of the bound hour (the hour before the request).
INSERT INTO order_request (order_id, account_id, signal_id, instrument_id, side, quantity, reference_price, requested_ts, risk_hour_ts, filled_quantity)
SELECT o.id, o.account_id, o.id, o.instrument_id, o.side, o.qty, p.close, o.requested_ts,
       (date_trunc('hour', o.requested_ts AT TIME ZONE 'UTC') - interval '1 hour') AT TIME ZONE 'UTC', 0
  FROM fx_order o
  JOIN fx_price p ON p.instrument_id = o.instrument_id
                 AND p.h = extract(hour FROM o.requested_ts AT TIME ZONE 'UTC')::int - 1;

-- Fills: (fill id, order id, fill_ts, qty); price, fee, slippage by the contract formulas.
CREATE TEMP TABLE fx_fill (fill_id bigint, order_id bigint, fill_ts timestamptz, qty numeric(20,8));
INSERT INTO fx_fill VALUES
    (11, 1, '2026-01-05 01:06+00', 6), (12, 1, '2026-01-05 01:20+00', 4),
    (21, 2, '2026-01-05 02:11+00', 5),
    (31, 3, '2026-01-05 03:16+00', 8),
    (41, 4, '2026-01-05 01:08+00', 20),
    (51, 5, '2026-01-05 03:21+00', 5);
INSERT INTO order_fill (fill_id, account_id, order_id, instrument_id, side, fill_ts, fill_qty, reference_price, fill_price, fee, slippage_cost)
SELECT f.fill_id, o.account_id, o.order_id, o.instrument_id, o.side, f.fill_ts, f.qty, o.reference_price, px.price,
       round(greatest(f.qty * px.price * fs.fee_bps / 10000, fs.min_fee), 8),
       round((px.price - o.reference_price) * px.s * f.qty, 8)
  FROM fx_fill f
  JOIN order_request o ON o.order_id = f.order_id
  JOIN instrument i ON i.instrument_id = o.instrument_id
  CROSS JOIN LATERAL (SELECT CASE o.side WHEN 'BUY' THEN 1 ELSE -1 END AS s) sg
  CROSS JOIN LATERAL (SELECT sg.s, round(o.reference_price * (1 + sg.s * i.slippage_bps / 10000), 8) AS price) px
  CROSS JOIN LATERAL (SELECT * FROM fee_schedule x WHERE x.account_id = o.account_id AND x.effective_from <= f.fill_ts
                       ORDER BY x.effective_from DESC LIMIT 1) fs;
UPDATE order_request o SET filled_quantity = (SELECT coalesce(sum(fill_qty), 0) FROM order_fill f WHERE f.order_id = o.order_id);

-- Lots from BUY fills; FIFO consumption by the SELL fills (hand-planned: fill 31 takes lot 11's
-- 6 and 2 of lot 12; fill 51 takes 5 of lot 41).
INSERT INTO position_lot (lot_id, account_id, instrument_id, opening_fill_id, opened_ts, original_qty, remaining_qty, cost_basis)
SELECT fill_id, account_id, instrument_id, fill_id, fill_ts, fill_qty, fill_qty, round(fill_qty * fill_price, 8) + fee
  FROM order_fill WHERE side = 'BUY';
CREATE TEMP TABLE fx_exec (id bigint, lot_id bigint, sell_fill_id bigint, qty numeric(20,8));
INSERT INTO fx_exec VALUES (1, 11, 31, 6), (2, 12, 31, 2), (3, 41, 51, 5);
INSERT INTO executed_trade (executed_trade_id, account_id, instrument_id, lot_id, sell_fill_id, executed_ts, quantity, proceeds, cost_basis, realized_pnl)
SELECT e.id, f.account_id, f.instrument_id, e.lot_id, e.sell_fill_id, f.fill_ts, e.qty, v.proceeds, v.cost, v.proceeds - v.cost
  FROM fx_exec e
  JOIN order_fill f ON f.fill_id = e.sell_fill_id
  JOIN position_lot l ON l.lot_id = e.lot_id
  CROSS JOIN LATERAL (SELECT round(e.qty * f.fill_price, 8) AS proceeds,
                             round(l.cost_basis * e.qty / l.original_qty, 8) AS cost) v;
UPDATE position_lot l SET remaining_qty = original_qty - coalesce((SELECT sum(quantity) FROM executed_trade e WHERE e.lot_id = l.lot_id), 0);

-- Ledger: deposits, then per fill TRADE (-s * notional) and FEE (-fee), in time order.
INSERT INTO cash_ledger (account_id, ledger_seq, entry_ts, entry_type, amount, balance_after, fill_id)
SELECT account_id, row_number() OVER w, entry_ts, entry_type, amount, sum(amount) OVER w, fill_id
  FROM (SELECT 1::bigint AS account_id, timestamptz '2026-01-05 00:10+00' AS entry_ts, 'DEPOSIT' AS entry_type,
               10000::numeric(20,8) AS amount, NULL::bigint AS fill_id, 0 AS k
        UNION ALL SELECT 2, '2026-01-05 00:12+00', 'DEPOSIT', 5000, NULL, 0
        UNION ALL SELECT account_id, fill_ts, 'TRADE',
                         -(CASE side WHEN 'BUY' THEN 1 ELSE -1 END) * round(fill_qty * fill_price, 8), fill_id, 1
                    FROM order_fill
        UNION ALL SELECT account_id, fill_ts, 'FEE', -fee, fill_id, 2 FROM order_fill) x
WINDOW w AS (PARTITION BY account_id ORDER BY entry_ts, k ROWS UNBOUNDED PRECEDING);

-- Hourly states, recomputed from the events with the reference-model rules.
INSERT INTO position_hourly_state (account_id, instrument_id, hour_ts, quantity, mark_price, market_value, state_hash)
SELECT a.account_id, p.instrument_id, x.hour_ts, q.qty, p.close, round(q.qty * p.close, 8),
       position_state_hash(a.account_id, p.instrument_id, x.hour_ts, q.qty, p.close, round(q.qty * p.close, 8))
  FROM account a CROSS JOIN fx_price p JOIN fx_hour x USING (h)
 CROSS JOIN LATERAL (SELECT coalesce(sum(CASE f.side WHEN 'BUY' THEN f.fill_qty ELSE -f.fill_qty END), 0)::numeric(20,8) AS qty
                       FROM order_fill f
                      WHERE f.account_id = a.account_id AND f.instrument_id = p.instrument_id
                        AND f.fill_ts < x.hour_ts + interval '1 hour') q;

INSERT INTO portfolio_hourly_state (account_id, hour_ts, cash, market_value, equity, peak_equity, state_hash)
SELECT account_id, hour_ts, cash, mv, cash + mv, peak, portfolio_state_hash(account_id, hour_ts, cash, mv, cash + mv, peak)
  FROM (SELECT b.*, max(b.cash + b.mv) OVER (PARTITION BY b.account_id ORDER BY b.hour_ts) AS peak
          FROM (SELECT a.account_id, x.hour_ts,
                       coalesce((SELECT l.balance_after FROM cash_ledger l
                                  WHERE l.account_id = a.account_id AND l.entry_ts < x.hour_ts + interval '1 hour'
                                  ORDER BY l.ledger_seq DESC LIMIT 1), 0)::numeric(20,8) AS cash,
                       (SELECT coalesce(sum(p.market_value), 0) FROM position_hourly_state p
                         WHERE p.account_id = a.account_id AND p.hour_ts = x.hour_ts)::numeric(20,8) AS mv
                  FROM account a CROSS JOIN fx_hour x) b) s;

INSERT INTO risk_hourly_state (account_id, hour_ts, gross_exposure, drawdown, trading_state, state_hash, parent_portfolio_hash)
SELECT account_id, hour_ts, g, d, st, risk_state_hash(account_id, hour_ts, g, d, st, state_hash), state_hash
  FROM (SELECT p.*, v.g, v.d,
               CASE WHEN v.d >= 0.20 THEN 'HALTED' WHEN v.d >= 0.10 THEN 'REDUCE_ONLY' ELSE 'NORMAL' END AS st
          FROM portfolio_hourly_state p
         CROSS JOIN LATERAL (SELECT CASE WHEN p.equity = 0 THEN 0 ELSE round(p.market_value / p.equity, 8) END::numeric(20,8) AS g,
                                    CASE WHEN p.peak_equity = 0 THEN 0 ELSE round(1 - p.equity / p.peak_equity, 8) END::numeric(20,8) AS d) v) s;

INSERT INTO risk_event (risk_event_id, account_id, hour_ts, event_type, from_state, to_state, drawdown)
SELECT row_number() OVER (ORDER BY account_id, hour_ts), account_id, hour_ts, 'TRADING_STATE_CHANGE', prev, trading_state, drawdown
  FROM (SELECT r.*, coalesce(lag(trading_state) OVER (PARTITION BY account_id ORDER BY hour_ts), 'NORMAL') AS prev
          FROM risk_hourly_state r) s
 WHERE prev <> trading_state;

DROP VIEW fx_hour;
DROP TABLE fx_price, fx_order, fx_fill, fx_exec;
