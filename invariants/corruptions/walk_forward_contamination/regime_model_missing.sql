-- a regime output naming a model that does not exist
--@key SELECT jsonb_build_object('key', jsonb_build_object('regime_output_id', min(regime_output_id))) FROM {{regime_output}}
UPDATE {{regime_output}} SET model_id = model_id + 1000000000000
WHERE regime_output_id = (SELECT min(regime_output_id) FROM {{regime_output}});
