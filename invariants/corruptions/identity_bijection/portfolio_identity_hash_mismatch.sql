-- an identity row's hash changed
UPDATE portfolio_hourly_state_identity SET state_hash = repeat('a', 64) WHERE (account_id, hour_ts) =
(SELECT account_id, hour_ts FROM portfolio_hourly_state_identity ORDER BY account_id, hour_ts LIMIT 1);
