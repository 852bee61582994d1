-- a risk state's parent_portfolio_hash not its portfolio's
UPDATE risk_hourly_state SET parent_portfolio_hash = repeat('d', 64) WHERE (account_id, hour_ts) =
(SELECT account_id, hour_ts FROM risk_hourly_state ORDER BY account_id, hour_ts LIMIT 1);
