-- an executed trade's parent_lot_hash not its lot's
UPDATE {{executed_trade}} SET parent_lot_hash = repeat('4', 64)
WHERE executed_trade_id = (SELECT min(executed_trade_id) FROM {{executed_trade}});
