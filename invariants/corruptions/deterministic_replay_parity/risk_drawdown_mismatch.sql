-- a risk state's drawdown off by 0.00000001
UPDATE risk_hourly_state SET drawdown = drawdown + 0.00000001 WHERE (account_id, hour_ts) =
(SELECT account_id, hour_ts FROM risk_hourly_state ORDER BY account_id, hour_ts LIMIT 1);
