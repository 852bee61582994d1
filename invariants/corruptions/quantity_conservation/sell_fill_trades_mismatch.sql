-- an executed trade's quantity off by 0.00000001
UPDATE {{executed_trade}} SET quantity = quantity + 0.00000001
WHERE executed_trade_id = (SELECT min(executed_trade_id) FROM {{executed_trade}});
