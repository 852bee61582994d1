-- an executed trade dated one second after its fill
UPDATE {{executed_trade}} SET executed_ts = executed_ts + interval '1 second'
WHERE executed_trade_id = (SELECT min(executed_trade_id) FROM {{executed_trade}});
