-- a risk event at an hour without a risk state
--@needs SELECT EXISTS (SELECT 1 FROM {{risk_event}})
UPDATE {{risk_event}} SET hour_ts = hour_ts + interval '100000 hours'
WHERE risk_event_id = (SELECT min(risk_event_id) FROM {{risk_event}});
