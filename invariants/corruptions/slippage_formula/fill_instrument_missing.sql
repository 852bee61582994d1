-- a fill naming an instrument that does not exist
--@key SELECT jsonb_build_object('key', jsonb_build_object('fill_id', min(fill_id))) FROM {{order_fill}}
UPDATE {{order_fill}} SET instrument_id = instrument_id + 1000000000000
WHERE fill_id = (SELECT min(fill_id) FROM {{order_fill}});
