-- a *_v2 fill's fee changed before the cutover
--@sets v2
--@needs SELECT EXISTS (SELECT 1 FROM order_fill)
--@expect order_fill (order_fill -> order_fill_v2): 0 missing, 1 changed, 0 extra
--@key SELECT jsonb_build_object('fill_id', max(fill_id)) FROM order_fill
UPDATE order_fill_v2 SET fee = fee + 0.00000001 WHERE fill_id = (SELECT max(fill_id) FROM order_fill);
