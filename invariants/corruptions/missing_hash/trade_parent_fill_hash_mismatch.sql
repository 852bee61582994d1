-- an executed trade's parent_fill_hash not its sell fill's
UPDATE {{executed_trade}} SET parent_fill_hash = repeat('3', 64)
WHERE executed_trade_id = (SELECT min(executed_trade_id) FROM {{executed_trade}});
