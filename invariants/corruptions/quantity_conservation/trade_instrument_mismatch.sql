-- an executed trade's instrument changed
--@needs SELECT EXISTS (SELECT 1 FROM {{executed_trade}}) AND (SELECT count(*) > 1 FROM instrument)
UPDATE {{executed_trade}} t SET instrument_id =
  (SELECT i.instrument_id FROM instrument i WHERE i.instrument_id <> t.instrument_id ORDER BY i.instrument_id LIMIT 1)
WHERE t.executed_trade_id = (SELECT min(executed_trade_id) FROM {{executed_trade}});
