-- a lot opened by another account's fill
--@drop-uniques {{position_lot}}.opening_fill_id
--@needs SELECT count(DISTINCT account_id) > 1 FROM {{order_fill}}
UPDATE {{position_lot}} l SET opening_fill_id =
  (SELECT f.fill_id FROM {{order_fill}} f WHERE f.account_id <> l.account_id ORDER BY f.fill_id LIMIT 1)
WHERE l.lot_id = (SELECT min(lot_id) FROM {{position_lot}});
