-- an order naming a signal that does not exist
UPDATE {{order_request}} SET signal_id = signal_id + 1000000000000
WHERE order_id = (SELECT min(order_id) FROM {{order_request}});
