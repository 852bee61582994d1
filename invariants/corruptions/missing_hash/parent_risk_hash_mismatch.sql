-- a cluster exposure row's parent_risk_hash not its state's
UPDATE cluster_exposure_hourly_state SET parent_risk_hash = repeat('7', 64)
WHERE (account_id, cluster_id, hour_ts) = (SELECT account_id, cluster_id, hour_ts FROM cluster_exposure_hourly_state
                                           ORDER BY account_id, cluster_id, hour_ts LIMIT 1);
