-- quantity_conservation: quantities (and the values derived with them) are conserved from orders
-- through fills, lots and executed trades to the hourly positions.
--   orders: filled_quantity = sum of its fills, never above quantity; a fill has its order's side
--     and instrument.
--   fills:  a SELL fill's executed trades sum to its fill_qty (a BUY fill has none); a BUY fill
--     opens exactly one lot.
--   lots:   original - remaining = sum of its executed trades; the lot mirrors its opening BUY fill
--     (original_qty = fill_qty, opened_ts = fill_ts, same instrument,
--     cost_basis = round(fill_qty * fill_price, 8) + fee).
--   trades: proceeds = round(quantity * sell fill_price, 8),
--     cost_basis = round(lot.cost_basis * quantity / lot.original_qty, 8),
--     realized_pnl = proceeds - cost_basis, executed_ts = sell fill_ts, same instrument, and FIFO:
--     with lots laid end to end in (opened_ts, lot_id) order and sells in (fill_ts, fill_id)
--     order, a trade's quantity is exactly the overlap of its sell's and its lot's intervals.
--   per account and instrument: open lots = buys - sells; and the lots open at the end of the
--     account's latest hourly state (opened before it, minus what trades before it consumed)
--     = that state's position (no row there means 0). Comparing as of the state's hour keeps
--     the rule true on a live system, where fills of the open hour are newer than any state.
--@rule order_filled_qty_mismatch,order_overfilled,fill_order_side_mismatch,fill_order_instrument_mismatch
--@rule sell_fill_trades_mismatch,trade_fill_not_sell,buy_fill_lot_count
--@rule lot_consumed_mismatch,lot_fill_not_buy,lot_original_qty_mismatch,lot_opened_ts_mismatch,lot_instrument_mismatch,lot_cost_basis_mismatch
--@rule trade_proceeds_mismatch,trade_cost_basis_mismatch,trade_pnl_mismatch,trade_executed_ts_mismatch,trade_instrument_mismatch,fifo_violation
--@rule open_lots_vs_fills_mismatch,open_lots_vs_position_mismatch
WITH fills_by_order AS (
    SELECT order_id, sum(fill_qty) AS filled
    FROM {{order_fill}}
    GROUP BY order_id
),
trades_by_fill AS (
    SELECT sell_fill_id, sum(quantity) AS q, count(*) AS n
    FROM {{executed_trade}}
    GROUP BY sell_fill_id
),
trades_by_lot AS (
    SELECT lot_id, sum(quantity) AS q
    FROM {{executed_trade}}
    GROUP BY lot_id
),
lots_by_fill AS (
    SELECT opening_fill_id, count(*) AS n
    FROM {{position_lot}}
    GROUP BY opening_fill_id
),
lot_cum AS (
    SELECT lot_id,
           sum(original_qty) OVER w - original_qty AS lo,
           sum(original_qty) OVER w AS hi
    FROM {{position_lot}}
    WINDOW w AS (PARTITION BY account_id, instrument_id ORDER BY opened_ts, lot_id)
),
sell_cum AS (
    SELECT fill_id,
           sum(fill_qty) OVER w - fill_qty AS lo,
           sum(fill_qty) OVER w AS hi
    FROM {{order_fill}}
    WHERE side = 'SELL'
    WINDOW w AS (PARTITION BY account_id, instrument_id ORDER BY fill_ts, fill_id)
),
open_lots AS (
    SELECT account_id, instrument_id, sum(remaining_qty) AS q
    FROM {{position_lot}}
    GROUP BY account_id, instrument_id
),
net_fills AS (
    SELECT account_id, instrument_id,
           sum(CASE side WHEN 'BUY' THEN fill_qty WHEN 'SELL' THEN -fill_qty END) AS q
    FROM {{order_fill}}
    GROUP BY account_id, instrument_id
),
last_hour AS (
    SELECT account_id, max(hour_ts) AS hour_ts
    FROM (SELECT account_id, hour_ts FROM portfolio_hourly_state
          UNION ALL
          SELECT account_id, hour_ts FROM position_hourly_state) h
    GROUP BY account_id
),
last_position AS (
    SELECT p.account_id, p.instrument_id, p.quantity
    FROM position_hourly_state p
    JOIN last_hour lh ON lh.account_id = p.account_id AND lh.hour_ts = p.hour_ts
),
-- Lots open at the end of each account's latest state hour: opened before it, minus the
-- trades executed before it (a trade always consumes a lot opened no later than itself).
lots_at_close AS (
    SELECT lh.account_id, x.instrument_id, sum(x.q) AS q
    FROM last_hour lh
    CROSS JOIN LATERAL (
        SELECT l.instrument_id, l.original_qty AS q
        FROM {{position_lot}} l
        WHERE l.account_id = lh.account_id AND l.opened_ts < lh.hour_ts + interval '1 hour'
        UNION ALL
        SELECT t.instrument_id, -t.quantity
        FROM {{executed_trade}} t
        WHERE t.account_id = lh.account_id AND t.executed_ts < lh.hour_ts + interval '1 hour'
    ) x
    GROUP BY lh.account_id, x.instrument_id
),
holdings AS (
    SELECT account_id, instrument_id FROM open_lots
    UNION
    SELECT account_id, instrument_id FROM net_fills
    UNION
    SELECT account_id, instrument_id FROM last_position
)
SELECT NULL::text AS rule, NULL::bigint AS account_id, NULL::jsonb AS key, NULL::jsonb AS detail
WHERE false
UNION ALL
SELECT r.rule, o.account_id, jsonb_build_object('order_id', o.order_id),
       jsonb_build_object('quantity', o.quantity, 'filled_quantity', o.filled_quantity,
                          'sum_fill_qty', coalesce(fo.filled, 0))
FROM {{order_request}} o
LEFT JOIN fills_by_order fo ON fo.order_id = o.order_id
CROSS JOIN LATERAL (SELECT
    o.filled_quantity <> coalesce(fo.filled, 0) AS b1,
    coalesce(fo.filled, 0) > o.quantity OR o.filled_quantity > o.quantity AS b2
) rb
CROSS JOIN LATERAL (VALUES
    ('order_filled_qty_mismatch', rb.b1),
    ('order_overfilled', rb.b2)
) r(rule, bad)
WHERE (rb.b1 OR rb.b2) AND r.bad
UNION ALL
SELECT r.rule, f.account_id, jsonb_build_object('fill_id', f.fill_id),
       jsonb_build_object('side', f.side, 'fill_qty', f.fill_qty, 'order_side', o.side,
                          'instrument_id', f.instrument_id, 'order_instrument_id', o.instrument_id,
                          'trade_qty', tf.q, 'trade_rows', coalesce(tf.n, 0), 'lots_opened', coalesce(lf.n, 0))
FROM {{order_fill}} f
LEFT JOIN {{order_request}} o ON o.order_id = f.order_id
LEFT JOIN trades_by_fill tf ON tf.sell_fill_id = f.fill_id
LEFT JOIN lots_by_fill lf ON lf.opening_fill_id = f.fill_id
CROSS JOIN LATERAL (SELECT
    f.side <> o.side AS b1,
    f.instrument_id <> o.instrument_id AS b2,
    f.side = 'SELL' AND coalesce(tf.q, 0) <> f.fill_qty AS b3,
    f.side <> 'SELL' AND tf.n > 0 AS b4,
    f.side = 'BUY' AND coalesce(lf.n, 0) <> 1 AS b5
) rb
CROSS JOIN LATERAL (VALUES
    ('fill_order_side_mismatch', rb.b1),
    ('fill_order_instrument_mismatch', rb.b2),
    ('sell_fill_trades_mismatch', rb.b3),
    ('trade_fill_not_sell', rb.b4),
    ('buy_fill_lot_count', rb.b5)
) r(rule, bad)
WHERE (rb.b1 OR rb.b2 OR rb.b3 OR rb.b4 OR rb.b5) AND r.bad
UNION ALL
SELECT r.rule, l.account_id, jsonb_build_object('lot_id', l.lot_id),
       jsonb_build_object('original_qty', l.original_qty, 'remaining_qty', l.remaining_qty,
                          'traded_qty', coalesce(tl.q, 0), 'opening_fill_id', l.opening_fill_id,
                          'fill_side', f.side, 'fill_qty', f.fill_qty, 'cost_basis', l.cost_basis,
                          'expected_cost_basis', x.exp_cost_basis)
FROM {{position_lot}} l
LEFT JOIN trades_by_lot tl ON tl.lot_id = l.lot_id
LEFT JOIN {{order_fill}} f ON f.fill_id = l.opening_fill_id
CROSS JOIN LATERAL (SELECT round(f.fill_qty * f.fill_price, 8) + f.fee AS exp_cost_basis) x
CROSS JOIN LATERAL (SELECT
    l.original_qty - l.remaining_qty <> coalesce(tl.q, 0) AS b1,
    f.side <> 'BUY' AS b2,
    l.original_qty <> f.fill_qty AS b3,
    l.opened_ts <> f.fill_ts AS b4,
    l.instrument_id <> f.instrument_id AS b5,
    l.cost_basis <> x.exp_cost_basis AS b6
) rb
CROSS JOIN LATERAL (VALUES
    ('lot_consumed_mismatch', rb.b1),
    ('lot_fill_not_buy', rb.b2),
    ('lot_original_qty_mismatch', rb.b3),
    ('lot_opened_ts_mismatch', rb.b4),
    ('lot_instrument_mismatch', rb.b5),
    ('lot_cost_basis_mismatch', rb.b6)
) r(rule, bad)
WHERE (rb.b1 OR rb.b2 OR rb.b3 OR rb.b4 OR rb.b5 OR rb.b6) AND r.bad
UNION ALL
SELECT r.rule, t.account_id, jsonb_build_object('executed_trade_id', t.executed_trade_id),
       jsonb_build_object('lot_id', t.lot_id, 'sell_fill_id', t.sell_fill_id, 'quantity', t.quantity,
                          'fifo_quantity', x.fifo_qty, 'proceeds', t.proceeds, 'expected_proceeds', x.exp_proceeds,
                          'cost_basis', t.cost_basis, 'expected_cost_basis', x.exp_cost_basis,
                          'realized_pnl', t.realized_pnl)
FROM {{executed_trade}} t
JOIN {{order_fill}} f ON f.fill_id = t.sell_fill_id
JOIN {{position_lot}} l ON l.lot_id = t.lot_id
LEFT JOIN lot_cum lc ON lc.lot_id = t.lot_id
LEFT JOIN sell_cum sc ON sc.fill_id = t.sell_fill_id
CROSS JOIN LATERAL (
    SELECT round(t.quantity * f.fill_price, 8) AS exp_proceeds,
           round(l.cost_basis * t.quantity / nullif(l.original_qty, 0), 8) AS exp_cost_basis,
           greatest(0, least(lc.hi, sc.hi) - greatest(lc.lo, sc.lo)) AS fifo_qty
) x
CROSS JOIN LATERAL (SELECT
    t.proceeds <> x.exp_proceeds AS b1,
    t.cost_basis IS DISTINCT FROM x.exp_cost_basis AS b2,
    t.realized_pnl <> t.proceeds - t.cost_basis AS b3,
    t.executed_ts <> f.fill_ts AS b4,
    t.instrument_id <> l.instrument_id OR t.instrument_id <> f.instrument_id AS b5,
    t.quantity IS DISTINCT FROM x.fifo_qty AS b6
) rb
CROSS JOIN LATERAL (VALUES
    ('trade_proceeds_mismatch', rb.b1),
    ('trade_cost_basis_mismatch', rb.b2),
    ('trade_pnl_mismatch', rb.b3),
    ('trade_executed_ts_mismatch', rb.b4),
    ('trade_instrument_mismatch', rb.b5),
    ('fifo_violation', rb.b6)
) r(rule, bad)
WHERE (rb.b1 OR rb.b2 OR rb.b3 OR rb.b4 OR rb.b5 OR rb.b6) AND r.bad
UNION ALL
SELECT r.rule, h.account_id, jsonb_build_object('instrument_id', h.instrument_id),
       jsonb_build_object('open_lot_qty', coalesce(ol.q, 0), 'net_fill_qty', coalesce(nf.q, 0),
                          'latest_hour_ts', lh.hour_ts, 'open_lot_qty_at_latest_hour', coalesce(lc.q, 0),
                          'latest_position_qty', coalesce(lp.quantity, 0))
FROM holdings h
LEFT JOIN open_lots ol ON ol.account_id = h.account_id AND ol.instrument_id = h.instrument_id
LEFT JOIN net_fills nf ON nf.account_id = h.account_id AND nf.instrument_id = h.instrument_id
LEFT JOIN last_position lp ON lp.account_id = h.account_id AND lp.instrument_id = h.instrument_id
LEFT JOIN last_hour lh ON lh.account_id = h.account_id
LEFT JOIN lots_at_close lc ON lc.account_id = h.account_id AND lc.instrument_id = h.instrument_id
CROSS JOIN LATERAL (SELECT
    coalesce(ol.q, 0) <> coalesce(nf.q, 0) AS b1,
    lh.hour_ts IS NOT NULL AND coalesce(lc.q, 0) <> coalesce(lp.quantity, 0) AS b2
) rb
CROSS JOIN LATERAL (VALUES
    ('open_lots_vs_fills_mismatch', rb.b1),
    ('open_lots_vs_position_mismatch', rb.b2)
) r(rule, bad)
WHERE (rb.b1 OR rb.b2) AND r.bad
