-- a FK from risk_event to a chunk of risk_hourly_state
DO $c$ DECLARE c text; BEGIN
  SELECT format('%I.%I', chunk_schema, chunk_name) INTO c FROM timescaledb_information.chunks
   WHERE hypertable_name = 'risk_hourly_state' ORDER BY range_start LIMIT 1;
  EXECUTE format('ALTER TABLE {{risk_event}} ADD CONSTRAINT corrupt_fk_chunk FOREIGN KEY (account_id, hour_ts) REFERENCES %s (account_id, hour_ts) NOT VALID', c);
END $c$;
