-- an executed trade naming another account's fill
--@needs SELECT EXISTS (SELECT 1 FROM {{executed_trade}}) AND (SELECT count(DISTINCT account_id) > 1 FROM {{order_fill}})
UPDATE {{executed_trade}} t SET sell_fill_id =
  (SELECT f.fill_id FROM {{order_fill}} f WHERE f.account_id <> t.account_id ORDER BY f.fill_id LIMIT 1)
WHERE t.executed_trade_id = (SELECT min(executed_trade_id) FROM {{executed_trade}});
