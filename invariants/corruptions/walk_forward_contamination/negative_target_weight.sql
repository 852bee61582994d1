-- a signal with target_weight -0.1
--@drop-checks {{trade_signal}}.target_weight
UPDATE {{trade_signal}} SET target_weight = -0.1 WHERE signal_id = (SELECT min(signal_id) FROM {{trade_signal}});
