-- a regime output dated after a signal using it
UPDATE {{regime_output}} r SET hour_ts =
  (SELECT s.hour_ts + interval '1 hour' FROM {{trade_signal}} s WHERE s.regime_output_id = r.regime_output_id
    ORDER BY s.hour_ts LIMIT 1)
WHERE r.regime_output_id = (SELECT regime_output_id FROM {{trade_signal}} ORDER BY signal_id LIMIT 1);
