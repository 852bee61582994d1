-- a prediction made from a later feature snapshot
UPDATE {{model_prediction}} SET feature_hour_ts = hour_ts + interval '1 hour'
WHERE prediction_id = (SELECT min(prediction_id) FROM {{model_prediction}});
