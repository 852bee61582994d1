-- a TRADE entry naming a fill that does not exist
UPDATE {{cash_ledger}} SET fill_id = fill_id + 1000000000000 WHERE (account_id, ledger_seq) =
(SELECT account_id, ledger_seq FROM {{cash_ledger}} WHERE fill_id IS NOT NULL ORDER BY account_id, ledger_seq LIMIT 1);
