-- ledger_continuity: per account, ledger_seq runs 1, 2, 3, ... without gap or duplicate;
-- balance_after = previous balance_after + amount (first row: amount); prev_hash = previous
-- row's row_hash (genesis: 64 '0'); every fill has exactly one TRADE (-s * notional) then one
-- FEE (-fee) entry, adjacent, at entry_ts = fill_ts; fill entries are TRADE/FEE and entries
-- without a fill are DEPOSIT/WITHDRAWAL.
-- prev_hash_mismatch is n/a before STEP_6_M9_HASH_ADDITIONS (no prev_hash / row_hash columns).
--@rule ledger_seq_gap,ledger_seq_duplicate,balance_after_mismatch,ledger_entry_type_invalid
--@rule fill_trade_entry_missing,fill_trade_entry_duplicate,fill_trade_amount_mismatch
--@rule fill_fee_entry_missing,fill_fee_entry_duplicate,fill_fee_amount_mismatch
--@rule fill_entries_out_of_order,fill_entry_ts_mismatch
--@rule prev_hash_mismatch column:{{cash_ledger}}.prev_hash column:{{cash_ledger}}.row_hash
WITH seq AS (
    SELECT l.account_id, l.ledger_seq, l.entry_type, l.amount, l.balance_after, l.fill_id,
--@if rule:prev_hash_mismatch
           l.prev_hash, lag(l.row_hash) OVER w AS prev_row_hash,
--@endif
           lag(l.ledger_seq) OVER w AS prev_seq,
           lag(l.balance_after) OVER w AS prev_balance
    FROM {{cash_ledger}} l
    WINDOW w AS (PARTITION BY l.account_id ORDER BY l.ledger_seq, l.entry_ts, l.entry_type, l.amount)
),
fill_entries AS (
    SELECT fill_id,
           count(*) FILTER (WHERE entry_type = 'TRADE') AS n_trade,
           count(*) FILTER (WHERE entry_type = 'FEE') AS n_fee,
           min(amount) FILTER (WHERE entry_type = 'TRADE') AS trade_lo,
           max(amount) FILTER (WHERE entry_type = 'TRADE') AS trade_hi,
           min(amount) FILTER (WHERE entry_type = 'FEE') AS fee_lo,
           max(amount) FILTER (WHERE entry_type = 'FEE') AS fee_hi,
           min(ledger_seq) FILTER (WHERE entry_type = 'TRADE') AS trade_seq,
           min(ledger_seq) FILTER (WHERE entry_type = 'FEE') AS fee_seq,
           min(entry_ts) AS ts_lo,
           max(entry_ts) AS ts_hi
    FROM {{cash_ledger}}
    WHERE fill_id IS NOT NULL
    GROUP BY fill_id
)
SELECT NULL::text AS rule, NULL::bigint AS account_id, NULL::jsonb AS key, NULL::jsonb AS detail
WHERE false
UNION ALL
SELECT r.rule, s.account_id, jsonb_build_object('ledger_seq', s.ledger_seq),
       jsonb_build_object('prev_seq', s.prev_seq, 'amount', s.amount, 'balance_after', s.balance_after,
                          'prev_balance_after', s.prev_balance, 'entry_type', s.entry_type
--@if rule:prev_hash_mismatch
                          , 'prev_hash', s.prev_hash, 'prev_row_hash', s.prev_row_hash
--@endif
                          )
FROM seq s
-- Each sub-rule is evaluated once per row into b; only rows breaking at least one of them reach
-- the VALUES expansion (a nested loop per row costs more than all the tests together).
CROSS JOIN LATERAL (SELECT
    (s.prev_seq IS NULL AND s.ledger_seq <> 1) OR s.ledger_seq > s.prev_seq + 1 AS seq_gap,
    s.ledger_seq = s.prev_seq AS seq_duplicate,
    s.balance_after <> coalesce(s.prev_balance, 0) + s.amount AS balance_bad,
    (s.fill_id IS NOT NULL AND s.entry_type NOT IN ('TRADE', 'FEE'))
     OR (s.fill_id IS NULL AND s.entry_type NOT IN ('DEPOSIT', 'WITHDRAWAL')) AS type_bad
--@if rule:prev_hash_mismatch
  , s.prev_hash IS DISTINCT FROM coalesce(s.prev_row_hash, repeat('0', 64)) AS prev_hash_bad
--@endif
) b
CROSS JOIN LATERAL (VALUES
    ('ledger_seq_gap', b.seq_gap),
    ('ledger_seq_duplicate', b.seq_duplicate),
    ('balance_after_mismatch', b.balance_bad),
    ('ledger_entry_type_invalid', b.type_bad)
--@if rule:prev_hash_mismatch
  , ('prev_hash_mismatch', b.prev_hash_bad)
--@endif
) r(rule, bad)
WHERE (b.seq_gap OR b.seq_duplicate OR b.balance_bad OR b.type_bad
--@if rule:prev_hash_mismatch
       OR b.prev_hash_bad
--@endif
      ) AND r.bad
UNION ALL
SELECT r.rule, f.account_id, jsonb_build_object('fill_id', f.fill_id),
       jsonb_build_object('side', f.side, 'expected_trade_amount', x.exp_trade, 'expected_fee_amount', x.exp_fee,
                          'trade_entries', coalesce(fe.n_trade, 0), 'fee_entries', coalesce(fe.n_fee, 0),
                          'trade_amount', fe.trade_lo, 'fee_amount', fe.fee_lo,
                          'trade_seq', fe.trade_seq, 'fee_seq', fe.fee_seq)
FROM {{order_fill}} f
LEFT JOIN fill_entries fe ON fe.fill_id = f.fill_id
CROSS JOIN LATERAL (SELECT CASE f.side WHEN 'BUY' THEN -1 WHEN 'SELL' THEN 1 END
                             * round(f.fill_qty * f.fill_price, 8) AS exp_trade,
                           -f.fee AS exp_fee) x
CROSS JOIN LATERAL (SELECT
    coalesce(fe.n_trade, 0) = 0 AS trade_missing,
    fe.n_trade > 1 AS trade_duplicate,
    fe.n_trade >= 1 AND (fe.trade_lo IS DISTINCT FROM x.exp_trade OR fe.trade_hi IS DISTINCT FROM x.exp_trade)
        AS trade_amount_bad,
    coalesce(fe.n_fee, 0) = 0 AS fee_missing,
    fe.n_fee > 1 AS fee_duplicate,
    fe.n_fee >= 1 AND (fe.fee_lo IS DISTINCT FROM x.exp_fee OR fe.fee_hi IS DISTINCT FROM x.exp_fee)
        AS fee_amount_bad,
    fe.n_trade = 1 AND fe.n_fee = 1 AND fe.fee_seq <> fe.trade_seq + 1 AS out_of_order,
    fe.ts_lo <> f.fill_ts OR fe.ts_hi <> f.fill_ts AS ts_bad
) b
CROSS JOIN LATERAL (VALUES
    ('fill_trade_entry_missing', b.trade_missing),
    ('fill_trade_entry_duplicate', b.trade_duplicate),
    ('fill_trade_amount_mismatch', b.trade_amount_bad),
    ('fill_fee_entry_missing', b.fee_missing),
    ('fill_fee_entry_duplicate', b.fee_duplicate),
    ('fill_fee_amount_mismatch', b.fee_amount_bad),
    ('fill_entries_out_of_order', b.out_of_order),
    ('fill_entry_ts_mismatch', b.ts_bad)
) r(rule, bad)
WHERE (b.trade_missing OR b.trade_duplicate OR b.trade_amount_bad OR b.fee_missing OR b.fee_duplicate
       OR b.fee_amount_bad OR b.out_of_order OR b.ts_bad) AND r.bad
