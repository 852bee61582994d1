-- missing_hash: every required hash column is non-NULL lower-case 64-hex, every row_hash is the
-- hash of its row, and every parent hash equals the hash of the row it names.
-- Hash canon (docs/CONTRACT.md section 1): H(fields) = sha256 hex of the fields joined by '|'; numerics at column scale,
-- timestamps 'YYYY-MM-DDTHH:MI:SS.ffffffZ' in UTC, NULL as '\N'. A v2 row_hash covers every legacy
-- column in table order except order_request.filled_quantity and position_lot.remaining_qty (they
-- change as orders fill and lots are consumed), then the table's parent-hash columns in order.
-- The whole check is n/a until STEP_6_M9_HASH_ADDITIONS (no row_hash on the table set); each
-- sub-rule also needs the columns it reads (risk_state_hash comes with STEP_3, the cluster
-- exposure table with STEP_4, identity tables with STEP_2).
--@rule hash_missing,hash_malformed,row_hash_mismatch column:{{trade_signal}}.row_hash
--@rule parent_portfolio_hash_mismatch,prediction_feature_hash_mismatch column:{{trade_signal}}.row_hash
--@rule parent_signal_hash_mismatch column:{{trade_signal}}.row_hash column:{{order_request}}.parent_signal_hash
--@rule risk_state_hash_mismatch column:{{trade_signal}}.row_hash column:{{order_request}}.risk_state_hash
--@rule parent_order_hash_mismatch column:{{trade_signal}}.row_hash column:{{order_fill}}.parent_order_hash
--@rule lot_parent_fill_hash_mismatch column:{{trade_signal}}.row_hash column:{{position_lot}}.parent_fill_hash
--@rule trade_parent_fill_hash_mismatch column:{{trade_signal}}.row_hash column:{{executed_trade}}.parent_fill_hash
--@rule trade_parent_lot_hash_mismatch column:{{trade_signal}}.row_hash column:{{executed_trade}}.parent_lot_hash
--@rule prev_hash_mismatch column:{{trade_signal}}.row_hash column:{{cash_ledger}}.prev_hash
--@rule parent_state_hash_mismatch column:{{trade_signal}}.row_hash column:{{risk_event}}.parent_state_hash
--@rule parent_risk_hash_mismatch column:{{trade_signal}}.row_hash table:cluster_exposure_hourly_state
-- Layout (for speed on large worlds; semantics as before):
--   * one pass per event table: the row hash is recomputed and compared, and the other hash
--     columns get the format test, all in one WHERE; only the (rare) violating rows are expanded
--     into one output row per broken sub-rule by the VALUES list. A row_hash equal to its
--     recomputation is 64 lower-case hex by construction, so its own format test only runs on
--     rows that already mismatch.
--   * one format-only pass per hypertable / identity / cluster exposure hash column;
--   * one join per parent-hash link, comparing the stored parent hash with the named row's.
-- The format test is octet_length + a negated character class instead of '^[0-9a-f]{64}$':
-- PostgreSQL's regex engine expands the bounded repetition and runs ~8x slower on it.
-- octet_length rather than length: a non-ASCII character is not hex either, so the verdict is
-- the same, without counting characters.
SELECT NULL::text AS rule, NULL::bigint AS account_id, NULL::jsonb AS key, NULL::jsonb AS detail
WHERE false
--@if column:{{trade_signal}}.row_hash
UNION ALL
SELECT r.rule, t.account_id, jsonb_build_object('signal_id', t.signal_id) || r.key, r.detail
FROM {{trade_signal}} t
CROSS JOIN LATERAL (SELECT encode(sha256(convert_to(concat_ws('|',
        t.signal_id::text,
        t.account_id::text,
        t.instrument_id::text,
        to_char(t.hour_ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
        t.prediction_id::text,
        t.regime_output_id::text,
        t.target_weight::text), 'UTF8')), 'hex') AS expected) x
CROSS JOIN LATERAL (VALUES
    (CASE WHEN t.row_hash IS NULL THEN 'hash_missing' ELSE 'hash_malformed' END,
     jsonb_build_object('table', '{{trade_signal}}', 'column', 'row_hash'), jsonb_build_object('value', t.row_hash),
     (t.row_hash IS NULL OR octet_length(t.row_hash) <> 64 OR t.row_hash ~ '[^0-9a-f]'))
  , ('row_hash_mismatch', jsonb_build_object('table', '{{trade_signal}}'),
     jsonb_build_object('row_hash', t.row_hash, 'expected', x.expected),
     x.expected IS NOT NULL AND t.row_hash IS DISTINCT FROM x.expected)
) r(rule, key, detail, bad)
-- a row hash equal to its recomputation is well-formed: only the other hash columns need the
-- format test on every row
WHERE (t.row_hash IS DISTINCT FROM x.expected
      ) AND r.bad
--@endif
--@if column:{{regime_output}}.row_hash
UNION ALL
SELECT r.rule, NULL::bigint, jsonb_build_object('regime_output_id', t.regime_output_id) || r.key, r.detail
FROM {{regime_output}} t
CROSS JOIN LATERAL (SELECT encode(sha256(convert_to(concat_ws('|',
        t.regime_output_id::text,
        t.model_id::text,
        to_char(t.hour_ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
        t.regime,
        t.score::text), 'UTF8')), 'hex') AS expected) x
CROSS JOIN LATERAL (VALUES
    (CASE WHEN t.row_hash IS NULL THEN 'hash_missing' ELSE 'hash_malformed' END,
     jsonb_build_object('table', '{{regime_output}}', 'column', 'row_hash'), jsonb_build_object('value', t.row_hash),
     (t.row_hash IS NULL OR octet_length(t.row_hash) <> 64 OR t.row_hash ~ '[^0-9a-f]'))
  , ('row_hash_mismatch', jsonb_build_object('table', '{{regime_output}}'),
     jsonb_build_object('row_hash', t.row_hash, 'expected', x.expected),
     x.expected IS NOT NULL AND t.row_hash IS DISTINCT FROM x.expected)
) r(rule, key, detail, bad)
-- a row hash equal to its recomputation is well-formed: only the other hash columns need the
-- format test on every row
WHERE (t.row_hash IS DISTINCT FROM x.expected
      ) AND r.bad
--@endif
--@if column:{{model_prediction}}.row_hash
UNION ALL
SELECT r.rule, NULL::bigint, jsonb_build_object('prediction_id', t.prediction_id) || r.key, r.detail
FROM {{model_prediction}} t
CROSS JOIN LATERAL (SELECT encode(sha256(convert_to(concat_ws('|',
        t.prediction_id::text,
        t.model_id::text,
        t.instrument_id::text,
        to_char(t.hour_ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
        to_char(t.feature_hour_ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
        coalesce(t.feature_hash, '\N'),
        t.score::text), 'UTF8')), 'hex') AS expected) x
CROSS JOIN LATERAL (VALUES
    (CASE WHEN t.row_hash IS NULL THEN 'hash_missing' ELSE 'hash_malformed' END,
     jsonb_build_object('table', '{{model_prediction}}', 'column', 'row_hash'), jsonb_build_object('value', t.row_hash),
     (t.row_hash IS NULL OR octet_length(t.row_hash) <> 64 OR t.row_hash ~ '[^0-9a-f]'))
  , ('row_hash_mismatch', jsonb_build_object('table', '{{model_prediction}}'),
     jsonb_build_object('row_hash', t.row_hash, 'expected', x.expected),
     x.expected IS NOT NULL AND t.row_hash IS DISTINCT FROM x.expected)
  , (CASE WHEN t.feature_hash IS NULL THEN 'hash_missing' ELSE 'hash_malformed' END,
     jsonb_build_object('table', '{{model_prediction}}', 'column', 'feature_hash'), jsonb_build_object('value', t.feature_hash),
     (t.feature_hash IS NULL OR octet_length(t.feature_hash) <> 64 OR t.feature_hash ~ '[^0-9a-f]'))
) r(rule, key, detail, bad)
-- a row hash equal to its recomputation is well-formed: only the other hash columns need the
-- format test on every row
WHERE (t.row_hash IS DISTINCT FROM x.expected
       OR (t.feature_hash IS NULL OR octet_length(t.feature_hash) <> 64 OR t.feature_hash ~ '[^0-9a-f]')
      ) AND r.bad
--@endif
--@if column:{{meta_learner_component}}.row_hash
UNION ALL
SELECT r.rule, NULL::bigint, jsonb_build_object('meta_prediction_id', t.meta_prediction_id, 'base_prediction_id', t.base_prediction_id) || r.key, r.detail
FROM {{meta_learner_component}} t
CROSS JOIN LATERAL (SELECT encode(sha256(convert_to(concat_ws('|',
        t.meta_prediction_id::text,
        t.base_prediction_id::text,
        t.weight::text), 'UTF8')), 'hex') AS expected) x
CROSS JOIN LATERAL (VALUES
    (CASE WHEN t.row_hash IS NULL THEN 'hash_missing' ELSE 'hash_malformed' END,
     jsonb_build_object('table', '{{meta_learner_component}}', 'column', 'row_hash'), jsonb_build_object('value', t.row_hash),
     (t.row_hash IS NULL OR octet_length(t.row_hash) <> 64 OR t.row_hash ~ '[^0-9a-f]'))
  , ('row_hash_mismatch', jsonb_build_object('table', '{{meta_learner_component}}'),
     jsonb_build_object('row_hash', t.row_hash, 'expected', x.expected),
     x.expected IS NOT NULL AND t.row_hash IS DISTINCT FROM x.expected)
) r(rule, key, detail, bad)
-- a row hash equal to its recomputation is well-formed: only the other hash columns need the
-- format test on every row
WHERE (t.row_hash IS DISTINCT FROM x.expected
      ) AND r.bad
--@endif
--@if column:{{order_request}}.row_hash
UNION ALL
SELECT r.rule, t.account_id, jsonb_build_object('order_id', t.order_id) || r.key, r.detail
FROM {{order_request}} t
--@if column:{{order_request}}.parent_signal_hash column:{{order_request}}.risk_state_hash
CROSS JOIN LATERAL (SELECT encode(sha256(convert_to(concat_ws('|',
        t.order_id::text,
        t.account_id::text,
        t.signal_id::text,
        t.instrument_id::text,
        t.side,
        t.quantity::text,
        t.reference_price::text,
        to_char(t.requested_ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
        to_char(t.risk_hour_ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
        coalesce(t.parent_signal_hash, '\N'),
        coalesce(t.risk_state_hash, '\N')), 'UTF8')), 'hex') AS expected) x
--@endif
--@if !column:{{order_request}}.parent_signal_hash
-- the row hash covers the parent-hash columns: not recomputable before they all exist
CROSS JOIN LATERAL (SELECT NULL::text AS expected) x
--@endif
--@if column:{{order_request}}.parent_signal_hash !column:{{order_request}}.risk_state_hash
-- the row hash covers the parent-hash columns: not recomputable before they all exist
CROSS JOIN LATERAL (SELECT NULL::text AS expected) x
--@endif
CROSS JOIN LATERAL (VALUES
    (CASE WHEN t.row_hash IS NULL THEN 'hash_missing' ELSE 'hash_malformed' END,
     jsonb_build_object('table', '{{order_request}}', 'column', 'row_hash'), jsonb_build_object('value', t.row_hash),
     (t.row_hash IS NULL OR octet_length(t.row_hash) <> 64 OR t.row_hash ~ '[^0-9a-f]'))
  , ('row_hash_mismatch', jsonb_build_object('table', '{{order_request}}'),
     jsonb_build_object('row_hash', t.row_hash, 'expected', x.expected),
     x.expected IS NOT NULL AND t.row_hash IS DISTINCT FROM x.expected)
--@if column:{{order_request}}.parent_signal_hash
  , (CASE WHEN t.parent_signal_hash IS NULL THEN 'hash_missing' ELSE 'hash_malformed' END,
     jsonb_build_object('table', '{{order_request}}', 'column', 'parent_signal_hash'), jsonb_build_object('value', t.parent_signal_hash),
     (t.parent_signal_hash IS NULL OR octet_length(t.parent_signal_hash) <> 64 OR t.parent_signal_hash ~ '[^0-9a-f]'))
--@endif
--@if column:{{order_request}}.risk_state_hash
  , (CASE WHEN t.risk_state_hash IS NULL THEN 'hash_missing' ELSE 'hash_malformed' END,
     jsonb_build_object('table', '{{order_request}}', 'column', 'risk_state_hash'), jsonb_build_object('value', t.risk_state_hash),
     (t.risk_state_hash IS NULL OR octet_length(t.risk_state_hash) <> 64 OR t.risk_state_hash ~ '[^0-9a-f]'))
--@endif
) r(rule, key, detail, bad)
-- a row hash equal to its recomputation is well-formed: only the other hash columns need the
-- format test on every row
--@if column:{{order_request}}.parent_signal_hash column:{{order_request}}.risk_state_hash
WHERE (t.row_hash IS DISTINCT FROM x.expected
--@endif
--@if !column:{{order_request}}.parent_signal_hash
WHERE ((t.row_hash IS NULL OR octet_length(t.row_hash) <> 64 OR t.row_hash ~ '[^0-9a-f]')
--@endif
--@if column:{{order_request}}.parent_signal_hash !column:{{order_request}}.risk_state_hash
WHERE ((t.row_hash IS NULL OR octet_length(t.row_hash) <> 64 OR t.row_hash ~ '[^0-9a-f]')
--@endif
--@if column:{{order_request}}.parent_signal_hash
       OR (t.parent_signal_hash IS NULL OR octet_length(t.parent_signal_hash) <> 64 OR t.parent_signal_hash ~ '[^0-9a-f]')
--@endif
--@if column:{{order_request}}.risk_state_hash
       OR (t.risk_state_hash IS NULL OR octet_length(t.risk_state_hash) <> 64 OR t.risk_state_hash ~ '[^0-9a-f]')
--@endif
      ) AND r.bad
--@endif
--@if column:{{order_fill}}.row_hash
UNION ALL
SELECT r.rule, t.account_id, jsonb_build_object('fill_id', t.fill_id) || r.key, r.detail
FROM {{order_fill}} t
--@if column:{{order_fill}}.parent_order_hash
CROSS JOIN LATERAL (SELECT encode(sha256(convert_to(concat_ws('|',
        t.fill_id::text,
        t.account_id::text,
        t.order_id::text,
        t.instrument_id::text,
        t.side,
        to_char(t.fill_ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
        t.fill_qty::text,
        t.reference_price::text,
        t.fill_price::text,
        t.fee::text,
        t.slippage_cost::text,
        coalesce(t.parent_order_hash, '\N')), 'UTF8')), 'hex') AS expected) x
--@endif
--@if !column:{{order_fill}}.parent_order_hash
-- the row hash covers the parent-hash columns: not recomputable before they all exist
CROSS JOIN LATERAL (SELECT NULL::text AS expected) x
--@endif
CROSS JOIN LATERAL (VALUES
    (CASE WHEN t.row_hash IS NULL THEN 'hash_missing' ELSE 'hash_malformed' END,
     jsonb_build_object('table', '{{order_fill}}', 'column', 'row_hash'), jsonb_build_object('value', t.row_hash),
     (t.row_hash IS NULL OR octet_length(t.row_hash) <> 64 OR t.row_hash ~ '[^0-9a-f]'))
  , ('row_hash_mismatch', jsonb_build_object('table', '{{order_fill}}'),
     jsonb_build_object('row_hash', t.row_hash, 'expected', x.expected),
     x.expected IS NOT NULL AND t.row_hash IS DISTINCT FROM x.expected)
--@if column:{{order_fill}}.parent_order_hash
  , (CASE WHEN t.parent_order_hash IS NULL THEN 'hash_missing' ELSE 'hash_malformed' END,
     jsonb_build_object('table', '{{order_fill}}', 'column', 'parent_order_hash'), jsonb_build_object('value', t.parent_order_hash),
     (t.parent_order_hash IS NULL OR octet_length(t.parent_order_hash) <> 64 OR t.parent_order_hash ~ '[^0-9a-f]'))
--@endif
) r(rule, key, detail, bad)
-- a row hash equal to its recomputation is well-formed: only the other hash columns need the
-- format test on every row
--@if column:{{order_fill}}.parent_order_hash
WHERE (t.row_hash IS DISTINCT FROM x.expected
--@endif
--@if !column:{{order_fill}}.parent_order_hash
WHERE ((t.row_hash IS NULL OR octet_length(t.row_hash) <> 64 OR t.row_hash ~ '[^0-9a-f]')
--@endif
--@if column:{{order_fill}}.parent_order_hash
       OR (t.parent_order_hash IS NULL OR octet_length(t.parent_order_hash) <> 64 OR t.parent_order_hash ~ '[^0-9a-f]')
--@endif
      ) AND r.bad
--@endif
--@if column:{{position_lot}}.row_hash
UNION ALL
SELECT r.rule, t.account_id, jsonb_build_object('lot_id', t.lot_id) || r.key, r.detail
FROM {{position_lot}} t
--@if column:{{position_lot}}.parent_fill_hash
CROSS JOIN LATERAL (SELECT encode(sha256(convert_to(concat_ws('|',
        t.lot_id::text,
        t.account_id::text,
        t.instrument_id::text,
        t.opening_fill_id::text,
        to_char(t.opened_ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
        t.original_qty::text,
        t.cost_basis::text,
        coalesce(t.parent_fill_hash, '\N')), 'UTF8')), 'hex') AS expected) x
--@endif
--@if !column:{{position_lot}}.parent_fill_hash
-- the row hash covers the parent-hash columns: not recomputable before they all exist
CROSS JOIN LATERAL (SELECT NULL::text AS expected) x
--@endif
CROSS JOIN LATERAL (VALUES
    (CASE WHEN t.row_hash IS NULL THEN 'hash_missing' ELSE 'hash_malformed' END,
     jsonb_build_object('table', '{{position_lot}}', 'column', 'row_hash'), jsonb_build_object('value', t.row_hash),
     (t.row_hash IS NULL OR octet_length(t.row_hash) <> 64 OR t.row_hash ~ '[^0-9a-f]'))
  , ('row_hash_mismatch', jsonb_build_object('table', '{{position_lot}}'),
     jsonb_build_object('row_hash', t.row_hash, 'expected', x.expected),
     x.expected IS NOT NULL AND t.row_hash IS DISTINCT FROM x.expected)
--@if column:{{position_lot}}.parent_fill_hash
  , (CASE WHEN t.parent_fill_hash IS NULL THEN 'hash_missing' ELSE 'hash_malformed' END,
     jsonb_build_object('table', '{{position_lot}}', 'column', 'parent_fill_hash'), jsonb_build_object('value', t.parent_fill_hash),
     (t.parent_fill_hash IS NULL OR octet_length(t.parent_fill_hash) <> 64 OR t.parent_fill_hash ~ '[^0-9a-f]'))
--@endif
) r(rule, key, detail, bad)
-- a row hash equal to its recomputation is well-formed: only the other hash columns need the
-- format test on every row
--@if column:{{position_lot}}.parent_fill_hash
WHERE (t.row_hash IS DISTINCT FROM x.expected
--@endif
--@if !column:{{position_lot}}.parent_fill_hash
WHERE ((t.row_hash IS NULL OR octet_length(t.row_hash) <> 64 OR t.row_hash ~ '[^0-9a-f]')
--@endif
--@if column:{{position_lot}}.parent_fill_hash
       OR (t.parent_fill_hash IS NULL OR octet_length(t.parent_fill_hash) <> 64 OR t.parent_fill_hash ~ '[^0-9a-f]')
--@endif
      ) AND r.bad
--@endif
--@if column:{{executed_trade}}.row_hash
UNION ALL
SELECT r.rule, t.account_id, jsonb_build_object('executed_trade_id', t.executed_trade_id) || r.key, r.detail
FROM {{executed_trade}} t
--@if column:{{executed_trade}}.parent_fill_hash column:{{executed_trade}}.parent_lot_hash
CROSS JOIN LATERAL (SELECT encode(sha256(convert_to(concat_ws('|',
        t.executed_trade_id::text,
        t.account_id::text,
        t.instrument_id::text,
        t.lot_id::text,
        t.sell_fill_id::text,
        to_char(t.executed_ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
        t.quantity::text,
        t.proceeds::text,
        t.cost_basis::text,
        t.realized_pnl::text,
        coalesce(t.parent_fill_hash, '\N'),
        coalesce(t.parent_lot_hash, '\N')), 'UTF8')), 'hex') AS expected) x
--@endif
--@if !column:{{executed_trade}}.parent_fill_hash
-- the row hash covers the parent-hash columns: not recomputable before they all exist
CROSS JOIN LATERAL (SELECT NULL::text AS expected) x
--@endif
--@if column:{{executed_trade}}.parent_fill_hash !column:{{executed_trade}}.parent_lot_hash
-- the row hash covers the parent-hash columns: not recomputable before they all exist
CROSS JOIN LATERAL (SELECT NULL::text AS expected) x
--@endif
CROSS JOIN LATERAL (VALUES
    (CASE WHEN t.row_hash IS NULL THEN 'hash_missing' ELSE 'hash_malformed' END,
     jsonb_build_object('table', '{{executed_trade}}', 'column', 'row_hash'), jsonb_build_object('value', t.row_hash),
     (t.row_hash IS NULL OR octet_length(t.row_hash) <> 64 OR t.row_hash ~ '[^0-9a-f]'))
  , ('row_hash_mismatch', jsonb_build_object('table', '{{executed_trade}}'),
     jsonb_build_object('row_hash', t.row_hash, 'expected', x.expected),
     x.expected IS NOT NULL AND t.row_hash IS DISTINCT FROM x.expected)
--@if column:{{executed_trade}}.parent_fill_hash
  , (CASE WHEN t.parent_fill_hash IS NULL THEN 'hash_missing' ELSE 'hash_malformed' END,
     jsonb_build_object('table', '{{executed_trade}}', 'column', 'parent_fill_hash'), jsonb_build_object('value', t.parent_fill_hash),
     (t.parent_fill_hash IS NULL OR octet_length(t.parent_fill_hash) <> 64 OR t.parent_fill_hash ~ '[^0-9a-f]'))
--@endif
--@if column:{{executed_trade}}.parent_lot_hash
  , (CASE WHEN t.parent_lot_hash IS NULL THEN 'hash_missing' ELSE 'hash_malformed' END,
     jsonb_build_object('table', '{{executed_trade}}', 'column', 'parent_lot_hash'), jsonb_build_object('value', t.parent_lot_hash),
     (t.parent_lot_hash IS NULL OR octet_length(t.parent_lot_hash) <> 64 OR t.parent_lot_hash ~ '[^0-9a-f]'))
--@endif
) r(rule, key, detail, bad)
-- a row hash equal to its recomputation is well-formed: only the other hash columns need the
-- format test on every row
--@if column:{{executed_trade}}.parent_fill_hash column:{{executed_trade}}.parent_lot_hash
WHERE (t.row_hash IS DISTINCT FROM x.expected
--@endif
--@if !column:{{executed_trade}}.parent_fill_hash
WHERE ((t.row_hash IS NULL OR octet_length(t.row_hash) <> 64 OR t.row_hash ~ '[^0-9a-f]')
--@endif
--@if column:{{executed_trade}}.parent_fill_hash !column:{{executed_trade}}.parent_lot_hash
WHERE ((t.row_hash IS NULL OR octet_length(t.row_hash) <> 64 OR t.row_hash ~ '[^0-9a-f]')
--@endif
--@if column:{{executed_trade}}.parent_fill_hash
       OR (t.parent_fill_hash IS NULL OR octet_length(t.parent_fill_hash) <> 64 OR t.parent_fill_hash ~ '[^0-9a-f]')
--@endif
--@if column:{{executed_trade}}.parent_lot_hash
       OR (t.parent_lot_hash IS NULL OR octet_length(t.parent_lot_hash) <> 64 OR t.parent_lot_hash ~ '[^0-9a-f]')
--@endif
      ) AND r.bad
--@endif
--@if column:{{cash_ledger}}.row_hash
UNION ALL
SELECT r.rule, t.account_id, jsonb_build_object('ledger_seq', t.ledger_seq) || r.key, r.detail
FROM {{cash_ledger}} t
--@if column:{{cash_ledger}}.prev_hash
CROSS JOIN LATERAL (SELECT encode(sha256(convert_to(concat_ws('|',
        t.account_id::text,
        t.ledger_seq::text,
        to_char(t.entry_ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
        t.entry_type,
        t.amount::text,
        t.balance_after::text,
        coalesce(t.fill_id::text, '\N'),
        coalesce(t.prev_hash, '\N')), 'UTF8')), 'hex') AS expected) x
--@endif
--@if !column:{{cash_ledger}}.prev_hash
-- the row hash covers the parent-hash columns: not recomputable before they all exist
CROSS JOIN LATERAL (SELECT NULL::text AS expected) x
--@endif
CROSS JOIN LATERAL (VALUES
    (CASE WHEN t.row_hash IS NULL THEN 'hash_missing' ELSE 'hash_malformed' END,
     jsonb_build_object('table', '{{cash_ledger}}', 'column', 'row_hash'), jsonb_build_object('value', t.row_hash),
     (t.row_hash IS NULL OR octet_length(t.row_hash) <> 64 OR t.row_hash ~ '[^0-9a-f]'))
  , ('row_hash_mismatch', jsonb_build_object('table', '{{cash_ledger}}'),
     jsonb_build_object('row_hash', t.row_hash, 'expected', x.expected),
     x.expected IS NOT NULL AND t.row_hash IS DISTINCT FROM x.expected)
--@if column:{{cash_ledger}}.prev_hash
  , (CASE WHEN t.prev_hash IS NULL THEN 'hash_missing' ELSE 'hash_malformed' END,
     jsonb_build_object('table', '{{cash_ledger}}', 'column', 'prev_hash'), jsonb_build_object('value', t.prev_hash),
     (t.prev_hash IS NULL OR octet_length(t.prev_hash) <> 64 OR t.prev_hash ~ '[^0-9a-f]'))
--@endif
) r(rule, key, detail, bad)
-- a row hash equal to its recomputation is well-formed: only the other hash columns need the
-- format test on every row
--@if column:{{cash_ledger}}.prev_hash
WHERE (t.row_hash IS DISTINCT FROM x.expected
--@endif
--@if !column:{{cash_ledger}}.prev_hash
WHERE ((t.row_hash IS NULL OR octet_length(t.row_hash) <> 64 OR t.row_hash ~ '[^0-9a-f]')
--@endif
--@if column:{{cash_ledger}}.prev_hash
       OR (t.prev_hash IS NULL OR octet_length(t.prev_hash) <> 64 OR t.prev_hash ~ '[^0-9a-f]')
--@endif
      ) AND r.bad
--@endif
--@if column:{{risk_event}}.row_hash
UNION ALL
SELECT r.rule, t.account_id, jsonb_build_object('risk_event_id', t.risk_event_id) || r.key, r.detail
FROM {{risk_event}} t
--@if column:{{risk_event}}.parent_state_hash
CROSS JOIN LATERAL (SELECT encode(sha256(convert_to(concat_ws('|',
        t.risk_event_id::text,
        t.account_id::text,
        to_char(t.hour_ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
        t.event_type,
        t.from_state,
        t.to_state,
        t.drawdown::text,
        coalesce(t.parent_state_hash, '\N')), 'UTF8')), 'hex') AS expected) x
--@endif
--@if !column:{{risk_event}}.parent_state_hash
-- the row hash covers the parent-hash columns: not recomputable before they all exist
CROSS JOIN LATERAL (SELECT NULL::text AS expected) x
--@endif
CROSS JOIN LATERAL (VALUES
    (CASE WHEN t.row_hash IS NULL THEN 'hash_missing' ELSE 'hash_malformed' END,
     jsonb_build_object('table', '{{risk_event}}', 'column', 'row_hash'), jsonb_build_object('value', t.row_hash),
     (t.row_hash IS NULL OR octet_length(t.row_hash) <> 64 OR t.row_hash ~ '[^0-9a-f]'))
  , ('row_hash_mismatch', jsonb_build_object('table', '{{risk_event}}'),
     jsonb_build_object('row_hash', t.row_hash, 'expected', x.expected),
     x.expected IS NOT NULL AND t.row_hash IS DISTINCT FROM x.expected)
--@if column:{{risk_event}}.parent_state_hash
  , (CASE WHEN t.parent_state_hash IS NULL THEN 'hash_missing' ELSE 'hash_malformed' END,
     jsonb_build_object('table', '{{risk_event}}', 'column', 'parent_state_hash'), jsonb_build_object('value', t.parent_state_hash),
     (t.parent_state_hash IS NULL OR octet_length(t.parent_state_hash) <> 64 OR t.parent_state_hash ~ '[^0-9a-f]'))
--@endif
) r(rule, key, detail, bad)
-- a row hash equal to its recomputation is well-formed: only the other hash columns need the
-- format test on every row
--@if column:{{risk_event}}.parent_state_hash
WHERE (t.row_hash IS DISTINCT FROM x.expected
--@endif
--@if !column:{{risk_event}}.parent_state_hash
WHERE ((t.row_hash IS NULL OR octet_length(t.row_hash) <> 64 OR t.row_hash ~ '[^0-9a-f]')
--@endif
--@if column:{{risk_event}}.parent_state_hash
       OR (t.parent_state_hash IS NULL OR octet_length(t.parent_state_hash) <> 64 OR t.parent_state_hash ~ '[^0-9a-f]')
--@endif
      ) AND r.bad
--@endif

--@if rule:hash_missing
UNION ALL
SELECT CASE WHEN t.feature_hash IS NULL THEN 'hash_missing' ELSE 'hash_malformed' END, NULL::bigint,
       jsonb_build_object('instrument_id', t.instrument_id, 'hour_ts', t.hour_ts, 'table', 'feature_snapshot', 'column', 'feature_hash'),
       jsonb_build_object('value', t.feature_hash)
FROM feature_snapshot t
WHERE (t.feature_hash IS NULL OR octet_length(t.feature_hash) <> 64 OR t.feature_hash ~ '[^0-9a-f]')
UNION ALL
SELECT CASE WHEN t.state_hash IS NULL THEN 'hash_missing' ELSE 'hash_malformed' END, t.account_id,
       jsonb_build_object('instrument_id', t.instrument_id, 'hour_ts', t.hour_ts, 'table', 'position_hourly_state', 'column', 'state_hash'),
       jsonb_build_object('value', t.state_hash)
FROM position_hourly_state t
WHERE (t.state_hash IS NULL OR octet_length(t.state_hash) <> 64 OR t.state_hash ~ '[^0-9a-f]')
UNION ALL
SELECT CASE WHEN t.state_hash IS NULL THEN 'hash_missing' ELSE 'hash_malformed' END, t.account_id,
       jsonb_build_object('hour_ts', t.hour_ts, 'table', 'portfolio_hourly_state', 'column', 'state_hash'),
       jsonb_build_object('value', t.state_hash)
FROM portfolio_hourly_state t
WHERE (t.state_hash IS NULL OR octet_length(t.state_hash) <> 64 OR t.state_hash ~ '[^0-9a-f]')
UNION ALL
SELECT CASE WHEN t.state_hash IS NULL THEN 'hash_missing' ELSE 'hash_malformed' END, t.account_id,
       jsonb_build_object('hour_ts', t.hour_ts, 'table', 'risk_hourly_state', 'column', 'state_hash'),
       jsonb_build_object('value', t.state_hash)
FROM risk_hourly_state t
WHERE (t.state_hash IS NULL OR octet_length(t.state_hash) <> 64 OR t.state_hash ~ '[^0-9a-f]')
UNION ALL
SELECT CASE WHEN t.parent_portfolio_hash IS NULL THEN 'hash_missing' ELSE 'hash_malformed' END, t.account_id,
       jsonb_build_object('hour_ts', t.hour_ts, 'table', 'risk_hourly_state', 'column', 'parent_portfolio_hash'),
       jsonb_build_object('value', t.parent_portfolio_hash)
FROM risk_hourly_state t
WHERE (t.parent_portfolio_hash IS NULL OR octet_length(t.parent_portfolio_hash) <> 64 OR t.parent_portfolio_hash ~ '[^0-9a-f]')
--@endif
--@if rule:hash_missing table:portfolio_hourly_state_identity
UNION ALL
SELECT CASE WHEN t.state_hash IS NULL THEN 'hash_missing' ELSE 'hash_malformed' END, t.account_id,
       jsonb_build_object('hour_ts', t.hour_ts, 'table', 'portfolio_hourly_state_identity', 'column', 'state_hash'),
       jsonb_build_object('value', t.state_hash)
FROM portfolio_hourly_state_identity t
WHERE (t.state_hash IS NULL OR octet_length(t.state_hash) <> 64 OR t.state_hash ~ '[^0-9a-f]')
--@endif
--@if rule:hash_missing table:risk_hourly_state_identity
UNION ALL
SELECT CASE WHEN t.state_hash IS NULL THEN 'hash_missing' ELSE 'hash_malformed' END, t.account_id,
       jsonb_build_object('hour_ts', t.hour_ts, 'table', 'risk_hourly_state_identity', 'column', 'state_hash'),
       jsonb_build_object('value', t.state_hash)
FROM risk_hourly_state_identity t
WHERE (t.state_hash IS NULL OR octet_length(t.state_hash) <> 64 OR t.state_hash ~ '[^0-9a-f]')
--@endif
--@if rule:hash_missing table:cluster_exposure_hourly_state
UNION ALL
SELECT CASE WHEN t.parent_risk_hash IS NULL THEN 'hash_missing' ELSE 'hash_malformed' END, t.account_id,
       jsonb_build_object('cluster_id', t.cluster_id, 'hour_ts', t.hour_ts, 'table', 'cluster_exposure_hourly_state', 'column', 'parent_risk_hash'),
       jsonb_build_object('value', t.parent_risk_hash)
FROM cluster_exposure_hourly_state t
WHERE (t.parent_risk_hash IS NULL OR octet_length(t.parent_risk_hash) <> 64 OR t.parent_risk_hash ~ '[^0-9a-f]')
--@endif
--@if rule:parent_signal_hash_mismatch
UNION ALL
SELECT 'parent_signal_hash_mismatch', o.account_id, jsonb_build_object('order_id', o.order_id),
       jsonb_build_object('stored', o.parent_signal_hash, 'expected', s.row_hash)
FROM {{order_request}} o LEFT JOIN {{trade_signal}} s ON s.signal_id = o.signal_id
WHERE o.parent_signal_hash IS DISTINCT FROM s.row_hash
--@endif
--@if rule:risk_state_hash_mismatch
UNION ALL
SELECT 'risk_state_hash_mismatch', o.account_id, jsonb_build_object('order_id', o.order_id),
       jsonb_build_object('stored', o.risk_state_hash, 'expected', rs.state_hash)
FROM {{order_request}} o
LEFT JOIN risk_hourly_state rs ON rs.account_id = o.account_id AND rs.hour_ts = o.risk_hour_ts
WHERE o.risk_state_hash IS DISTINCT FROM rs.state_hash
--@endif
--@if rule:parent_order_hash_mismatch
UNION ALL
SELECT 'parent_order_hash_mismatch', f.account_id, jsonb_build_object('fill_id', f.fill_id),
       jsonb_build_object('stored', f.parent_order_hash, 'expected', o.row_hash)
FROM {{order_fill}} f LEFT JOIN {{order_request}} o ON o.order_id = f.order_id
WHERE f.parent_order_hash IS DISTINCT FROM o.row_hash
--@endif
--@if rule:lot_parent_fill_hash_mismatch
UNION ALL
SELECT 'lot_parent_fill_hash_mismatch', l.account_id, jsonb_build_object('lot_id', l.lot_id),
       jsonb_build_object('stored', l.parent_fill_hash, 'expected', f.row_hash)
FROM {{position_lot}} l LEFT JOIN {{order_fill}} f ON f.fill_id = l.opening_fill_id
WHERE l.parent_fill_hash IS DISTINCT FROM f.row_hash
--@endif
--@if rule:trade_parent_fill_hash_mismatch
UNION ALL
SELECT 'trade_parent_fill_hash_mismatch', t.account_id, jsonb_build_object('executed_trade_id', t.executed_trade_id),
       jsonb_build_object('stored', t.parent_fill_hash, 'expected', f.row_hash)
FROM {{executed_trade}} t LEFT JOIN {{order_fill}} f ON f.fill_id = t.sell_fill_id
WHERE t.parent_fill_hash IS DISTINCT FROM f.row_hash
--@endif
--@if rule:trade_parent_lot_hash_mismatch
UNION ALL
SELECT 'trade_parent_lot_hash_mismatch', t.account_id, jsonb_build_object('executed_trade_id', t.executed_trade_id),
       jsonb_build_object('stored', t.parent_lot_hash, 'expected', l.row_hash)
FROM {{executed_trade}} t LEFT JOIN {{position_lot}} l ON l.lot_id = t.lot_id
WHERE t.parent_lot_hash IS DISTINCT FROM l.row_hash
--@endif
--@if rule:prev_hash_mismatch
UNION ALL
SELECT 'prev_hash_mismatch', c.account_id, jsonb_build_object('ledger_seq', c.ledger_seq),
       jsonb_build_object('stored', c.prev_hash, 'expected', coalesce(c.prev_row_hash, repeat('0', 64)))
FROM (SELECT account_id, ledger_seq, prev_hash,
             lag(row_hash) OVER (PARTITION BY account_id ORDER BY ledger_seq) AS prev_row_hash
      FROM {{cash_ledger}}) c
WHERE c.prev_hash IS DISTINCT FROM coalesce(c.prev_row_hash, repeat('0', 64))
--@endif
--@if rule:parent_state_hash_mismatch
UNION ALL
SELECT 'parent_state_hash_mismatch', e.account_id, jsonb_build_object('risk_event_id', e.risk_event_id),
       jsonb_build_object('stored', e.parent_state_hash, 'expected', rs.state_hash)
FROM {{risk_event}} e
LEFT JOIN risk_hourly_state rs ON rs.account_id = e.account_id AND rs.hour_ts = e.hour_ts
WHERE e.parent_state_hash IS DISTINCT FROM rs.state_hash
--@endif
--@if rule:parent_portfolio_hash_mismatch
UNION ALL
SELECT 'parent_portfolio_hash_mismatch', r.account_id, jsonb_build_object('hour_ts', r.hour_ts),
       jsonb_build_object('stored', r.parent_portfolio_hash, 'expected', p.state_hash)
FROM risk_hourly_state r
LEFT JOIN portfolio_hourly_state p ON p.account_id = r.account_id AND p.hour_ts = r.hour_ts
WHERE r.parent_portfolio_hash IS DISTINCT FROM p.state_hash
--@endif
--@if rule:prediction_feature_hash_mismatch
UNION ALL
SELECT 'prediction_feature_hash_mismatch', NULL::bigint, jsonb_build_object('prediction_id', p.prediction_id),
       jsonb_build_object('stored', p.feature_hash, 'expected', fs.feature_hash)
FROM {{model_prediction}} p
LEFT JOIN feature_snapshot fs ON fs.instrument_id = p.instrument_id AND fs.hour_ts = p.feature_hour_ts
WHERE p.feature_hash IS DISTINCT FROM fs.feature_hash
--@endif
--@if rule:parent_risk_hash_mismatch
UNION ALL
SELECT 'parent_risk_hash_mismatch', c.account_id,
       jsonb_build_object('cluster_id', c.cluster_id, 'hour_ts', c.hour_ts),
       jsonb_build_object('stored', c.parent_risk_hash, 'expected', rs.state_hash)
FROM cluster_exposure_hourly_state c
LEFT JOIN risk_hourly_state rs ON rs.account_id = c.account_id AND rs.hour_ts = c.hour_ts
WHERE c.parent_risk_hash IS DISTINCT FROM rs.state_hash
--@endif
