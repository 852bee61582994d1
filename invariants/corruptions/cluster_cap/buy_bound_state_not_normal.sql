-- the risk state a BUY is bound to set HALTED
UPDATE risk_hourly_state r SET trading_state = 'HALTED'
WHERE (r.account_id, r.hour_ts) = (SELECT account_id, risk_hour_ts FROM {{order_request}} WHERE side = 'BUY'
                                   ORDER BY order_id LIMIT 1);
