-- a portfolio state deleted (its risk state kept)
DELETE FROM portfolio_hourly_state WHERE (account_id, hour_ts) =
(SELECT account_id, hour_ts FROM portfolio_hourly_state ORDER BY account_id, hour_ts LIMIT 1);
