-- a risk state deleted (its portfolio state kept)
DELETE FROM risk_hourly_state WHERE (account_id, hour_ts) =
(SELECT account_id, hour_ts FROM risk_hourly_state ORDER BY account_id, hour_ts DESC LIMIT 1);
