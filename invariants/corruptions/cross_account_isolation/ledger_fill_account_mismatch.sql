-- a TRADE entry naming another account's fill
--@needs SELECT count(DISTINCT account_id) > 1 FROM {{order_fill}}
UPDATE {{cash_ledger}} l SET fill_id =
  (SELECT f.fill_id FROM {{order_fill}} f WHERE f.account_id <> l.account_id ORDER BY f.fill_id LIMIT 1)
WHERE (l.account_id, l.ledger_seq) =
  (SELECT account_id, ledger_seq FROM {{cash_ledger}} WHERE fill_id IS NOT NULL ORDER BY account_id, ledger_seq LIMIT 1);
