-- an order's parent_signal_hash not its signal's row_hash
UPDATE {{order_request}} SET parent_signal_hash = repeat('e', 64) WHERE order_id = (SELECT min(order_id) FROM {{order_request}});
