-- long_only: no negative position (stored hourly state), no lot below 0 or above its original,
-- no negative target weight, no SELL fill for more than was held at that moment (running net
-- fill quantity per account and instrument in (fill_ts, fill_id) order drops below 0), no SELL
-- order for more than was held when it was requested (net fill quantity of the fills before
-- requested_ts; its own fills come at or after it), no negative cash (ledger balance_after, or
-- an hourly portfolio's cash).
--@rule negative_position,lot_remaining_negative,lot_remaining_above_original,negative_target_weight
--@rule sell_exceeds_holding,sell_order_exceeds_holding,negative_cash,negative_cash_state
-- One ordered stream per (account, instrument) of fills and SELL orders: the running sum of
-- fill quantities after a fill is what was held after it, and at an order (sorted before the
-- fills of its own instant, which are its own) what was held when it was requested.
WITH stream AS (
    SELECT f.account_id, f.instrument_id, f.fill_ts AS ts, 1 AS kind, f.fill_id AS id, f.side,
           f.fill_qty AS qty,
           CASE f.side WHEN 'BUY' THEN f.fill_qty WHEN 'SELL' THEN -f.fill_qty END AS net
    FROM {{order_fill}} f
    UNION ALL
    SELECT o.account_id, o.instrument_id, o.requested_ts, 0, o.order_id, o.side, o.quantity, 0
    FROM {{order_request}} o
    WHERE o.side = 'SELL'
),
running AS (
    SELECT s.*,
           sum(s.net) OVER (PARTITION BY s.account_id, s.instrument_id ORDER BY s.ts, s.kind, s.id
                            ROWS UNBOUNDED PRECEDING) AS held_after
    FROM stream s
)
SELECT NULL::text AS rule, NULL::bigint AS account_id, NULL::jsonb AS key, NULL::jsonb AS detail
WHERE false
UNION ALL
SELECT 'negative_position', p.account_id,
       jsonb_build_object('instrument_id', p.instrument_id, 'hour_ts', p.hour_ts),
       jsonb_build_object('quantity', p.quantity)
FROM position_hourly_state p
WHERE p.quantity < 0
UNION ALL
SELECT r.rule, l.account_id, jsonb_build_object('lot_id', l.lot_id),
       jsonb_build_object('original_qty', l.original_qty, 'remaining_qty', l.remaining_qty)
FROM {{position_lot}} l
CROSS JOIN LATERAL (SELECT
    l.remaining_qty < 0 AS b1,
    l.remaining_qty > l.original_qty AS b2
) rb
CROSS JOIN LATERAL (VALUES
    ('lot_remaining_negative', rb.b1),
    ('lot_remaining_above_original', rb.b2)
) r(rule, bad)
WHERE (rb.b1 OR rb.b2) AND r.bad
UNION ALL
SELECT 'negative_target_weight', s.account_id, jsonb_build_object('signal_id', s.signal_id),
       jsonb_build_object('target_weight', s.target_weight)
FROM {{trade_signal}} s
WHERE s.target_weight < 0
UNION ALL
SELECT 'sell_exceeds_holding', r.account_id, jsonb_build_object('fill_id', r.id),
       jsonb_build_object('instrument_id', r.instrument_id, 'fill_ts', r.ts, 'fill_qty', r.qty,
                          'held_before', r.held_after + r.qty)
FROM running r
WHERE r.kind = 1 AND r.side = 'SELL' AND r.held_after < 0
UNION ALL
SELECT 'sell_order_exceeds_holding', r.account_id, jsonb_build_object('order_id', r.id),
       jsonb_build_object('instrument_id', r.instrument_id, 'requested_ts', r.ts, 'quantity', r.qty,
                          'held_at_request', r.held_after)
FROM running r
WHERE r.kind = 0 AND r.qty > r.held_after
UNION ALL
SELECT 'negative_cash', l.account_id, jsonb_build_object('ledger_seq', l.ledger_seq),
       jsonb_build_object('balance_after', l.balance_after)
FROM {{cash_ledger}} l
WHERE l.balance_after < 0
UNION ALL
SELECT 'negative_cash_state', p.account_id, jsonb_build_object('hour_ts', p.hour_ts),
       jsonb_build_object('cash', p.cash)
FROM portfolio_hourly_state p
WHERE p.cash < 0
