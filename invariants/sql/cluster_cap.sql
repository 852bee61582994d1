-- cluster_cap: the acceptance gate of every BUY order at its bound hour (risk_hour_ts).
--   cap_exceeded: exposure + round(quantity * reference_price, 8) > cap, where (exposure, cap) come
--     from cluster_exposure_hourly_state after STEP_4_REVISED_M7 and are otherwise recomputed:
--     exposure = sum of the account's stored position market_value in the instrument's cluster at
--     the bound hour, cap = round(cap_fraction * portfolio equity at the bound hour, 8). A missing
--     exposure row falls back to the recomputation (an empty cluster may have no row).
--   bound_state_missing: neither an exposure row nor a portfolio state at the bound hour, so the
--     cap cannot be evaluated; instrument_cluster_missing: the instrument has no cluster;
--     cluster_missing: its cluster_id names no cluster row (no cap_fraction to apply).
--   buy_bound_state_not_normal: the bound risk state is not NORMAL (the risk gate; the contract
--     names no separate check for it, and it is the other half of the same acceptance gate).
--   cluster_exposure_mismatch / cluster_cap_value_mismatch: an exposure row differs from the sum
--     of its positions' market values / from round(cap_fraction * equity, 8) (STEP_4 onwards).
--   cluster_exposure_missing: a risk state and a cluster without their exposure row (STEP_4
--     writes one row per risk state and cluster, and its sync trigger one per new risk state).
--@rule cap_exceeded,bound_state_missing,instrument_cluster_missing,cluster_missing,buy_bound_state_not_normal
--@rule cluster_exposure_mismatch,cluster_cap_value_mismatch,cluster_exposure_missing table:cluster_exposure_hourly_state
WITH position_by_cluster AS (
    SELECT p.account_id, ic.cluster_id, p.hour_ts, sum(p.market_value) AS exposure
    FROM position_hourly_state p
    JOIN instrument_cluster ic ON ic.instrument_id = p.instrument_id
    GROUP BY p.account_id, ic.cluster_id, p.hour_ts
),
buys AS (
    SELECT o.order_id, o.account_id, o.risk_hour_ts, ic.cluster_id, c.cluster_id IS NOT NULL AS has_cluster,
           round(o.quantity * o.reference_price, 8) AS notional,
           rs.trading_state,
           rs.account_id IS NOT NULL AS has_risk_state,
           coalesce(pc.exposure, 0) AS recomputed_exposure,
           round(c.cap_fraction * ps.equity, 8) AS recomputed_cap
--@if table:cluster_exposure_hourly_state
         , ce.exposure AS stored_exposure, ce.cap AS stored_cap
--@endif
    FROM {{order_request}} o
    LEFT JOIN instrument_cluster ic ON ic.instrument_id = o.instrument_id
    LEFT JOIN cluster c ON c.cluster_id = ic.cluster_id
    LEFT JOIN risk_hourly_state rs ON rs.account_id = o.account_id AND rs.hour_ts = o.risk_hour_ts
    LEFT JOIN portfolio_hourly_state ps ON ps.account_id = o.account_id AND ps.hour_ts = o.risk_hour_ts
    LEFT JOIN position_by_cluster pc
      ON pc.account_id = o.account_id AND pc.cluster_id = ic.cluster_id AND pc.hour_ts = o.risk_hour_ts
--@if table:cluster_exposure_hourly_state
    LEFT JOIN cluster_exposure_hourly_state ce
      ON ce.account_id = o.account_id AND ce.cluster_id = ic.cluster_id AND ce.hour_ts = o.risk_hour_ts
--@endif
    WHERE o.side = 'BUY'
),
gate AS (
    SELECT b.*,
--@if table:cluster_exposure_hourly_state
           coalesce(b.stored_exposure, b.recomputed_exposure) AS exposure,
           coalesce(b.stored_cap, b.recomputed_cap) AS cap
--@endif
--@if !table:cluster_exposure_hourly_state
           b.recomputed_exposure AS exposure,
           b.recomputed_cap AS cap
--@endif
    FROM buys b
)
SELECT NULL::text AS rule, NULL::bigint AS account_id, NULL::jsonb AS key, NULL::jsonb AS detail
WHERE false
UNION ALL
SELECT r.rule, g.account_id, jsonb_build_object('order_id', g.order_id),
       jsonb_build_object('bound_hour_ts', g.risk_hour_ts, 'cluster_id', g.cluster_id,
                          'exposure', g.exposure, 'order_notional', g.notional, 'cap', g.cap,
                          'trading_state', g.trading_state)
FROM gate g
CROSS JOIN LATERAL (SELECT
    g.cluster_id IS NULL AS b1,
    g.has_cluster AND g.cap IS NULL AS b2,
    g.exposure + g.notional > g.cap AS b3,
    g.has_risk_state AND g.trading_state IS DISTINCT FROM 'NORMAL' AS b4,
    g.cluster_id IS NOT NULL AND NOT g.has_cluster AS b5
) rb
CROSS JOIN LATERAL (VALUES
    ('instrument_cluster_missing', rb.b1),
    ('bound_state_missing', rb.b2),
    ('cap_exceeded', rb.b3),
    ('buy_bound_state_not_normal', rb.b4),
    ('cluster_missing', rb.b5)
) r(rule, bad)
WHERE (rb.b1 OR rb.b2 OR rb.b3 OR rb.b4 OR rb.b5) AND r.bad
--@if table:cluster_exposure_hourly_state
UNION ALL
SELECT r.rule, ce.account_id, jsonb_build_object('cluster_id', ce.cluster_id, 'hour_ts', ce.hour_ts),
       jsonb_build_object('exposure', ce.exposure, 'positions_market_value', coalesce(pc.exposure, 0),
                          'cap', ce.cap, 'expected_cap', round(c.cap_fraction * ps.equity, 8))
FROM cluster_exposure_hourly_state ce
LEFT JOIN position_by_cluster pc
  ON pc.account_id = ce.account_id AND pc.cluster_id = ce.cluster_id AND pc.hour_ts = ce.hour_ts
LEFT JOIN cluster c ON c.cluster_id = ce.cluster_id
LEFT JOIN portfolio_hourly_state ps ON ps.account_id = ce.account_id AND ps.hour_ts = ce.hour_ts
CROSS JOIN LATERAL (SELECT
    ce.exposure IS DISTINCT FROM coalesce(pc.exposure, 0) AS b1,
    ce.cap IS DISTINCT FROM round(c.cap_fraction * ps.equity, 8) AS b2
) rb
CROSS JOIN LATERAL (VALUES
    ('cluster_exposure_mismatch', rb.b1),
    ('cluster_cap_value_mismatch', rb.b2)
) r(rule, bad)
WHERE (rb.b1 OR rb.b2) AND r.bad
UNION ALL
SELECT 'cluster_exposure_missing', r.account_id, jsonb_build_object('cluster_id', c.cluster_id, 'hour_ts', r.hour_ts),
       jsonb_build_object('risk_state_hash', r.state_hash)
FROM risk_hourly_state r
CROSS JOIN cluster c
LEFT JOIN cluster_exposure_hourly_state ce
  ON ce.account_id = r.account_id AND ce.cluster_id = c.cluster_id AND ce.hour_ts = r.hour_ts
WHERE ce.account_id IS NULL
--@endif
