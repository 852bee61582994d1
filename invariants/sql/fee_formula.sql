-- fee_formula: fee = round(greatest(fill_qty * fill_price * fee_bps / 10000, min_fee), 8) with the
-- account's schedule in effect at fill_ts (latest effective_from <= fill_ts), or no schedule.
-- The schedule lookup is a LIMIT 1 probe of fee_schedule's primary key (account_id, effective_from).
--@rule no_fee_schedule,fee_mismatch
SELECT NULL::text AS rule, NULL::bigint AS account_id, NULL::jsonb AS key, NULL::jsonb AS detail
WHERE false
UNION ALL
SELECT CASE WHEN fs.account_id IS NULL THEN 'no_fee_schedule' ELSE 'fee_mismatch' END,
       f.account_id, jsonb_build_object('fill_id', f.fill_id),
       jsonb_build_object('fill_ts', f.fill_ts, 'fee', f.fee, 'expected_fee', x.expected,
                          'fee_bps', fs.fee_bps, 'min_fee', fs.min_fee, 'effective_from', fs.effective_from)
FROM {{order_fill}} f
LEFT JOIN LATERAL (
    SELECT s.account_id, s.fee_bps, s.min_fee, s.effective_from
    FROM fee_schedule s
    WHERE s.account_id = f.account_id AND s.effective_from <= f.fill_ts
    ORDER BY s.effective_from DESC
    LIMIT 1
) fs ON true
CROSS JOIN LATERAL (
    SELECT round(greatest(f.fill_qty * f.fill_price * fs.fee_bps / 10000, fs.min_fee), 8) AS expected
) x
WHERE fs.account_id IS NULL OR f.fee IS DISTINCT FROM x.expected
