-- a ledger entry's prev_hash not the previous row_hash
UPDATE {{cash_ledger}} SET prev_hash = repeat('5', 64) WHERE (account_id, ledger_seq) =
(SELECT account_id, ledger_seq FROM {{cash_ledger}} ORDER BY account_id, ledger_seq LIMIT 1);
