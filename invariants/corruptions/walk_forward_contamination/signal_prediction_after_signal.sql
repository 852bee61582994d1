-- a signal dated before its prediction
UPDATE {{trade_signal}} s SET hour_ts =
  (SELECT p.hour_ts - interval '1 hour' FROM {{model_prediction}} p WHERE p.prediction_id = s.prediction_id)
WHERE s.signal_id = (SELECT min(signal_id) FROM {{trade_signal}});
