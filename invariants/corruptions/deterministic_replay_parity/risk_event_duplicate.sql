-- a risk event written twice
--@drop-uniques {{risk_event}}.hour_ts
--@needs SELECT EXISTS (SELECT 1 FROM {{risk_event}})
INSERT INTO {{risk_event}}
SELECT (jsonb_populate_record(NULL::{{risk_event}}, to_jsonb(e) || jsonb_build_object(
          'risk_event_id', (SELECT max(risk_event_id) + 1 FROM {{risk_event}})))).*
FROM {{risk_event}} e ORDER BY e.risk_event_id LIMIT 1;
