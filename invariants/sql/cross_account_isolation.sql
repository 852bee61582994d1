-- cross_account_isolation: every reference between account-owned rows stays inside one account.
-- A reference whose target row does not exist at all (`*_missing`) is reported here too: it is
-- the same broken reference, and with FKs bypassed nothing else would notice it.
-- By-value references (order -> bound risk state, risk event -> risk state, cluster exposure ->
-- risk state) are looked up under the referencing row's own account_id, so they can only cross
-- accounts through their hash: those sub-rules need the hash column (STEP_3 / M9 / STEP_4).
--@rule fill_order_missing,fill_order_account_mismatch
--@rule order_signal_missing,order_signal_account_mismatch
--@rule order_risk_state_missing,order_risk_hour_wrong
--@rule order_risk_state_account_mismatch column:{{order_request}}.risk_state_hash
--@rule lot_fill_missing,lot_fill_account_mismatch
--@rule trade_lot_missing,trade_lot_account_mismatch,trade_fill_missing,trade_fill_account_mismatch
--@rule ledger_fill_missing,ledger_fill_account_mismatch
--@rule risk_event_state_missing
--@rule risk_event_state_account_mismatch column:{{risk_event}}.parent_state_hash
--@rule cluster_exposure_state_missing,cluster_exposure_state_account_mismatch table:cluster_exposure_hourly_state
SELECT NULL::text AS rule, NULL::bigint AS account_id, NULL::jsonb AS key, NULL::jsonb AS detail
WHERE false
UNION ALL
SELECT CASE WHEN o.order_id IS NULL THEN 'fill_order_missing' ELSE 'fill_order_account_mismatch' END,
       f.account_id, jsonb_build_object('fill_id', f.fill_id),
       jsonb_build_object('order_id', f.order_id, 'order_account_id', o.account_id)
FROM {{order_fill}} f
LEFT JOIN {{order_request}} o ON o.order_id = f.order_id
WHERE o.order_id IS NULL OR o.account_id <> f.account_id
UNION ALL
SELECT CASE WHEN s.signal_id IS NULL THEN 'order_signal_missing' ELSE 'order_signal_account_mismatch' END,
       o.account_id, jsonb_build_object('order_id', o.order_id),
       jsonb_build_object('signal_id', o.signal_id, 'signal_account_id', s.account_id)
FROM {{order_request}} o
LEFT JOIN {{trade_signal}} s ON s.signal_id = o.signal_id
WHERE s.signal_id IS NULL OR s.account_id <> o.account_id
UNION ALL
SELECT r.rule, o.account_id, jsonb_build_object('order_id', o.order_id),
       jsonb_build_object('risk_hour_ts', o.risk_hour_ts, 'requested_ts', o.requested_ts)
FROM {{order_request}} o
LEFT JOIN risk_hourly_state rs ON rs.account_id = o.account_id AND rs.hour_ts = o.risk_hour_ts
CROSS JOIN LATERAL (SELECT
    rs.account_id IS NULL AS b1,
    -- the binding rule: an order requested during hour H is bound to the state of H - 1h
    o.risk_hour_ts IS DISTINCT FROM date_trunc('hour', o.requested_ts, 'UTC') - interval '1 hour' AS b2
) rb
CROSS JOIN LATERAL (VALUES
    ('order_risk_state_missing', rb.b1),
    ('order_risk_hour_wrong', rb.b2)
) r(rule, bad)
WHERE (rb.b1 OR rb.b2) AND r.bad
--@if rule:order_risk_state_account_mismatch
UNION ALL
SELECT 'order_risk_state_account_mismatch', o.account_id, jsonb_build_object('order_id', o.order_id),
       jsonb_build_object('risk_state_hash', o.risk_state_hash, 'state_account_id', rs.account_id,
                          'state_hour_ts', rs.hour_ts)
FROM {{order_request}} o
JOIN risk_hourly_state rs ON rs.state_hash = o.risk_state_hash AND rs.account_id <> o.account_id
--@endif
UNION ALL
SELECT CASE WHEN f.fill_id IS NULL THEN 'lot_fill_missing' ELSE 'lot_fill_account_mismatch' END,
       l.account_id, jsonb_build_object('lot_id', l.lot_id),
       jsonb_build_object('opening_fill_id', l.opening_fill_id, 'fill_account_id', f.account_id)
FROM {{position_lot}} l
LEFT JOIN {{order_fill}} f ON f.fill_id = l.opening_fill_id
WHERE f.fill_id IS NULL OR f.account_id <> l.account_id
UNION ALL
SELECT r.rule, t.account_id, jsonb_build_object('executed_trade_id', t.executed_trade_id),
       jsonb_build_object('lot_id', t.lot_id, 'lot_account_id', l.account_id,
                          'sell_fill_id', t.sell_fill_id, 'fill_account_id', f.account_id)
FROM {{executed_trade}} t
LEFT JOIN {{position_lot}} l ON l.lot_id = t.lot_id
LEFT JOIN {{order_fill}} f ON f.fill_id = t.sell_fill_id
CROSS JOIN LATERAL (SELECT
    l.lot_id IS NULL AS b1,
    l.account_id <> t.account_id AS b2,
    f.fill_id IS NULL AS b3,
    f.account_id <> t.account_id AS b4
) rb
CROSS JOIN LATERAL (VALUES
    ('trade_lot_missing', rb.b1),
    ('trade_lot_account_mismatch', rb.b2),
    ('trade_fill_missing', rb.b3),
    ('trade_fill_account_mismatch', rb.b4)
) r(rule, bad)
WHERE (rb.b1 OR rb.b2 OR rb.b3 OR rb.b4) AND r.bad
UNION ALL
SELECT CASE WHEN f.fill_id IS NULL THEN 'ledger_fill_missing' ELSE 'ledger_fill_account_mismatch' END,
       l.account_id, jsonb_build_object('ledger_seq', l.ledger_seq),
       jsonb_build_object('fill_id', l.fill_id, 'fill_account_id', f.account_id)
FROM {{cash_ledger}} l
LEFT JOIN {{order_fill}} f ON f.fill_id = l.fill_id
WHERE l.fill_id IS NOT NULL AND (f.fill_id IS NULL OR f.account_id <> l.account_id)
UNION ALL
SELECT 'risk_event_state_missing', e.account_id, jsonb_build_object('risk_event_id', e.risk_event_id),
       jsonb_build_object('hour_ts', e.hour_ts)
FROM {{risk_event}} e
LEFT JOIN risk_hourly_state rs ON rs.account_id = e.account_id AND rs.hour_ts = e.hour_ts
WHERE rs.account_id IS NULL
--@if rule:risk_event_state_account_mismatch
UNION ALL
SELECT 'risk_event_state_account_mismatch', e.account_id, jsonb_build_object('risk_event_id', e.risk_event_id),
       jsonb_build_object('parent_state_hash', e.parent_state_hash, 'state_account_id', rs.account_id,
                          'state_hour_ts', rs.hour_ts)
FROM {{risk_event}} e
JOIN risk_hourly_state rs ON rs.state_hash = e.parent_state_hash AND rs.account_id <> e.account_id
--@endif
--@if table:cluster_exposure_hourly_state
UNION ALL
SELECT 'cluster_exposure_state_missing', c.account_id,
       jsonb_build_object('cluster_id', c.cluster_id, 'hour_ts', c.hour_ts), NULL::jsonb
FROM cluster_exposure_hourly_state c
LEFT JOIN risk_hourly_state rs ON rs.account_id = c.account_id AND rs.hour_ts = c.hour_ts
WHERE rs.account_id IS NULL
UNION ALL
SELECT 'cluster_exposure_state_account_mismatch', c.account_id,
       jsonb_build_object('cluster_id', c.cluster_id, 'hour_ts', c.hour_ts),
       jsonb_build_object('parent_risk_hash', c.parent_risk_hash, 'state_account_id', rs.account_id,
                          'state_hour_ts', rs.hour_ts)
FROM cluster_exposure_hourly_state c
JOIN risk_hourly_state rs ON rs.state_hash = c.parent_risk_hash AND rs.account_id <> c.account_id
--@endif
