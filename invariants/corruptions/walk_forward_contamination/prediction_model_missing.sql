-- a prediction naming a model that does not exist
--@key SELECT jsonb_build_object('key', jsonb_build_object('prediction_id', min(prediction_id))) FROM {{model_prediction}}
UPDATE {{model_prediction}} SET model_id = model_id + 1000000000000
WHERE prediction_id = (SELECT min(prediction_id) FROM {{model_prediction}});
