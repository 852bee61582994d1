-- an identity row deleted
DELETE FROM risk_hourly_state_identity WHERE (account_id, hour_ts) =
(SELECT account_id, hour_ts FROM risk_hourly_state_identity ORDER BY account_id, hour_ts LIMIT 1);
