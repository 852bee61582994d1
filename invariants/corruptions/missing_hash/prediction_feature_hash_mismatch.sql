-- a prediction's feature_hash not its snapshot's
UPDATE {{model_prediction}} SET feature_hash = repeat('c', 64)
WHERE prediction_id = (SELECT min(prediction_id) FROM {{model_prediction}});
