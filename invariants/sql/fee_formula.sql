-- fee_formula: fee = round(greatest(fill_qty * fill_price * fee_bps / 10000, min_fee), 8) with the
-- account's schedule in effect at fill_ts (latest effective_from <= fill_ts), or no schedule.
-- The schedules are tiny (a few rows per account): each account's schedules become half-open
-- ranges [effective_from, next effective_from) once (read in primary-key order), and every fill
-- joins its account's ranges by hash. Cheaper than probing the primary key once per fill, and
-- the same answer: the range holding fill_ts is the latest effective_from <= fill_ts.
--@rule no_fee_schedule,fee_mismatch
SELECT NULL::text AS rule, NULL::bigint AS account_id, NULL::jsonb AS key, NULL::jsonb AS detail
WHERE false
UNION ALL
SELECT CASE WHEN fs.account_id IS NULL THEN 'no_fee_schedule' ELSE 'fee_mismatch' END,
       f.account_id, jsonb_build_object('fill_id', f.fill_id),
       jsonb_build_object('fill_ts', f.fill_ts, 'fee', f.fee, 'expected_fee', x.expected,
                          'fee_bps', fs.fee_bps, 'min_fee', fs.min_fee, 'effective_from', fs.effective_from)
FROM {{order_fill}} f
LEFT JOIN (
    SELECT s.account_id, s.fee_bps, s.min_fee, s.effective_from,
           lead(s.effective_from) OVER (PARTITION BY s.account_id ORDER BY s.effective_from) AS effective_to
    FROM fee_schedule s
) fs ON fs.account_id = f.account_id AND fs.effective_from <= f.fill_ts
    AND (fs.effective_to IS NULL OR f.fill_ts < fs.effective_to)
CROSS JOIN LATERAL (
    SELECT round(greatest(f.fill_qty * f.fill_price * fs.fee_bps / 10000, fs.min_fee), 8) AS expected
) x
WHERE fs.account_id IS NULL OR f.fee IS DISTINCT FROM x.expected
