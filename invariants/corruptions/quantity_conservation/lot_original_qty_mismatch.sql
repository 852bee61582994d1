-- a lot's original_qty off by 0.00000001
UPDATE {{position_lot}} SET original_qty = original_qty + 0.00000001 WHERE lot_id = (SELECT min(lot_id) FROM {{position_lot}});
