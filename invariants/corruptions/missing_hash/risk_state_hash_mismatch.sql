-- an order's risk_state_hash not its bound state's
UPDATE {{order_request}} SET risk_state_hash = repeat('f', 64) WHERE order_id = (SELECT min(order_id) FROM {{order_request}});
