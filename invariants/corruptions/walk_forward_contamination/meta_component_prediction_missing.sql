-- a META component naming a base prediction that does not exist
--@key SELECT jsonb_build_object('key', jsonb_build_object('meta_prediction_id', meta_prediction_id, 'base_prediction_id', base_prediction_id + 1000000000000)) FROM (SELECT meta_prediction_id, base_prediction_id FROM {{meta_learner_component}} ORDER BY meta_prediction_id, base_prediction_id LIMIT 1) x
--@needs SELECT EXISTS (SELECT 1 FROM {{meta_learner_component}})
UPDATE {{meta_learner_component}} SET base_prediction_id = base_prediction_id + 1000000000000
WHERE (meta_prediction_id, base_prediction_id) =
(SELECT meta_prediction_id, base_prediction_id FROM {{meta_learner_component}} ORDER BY meta_prediction_id, base_prediction_id LIMIT 1);
