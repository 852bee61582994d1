-- deterministic_replay_parity: every stored hourly state equals the one recomputed from the event
-- tables, state_hash included (the expected hash is computed over the expected fields, so a row
-- whose fields were forged together with a matching hash still fails on the fields), and no
-- hour of an account's grid is missing.
--   hour grid of account a: every whole hour from a's first event (ledger entry, fill, order,
--     signal) or first stored state, whichever is earlier, to the world's last feature hour
--     (max feature_snapshot.hour_ts), plus any hour a's stored portfolio or risk states have
--     outside that range. Every grid hour must have a portfolio and a risk state
--     (portfolio_state_missing / risk_state_missing), and a position state per instrument whose
--     recomputed quantity is non-zero there (position_state_missing). The expectations are
--     computed over the grid, not over the stored rows, so a deleted hour is expected and
--     missed, never silently skipped.
--   position at (a, i, h): quantity = net filled quantity with fill_ts < h + 1h; mark_price =
--     feature_snapshot.close_price at (i, h); market_value = round(quantity * mark_price, 8).
--   portfolio at (a, h): cash = balance_after of the last ledger entry (by ledger_seq) with
--     entry_ts < h + 1h (0 before any); market_value = sum of recomputed position values;
--     equity = cash + market_value; peak_equity = running max of equity over a's grid hours.
--   risk at (a, h): gross_exposure = round(mv / equity, 8) (0 when equity = 0); drawdown =
--     round(1 - equity / peak_equity, 8) (0 when peak = 0); trading_state from the drawdown at
--     scale 8 (>= 0.20 HALTED, >= 0.10 REDUCE_ONLY, else NORMAL); parent_portfolio_hash = the
--     recomputed portfolio hash.
--   risk events: exactly one TRADING_STATE_CHANGE event at each stored risk state whose
--     trading_state differs from the previous stored hour's (first hour: from NORMAL), with that
--     from/to and that hour's drawdown; no other events.
-- Hour buckets use date_trunc(..., 'UTC') so the session time zone cannot shift them.
--@rule position_quantity_mismatch,position_mark_price_mismatch,position_mark_missing,position_market_value_mismatch
--@rule position_state_hash_mismatch,position_state_missing
--@rule portfolio_cash_mismatch,portfolio_market_value_mismatch,portfolio_equity_mismatch
--@rule portfolio_peak_equity_mismatch,portfolio_state_hash_mismatch,portfolio_state_missing
--@rule risk_gross_exposure_mismatch,risk_drawdown_mismatch,risk_trading_state_mismatch
--@rule risk_parent_portfolio_hash_mismatch,risk_state_hash_mismatch,risk_state_missing
--@rule risk_event_missing,risk_event_unexpected,risk_event_mismatch,risk_event_duplicate
WITH fill_buckets AS (
    SELECT account_id, instrument_id, date_trunc('hour', fill_ts, 'UTC') AS hour_ts,
           sum(CASE side WHEN 'BUY' THEN fill_qty WHEN 'SELL' THEN -fill_qty END) AS net
    FROM {{order_fill}}
    GROUP BY 1, 2, 3
),
account_instruments AS (
    SELECT account_id, instrument_id FROM fill_buckets
    UNION
    SELECT account_id, instrument_id FROM position_hourly_state
),
ledger_buckets AS (
    SELECT account_id, date_trunc('hour', entry_ts, 'UTC') AS hour_ts, max(ledger_seq) AS last_seq
    FROM {{cash_ledger}}
    GROUP BY 1, 2
),
-- Where each account's grid starts: its first event or first stored state (whichever is earlier).
account_first AS (
    SELECT account_id, min(hour_ts) AS first_hour
    FROM (SELECT account_id, min(hour_ts) AS hour_ts FROM fill_buckets GROUP BY 1
          UNION ALL
          SELECT account_id, min(hour_ts) FROM ledger_buckets GROUP BY 1
          UNION ALL
          SELECT account_id, date_trunc('hour', min(requested_ts), 'UTC') FROM {{order_request}} GROUP BY 1
          UNION ALL
          SELECT account_id, date_trunc('hour', min(hour_ts), 'UTC') FROM {{trade_signal}} GROUP BY 1
          UNION ALL
          SELECT account_id, date_trunc('hour', min(hour_ts), 'UTC') FROM portfolio_hourly_state GROUP BY 1
          UNION ALL
          SELECT account_id, date_trunc('hour', min(hour_ts), 'UTC') FROM risk_hourly_state GROUP BY 1) f
    GROUP BY account_id
),
-- Every hour an account must have states for (see the header), plus the stored hours outside it.
hour_grid AS (
    SELECT af.account_id, g.hour_ts
    FROM account_first af
    CROSS JOIN (SELECT max(hour_ts) AS last_hour FROM feature_snapshot) lf
    CROSS JOIN LATERAL generate_series(af.first_hour, lf.last_hour, interval '1 hour') g(hour_ts)
    UNION
    SELECT account_id, hour_ts FROM portfolio_hourly_state
    UNION
    SELECT account_id, hour_ts FROM risk_hourly_state
),
-- Where an expected position is needed: each instrument the account ever filled or held at each
-- of its grid hours (portfolio values and missing rows are judged there), plus every stored
-- position at an hour outside the grid (only compared with its own expectation).
position_points AS (
    SELECT ai.account_id, ai.instrument_id, hg.hour_ts
    FROM account_instruments ai
    JOIN hour_grid hg ON hg.account_id = ai.account_id
    UNION ALL
    SELECT DISTINCT s.account_id, s.instrument_id, s.hour_ts
    FROM position_hourly_state s
    WHERE NOT EXISTS (SELECT FROM hour_grid g
                      WHERE g.account_id = s.account_id AND g.hour_ts = s.hour_ts)
),
-- One ordered stream per (account, instrument) of fill buckets and position points: the running
-- sum at a point is the net filled quantity up to the end of its hour (a bucket sorts before a
-- point of the same hour). One sort and one window instead of a grid joined back to its buckets.
position_running AS (
    SELECT x.account_id, x.instrument_id, x.hour_ts, x.is_point,
           sum(x.net) OVER (PARTITION BY x.account_id, x.instrument_id ORDER BY x.hour_ts, x.is_point
                            ROWS UNBOUNDED PRECEDING) AS quantity
    FROM (SELECT account_id, instrument_id, hour_ts, true AS is_point, 0::numeric AS net FROM position_points
          UNION ALL
          SELECT account_id, instrument_id, hour_ts, false, net FROM fill_buckets) x
),
position_expected AS (
    SELECT pr.account_id, pr.instrument_id, pr.hour_ts,
           pr.quantity::numeric(20,8) AS quantity,
           fs.close_price AS mark_price,
           round(pr.quantity * fs.close_price, 8)::numeric(20,8) AS market_value
    FROM position_running pr
    LEFT JOIN feature_snapshot fs ON fs.instrument_id = pr.instrument_id AND fs.hour_ts = pr.hour_ts
    WHERE pr.is_point
),
position_value_by_hour AS (
    SELECT account_id, hour_ts, sum(market_value) AS market_value
    FROM position_expected
    GROUP BY account_id, hour_ts
),
cash_running AS (
    SELECT g.account_id, g.hour_ts,
           max(lb.last_seq) OVER (PARTITION BY g.account_id ORDER BY g.hour_ts) AS last_seq
    FROM (SELECT account_id, hour_ts FROM hour_grid
          UNION
          SELECT account_id, hour_ts FROM ledger_buckets) g
    LEFT JOIN ledger_buckets lb ON lb.account_id = g.account_id AND lb.hour_ts = g.hour_ts
),
portfolio_base AS (
    SELECT p.account_id, p.hour_ts,
           coalesce(cl.balance_after, 0)::numeric(20,8) AS cash,
           coalesce(pv.market_value, 0)::numeric(20,8) AS market_value
    FROM hour_grid p
    JOIN cash_running cr ON cr.account_id = p.account_id AND cr.hour_ts = p.hour_ts
    LEFT JOIN {{cash_ledger}} cl ON cl.account_id = cr.account_id AND cl.ledger_seq = cr.last_seq
    LEFT JOIN position_value_by_hour pv ON pv.account_id = p.account_id AND pv.hour_ts = p.hour_ts
),
portfolio_equity AS (
    SELECT pb.*, (pb.cash + pb.market_value)::numeric(20,8) AS equity
    FROM portfolio_base pb
),
portfolio_expected AS (
    SELECT pe.*,
           max(pe.equity) OVER (PARTITION BY pe.account_id ORDER BY pe.hour_ts) AS peak_equity
    FROM portfolio_equity pe
),
portfolio_expected_hashed AS (
    SELECT pe.*,
           encode(sha256(convert_to(concat_ws('|',
               pe.account_id::text,
               to_char(pe.hour_ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
               pe.cash::text, pe.market_value::text, pe.equity::text, pe.peak_equity::text),
               'UTF8')), 'hex') AS state_hash
    FROM portfolio_expected pe
),
risk_ratios AS (
    SELECT p.account_id, p.hour_ts, p.state_hash AS parent_portfolio_hash,
           (CASE WHEN p.equity = 0 THEN 0 ELSE round(p.market_value / p.equity, 8) END)::numeric(20,8) AS gross_exposure,
           (CASE WHEN p.peak_equity = 0 THEN 0 ELSE round(1 - p.equity / p.peak_equity, 8) END)::numeric(20,8) AS drawdown
    FROM portfolio_expected_hashed p
),
risk_expected AS (
    SELECT rr.*,
           CASE WHEN rr.drawdown >= 0.20 THEN 'HALTED'
                WHEN rr.drawdown >= 0.10 THEN 'REDUCE_ONLY'
                ELSE 'NORMAL' END AS trading_state
    FROM risk_ratios rr
),
risk_expected_hashed AS (
    SELECT re.*,
           encode(sha256(convert_to(concat_ws('|',
               re.account_id::text,
               to_char(re.hour_ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
               re.gross_exposure::text, re.drawdown::text, re.trading_state, re.parent_portfolio_hash),
               'UTF8')), 'hex') AS state_hash
    FROM risk_expected re
),
transitions AS (
    SELECT t.account_id, t.hour_ts, t.from_state, t.to_state, t.drawdown
    FROM (SELECT account_id, hour_ts, drawdown, trading_state AS to_state,
                 coalesce(lag(trading_state) OVER (PARTITION BY account_id ORDER BY hour_ts), 'NORMAL') AS from_state
          FROM risk_hourly_state) t
    WHERE t.to_state IS DISTINCT FROM t.from_state
),
events AS (
    SELECT e.*, count(*) OVER (PARTITION BY e.account_id, e.hour_ts) AS n_at_hour
    FROM {{risk_event}} e
)
SELECT NULL::text AS rule, NULL::bigint AS account_id, NULL::jsonb AS key, NULL::jsonb AS detail
WHERE false
UNION ALL
SELECT r.rule, s.account_id, jsonb_build_object('instrument_id', s.instrument_id, 'hour_ts', s.hour_ts),
       jsonb_build_object('quantity', s.quantity, 'expected_quantity', e.quantity,
                          'mark_price', s.mark_price, 'expected_mark_price', e.mark_price,
                          'market_value', s.market_value, 'expected_market_value', e.market_value,
                          'state_hash', s.state_hash, 'expected_state_hash', eh.state_hash)
FROM position_hourly_state s
LEFT JOIN position_expected e
  ON e.account_id = s.account_id AND e.instrument_id = s.instrument_id AND e.hour_ts = s.hour_ts
-- hashed after the join, so the join (a sort of every position) carries narrow rows
CROSS JOIN LATERAL (
    SELECT CASE WHEN e.account_id IS NOT NULL THEN
           encode(sha256(convert_to(concat_ws('|',
               e.account_id::text, e.instrument_id::text,
               to_char(e.hour_ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
               e.quantity::text, coalesce(e.mark_price::text, '\N'), coalesce(e.market_value::text, '\N')),
               'UTF8')), 'hex') END AS state_hash
) eh
CROSS JOIN LATERAL (SELECT
    s.quantity IS DISTINCT FROM e.quantity AS b1,
    e.mark_price IS NULL AS b2,
    e.mark_price IS NOT NULL AND s.mark_price <> e.mark_price AS b3,
    e.mark_price IS NOT NULL AND s.market_value <> e.market_value AS b4,
    s.state_hash IS DISTINCT FROM eh.state_hash AS b5
) rb
CROSS JOIN LATERAL (VALUES
    ('position_quantity_mismatch', rb.b1),
    ('position_mark_missing', rb.b2),
    ('position_mark_price_mismatch', rb.b3),
    ('position_market_value_mismatch', rb.b4),
    ('position_state_hash_mismatch', rb.b5)
) r(rule, bad)
WHERE (rb.b1 OR rb.b2 OR rb.b3 OR rb.b4 OR rb.b5) AND r.bad
UNION ALL
SELECT 'position_state_missing', e.account_id, jsonb_build_object('instrument_id', e.instrument_id, 'hour_ts', e.hour_ts),
       jsonb_build_object('expected_quantity', e.quantity)
FROM position_expected e
JOIN hour_grid g ON g.account_id = e.account_id AND g.hour_ts = e.hour_ts
LEFT JOIN position_hourly_state s
  ON s.account_id = e.account_id AND s.instrument_id = e.instrument_id AND s.hour_ts = e.hour_ts
WHERE s.account_id IS NULL AND e.quantity <> 0
UNION ALL
SELECT r.rule, s.account_id, jsonb_build_object('hour_ts', s.hour_ts),
       jsonb_build_object('cash', s.cash, 'expected_cash', e.cash,
                          'market_value', s.market_value, 'expected_market_value', e.market_value,
                          'equity', s.equity, 'expected_equity', e.equity,
                          'peak_equity', s.peak_equity, 'expected_peak_equity', e.peak_equity,
                          'state_hash', s.state_hash, 'expected_state_hash', e.state_hash)
FROM portfolio_hourly_state s
JOIN portfolio_expected_hashed e ON e.account_id = s.account_id AND e.hour_ts = s.hour_ts
CROSS JOIN LATERAL (SELECT
    s.cash <> e.cash AS b1,
    s.market_value <> e.market_value AS b2,
    s.equity <> e.equity AS b3,
    s.peak_equity <> e.peak_equity AS b4,
    s.state_hash IS DISTINCT FROM e.state_hash AS b5
) rb
CROSS JOIN LATERAL (VALUES
    ('portfolio_cash_mismatch', rb.b1),
    ('portfolio_market_value_mismatch', rb.b2),
    ('portfolio_equity_mismatch', rb.b3),
    ('portfolio_peak_equity_mismatch', rb.b4),
    ('portfolio_state_hash_mismatch', rb.b5)
) r(rule, bad)
WHERE (rb.b1 OR rb.b2 OR rb.b3 OR rb.b4 OR rb.b5) AND r.bad
UNION ALL
SELECT r.rule, s.account_id, jsonb_build_object('hour_ts', s.hour_ts),
       jsonb_build_object('gross_exposure', s.gross_exposure, 'expected_gross_exposure', e.gross_exposure,
                          'drawdown', s.drawdown, 'expected_drawdown', e.drawdown,
                          'trading_state', s.trading_state, 'expected_trading_state', e.trading_state,
                          'parent_portfolio_hash', s.parent_portfolio_hash,
                          'expected_parent_portfolio_hash', e.parent_portfolio_hash,
                          'state_hash', s.state_hash, 'expected_state_hash', e.state_hash)
FROM risk_hourly_state s
JOIN risk_expected_hashed e ON e.account_id = s.account_id AND e.hour_ts = s.hour_ts
-- every stored risk hour is a grid hour, so it always has an expectation
CROSS JOIN LATERAL (SELECT
    s.gross_exposure <> e.gross_exposure AS b2,
    s.drawdown <> e.drawdown AS b3,
    s.trading_state <> e.trading_state AS b4,
    s.parent_portfolio_hash <> e.parent_portfolio_hash AS b5,
    s.state_hash IS DISTINCT FROM e.state_hash AS b6
) rb
CROSS JOIN LATERAL (VALUES
    ('risk_gross_exposure_mismatch', rb.b2),
    ('risk_drawdown_mismatch', rb.b3),
    ('risk_trading_state_mismatch', rb.b4),
    ('risk_parent_portfolio_hash_mismatch', rb.b5),
    ('risk_state_hash_mismatch', rb.b6)
) r(rule, bad)
WHERE (rb.b2 OR rb.b3 OR rb.b4 OR rb.b5 OR rb.b6) AND r.bad
UNION ALL
SELECT r.rule, g.account_id, jsonb_build_object('hour_ts', g.hour_ts), NULL::jsonb
FROM hour_grid g
LEFT JOIN portfolio_hourly_state p ON p.account_id = g.account_id AND p.hour_ts = g.hour_ts
LEFT JOIN risk_hourly_state s ON s.account_id = g.account_id AND s.hour_ts = g.hour_ts
CROSS JOIN LATERAL (VALUES
    ('portfolio_state_missing', p.account_id IS NULL),
    ('risk_state_missing', s.account_id IS NULL)
) r(rule, bad)
WHERE (p.account_id IS NULL OR s.account_id IS NULL) AND r.bad
UNION ALL
SELECT r.rule, coalesce(e.account_id, t.account_id),
       jsonb_build_object('hour_ts', coalesce(e.hour_ts, t.hour_ts), 'risk_event_id', e.risk_event_id),
       jsonb_build_object('event_type', e.event_type, 'from_state', e.from_state, 'to_state', e.to_state,
                          'drawdown', e.drawdown, 'expected_from_state', t.from_state,
                          'expected_to_state', t.to_state, 'expected_drawdown', t.drawdown)
FROM events e
FULL JOIN transitions t ON t.account_id = e.account_id AND t.hour_ts = e.hour_ts
CROSS JOIN LATERAL (SELECT
    e.account_id IS NULL AS b1,
    t.account_id IS NULL AS b2,
    e.n_at_hour > 1 AS b3,
    e.account_id IS NOT NULL AND t.account_id IS NOT NULL
     AND (e.event_type IS DISTINCT FROM 'TRADING_STATE_CHANGE' OR e.from_state IS DISTINCT FROM t.from_state
          OR e.to_state IS DISTINCT FROM t.to_state OR e.drawdown IS DISTINCT FROM t.drawdown) AS b4
) rb
CROSS JOIN LATERAL (VALUES
    ('risk_event_missing', rb.b1),
    ('risk_event_unexpected', rb.b2),
    ('risk_event_duplicate', rb.b3),
    ('risk_event_mismatch', rb.b4)
) r(rule, bad)
WHERE (rb.b1 OR rb.b2 OR rb.b3 OR rb.b4) AND r.bad
