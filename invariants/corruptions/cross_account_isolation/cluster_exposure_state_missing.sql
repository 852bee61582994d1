-- a cluster exposure row at an hour without a risk state
UPDATE cluster_exposure_hourly_state SET hour_ts = hour_ts + interval '100000 hours'
WHERE (account_id, cluster_id, hour_ts) = (SELECT account_id, cluster_id, hour_ts FROM cluster_exposure_hourly_state
                                           ORDER BY account_id, cluster_id, hour_ts LIMIT 1);
