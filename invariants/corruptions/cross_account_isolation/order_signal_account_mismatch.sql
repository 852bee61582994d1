-- an order naming another account's signal
--@needs SELECT EXISTS (SELECT 1 FROM {{order_request}}) AND (SELECT count(DISTINCT account_id) > 1 FROM {{trade_signal}})
UPDATE {{order_request}} o SET signal_id =
  (SELECT s.signal_id FROM {{trade_signal}} s WHERE s.account_id <> o.account_id ORDER BY s.signal_id LIMIT 1)
WHERE o.order_id = (SELECT min(order_id) FROM {{order_request}});
