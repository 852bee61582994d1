-- a FEE entry dated one second after its fill
UPDATE {{cash_ledger}} SET entry_ts = entry_ts + interval '1 second' WHERE (account_id, ledger_seq) =
(SELECT account_id, ledger_seq FROM {{cash_ledger}} WHERE entry_type = 'FEE' ORDER BY account_id, ledger_seq LIMIT 1);
