-- a META prediction's components deleted
--@needs SELECT EXISTS (SELECT 1 FROM {{meta_learner_component}})
DELETE FROM {{meta_learner_component}}
WHERE meta_prediction_id = (SELECT min(meta_prediction_id) FROM {{meta_learner_component}});
