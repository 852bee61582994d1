-- an hourly position set to -1
--@drop-checks position_hourly_state.quantity
UPDATE position_hourly_state SET quantity = -1 WHERE (account_id, instrument_id, hour_ts) =
(SELECT account_id, instrument_id, hour_ts FROM position_hourly_state ORDER BY account_id, instrument_id, hour_ts LIMIT 1);
