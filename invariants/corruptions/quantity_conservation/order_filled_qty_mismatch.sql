-- an order's filled_quantity off by 0.00000001
UPDATE {{order_request}} SET filled_quantity = filled_quantity - 0.00000001
WHERE order_id = (SELECT min(order_id) FROM {{order_request}} WHERE filled_quantity > 0);
