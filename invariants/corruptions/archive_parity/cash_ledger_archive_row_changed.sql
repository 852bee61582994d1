-- an archived cash_ledger row's amount changed
--@sets after_cutover
--@needs SELECT EXISTS (SELECT 1 FROM cash_ledger_phase1a_archive)
--@expect cash_ledger (cash_ledger_phase1a_archive -> cash_ledger): 0 missing, 1 changed, 0 extra
--@key SELECT jsonb_build_object('account_id', account_id, 'ledger_seq', ledger_seq) FROM (SELECT account_id, ledger_seq FROM cash_ledger_phase1a_archive ORDER BY account_id DESC, ledger_seq DESC LIMIT 1) x
UPDATE cash_ledger_phase1a_archive SET amount = amount + 0.01 WHERE (account_id, ledger_seq) =
(SELECT account_id, ledger_seq FROM cash_ledger_phase1a_archive ORDER BY account_id DESC, ledger_seq DESC LIMIT 1);
