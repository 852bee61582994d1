-- the last entry of an account renumbered one up
UPDATE {{cash_ledger}} SET ledger_seq = ledger_seq + 1 WHERE (account_id, ledger_seq) =
(SELECT account_id, max(ledger_seq) FROM {{cash_ledger}} GROUP BY account_id ORDER BY account_id LIMIT 1);
