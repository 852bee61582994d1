-- a slippage cost off by 0.00000001
UPDATE {{order_fill}} SET slippage_cost = slippage_cost + 0.00000001 WHERE fill_id = (SELECT min(fill_id) FROM {{order_fill}});
