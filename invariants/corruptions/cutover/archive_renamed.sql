-- an archive table renamed away
--@sets after_cutover
--@expect missing: cash_ledger_phase1a_archive
ALTER TABLE cash_ledger_phase1a_archive RENAME TO cash_ledger_old;
