-- a deposit relabelled BONUS
--@drop-checks {{cash_ledger}}.entry_type
UPDATE {{cash_ledger}} SET entry_type = 'BONUS' WHERE (account_id, ledger_seq) =
(SELECT account_id, ledger_seq FROM {{cash_ledger}} WHERE entry_type = 'DEPOSIT' ORDER BY account_id, ledger_seq LIMIT 1);
