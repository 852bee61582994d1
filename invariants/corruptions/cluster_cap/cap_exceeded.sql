-- the first BUY's quantity raised until exposure + notional exceeds the cap by 1
DO $c$ DECLARE b record; e numeric; cap numeric; BEGIN
  SELECT o.order_id, o.account_id, o.risk_hour_ts, o.reference_price, ic.cluster_id,
         round(cl.cap_fraction * ps.equity, 8) AS cap,
         coalesce((SELECT sum(p.market_value) FROM position_hourly_state p
                     JOIN instrument_cluster pic ON pic.instrument_id = p.instrument_id
                    WHERE p.account_id = o.account_id AND p.hour_ts = o.risk_hour_ts
                      AND pic.cluster_id = ic.cluster_id), 0) AS exposure
    INTO b
    FROM {{order_request}} o
    JOIN instrument_cluster ic ON ic.instrument_id = o.instrument_id
    JOIN cluster cl ON cl.cluster_id = ic.cluster_id
    LEFT JOIN portfolio_hourly_state ps ON ps.account_id = o.account_id AND ps.hour_ts = o.risk_hour_ts
   WHERE o.order_id = (SELECT min(order_id) FROM {{order_request}} WHERE side = 'BUY');
  e := b.exposure;
  cap := b.cap;
  IF to_regclass('cluster_exposure_hourly_state') IS NOT NULL THEN
    EXECUTE 'SELECT coalesce(max(exposure), $4), coalesce(max(cap), $5) FROM cluster_exposure_hourly_state
              WHERE account_id = $1 AND cluster_id = $2 AND hour_ts = $3'
      INTO e, cap USING b.account_id, b.cluster_id, b.risk_hour_ts, e, cap;
  END IF;
  IF cap IS NULL OR b.reference_price IS NULL OR b.reference_price <= 0 THEN
    RAISE EXCEPTION 'cap_exceeded: the first BUY (order %) has no cluster, cap or positive reference price', b.order_id;
  END IF;
  UPDATE {{order_request}}
     SET quantity = greatest(quantity, ceil((cap - e + 1) / b.reference_price * 100000000) / 100000000)
   WHERE order_id = b.order_id;
END $c$;
