-- a fee off by 0.00000001
UPDATE {{order_fill}} SET fee = fee + 0.00000001 WHERE fill_id = (SELECT min(fill_id) FROM {{order_fill}});
