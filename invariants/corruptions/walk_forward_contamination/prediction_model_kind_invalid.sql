-- a prediction attributed to a REGIME model
--@needs SELECT EXISTS (SELECT 1 FROM model_registry WHERE model_kind = 'REGIME')
UPDATE {{model_prediction}} SET model_id = (SELECT min(model_id) FROM model_registry WHERE model_kind = 'REGIME')
WHERE prediction_id = (SELECT min(prediction_id) FROM {{model_prediction}});
