-- a FK from order_request to the risk_hourly_state hypertable
ALTER TABLE {{order_request}} ADD CONSTRAINT corrupt_fk_risk_hypertable
FOREIGN KEY (account_id, risk_hour_ts) REFERENCES risk_hourly_state (account_id, hour_ts) NOT VALID;
