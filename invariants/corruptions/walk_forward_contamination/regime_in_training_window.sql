-- a regime model retrained over hours it classified
UPDATE model_registry m SET train_end = (SELECT max(hour_ts) FROM {{regime_output}} r WHERE r.model_id = m.model_id)
WHERE m.model_id = (SELECT model_id FROM {{regime_output}} ORDER BY regime_output_id LIMIT 1);
