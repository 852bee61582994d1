-- a position marked at a wrong price
UPDATE position_hourly_state SET mark_price = mark_price + 0.00000001 WHERE (account_id, instrument_id, hour_ts) =
(SELECT account_id, instrument_id, hour_ts FROM position_hourly_state ORDER BY account_id, instrument_id, hour_ts LIMIT 1);
