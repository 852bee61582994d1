-- a prediction naming a snapshot that does not exist
UPDATE {{model_prediction}} SET feature_hour_ts = feature_hour_ts - interval '100000 hours'
WHERE prediction_id = (SELECT min(prediction_id) FROM {{model_prediction}});
