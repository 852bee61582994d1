-- a *_v2 row that no canonical row mirrors
--@sets v2
--@needs SELECT EXISTS (SELECT 1 FROM regime_output)
--@expect regime_output (regime_output -> regime_output_v2): 0 missing, 0 changed, 1 extra
--@key SELECT jsonb_build_object('regime_output_id', max(regime_output_id) + 1) FROM regime_output
INSERT INTO regime_output_v2
SELECT (jsonb_populate_record(NULL::regime_output_v2, to_jsonb(r) || jsonb_build_object('regime_output_id', r.regime_output_id + 1))).*
FROM regime_output_v2 r WHERE r.regime_output_id = (SELECT max(regime_output_id) FROM regime_output_v2);
