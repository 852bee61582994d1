-- a ledger balance_after set to -1
--@drop-checks {{cash_ledger}}.balance_after
UPDATE {{cash_ledger}} SET balance_after = -1 WHERE (account_id, ledger_seq) =
(SELECT account_id, max(ledger_seq) FROM {{cash_ledger}} GROUP BY account_id ORDER BY account_id LIMIT 1);
