-- a SELL fill moved before every buy of its instrument
UPDATE {{order_fill}} f SET fill_ts =
  (SELECT min(b.fill_ts) - interval '1 second' FROM {{order_fill}} b
    WHERE b.account_id = f.account_id AND b.instrument_id = f.instrument_id)
WHERE f.fill_id = (SELECT min(fill_id) FROM {{order_fill}} WHERE side = 'SELL');
