-- an hourly portfolio's cash set to -1
--@drop-checks portfolio_hourly_state.cash
UPDATE portfolio_hourly_state SET cash = -1 WHERE (account_id, hour_ts) =
(SELECT account_id, hour_ts FROM portfolio_hourly_state ORDER BY account_id, hour_ts LIMIT 1);
