-- the last entry's balance_after off by 0.00000001
UPDATE {{cash_ledger}} SET balance_after = balance_after + 0.00000001 WHERE (account_id, ledger_seq) =
(SELECT account_id, max(ledger_seq) FROM {{cash_ledger}} GROUP BY account_id ORDER BY account_id LIMIT 1);
