-- a lot's instrument changed
--@needs SELECT EXISTS (SELECT 1 FROM {{position_lot}}) AND (SELECT count(*) > 1 FROM instrument)
UPDATE {{position_lot}} l SET instrument_id =
  (SELECT i.instrument_id FROM instrument i WHERE i.instrument_id <> l.instrument_id ORDER BY i.instrument_id LIMIT 1)
WHERE l.lot_id = (SELECT min(lot_id) FROM {{position_lot}});
