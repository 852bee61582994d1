-- a sell consuming a younger lot instead of the oldest open one
--@drop-uniques {{executed_trade}}.lot_id
--@needs SELECT EXISTS (SELECT 1 FROM {{executed_trade}} t0 JOIN {{position_lot}} l1 ON l1.lot_id = t0.lot_id JOIN {{position_lot}} l2 ON l2.account_id = l1.account_id AND l2.instrument_id = l1.instrument_id AND (l2.opened_ts, l2.lot_id) > (l1.opened_ts, l1.lot_id) WHERE NOT EXISTS (SELECT 1 FROM {{executed_trade}} x WHERE x.sell_fill_id = t0.sell_fill_id AND x.lot_id = l2.lot_id))
UPDATE {{executed_trade}} t SET lot_id =
  (SELECT l2.lot_id FROM {{position_lot}} l1
     JOIN {{position_lot}} l2 ON l2.account_id = l1.account_id AND l2.instrument_id = l1.instrument_id
                             AND (l2.opened_ts, l2.lot_id) > (l1.opened_ts, l1.lot_id)
    WHERE l1.lot_id = t.lot_id
      AND NOT EXISTS (SELECT 1 FROM {{executed_trade}} x WHERE x.sell_fill_id = t.sell_fill_id AND x.lot_id = l2.lot_id)
    ORDER BY l2.opened_ts, l2.lot_id LIMIT 1)
WHERE t.executed_trade_id = (
  SELECT t0.executed_trade_id FROM {{executed_trade}} t0 JOIN {{position_lot}} l1 ON l1.lot_id = t0.lot_id
   WHERE EXISTS (SELECT 1 FROM {{position_lot}} l2 WHERE l2.account_id = l1.account_id AND l2.instrument_id = l1.instrument_id
                   AND (l2.opened_ts, l2.lot_id) > (l1.opened_ts, l1.lot_id)
                   AND NOT EXISTS (SELECT 1 FROM {{executed_trade}} x
                                    WHERE x.sell_fill_id = t0.sell_fill_id AND x.lot_id = l2.lot_id))
   ORDER BY t0.executed_trade_id LIMIT 1);
