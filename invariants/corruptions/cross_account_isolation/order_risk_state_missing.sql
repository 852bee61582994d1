-- an order bound to an hour without a risk state
--@drop-checks {{order_request}}.risk_hour_ts
UPDATE {{order_request}} SET requested_ts = requested_ts - interval '100000 hours',
                             risk_hour_ts = risk_hour_ts - interval '100000 hours'
WHERE order_id = (SELECT min(order_id) FROM {{order_request}});
