-- an order's instrument changed after its fills
--@needs SELECT EXISTS (SELECT 1 FROM {{order_fill}}) AND (SELECT count(*) > 1 FROM instrument)
UPDATE {{order_request}} o SET instrument_id =
  (SELECT i.instrument_id FROM instrument i WHERE i.instrument_id <> o.instrument_id ORDER BY i.instrument_id LIMIT 1)
WHERE o.order_id = (SELECT order_id FROM {{order_fill}} ORDER BY fill_id LIMIT 1);
