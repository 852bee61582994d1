-- a risk state's trading_state flipped
--@drop-checks risk_hourly_state.trading_state
UPDATE risk_hourly_state SET trading_state = CASE trading_state WHEN 'NORMAL' THEN 'REDUCE_ONLY' ELSE 'NORMAL' END
WHERE (account_id, hour_ts) = (SELECT account_id, hour_ts FROM risk_hourly_state ORDER BY account_id, hour_ts LIMIT 1);
