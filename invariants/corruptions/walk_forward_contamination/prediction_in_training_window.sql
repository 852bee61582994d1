-- a model retrained over hours it predicted
UPDATE model_registry m SET train_end = (SELECT max(hour_ts) FROM {{model_prediction}} p WHERE p.model_id = m.model_id)
WHERE m.model_id = (SELECT model_id FROM {{model_prediction}} ORDER BY prediction_id LIMIT 1);
