-- a canonical lot's cost basis changed after the cutover (the archive keeps the true one)
--@sets after_cutover
--@needs SELECT EXISTS (SELECT 1 FROM position_lot_phase1a_archive)
--@expect position_lot (position_lot_phase1a_archive -> position_lot): 0 missing, 1 changed, 0 extra
--@key SELECT jsonb_build_object('lot_id', min(lot_id)) FROM position_lot_phase1a_archive
UPDATE position_lot SET cost_basis = cost_basis + 1 WHERE lot_id = (SELECT min(lot_id) FROM position_lot_phase1a_archive);
