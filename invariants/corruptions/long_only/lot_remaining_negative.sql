-- a lot's remaining_qty below 0
--@drop-checks {{position_lot}}.remaining_qty
UPDATE {{position_lot}} SET remaining_qty = -0.00000001 WHERE lot_id = (SELECT min(lot_id) FROM {{position_lot}});
