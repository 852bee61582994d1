-- a META component predicted after its META prediction
--@needs SELECT EXISTS (SELECT 1 FROM {{meta_learner_component}})
UPDATE {{model_prediction}} b SET hour_ts =
  (SELECT mp.hour_ts + interval '1 hour' FROM {{meta_learner_component}} c
     JOIN {{model_prediction}} mp ON mp.prediction_id = c.meta_prediction_id
    WHERE c.base_prediction_id = b.prediction_id ORDER BY mp.hour_ts DESC LIMIT 1)
WHERE b.prediction_id = (SELECT base_prediction_id FROM {{meta_learner_component}}
                         ORDER BY meta_prediction_id, base_prediction_id LIMIT 1);
