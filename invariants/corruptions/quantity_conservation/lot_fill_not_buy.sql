-- a lot attributed to a SELL fill
UPDATE {{position_lot}} l SET opening_fill_id =
  (SELECT f.fill_id FROM {{order_fill}} f WHERE f.account_id = l.account_id AND f.side = 'SELL' ORDER BY f.fill_id LIMIT 1)
WHERE l.lot_id = (SELECT min(lot_id) FROM {{position_lot}} x
                  WHERE EXISTS (SELECT 1 FROM {{order_fill}} f WHERE f.account_id = x.account_id AND f.side = 'SELL'));
