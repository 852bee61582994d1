-- slippage_formula: fill_price = round(reference_price * (1 + s * slippage_bps / 10000), 8);
-- slippage_cost = round((fill_price - reference_price) * s * fill_qty, 8); the fill's
-- reference_price equals its order's; side is BUY or SELL (else s is undefined); the fill's
-- instrument exists (else there is no slippage_bps to apply: fill_instrument_missing). A fill
-- whose order does not exist has no reference price to compare: cross_account_isolation
-- reports it (fill_order_missing).
--@rule fill_side_invalid,fill_instrument_missing,fill_price_mismatch,slippage_cost_mismatch,reference_price_mismatch
SELECT NULL::text AS rule, NULL::bigint AS account_id, NULL::jsonb AS key, NULL::jsonb AS detail
WHERE false
UNION ALL
SELECT r.rule, f.account_id, jsonb_build_object('fill_id', f.fill_id),
       jsonb_build_object('side', f.side, 'reference_price', f.reference_price,
                          'order_reference_price', o.reference_price, 'slippage_bps', i.slippage_bps,
                          'fill_price', f.fill_price, 'expected_fill_price', x.exp_price,
                          'slippage_cost', f.slippage_cost, 'expected_slippage_cost', x.exp_cost)
FROM {{order_fill}} f
LEFT JOIN instrument i ON i.instrument_id = f.instrument_id
LEFT JOIN {{order_request}} o ON o.order_id = f.order_id
CROSS JOIN LATERAL (SELECT CASE f.side WHEN 'BUY' THEN 1 WHEN 'SELL' THEN -1 END AS s) sg
CROSS JOIN LATERAL (
    SELECT round(f.reference_price * (1 + sg.s * i.slippage_bps / 10000), 8) AS exp_price,
           round((f.fill_price - f.reference_price) * sg.s * f.fill_qty, 8) AS exp_cost
) x
CROSS JOIN LATERAL (SELECT
    sg.s IS NULL AS b1,
    sg.s IS NOT NULL AND i.instrument_id IS NOT NULL AND f.fill_price IS DISTINCT FROM x.exp_price AS b2,
    sg.s IS NOT NULL AND f.slippage_cost IS DISTINCT FROM x.exp_cost AS b3,
    f.reference_price <> o.reference_price AS b4,
    i.instrument_id IS NULL AS b5
) rb
CROSS JOIN LATERAL (VALUES
    ('fill_side_invalid', rb.b1),
    ('fill_price_mismatch', rb.b2),
    ('slippage_cost_mismatch', rb.b3),
    ('reference_price_mismatch', rb.b4),
    ('fill_instrument_missing', rb.b5)
) r(rule, bad)
WHERE (rb.b1 OR rb.b2 OR rb.b3 OR rb.b4 OR rb.b5) AND r.bad
