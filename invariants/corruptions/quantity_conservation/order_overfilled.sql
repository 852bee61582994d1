-- an order's quantity below what was filled
--@drop-checks {{order_request}}.quantity
UPDATE {{order_request}} SET quantity = filled_quantity - 0.00000001
WHERE order_id = (SELECT min(order_id) FROM {{order_request}} WHERE filled_quantity > 0);
