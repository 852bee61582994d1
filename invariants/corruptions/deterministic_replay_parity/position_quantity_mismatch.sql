-- a stale hourly position (quantity off by 0.00000001)
UPDATE position_hourly_state SET quantity = quantity + 0.00000001 WHERE (account_id, instrument_id, hour_ts) =
(SELECT account_id, instrument_id, hour_ts FROM position_hourly_state ORDER BY account_id, instrument_id, hour_ts LIMIT 1);
