-- a risk event invented at an hour without a change
--@needs SELECT EXISTS (SELECT 1 FROM {{risk_event}})
INSERT INTO {{risk_event}}
SELECT (jsonb_populate_record(NULL::{{risk_event}}, to_jsonb(e) || jsonb_build_object(
          'risk_event_id', (SELECT max(risk_event_id) + 1 FROM {{risk_event}}),
          'hour_ts', e.hour_ts + interval '100000 hours'))).*
FROM {{risk_event}} e ORDER BY e.risk_event_id LIMIT 1;
