-- a *_v2 row deleted before the cutover (the dual write bypassed)
--@sets v2
--@needs SELECT EXISTS (SELECT 1 FROM trade_signal)
--@expect trade_signal (trade_signal -> trade_signal_v2): 1 missing, 0 changed, 0 extra
--@key SELECT jsonb_build_object('signal_id', min(signal_id)) FROM trade_signal
DELETE FROM trade_signal_v2 WHERE signal_id = (SELECT min(signal_id) FROM trade_signal);
