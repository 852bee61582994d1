-- a META score off by 0.00000001
--@needs SELECT EXISTS (SELECT 1 FROM {{meta_learner_component}})
UPDATE {{model_prediction}} SET score = score + 0.00000001
WHERE prediction_id = (SELECT min(meta_prediction_id) FROM {{meta_learner_component}});
