-- an executed trade's realized pnl off by 0.00000001
--@drop-checks {{executed_trade}}.realized_pnl
UPDATE {{executed_trade}} SET realized_pnl = realized_pnl + 0.00000001
WHERE executed_trade_id = (SELECT min(executed_trade_id) FROM {{executed_trade}});
