-- one account's portfolio and risk state (and their identity and cluster exposure rows) deleted for an interior hour, positions kept
--@key SELECT jsonb_build_object('account_id', account_id, 'key', jsonb_build_object('hour_ts', hour_ts)) FROM (SELECT account_id, hour_ts FROM risk_hourly_state WHERE hour_ts > (SELECT min(hour_ts) FROM risk_hourly_state) AND hour_ts < (SELECT max(hour_ts) FROM risk_hourly_state) ORDER BY account_id DESC, hour_ts DESC LIMIT 1) x
--@needs SELECT count(DISTINCT hour_ts) >= 3 FROM risk_hourly_state
CREATE TEMP TABLE corrupt_hour ON COMMIT DROP AS
SELECT account_id, hour_ts FROM risk_hourly_state
 WHERE hour_ts > (SELECT min(hour_ts) FROM risk_hourly_state)
   AND hour_ts < (SELECT max(hour_ts) FROM risk_hourly_state)
 ORDER BY account_id DESC, hour_ts DESC LIMIT 1;
DELETE FROM portfolio_hourly_state p USING corrupt_hour c WHERE p.account_id = c.account_id AND p.hour_ts = c.hour_ts;
DELETE FROM risk_hourly_state p USING corrupt_hour c WHERE p.account_id = c.account_id AND p.hour_ts = c.hour_ts;
DO $c$ BEGIN
  IF to_regclass('portfolio_hourly_state_identity') IS NOT NULL THEN
    DELETE FROM portfolio_hourly_state_identity p USING corrupt_hour c WHERE p.account_id = c.account_id AND p.hour_ts = c.hour_ts;
    DELETE FROM risk_hourly_state_identity p USING corrupt_hour c WHERE p.account_id = c.account_id AND p.hour_ts = c.hour_ts;
  END IF;
  IF to_regclass('cluster_exposure_hourly_state') IS NOT NULL THEN
    DELETE FROM cluster_exposure_hourly_state p USING corrupt_hour c WHERE p.account_id = c.account_id AND p.hour_ts = c.hour_ts;
  END IF;
END $c$;
