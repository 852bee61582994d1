-- an executed trade's proceeds (and pnl) off by 0.00000001
UPDATE {{executed_trade}} SET proceeds = proceeds + 0.00000001, realized_pnl = realized_pnl + 0.00000001
WHERE executed_trade_id = (SELECT min(executed_trade_id) FROM {{executed_trade}});
