-- a contract trigger disabled
--@sets after_cutover
--@expect risk_hourly_state.trg_risk_hourly_state_identity_sync_ins: disabled
ALTER TABLE risk_hourly_state DISABLE TRIGGER trg_risk_hourly_state_identity_sync_ins;
