-- a cluster exposure row naming another account's state hash
--@needs SELECT count(DISTINCT account_id) > 1 FROM risk_hourly_state
UPDATE cluster_exposure_hourly_state c SET parent_risk_hash =
  (SELECT r.state_hash FROM risk_hourly_state r WHERE r.account_id <> c.account_id ORDER BY r.account_id, r.hour_ts LIMIT 1)
WHERE (c.account_id, c.cluster_id, c.hour_ts) = (SELECT account_id, cluster_id, hour_ts FROM cluster_exposure_hourly_state
                                                 ORDER BY account_id, cluster_id, hour_ts LIMIT 1);
