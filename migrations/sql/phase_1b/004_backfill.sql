-- Phase 1B (phase_1b_schema), part 4: deterministic backfill of `*_v2`.
--
-- Parents before children (the v2 foreign keys demand it), each table in key order, same keys
-- and same facts. ON CONFLICT DO NOTHING keeps it idempotent and lets rows the dual-write
-- triggers already mirrored stand. A legacy row the contract shape refuses (a CHECK or a
-- cross-account reference) fails Phase 1B here, naming the constraint: better than migrating it.

INSERT INTO regime_output_v2 (regime_output_id, model_id, hour_ts, regime, score)
SELECT regime_output_id, model_id, hour_ts, regime, score
FROM regime_output ORDER BY regime_output_id
ON CONFLICT DO NOTHING;

INSERT INTO model_prediction_v2 (prediction_id, model_id, instrument_id, hour_ts, feature_hour_ts, feature_hash, score)
SELECT prediction_id, model_id, instrument_id, hour_ts, feature_hour_ts, feature_hash, score
FROM model_prediction ORDER BY prediction_id
ON CONFLICT DO NOTHING;

INSERT INTO meta_learner_component_v2 (meta_prediction_id, base_prediction_id, weight)
SELECT meta_prediction_id, base_prediction_id, weight
FROM meta_learner_component ORDER BY meta_prediction_id, base_prediction_id
ON CONFLICT DO NOTHING;

INSERT INTO trade_signal_v2 (signal_id, account_id, instrument_id, hour_ts, prediction_id, regime_output_id, target_weight)
SELECT signal_id, account_id, instrument_id, hour_ts, prediction_id, regime_output_id, target_weight
FROM trade_signal ORDER BY signal_id
ON CONFLICT DO NOTHING;

INSERT INTO order_request_v2 (order_id, account_id, signal_id, instrument_id, side, quantity, reference_price,
                              requested_ts, risk_hour_ts, filled_quantity)
SELECT order_id, account_id, signal_id, instrument_id, side, quantity, reference_price,
       requested_ts, risk_hour_ts, filled_quantity
FROM order_request ORDER BY order_id
ON CONFLICT DO NOTHING;

INSERT INTO order_fill_v2 (fill_id, account_id, order_id, instrument_id, side, fill_ts, fill_qty, reference_price,
                           fill_price, fee, slippage_cost)
SELECT fill_id, account_id, order_id, instrument_id, side, fill_ts, fill_qty, reference_price,
       fill_price, fee, slippage_cost
FROM order_fill ORDER BY fill_id
ON CONFLICT DO NOTHING;

INSERT INTO position_lot_v2 (lot_id, account_id, instrument_id, opening_fill_id, opened_ts, original_qty,
                             remaining_qty, cost_basis)
SELECT lot_id, account_id, instrument_id, opening_fill_id, opened_ts, original_qty, remaining_qty, cost_basis
FROM position_lot ORDER BY lot_id
ON CONFLICT DO NOTHING;

INSERT INTO executed_trade_v2 (executed_trade_id, account_id, instrument_id, lot_id, sell_fill_id, executed_ts,
                               quantity, proceeds, cost_basis, realized_pnl)
SELECT executed_trade_id, account_id, instrument_id, lot_id, sell_fill_id, executed_ts,
       quantity, proceeds, cost_basis, realized_pnl
FROM executed_trade ORDER BY executed_trade_id
ON CONFLICT DO NOTHING;

INSERT INTO cash_ledger_v2 (account_id, ledger_seq, entry_ts, entry_type, amount, balance_after, fill_id)
SELECT account_id, ledger_seq, entry_ts, entry_type, amount, balance_after, fill_id
FROM cash_ledger ORDER BY account_id, ledger_seq
ON CONFLICT DO NOTHING;

INSERT INTO risk_event_v2 (risk_event_id, account_id, hour_ts, event_type, from_state, to_state, drawdown)
SELECT risk_event_id, account_id, hour_ts, event_type, from_state, to_state, drawdown
FROM risk_event ORDER BY risk_event_id
ON CONFLICT DO NOTHING;
