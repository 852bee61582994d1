-- a lot's parent_fill_hash not its opening fill's row_hash
UPDATE {{position_lot}} SET parent_fill_hash = repeat('2', 64) WHERE lot_id = (SELECT min(lot_id) FROM {{position_lot}});
