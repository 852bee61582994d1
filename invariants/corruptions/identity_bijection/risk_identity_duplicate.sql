-- a second identity row for one state
--@drop-uniques risk_hourly_state_identity.hour_ts
INSERT INTO risk_hourly_state_identity
SELECT * FROM risk_hourly_state_identity ORDER BY account_id, hour_ts LIMIT 1;
