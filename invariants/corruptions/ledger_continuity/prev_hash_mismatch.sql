-- a ledger entry's prev_hash not the previous row_hash
UPDATE {{cash_ledger}} SET prev_hash = repeat('b', 64) WHERE (account_id, ledger_seq) =
(SELECT account_id, ledger_seq FROM {{cash_ledger}} WHERE ledger_seq > 1 ORDER BY account_id, ledger_seq LIMIT 1);
