-- a risk identity row deleted
--@sets v2,after_cutover
--@needs SELECT to_regclass('risk_hourly_state_identity') IS NOT NULL
--@expect : FAIL
DELETE FROM risk_hourly_state_identity WHERE (account_id, hour_ts) =
(SELECT account_id, hour_ts FROM risk_hourly_state_identity ORDER BY account_id, hour_ts LIMIT 1);
