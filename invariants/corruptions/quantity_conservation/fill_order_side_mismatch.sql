-- an order's side flipped after its fills
UPDATE {{order_request}} SET side = CASE side WHEN 'BUY' THEN 'SELL' ELSE 'BUY' END
WHERE order_id = (SELECT order_id FROM {{order_fill}} ORDER BY fill_id LIMIT 1);
