-- missing_hash: every required hash column is non-NULL lower-case 64-hex, every row_hash is the
-- hash of its row, and every parent hash equals the hash of the row it names.
-- Hash canon (brief): H(fields) = sha256 hex of the fields joined by '|'; numerics at column scale,
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
WITH hash_values AS (
    SELECT NULL::text AS table_name, NULL::bigint AS account_id, NULL::jsonb AS key,
           NULL::text AS column_name, NULL::text AS value
    WHERE false
--@if column:{{trade_signal}}.row_hash
    UNION ALL
    SELECT '{{trade_signal}}', t.account_id, jsonb_build_object('signal_id', t.signal_id), v.c, v.h
    FROM {{trade_signal}} t CROSS JOIN LATERAL (VALUES ('row_hash', t.row_hash)) v(c, h)
--@endif
--@if column:{{regime_output}}.row_hash
    UNION ALL
    SELECT '{{regime_output}}', NULL, jsonb_build_object('regime_output_id', t.regime_output_id), v.c, v.h
    FROM {{regime_output}} t CROSS JOIN LATERAL (VALUES ('row_hash', t.row_hash)) v(c, h)
--@endif
--@if column:{{model_prediction}}.row_hash
    UNION ALL
    SELECT '{{model_prediction}}', NULL, jsonb_build_object('prediction_id', t.prediction_id), v.c, v.h
    FROM {{model_prediction}} t
    CROSS JOIN LATERAL (VALUES ('row_hash', t.row_hash), ('feature_hash', t.feature_hash)) v(c, h)
--@endif
--@if column:{{meta_learner_component}}.row_hash
    UNION ALL
    SELECT '{{meta_learner_component}}', NULL,
           jsonb_build_object('meta_prediction_id', t.meta_prediction_id, 'base_prediction_id', t.base_prediction_id),
           v.c, v.h
    FROM {{meta_learner_component}} t CROSS JOIN LATERAL (VALUES ('row_hash', t.row_hash)) v(c, h)
--@endif
--@if column:{{order_request}}.row_hash
    UNION ALL
    SELECT '{{order_request}}', t.account_id, jsonb_build_object('order_id', t.order_id), v.c, v.h
    FROM {{order_request}} t
    CROSS JOIN LATERAL (VALUES ('row_hash', t.row_hash)
--@if column:{{order_request}}.parent_signal_hash
        , ('parent_signal_hash', t.parent_signal_hash)
--@endif
--@if column:{{order_request}}.risk_state_hash
        , ('risk_state_hash', t.risk_state_hash)
--@endif
    ) v(c, h)
--@endif
--@if column:{{order_fill}}.row_hash
    UNION ALL
    SELECT '{{order_fill}}', t.account_id, jsonb_build_object('fill_id', t.fill_id), v.c, v.h
    FROM {{order_fill}} t
    CROSS JOIN LATERAL (VALUES ('row_hash', t.row_hash)
--@if column:{{order_fill}}.parent_order_hash
        , ('parent_order_hash', t.parent_order_hash)
--@endif
    ) v(c, h)
--@endif
--@if column:{{position_lot}}.row_hash
    UNION ALL
    SELECT '{{position_lot}}', t.account_id, jsonb_build_object('lot_id', t.lot_id), v.c, v.h
    FROM {{position_lot}} t
    CROSS JOIN LATERAL (VALUES ('row_hash', t.row_hash)
--@if column:{{position_lot}}.parent_fill_hash
        , ('parent_fill_hash', t.parent_fill_hash)
--@endif
    ) v(c, h)
--@endif
--@if column:{{executed_trade}}.row_hash
    UNION ALL
    SELECT '{{executed_trade}}', t.account_id, jsonb_build_object('executed_trade_id', t.executed_trade_id), v.c, v.h
    FROM {{executed_trade}} t
    CROSS JOIN LATERAL (VALUES ('row_hash', t.row_hash)
--@if column:{{executed_trade}}.parent_fill_hash
        , ('parent_fill_hash', t.parent_fill_hash)
--@endif
--@if column:{{executed_trade}}.parent_lot_hash
        , ('parent_lot_hash', t.parent_lot_hash)
--@endif
    ) v(c, h)
--@endif
--@if column:{{cash_ledger}}.row_hash
    UNION ALL
    SELECT '{{cash_ledger}}', t.account_id, jsonb_build_object('ledger_seq', t.ledger_seq), v.c, v.h
    FROM {{cash_ledger}} t
    CROSS JOIN LATERAL (VALUES ('row_hash', t.row_hash)
--@if column:{{cash_ledger}}.prev_hash
        , ('prev_hash', t.prev_hash)
--@endif
    ) v(c, h)
--@endif
--@if column:{{risk_event}}.row_hash
    UNION ALL
    SELECT '{{risk_event}}', t.account_id, jsonb_build_object('risk_event_id', t.risk_event_id), v.c, v.h
    FROM {{risk_event}} t
    CROSS JOIN LATERAL (VALUES ('row_hash', t.row_hash)
--@if column:{{risk_event}}.parent_state_hash
        , ('parent_state_hash', t.parent_state_hash)
--@endif
    ) v(c, h)
--@endif
--@if rule:hash_missing
    UNION ALL
    SELECT 'feature_snapshot', NULL, jsonb_build_object('instrument_id', t.instrument_id, 'hour_ts', t.hour_ts),
           'feature_hash', t.feature_hash
    FROM feature_snapshot t
    UNION ALL
    SELECT 'position_hourly_state', t.account_id,
           jsonb_build_object('instrument_id', t.instrument_id, 'hour_ts', t.hour_ts), 'state_hash', t.state_hash
    FROM position_hourly_state t
    UNION ALL
    SELECT 'portfolio_hourly_state', t.account_id, jsonb_build_object('hour_ts', t.hour_ts), 'state_hash', t.state_hash
    FROM portfolio_hourly_state t
    UNION ALL
    SELECT 'risk_hourly_state', t.account_id, jsonb_build_object('hour_ts', t.hour_ts), v.c, v.h
    FROM risk_hourly_state t
    CROSS JOIN LATERAL (VALUES ('state_hash', t.state_hash), ('parent_portfolio_hash', t.parent_portfolio_hash)) v(c, h)
--@endif
--@if rule:hash_missing table:portfolio_hourly_state_identity
    UNION ALL
    SELECT 'portfolio_hourly_state_identity', t.account_id, jsonb_build_object('hour_ts', t.hour_ts),
           'state_hash', t.state_hash
    FROM portfolio_hourly_state_identity t
--@endif
--@if rule:hash_missing table:risk_hourly_state_identity
    UNION ALL
    SELECT 'risk_hourly_state_identity', t.account_id, jsonb_build_object('hour_ts', t.hour_ts),
           'state_hash', t.state_hash
    FROM risk_hourly_state_identity t
--@endif
--@if rule:hash_missing table:cluster_exposure_hourly_state
    UNION ALL
    SELECT 'cluster_exposure_hourly_state', t.account_id,
           jsonb_build_object('cluster_id', t.cluster_id, 'hour_ts', t.hour_ts), 'parent_risk_hash', t.parent_risk_hash
    FROM cluster_exposure_hourly_state t
--@endif
),
row_hashes AS (
    SELECT NULL::text AS table_name, NULL::bigint AS account_id, NULL::jsonb AS key,
           NULL::text AS stored, NULL::text AS expected
    WHERE false
--@if column:{{trade_signal}}.row_hash
    UNION ALL
    SELECT '{{trade_signal}}', t.account_id, jsonb_build_object('signal_id', t.signal_id), t.row_hash,
           encode(sha256(convert_to(concat_ws('|',
               t.signal_id::text, t.account_id::text, t.instrument_id::text,
               to_char(t.hour_ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
               t.prediction_id::text, t.regime_output_id::text, t.target_weight::text), 'UTF8')), 'hex')
    FROM {{trade_signal}} t
--@endif
--@if column:{{regime_output}}.row_hash
    UNION ALL
    SELECT '{{regime_output}}', NULL, jsonb_build_object('regime_output_id', t.regime_output_id), t.row_hash,
           encode(sha256(convert_to(concat_ws('|',
               t.regime_output_id::text, t.model_id::text,
               to_char(t.hour_ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
               t.regime, t.score::text), 'UTF8')), 'hex')
    FROM {{regime_output}} t
--@endif
--@if column:{{model_prediction}}.row_hash
    UNION ALL
    SELECT '{{model_prediction}}', NULL, jsonb_build_object('prediction_id', t.prediction_id), t.row_hash,
           encode(sha256(convert_to(concat_ws('|',
               t.prediction_id::text, t.model_id::text, t.instrument_id::text,
               to_char(t.hour_ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
               to_char(t.feature_hour_ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
               coalesce(t.feature_hash, '\N'), t.score::text), 'UTF8')), 'hex')
    FROM {{model_prediction}} t
--@endif
--@if column:{{meta_learner_component}}.row_hash
    UNION ALL
    SELECT '{{meta_learner_component}}', NULL,
           jsonb_build_object('meta_prediction_id', t.meta_prediction_id, 'base_prediction_id', t.base_prediction_id),
           t.row_hash,
           encode(sha256(convert_to(concat_ws('|',
               t.meta_prediction_id::text, t.base_prediction_id::text, t.weight::text), 'UTF8')), 'hex')
    FROM {{meta_learner_component}} t
--@endif
--@if column:{{order_request}}.row_hash column:{{order_request}}.parent_signal_hash column:{{order_request}}.risk_state_hash
    UNION ALL
    SELECT '{{order_request}}', t.account_id, jsonb_build_object('order_id', t.order_id), t.row_hash,
           encode(sha256(convert_to(concat_ws('|',
               t.order_id::text, t.account_id::text, t.signal_id::text, t.instrument_id::text, t.side,
               t.quantity::text, t.reference_price::text,
               to_char(t.requested_ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
               to_char(t.risk_hour_ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
               coalesce(t.parent_signal_hash, '\N'), coalesce(t.risk_state_hash, '\N')), 'UTF8')), 'hex')
    FROM {{order_request}} t
--@endif
--@if column:{{order_fill}}.row_hash column:{{order_fill}}.parent_order_hash
    UNION ALL
    SELECT '{{order_fill}}', t.account_id, jsonb_build_object('fill_id', t.fill_id), t.row_hash,
           encode(sha256(convert_to(concat_ws('|',
               t.fill_id::text, t.account_id::text, t.order_id::text, t.instrument_id::text, t.side,
               to_char(t.fill_ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
               t.fill_qty::text, t.reference_price::text, t.fill_price::text, t.fee::text,
               t.slippage_cost::text, coalesce(t.parent_order_hash, '\N')), 'UTF8')), 'hex')
    FROM {{order_fill}} t
--@endif
--@if column:{{position_lot}}.row_hash column:{{position_lot}}.parent_fill_hash
    UNION ALL
    SELECT '{{position_lot}}', t.account_id, jsonb_build_object('lot_id', t.lot_id), t.row_hash,
           encode(sha256(convert_to(concat_ws('|',
               t.lot_id::text, t.account_id::text, t.instrument_id::text, t.opening_fill_id::text,
               to_char(t.opened_ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
               t.original_qty::text, t.cost_basis::text, coalesce(t.parent_fill_hash, '\N')), 'UTF8')), 'hex')
    FROM {{position_lot}} t
--@endif
--@if column:{{executed_trade}}.row_hash column:{{executed_trade}}.parent_fill_hash column:{{executed_trade}}.parent_lot_hash
    UNION ALL
    SELECT '{{executed_trade}}', t.account_id, jsonb_build_object('executed_trade_id', t.executed_trade_id), t.row_hash,
           encode(sha256(convert_to(concat_ws('|',
               t.executed_trade_id::text, t.account_id::text, t.instrument_id::text, t.lot_id::text,
               t.sell_fill_id::text,
               to_char(t.executed_ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
               t.quantity::text, t.proceeds::text, t.cost_basis::text, t.realized_pnl::text,
               coalesce(t.parent_fill_hash, '\N'), coalesce(t.parent_lot_hash, '\N')), 'UTF8')), 'hex')
    FROM {{executed_trade}} t
--@endif
--@if column:{{cash_ledger}}.row_hash column:{{cash_ledger}}.prev_hash
    UNION ALL
    SELECT '{{cash_ledger}}', t.account_id, jsonb_build_object('ledger_seq', t.ledger_seq), t.row_hash,
           encode(sha256(convert_to(concat_ws('|',
               t.account_id::text, t.ledger_seq::text,
               to_char(t.entry_ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
               t.entry_type, t.amount::text, t.balance_after::text, coalesce(t.fill_id::text, '\N'),
               coalesce(t.prev_hash, '\N')), 'UTF8')), 'hex')
    FROM {{cash_ledger}} t
--@endif
--@if column:{{risk_event}}.row_hash column:{{risk_event}}.parent_state_hash
    UNION ALL
    SELECT '{{risk_event}}', t.account_id, jsonb_build_object('risk_event_id', t.risk_event_id), t.row_hash,
           encode(sha256(convert_to(concat_ws('|',
               t.risk_event_id::text, t.account_id::text,
               to_char(t.hour_ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
               t.event_type, t.from_state, t.to_state, t.drawdown::text,
               coalesce(t.parent_state_hash, '\N')), 'UTF8')), 'hex')
    FROM {{risk_event}} t
--@endif
),
parent_links AS (
    SELECT NULL::text AS rule, NULL::bigint AS account_id, NULL::jsonb AS key,
           NULL::text AS stored, NULL::text AS expected
    WHERE false
--@if rule:parent_signal_hash_mismatch
    UNION ALL
    SELECT 'parent_signal_hash_mismatch', o.account_id, jsonb_build_object('order_id', o.order_id),
           o.parent_signal_hash, s.row_hash
    FROM {{order_request}} o LEFT JOIN {{trade_signal}} s ON s.signal_id = o.signal_id
    WHERE o.parent_signal_hash IS DISTINCT FROM s.row_hash
--@endif
--@if rule:risk_state_hash_mismatch
    UNION ALL
    SELECT 'risk_state_hash_mismatch', o.account_id, jsonb_build_object('order_id', o.order_id),
           o.risk_state_hash, rs.state_hash
    FROM {{order_request}} o
    LEFT JOIN risk_hourly_state rs ON rs.account_id = o.account_id AND rs.hour_ts = o.risk_hour_ts
    WHERE o.risk_state_hash IS DISTINCT FROM rs.state_hash
--@endif
--@if rule:parent_order_hash_mismatch
    UNION ALL
    SELECT 'parent_order_hash_mismatch', f.account_id, jsonb_build_object('fill_id', f.fill_id),
           f.parent_order_hash, o.row_hash
    FROM {{order_fill}} f LEFT JOIN {{order_request}} o ON o.order_id = f.order_id
    WHERE f.parent_order_hash IS DISTINCT FROM o.row_hash
--@endif
--@if rule:lot_parent_fill_hash_mismatch
    UNION ALL
    SELECT 'lot_parent_fill_hash_mismatch', l.account_id, jsonb_build_object('lot_id', l.lot_id),
           l.parent_fill_hash, f.row_hash
    FROM {{position_lot}} l LEFT JOIN {{order_fill}} f ON f.fill_id = l.opening_fill_id
    WHERE l.parent_fill_hash IS DISTINCT FROM f.row_hash
--@endif
--@if rule:trade_parent_fill_hash_mismatch
    UNION ALL
    SELECT 'trade_parent_fill_hash_mismatch', t.account_id, jsonb_build_object('executed_trade_id', t.executed_trade_id),
           t.parent_fill_hash, f.row_hash
    FROM {{executed_trade}} t LEFT JOIN {{order_fill}} f ON f.fill_id = t.sell_fill_id
    WHERE t.parent_fill_hash IS DISTINCT FROM f.row_hash
--@endif
--@if rule:trade_parent_lot_hash_mismatch
    UNION ALL
    SELECT 'trade_parent_lot_hash_mismatch', t.account_id, jsonb_build_object('executed_trade_id', t.executed_trade_id),
           t.parent_lot_hash, l.row_hash
    FROM {{executed_trade}} t LEFT JOIN {{position_lot}} l ON l.lot_id = t.lot_id
    WHERE t.parent_lot_hash IS DISTINCT FROM l.row_hash
--@endif
--@if rule:prev_hash_mismatch
    UNION ALL
    SELECT 'prev_hash_mismatch', c.account_id, jsonb_build_object('ledger_seq', c.ledger_seq),
           c.prev_hash, coalesce(c.prev_row_hash, repeat('0', 64))
    FROM (SELECT account_id, ledger_seq, prev_hash,
                 lag(row_hash) OVER (PARTITION BY account_id ORDER BY ledger_seq) AS prev_row_hash
          FROM {{cash_ledger}}) c
    WHERE c.prev_hash IS DISTINCT FROM coalesce(c.prev_row_hash, repeat('0', 64))
--@endif
--@if rule:parent_state_hash_mismatch
    UNION ALL
    SELECT 'parent_state_hash_mismatch', e.account_id, jsonb_build_object('risk_event_id', e.risk_event_id),
           e.parent_state_hash, rs.state_hash
    FROM {{risk_event}} e
    LEFT JOIN risk_hourly_state rs ON rs.account_id = e.account_id AND rs.hour_ts = e.hour_ts
    WHERE e.parent_state_hash IS DISTINCT FROM rs.state_hash
--@endif
--@if rule:parent_portfolio_hash_mismatch
    UNION ALL
    SELECT 'parent_portfolio_hash_mismatch', r.account_id, jsonb_build_object('hour_ts', r.hour_ts),
           r.parent_portfolio_hash, p.state_hash
    FROM risk_hourly_state r
    LEFT JOIN portfolio_hourly_state p ON p.account_id = r.account_id AND p.hour_ts = r.hour_ts
    WHERE r.parent_portfolio_hash IS DISTINCT FROM p.state_hash
--@endif
--@if rule:prediction_feature_hash_mismatch
    UNION ALL
    SELECT 'prediction_feature_hash_mismatch', NULL, jsonb_build_object('prediction_id', p.prediction_id),
           p.feature_hash, fs.feature_hash
    FROM {{model_prediction}} p
    LEFT JOIN feature_snapshot fs ON fs.instrument_id = p.instrument_id AND fs.hour_ts = p.feature_hour_ts
    WHERE p.feature_hash IS DISTINCT FROM fs.feature_hash
--@endif
--@if rule:parent_risk_hash_mismatch
    UNION ALL
    SELECT 'parent_risk_hash_mismatch', c.account_id,
           jsonb_build_object('cluster_id', c.cluster_id, 'hour_ts', c.hour_ts), c.parent_risk_hash, rs.state_hash
    FROM cluster_exposure_hourly_state c
    LEFT JOIN risk_hourly_state rs ON rs.account_id = c.account_id AND rs.hour_ts = c.hour_ts
    WHERE c.parent_risk_hash IS DISTINCT FROM rs.state_hash
--@endif
)
SELECT NULL::text AS rule, NULL::bigint AS account_id, NULL::jsonb AS key, NULL::jsonb AS detail
WHERE false
UNION ALL
SELECT CASE WHEN hv.value IS NULL THEN 'hash_missing' ELSE 'hash_malformed' END, hv.account_id,
       hv.key || jsonb_build_object('table', hv.table_name, 'column', hv.column_name),
       jsonb_build_object('value', hv.value)
FROM hash_values hv
-- length + a negated character class instead of '^[0-9a-f]{64}$': PostgreSQL's regex engine
-- expands the bounded repetition and runs ~8x slower on it, which matters at millions of hashes.
WHERE hv.value IS NULL OR length(hv.value) <> 64 OR hv.value ~ '[^0-9a-f]'
UNION ALL
SELECT 'row_hash_mismatch', rh.account_id, rh.key || jsonb_build_object('table', rh.table_name),
       jsonb_build_object('row_hash', rh.stored, 'expected', rh.expected)
FROM row_hashes rh
WHERE rh.stored IS DISTINCT FROM rh.expected
UNION ALL
SELECT pl.rule, pl.account_id, pl.key, jsonb_build_object('stored', pl.stored, 'expected', pl.expected)
FROM parent_links pl
