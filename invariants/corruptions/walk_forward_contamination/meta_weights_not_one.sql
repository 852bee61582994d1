-- a META weight off by 0.00000001
--@needs SELECT EXISTS (SELECT 1 FROM {{meta_learner_component}})
UPDATE {{meta_learner_component}} SET weight = weight + 0.00000001 WHERE (meta_prediction_id, base_prediction_id) =
(SELECT meta_prediction_id, base_prediction_id FROM {{meta_learner_component}}
 ORDER BY meta_prediction_id, base_prediction_id LIMIT 1);
