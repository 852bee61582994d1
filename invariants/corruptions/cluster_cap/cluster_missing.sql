-- a bought instrument moved to a cluster that does not exist
--@key SELECT jsonb_build_object('key', jsonb_build_object('order_id', min(order_id))) FROM {{order_request}} WHERE side = 'BUY' AND instrument_id = (SELECT instrument_id FROM {{order_request}} WHERE side = 'BUY' ORDER BY order_id LIMIT 1)
UPDATE instrument_cluster SET cluster_id = cluster_id + 1000000000000 WHERE instrument_id =
(SELECT instrument_id FROM {{order_request}} WHERE side = 'BUY' ORDER BY order_id LIMIT 1);
