-- an executed trade naming a fill that does not exist
UPDATE {{executed_trade}} SET sell_fill_id = sell_fill_id + 1000000000000
WHERE executed_trade_id = (SELECT min(executed_trade_id) FROM {{executed_trade}});
