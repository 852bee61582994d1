-- a second identity row for one state
--@drop-uniques portfolio_hourly_state_identity.hour_ts
INSERT INTO portfolio_hourly_state_identity
SELECT * FROM portfolio_hourly_state_identity ORDER BY account_id, hour_ts LIMIT 1;
