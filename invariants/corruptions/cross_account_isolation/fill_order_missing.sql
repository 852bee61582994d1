-- a fill naming an order that does not exist
UPDATE {{order_fill}} SET order_id = order_id + 1000000000000
WHERE fill_id = (SELECT min(fill_id) FROM {{order_fill}});
