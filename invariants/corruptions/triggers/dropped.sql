-- a contract trigger dropped
--@sets after_cutover
--@expect order_request.ctrg_order_request_v2_cluster_cap: missing
DROP TRIGGER ctrg_order_request_v2_cluster_cap ON order_request;
