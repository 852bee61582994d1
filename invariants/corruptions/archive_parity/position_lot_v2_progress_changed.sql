-- a *_v2 lot's remaining quantity changed before the cutover (progress columns are compared then)
--@sets v2
--@needs SELECT EXISTS (SELECT 1 FROM position_lot WHERE remaining_qty > 0)
--@expect position_lot (position_lot -> position_lot_v2): 0 missing, 1 changed, 0 extra
--@key SELECT jsonb_build_object('lot_id', min(lot_id)) FROM position_lot WHERE remaining_qty > 0
UPDATE position_lot_v2 SET remaining_qty = 0 WHERE lot_id = (SELECT min(lot_id) FROM position_lot WHERE remaining_qty > 0);
