-- a risk state's state_hash replaced
UPDATE risk_hourly_state SET state_hash = repeat('e', 64) WHERE (account_id, hour_ts) =
(SELECT account_id, hour_ts FROM risk_hourly_state ORDER BY account_id, hour_ts LIMIT 1);
