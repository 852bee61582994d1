-- a non-zero hourly position deleted
DELETE FROM position_hourly_state WHERE (account_id, instrument_id, hour_ts) =
(SELECT p.account_id, p.instrument_id, p.hour_ts FROM position_hourly_state p
   JOIN portfolio_hourly_state q ON q.account_id = p.account_id AND q.hour_ts = p.hour_ts
  WHERE p.quantity <> 0 ORDER BY p.account_id, p.instrument_id, p.hour_ts LIMIT 1);
