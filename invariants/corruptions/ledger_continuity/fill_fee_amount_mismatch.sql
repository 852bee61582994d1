-- a FEE entry's amount off by 0.00000001
UPDATE {{cash_ledger}} SET amount = amount - 0.00000001 WHERE (account_id, ledger_seq) =
(SELECT account_id, ledger_seq FROM {{cash_ledger}} WHERE entry_type = 'FEE' ORDER BY account_id, ledger_seq LIMIT 1);
