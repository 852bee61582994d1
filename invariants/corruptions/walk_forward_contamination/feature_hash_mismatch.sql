-- a feature snapshot's features edited, hash kept
UPDATE feature_snapshot SET features = '{"f1": 0.00000000}'::jsonb
WHERE (instrument_id, hour_ts) = (SELECT instrument_id, hour_ts FROM feature_snapshot ORDER BY instrument_id, hour_ts LIMIT 1);
