-- walk_forward_contamination: the walk-forward rules of CONTRACT section 2.
--   predictions: model is BASE or META and predicts only for hours strictly after its train_end;
--     the feature snapshot it names (instrument_id, feature_hour_ts) exists, is no later than the
--     prediction hour, and its feature_hash is the one the prediction carries (link by value and
--     hash); every snapshot's feature_hash is its content hash H(instrument_id|hour_ts|close_price|features).
--   regime outputs: model is REGIME, hour strictly after its train_end.
--   META: components are BASE predictions no later than the META prediction, of a META-model
--     prediction; weights sum to 1; score = round(sum(weight * component score), 8); a META
--     prediction has components.
--   signals: prediction and regime output no later than the signal hour; target_weight >= 0.
--   references: every model, prediction, regime output and component a row names exists
--     (`*_missing`); a rule that compares with a row that is not there would otherwise compare
--     with NULL and count nothing.
--@rule prediction_in_training_window,prediction_model_kind_invalid,prediction_model_missing,prediction_feature_after_hour
--@rule prediction_feature_missing,prediction_feature_hash_mismatch,feature_hash_mismatch
--@rule regime_in_training_window,regime_model_kind_invalid,regime_model_missing
--@rule meta_parent_not_meta,meta_component_not_base,meta_component_after_meta,meta_component_prediction_missing
--@rule meta_weights_not_one,meta_score_mismatch,meta_without_components
--@rule signal_prediction_after_signal,signal_regime_after_signal,signal_prediction_missing,signal_regime_missing
--@rule negative_target_weight
WITH meta_sums AS (
    SELECT c.meta_prediction_id, sum(c.weight) AS weight_sum,
           round(sum(c.weight * b.score), 8) AS expected_score
    FROM {{meta_learner_component}} c
    JOIN {{model_prediction}} b ON b.prediction_id = c.base_prediction_id
    GROUP BY c.meta_prediction_id
)
SELECT NULL::text AS rule, NULL::bigint AS account_id, NULL::jsonb AS key, NULL::jsonb AS detail
WHERE false
UNION ALL
SELECT r.rule, NULL::bigint, jsonb_build_object('prediction_id', p.prediction_id),
       jsonb_build_object('model_id', p.model_id, 'model_kind', m.model_kind, 'train_end', m.train_end,
                          'hour_ts', p.hour_ts, 'feature_hour_ts', p.feature_hour_ts,
                          'feature_hash', p.feature_hash, 'snapshot_feature_hash', fs.feature_hash)
FROM {{model_prediction}} p
LEFT JOIN model_registry m ON m.model_id = p.model_id
LEFT JOIN feature_snapshot fs ON fs.instrument_id = p.instrument_id AND fs.hour_ts = p.feature_hour_ts
CROSS JOIN LATERAL (SELECT
    p.hour_ts <= m.train_end AS b1,
    m.model_id IS NOT NULL AND m.model_kind IS DISTINCT FROM 'BASE' AND m.model_kind IS DISTINCT FROM 'META' AS b2,
    p.feature_hour_ts > p.hour_ts AS b3,
    fs.instrument_id IS NULL AS b4,
    fs.instrument_id IS NOT NULL AND fs.feature_hash IS DISTINCT FROM p.feature_hash AS b5,
    m.model_id IS NULL AS b6
) rb
CROSS JOIN LATERAL (VALUES
    ('prediction_in_training_window', rb.b1),
    ('prediction_model_kind_invalid', rb.b2),
    ('prediction_feature_after_hour', rb.b3),
    ('prediction_feature_missing', rb.b4),
    ('prediction_feature_hash_mismatch', rb.b5),
    ('prediction_model_missing', rb.b6)
) r(rule, bad)
WHERE (rb.b1 OR rb.b2 OR rb.b3 OR rb.b4 OR rb.b5 OR rb.b6) AND r.bad
UNION ALL
SELECT 'feature_hash_mismatch', NULL::bigint,
       jsonb_build_object('instrument_id', fs.instrument_id, 'hour_ts', fs.hour_ts),
       jsonb_build_object('feature_hash', fs.feature_hash, 'expected', x.h)
FROM feature_snapshot fs
CROSS JOIN LATERAL (
    SELECT encode(sha256(convert_to(concat_ws('|',
               fs.instrument_id::text,
               to_char(fs.hour_ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
               fs.close_price::text,
               fs.features::text), 'UTF8')), 'hex') AS h
) x
WHERE fs.feature_hash IS DISTINCT FROM x.h
UNION ALL
SELECT r.rule, NULL::bigint, jsonb_build_object('regime_output_id', ro.regime_output_id),
       jsonb_build_object('model_id', ro.model_id, 'model_kind', m.model_kind, 'train_end', m.train_end,
                          'hour_ts', ro.hour_ts)
FROM {{regime_output}} ro
LEFT JOIN model_registry m ON m.model_id = ro.model_id
CROSS JOIN LATERAL (SELECT
    ro.hour_ts <= m.train_end AS b1,
    m.model_id IS NOT NULL AND m.model_kind IS DISTINCT FROM 'REGIME' AS b2,
    m.model_id IS NULL AS b3
) rb
CROSS JOIN LATERAL (VALUES
    ('regime_in_training_window', rb.b1),
    ('regime_model_kind_invalid', rb.b2),
    ('regime_model_missing', rb.b3)
) r(rule, bad)
WHERE (rb.b1 OR rb.b2 OR rb.b3) AND r.bad
UNION ALL
SELECT r.rule, NULL::bigint,
       jsonb_build_object('meta_prediction_id', c.meta_prediction_id, 'base_prediction_id', c.base_prediction_id),
       jsonb_build_object('meta_model_kind', mm.model_kind, 'base_model_kind', bm.model_kind,
                          'meta_hour_ts', mp.hour_ts, 'base_hour_ts', bp.hour_ts)
FROM {{meta_learner_component}} c
LEFT JOIN {{model_prediction}} mp ON mp.prediction_id = c.meta_prediction_id
LEFT JOIN model_registry mm ON mm.model_id = mp.model_id
LEFT JOIN {{model_prediction}} bp ON bp.prediction_id = c.base_prediction_id
LEFT JOIN model_registry bm ON bm.model_id = bp.model_id
CROSS JOIN LATERAL (SELECT
    mp.prediction_id IS NOT NULL AND mm.model_kind IS DISTINCT FROM 'META' AS b1,
    bp.prediction_id IS NOT NULL AND bm.model_kind IS DISTINCT FROM 'BASE' AS b2,
    bp.hour_ts > mp.hour_ts AS b3,
    mp.prediction_id IS NULL OR bp.prediction_id IS NULL AS b4
) rb
CROSS JOIN LATERAL (VALUES
    ('meta_parent_not_meta', rb.b1),
    ('meta_component_not_base', rb.b2),
    ('meta_component_after_meta', rb.b3),
    ('meta_component_prediction_missing', rb.b4)
) r(rule, bad)
WHERE (rb.b1 OR rb.b2 OR rb.b3 OR rb.b4) AND r.bad
UNION ALL
SELECT r.rule, NULL::bigint, jsonb_build_object('prediction_id', p.prediction_id),
       jsonb_build_object('score', p.score, 'expected_score', ms.expected_score, 'weight_sum', ms.weight_sum)
FROM {{model_prediction}} p
JOIN model_registry m ON m.model_id = p.model_id AND m.model_kind = 'META'
LEFT JOIN meta_sums ms ON ms.meta_prediction_id = p.prediction_id
CROSS JOIN LATERAL (SELECT
    ms.meta_prediction_id IS NULL AS b1,
    ms.weight_sum <> 1 AS b2,
    p.score <> ms.expected_score AS b3
) rb
CROSS JOIN LATERAL (VALUES
    ('meta_without_components', rb.b1),
    ('meta_weights_not_one', rb.b2),
    ('meta_score_mismatch', rb.b3)
) r(rule, bad)
WHERE (rb.b1 OR rb.b2 OR rb.b3) AND r.bad
UNION ALL
SELECT r.rule, s.account_id, jsonb_build_object('signal_id', s.signal_id),
       jsonb_build_object('hour_ts', s.hour_ts, 'prediction_hour_ts', p.hour_ts,
                          'regime_hour_ts', ro.hour_ts, 'target_weight', s.target_weight)
FROM {{trade_signal}} s
LEFT JOIN {{model_prediction}} p ON p.prediction_id = s.prediction_id
LEFT JOIN {{regime_output}} ro ON ro.regime_output_id = s.regime_output_id
CROSS JOIN LATERAL (SELECT
    p.hour_ts > s.hour_ts AS b1,
    ro.hour_ts > s.hour_ts AS b2,
    s.target_weight < 0 AS b3,
    p.prediction_id IS NULL AS b4,
    ro.regime_output_id IS NULL AS b5
) rb
CROSS JOIN LATERAL (VALUES
    ('signal_prediction_after_signal', rb.b1),
    ('signal_regime_after_signal', rb.b2),
    ('negative_target_weight', rb.b3),
    ('signal_prediction_missing', rb.b4),
    ('signal_regime_missing', rb.b5)
) r(rule, bad)
WHERE (rb.b1 OR rb.b2 OR rb.b3 OR rb.b4 OR rb.b5) AND r.bad
