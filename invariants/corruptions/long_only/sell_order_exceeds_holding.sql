-- a SELL order for a million units more than was held when it was requested
--@key SELECT jsonb_build_object('key', jsonb_build_object('order_id', min(order_id))) FROM {{order_request}} WHERE side = 'SELL'
UPDATE {{order_request}} SET quantity = quantity + 1000000
WHERE order_id = (SELECT min(order_id) FROM {{order_request}} WHERE side = 'SELL');
