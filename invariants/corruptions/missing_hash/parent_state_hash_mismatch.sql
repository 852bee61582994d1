-- a risk event's parent_state_hash not its state's
--@needs SELECT EXISTS (SELECT 1 FROM {{risk_event}})
UPDATE {{risk_event}} SET parent_state_hash = repeat('6', 64) WHERE risk_event_id = (SELECT min(risk_event_id) FROM {{risk_event}});
