-- a META model relabelled BASE
--@needs SELECT EXISTS (SELECT 1 FROM {{meta_learner_component}})
UPDATE model_registry SET model_kind = 'BASE' WHERE model_id =
(SELECT p.model_id FROM {{meta_learner_component}} c JOIN {{model_prediction}} p ON p.prediction_id = c.meta_prediction_id
 ORDER BY c.meta_prediction_id, c.base_prediction_id LIMIT 1);
