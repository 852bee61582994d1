-- a fill's TRADE entry deleted
DELETE FROM {{cash_ledger}} WHERE (account_id, ledger_seq) =
(SELECT account_id, ledger_seq FROM {{cash_ledger}} WHERE entry_type = 'TRADE' ORDER BY account_id, ledger_seq LIMIT 1);
