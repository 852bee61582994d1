-- an order bound to the hour it was requested in
--@drop-checks {{order_request}}.risk_hour_ts
UPDATE {{order_request}} SET requested_ts = requested_ts + interval '1 hour'
WHERE order_id = (SELECT min(order_id) FROM {{order_request}});
