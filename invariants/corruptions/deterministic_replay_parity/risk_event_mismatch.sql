-- a risk event's drawdown off by 0.00000001
--@needs SELECT EXISTS (SELECT 1 FROM {{risk_event}})
UPDATE {{risk_event}} SET drawdown = drawdown + 0.00000001 WHERE risk_event_id = (SELECT min(risk_event_id) FROM {{risk_event}});
