-- a fill's TRADE entry written twice (at the end of the ledger)
INSERT INTO {{cash_ledger}}
SELECT (jsonb_populate_record(NULL::{{cash_ledger}}, to_jsonb(l) || jsonb_build_object('ledger_seq',
          (SELECT max(ledger_seq) + 1 FROM {{cash_ledger}} m WHERE m.account_id = l.account_id)))).*
FROM {{cash_ledger}} l WHERE l.entry_type = 'TRADE' ORDER BY l.account_id, l.ledger_seq LIMIT 1;
