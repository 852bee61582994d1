-- a fill's FEE entry written before its TRADE entry
--@drop-uniques {{cash_ledger}}.ledger_seq
UPDATE {{cash_ledger}} l
  SET ledger_seq = CASE l.entry_type WHEN 'TRADE' THEN l.ledger_seq + 1 ELSE l.ledger_seq - 1 END
WHERE l.fill_id = (SELECT fill_id FROM {{cash_ledger}} WHERE entry_type = 'TRADE' ORDER BY account_id, ledger_seq LIMIT 1);
