-- a foreign key into the risk_hourly_state hypertable
--@sets v2,after_cutover
--@expect 1 FK -> hypertable: order_request
ALTER TABLE order_request ADD CONSTRAINT corrupt_fk_risk_hypertable
  FOREIGN KEY (account_id, risk_hour_ts) REFERENCES risk_hourly_state (account_id, hour_ts) NOT VALID;
