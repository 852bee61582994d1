-- a lot's remaining_qty reduced by 0.00000001
--@needs SELECT EXISTS (SELECT 1 FROM {{position_lot}} WHERE remaining_qty > 0)
UPDATE {{position_lot}} SET remaining_qty = remaining_qty - 0.00000001
WHERE lot_id = (SELECT min(lot_id) FROM {{position_lot}} WHERE remaining_qty > 0);
