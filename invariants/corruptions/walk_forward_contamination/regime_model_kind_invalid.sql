-- a regime output attributed to a BASE model
UPDATE {{regime_output}} SET model_id = (SELECT min(model_id) FROM model_registry WHERE model_kind = 'BASE')
WHERE regime_output_id = (SELECT min(regime_output_id) FROM {{regime_output}});
