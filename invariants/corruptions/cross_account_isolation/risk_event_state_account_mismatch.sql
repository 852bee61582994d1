-- a risk event naming another account's state hash
--@needs SELECT EXISTS (SELECT 1 FROM {{risk_event}}) AND (SELECT count(DISTINCT account_id) > 1 FROM risk_hourly_state)
UPDATE {{risk_event}} e SET parent_state_hash =
  (SELECT r.state_hash FROM risk_hourly_state r WHERE r.account_id <> e.account_id ORDER BY r.account_id, r.hour_ts LIMIT 1)
WHERE e.risk_event_id = (SELECT min(risk_event_id) FROM {{risk_event}});
