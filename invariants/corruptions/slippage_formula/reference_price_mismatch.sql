-- an order's reference price changed after its fills
UPDATE {{order_request}} SET reference_price = reference_price + 1
WHERE order_id = (SELECT order_id FROM {{order_fill}} ORDER BY fill_id LIMIT 1);
