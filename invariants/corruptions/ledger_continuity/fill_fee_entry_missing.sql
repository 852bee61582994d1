-- a fill's FEE entry deleted
DELETE FROM {{cash_ledger}} WHERE (account_id, ledger_seq) =
(SELECT account_id, ledger_seq FROM {{cash_ledger}} WHERE entry_type = 'FEE' ORDER BY account_id, ledger_seq LIMIT 1);
