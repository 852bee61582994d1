-- a lot's cost basis off by 0.00000001
UPDATE {{position_lot}} SET cost_basis = cost_basis + 0.00000001 WHERE lot_id = (SELECT min(lot_id) FROM {{position_lot}});
