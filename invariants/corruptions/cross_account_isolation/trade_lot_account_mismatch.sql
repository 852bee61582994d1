-- an executed trade naming another account's lot
--@needs SELECT EXISTS (SELECT 1 FROM {{executed_trade}}) AND (SELECT count(DISTINCT account_id) > 1 FROM {{position_lot}})
UPDATE {{executed_trade}} t SET lot_id =
  (SELECT l.lot_id FROM {{position_lot}} l WHERE l.account_id <> t.account_id ORDER BY l.lot_id LIMIT 1)
WHERE t.executed_trade_id = (SELECT min(executed_trade_id) FROM {{executed_trade}});
