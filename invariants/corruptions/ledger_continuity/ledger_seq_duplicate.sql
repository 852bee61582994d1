-- an entry written twice under the same ledger_seq
--@drop-uniques {{cash_ledger}}.ledger_seq
INSERT INTO {{cash_ledger}} SELECT * FROM {{cash_ledger}} ORDER BY account_id, ledger_seq LIMIT 1;
