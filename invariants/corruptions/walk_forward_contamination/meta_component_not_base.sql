-- a META component's prediction attributed to a META model
--@needs SELECT EXISTS (SELECT 1 FROM {{meta_learner_component}})
UPDATE {{model_prediction}} SET model_id = (SELECT min(model_id) FROM model_registry WHERE model_kind = 'META')
WHERE prediction_id = (SELECT base_prediction_id FROM {{meta_learner_component}}
                       ORDER BY meta_prediction_id, base_prediction_id LIMIT 1);
