-- a fill whose side is HOLD
--@drop-checks {{order_fill}}.side
UPDATE {{order_fill}} SET side = 'HOLD' WHERE fill_id = (SELECT min(fill_id) FROM {{order_fill}});
