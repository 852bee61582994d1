-- the lot of the last BUY fill deleted
DELETE FROM {{position_lot}} WHERE lot_id = (SELECT max(lot_id) FROM {{position_lot}});
