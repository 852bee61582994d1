-- long_only: no negative position (stored hourly state), no lot below 0 or above its original,
-- no negative target weight, no SELL fill for more than was held at that moment (running net
-- fill quantity per account and instrument in (fill_ts, fill_id) order drops below 0), no
-- negative cash (ledger balance_after, or an hourly portfolio's cash).
--@rule negative_position,lot_remaining_negative,lot_remaining_above_original,negative_target_weight
--@rule sell_exceeds_holding,negative_cash,negative_cash_state
WITH running AS (
    SELECT f.account_id, f.fill_id, f.instrument_id, f.side, f.fill_ts, f.fill_qty,
           sum(CASE f.side WHEN 'BUY' THEN f.fill_qty WHEN 'SELL' THEN -f.fill_qty END)
               OVER (PARTITION BY f.account_id, f.instrument_id ORDER BY f.fill_ts, f.fill_id) AS held_after
    FROM {{order_fill}} f
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
SELECT 'sell_exceeds_holding', r.account_id, jsonb_build_object('fill_id', r.fill_id),
       jsonb_build_object('instrument_id', r.instrument_id, 'fill_ts', r.fill_ts, 'fill_qty', r.fill_qty,
                          'held_before', r.held_after + r.fill_qty)
FROM running r
WHERE r.side = 'SELL' AND r.held_after < 0
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
