-- a fill price off by 0.00000001
UPDATE {{order_fill}} SET fill_price = fill_price + 0.00000001 WHERE fill_id = (SELECT min(fill_id) FROM {{order_fill}});
