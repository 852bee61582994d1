-- an executed trade naming a lot that does not exist
UPDATE {{executed_trade}} SET lot_id = lot_id + 1000000000000
WHERE executed_trade_id = (SELECT min(executed_trade_id) FROM {{executed_trade}});
