-- a cluster exposure row off by 1
UPDATE cluster_exposure_hourly_state SET exposure = exposure + 1
WHERE (account_id, cluster_id, hour_ts) = (SELECT account_id, cluster_id, hour_ts FROM cluster_exposure_hourly_state
                                           ORDER BY account_id, cluster_id, hour_ts LIMIT 1);
