-- a lot opened by a fill that does not exist
UPDATE {{position_lot}} SET opening_fill_id = opening_fill_id + 1000000000000
WHERE lot_id = (SELECT min(lot_id) FROM {{position_lot}});
