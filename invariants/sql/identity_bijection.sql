-- identity_bijection: every portfolio/risk hypertable row has exactly one identity row, every
-- identity row has its source row, and the two carry the same state_hash.
-- n/a until STEP_2_IDENTITY_TABLES created the identity tables (independent of the table set).
--@rule portfolio_identity_missing,portfolio_identity_duplicate,portfolio_identity_orphan,portfolio_identity_hash_mismatch table:portfolio_hourly_state_identity
--@rule risk_identity_missing,risk_identity_duplicate,risk_identity_orphan,risk_identity_hash_mismatch table:risk_hourly_state_identity
SELECT NULL::text AS rule, NULL::bigint AS account_id, NULL::jsonb AS key, NULL::jsonb AS detail
WHERE false
--@if table:portfolio_hourly_state_identity
UNION ALL
SELECT r.rule, coalesce(h.account_id, i.account_id),
       jsonb_build_object('table', 'portfolio_hourly_state', 'hour_ts', coalesce(h.hour_ts, i.hour_ts)),
       jsonb_build_object('state_hash', h.state_hash, 'identity_rows', coalesce(i.n, 0),
                          'identity_hash_min', i.lo, 'identity_hash_max', i.hi)
FROM portfolio_hourly_state h
FULL JOIN (SELECT account_id, hour_ts, count(*) AS n, min(state_hash) AS lo, max(state_hash) AS hi
           FROM portfolio_hourly_state_identity
           GROUP BY account_id, hour_ts) i
  ON i.account_id = h.account_id AND i.hour_ts = h.hour_ts
CROSS JOIN LATERAL (SELECT
    i.n IS NULL AS b1,
    h.account_id IS NULL AS b2,
    i.n > 1 AS b3,
    h.account_id IS NOT NULL AND i.n IS NOT NULL
     AND (i.lo IS DISTINCT FROM h.state_hash OR i.hi IS DISTINCT FROM h.state_hash) AS b4
) rb
CROSS JOIN LATERAL (VALUES
    ('portfolio_identity_missing', rb.b1),
    ('portfolio_identity_orphan', rb.b2),
    ('portfolio_identity_duplicate', rb.b3),
    ('portfolio_identity_hash_mismatch', rb.b4)
) r(rule, bad)
WHERE (rb.b1 OR rb.b2 OR rb.b3 OR rb.b4) AND r.bad
--@endif
--@if table:risk_hourly_state_identity
UNION ALL
SELECT r.rule, coalesce(h.account_id, i.account_id),
       jsonb_build_object('table', 'risk_hourly_state', 'hour_ts', coalesce(h.hour_ts, i.hour_ts)),
       jsonb_build_object('state_hash', h.state_hash, 'identity_rows', coalesce(i.n, 0),
                          'identity_hash_min', i.lo, 'identity_hash_max', i.hi)
FROM risk_hourly_state h
FULL JOIN (SELECT account_id, hour_ts, count(*) AS n, min(state_hash) AS lo, max(state_hash) AS hi
           FROM risk_hourly_state_identity
           GROUP BY account_id, hour_ts) i
  ON i.account_id = h.account_id AND i.hour_ts = h.hour_ts
CROSS JOIN LATERAL (SELECT
    i.n IS NULL AS b1,
    h.account_id IS NULL AS b2,
    i.n > 1 AS b3,
    h.account_id IS NOT NULL AND i.n IS NOT NULL
     AND (i.lo IS DISTINCT FROM h.state_hash OR i.hi IS DISTINCT FROM h.state_hash) AS b4
) rb
CROSS JOIN LATERAL (VALUES
    ('risk_identity_missing', rb.b1),
    ('risk_identity_orphan', rb.b2),
    ('risk_identity_duplicate', rb.b3),
    ('risk_identity_hash_mismatch', rb.b4)
) r(rule, bad)
WHERE (rb.b1 OR rb.b2 OR rb.b3 OR rb.b4) AND r.bad
--@endif
