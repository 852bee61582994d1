-- a risk event deleted
--@needs SELECT EXISTS (SELECT 1 FROM {{risk_event}})
DELETE FROM {{risk_event}} WHERE risk_event_id = (SELECT min(risk_event_id) FROM {{risk_event}});
