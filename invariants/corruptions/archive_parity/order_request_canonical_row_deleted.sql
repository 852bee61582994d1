-- an archived order deleted from the canonical table after the cutover
--@sets after_cutover
--@needs SELECT EXISTS (SELECT 1 FROM order_request_phase1a_archive)
--@expect order_request (order_request_phase1a_archive -> order_request): 1 missing, 0 changed, 0 extra
--@key SELECT jsonb_build_object('order_id', max(order_id)) FROM order_request_phase1a_archive
DELETE FROM order_request WHERE order_id = (SELECT max(order_id) FROM order_request_phase1a_archive);
