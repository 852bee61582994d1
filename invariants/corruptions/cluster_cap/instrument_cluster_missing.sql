-- a bought instrument removed from its cluster
DELETE FROM instrument_cluster WHERE instrument_id =
(SELECT instrument_id FROM {{order_request}} WHERE side = 'BUY' ORDER BY order_id LIMIT 1);
