-- a lot opened one second after its fill
UPDATE {{position_lot}} SET opened_ts = opened_ts + interval '1 second' WHERE lot_id = (SELECT min(lot_id) FROM {{position_lot}});
