-- a portfolio's state_hash replaced
UPDATE portfolio_hourly_state SET state_hash = repeat('9', 64) WHERE (account_id, hour_ts) =
(SELECT account_id, hour_ts FROM portfolio_hourly_state ORDER BY account_id, hour_ts LIMIT 1);
