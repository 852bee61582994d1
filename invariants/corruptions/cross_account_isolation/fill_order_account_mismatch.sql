-- a fill naming another account's order
--@needs SELECT EXISTS (SELECT 1 FROM {{order_fill}}) AND (SELECT count(DISTINCT account_id) > 1 FROM {{order_request}})
UPDATE {{order_fill}} f SET order_id =
  (SELECT o.order_id FROM {{order_request}} o WHERE o.account_id <> f.account_id ORDER BY o.order_id LIMIT 1)
WHERE f.fill_id = (SELECT min(fill_id) FROM {{order_fill}});
