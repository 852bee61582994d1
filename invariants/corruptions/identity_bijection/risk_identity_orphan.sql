-- an identity row without a source row
INSERT INTO risk_hourly_state_identity (account_id, hour_ts, state_hash)
SELECT account_id, hour_ts + interval '100000 hours', state_hash FROM risk_hourly_state_identity
ORDER BY account_id, hour_ts LIMIT 1;
