-- a portfolio's peak equity off by 0.00000001
UPDATE portfolio_hourly_state SET peak_equity = peak_equity + 0.00000001 WHERE (account_id, hour_ts) =
(SELECT account_id, hour_ts FROM portfolio_hourly_state ORDER BY account_id, hour_ts LIMIT 1);
