-- one cluster exposure row of a risk state deleted
--@key SELECT jsonb_build_object('account_id', account_id, 'key', jsonb_build_object('cluster_id', cluster_id, 'hour_ts', hour_ts)) FROM (SELECT account_id, cluster_id, hour_ts FROM cluster_exposure_hourly_state ORDER BY account_id, hour_ts DESC, cluster_id LIMIT 1) x
DELETE FROM cluster_exposure_hourly_state WHERE (account_id, cluster_id, hour_ts) =
(SELECT account_id, cluster_id, hour_ts FROM cluster_exposure_hourly_state ORDER BY account_id, hour_ts DESC, cluster_id LIMIT 1);
