-- a position's state_hash replaced
UPDATE position_hourly_state SET state_hash = repeat('8', 64) WHERE (account_id, instrument_id, hour_ts) =
(SELECT account_id, instrument_id, hour_ts FROM position_hourly_state ORDER BY account_id, instrument_id, hour_ts LIMIT 1);
