-- a risk state's gross exposure off by 0.00000001
UPDATE risk_hourly_state SET gross_exposure = gross_exposure + 0.00000001 WHERE (account_id, hour_ts) =
(SELECT account_id, hour_ts FROM risk_hourly_state ORDER BY account_id, hour_ts LIMIT 1);
