-- a fill's parent_order_hash not its order's row_hash
UPDATE {{order_fill}} SET parent_order_hash = repeat('1', 64) WHERE fill_id = (SELECT min(fill_id) FROM {{order_fill}});
