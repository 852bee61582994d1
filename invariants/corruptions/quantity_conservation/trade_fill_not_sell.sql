-- an executed trade attributed to a BUY fill
UPDATE {{executed_trade}} t SET sell_fill_id =
  (SELECT f.fill_id FROM {{order_fill}} f WHERE f.account_id = t.account_id AND f.side = 'BUY' ORDER BY f.fill_id LIMIT 1)
WHERE t.executed_trade_id = (SELECT min(executed_trade_id) FROM {{executed_trade}});
