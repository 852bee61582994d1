-- the feature snapshot a position is marked at deleted
DELETE FROM feature_snapshot WHERE (instrument_id, hour_ts) =
(SELECT instrument_id, hour_ts FROM position_hourly_state ORDER BY account_id, instrument_id, hour_ts LIMIT 1);
