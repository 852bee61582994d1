-- an order bound to another account's risk state hash
--@needs SELECT EXISTS (SELECT 1 FROM {{order_request}}) AND (SELECT count(DISTINCT account_id) > 1 FROM risk_hourly_state)
UPDATE {{order_request}} o SET risk_state_hash =
  (SELECT r.state_hash FROM risk_hourly_state r WHERE r.account_id <> o.account_id ORDER BY r.account_id, r.hour_ts LIMIT 1)
WHERE o.order_id = (SELECT min(order_id) FROM {{order_request}});
