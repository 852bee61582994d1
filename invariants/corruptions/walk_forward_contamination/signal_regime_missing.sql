-- a signal whose regime output does not exist
--@key SELECT jsonb_build_object('account_id', account_id, 'key', jsonb_build_object('signal_id', signal_id)) FROM (SELECT account_id, signal_id FROM {{trade_signal}} ORDER BY signal_id LIMIT 1) x
UPDATE {{trade_signal}} SET regime_output_id = regime_output_id + 1000000000000
WHERE signal_id = (SELECT min(signal_id) FROM {{trade_signal}});
