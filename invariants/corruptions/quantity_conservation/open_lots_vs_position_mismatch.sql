-- the latest hourly position off by 1
UPDATE position_hourly_state p SET quantity = quantity + 1
WHERE (p.account_id, p.instrument_id, p.hour_ts) = (
  SELECT x.account_id, x.instrument_id, x.hour_ts FROM position_hourly_state x
   WHERE x.hour_ts = (SELECT max(h.hour_ts) FROM (SELECT account_id, hour_ts FROM portfolio_hourly_state
                                                 UNION ALL SELECT account_id, hour_ts FROM position_hourly_state) h
                       WHERE h.account_id = x.account_id)
   ORDER BY x.account_id, x.instrument_id LIMIT 1);
