-- Phase 1B (phase_1b_schema), part 4: deterministic backfill of `*_v2`.
--
-- Parents before children, each table in key order, same keys and same facts; then the foreign
-- keys (see the end of this file). ON CONFLICT DO NOTHING keeps it idempotent and lets rows the
-- dual-write triggers already mirrored stand. A legacy row the contract shape refuses (a CHECK,
-- a cross-account or dangling reference) fails Phase 1B here, naming the constraint: better
-- than migrating it.

SET LOCAL jit = off;        -- compiling these one-off statements costs more than it saves
SET LOCAL work_mem = '64MB';

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

-- Secondary indexes, each built once over its filled table (002 creates the tables without
-- them).
CREATE INDEX model_prediction_v2_instrument_hour_idx ON model_prediction_v2 (instrument_id, hour_ts);
CREATE INDEX meta_learner_component_v2_base_idx ON meta_learner_component_v2 (base_prediction_id);
CREATE INDEX trade_signal_v2_prediction_idx ON trade_signal_v2 (prediction_id);
CREATE INDEX trade_signal_v2_regime_idx ON trade_signal_v2 (regime_output_id);
CREATE INDEX order_request_v2_signal_idx ON order_request_v2 (account_id, signal_id);
CREATE INDEX order_request_v2_risk_hour_idx ON order_request_v2 (account_id, risk_hour_ts);
CREATE INDEX order_fill_v2_order_idx ON order_fill_v2 (account_id, order_id);
CREATE INDEX order_fill_v2_account_instrument_ts_idx ON order_fill_v2 (account_id, instrument_id, fill_ts);
CREATE INDEX position_lot_v2_fifo_idx ON position_lot_v2 (account_id, instrument_id, opened_ts, lot_id);
CREATE INDEX executed_trade_v2_lot_idx ON executed_trade_v2 (account_id, lot_id);
CREATE INDEX executed_trade_v2_sell_fill_idx ON executed_trade_v2 (account_id, sell_fill_id);
CREATE INDEX cash_ledger_v2_fill_idx ON cash_ledger_v2 (account_id, fill_id) WHERE fill_id IS NOT NULL;

-- Foreign keys, declared now that the rows are in (002 creates the tables without them). Added
-- to a filled table, each one is validated by ONE anti-join over the whole table instead of a
-- trigger probing the parent once per backfilled row; the resulting constraints are the same
-- (same names, same columns, same NO ACTION rules, all enforced for every later write), and
-- a legacy row that breaks one (a cross-account reference, a dangling id) still fails Phase 1B
-- with PostgreSQL's own "violates foreign key constraint <name>" error. Every account-owned
-- reference goes through the composite (account_id, id) keys, so isolation is structural.
ALTER TABLE regime_output_v2
    ADD CONSTRAINT regime_output_v2_model_id_fkey FOREIGN KEY (model_id) REFERENCES model_registry (model_id);
ALTER TABLE model_prediction_v2
    ADD CONSTRAINT model_prediction_v2_model_id_fkey FOREIGN KEY (model_id) REFERENCES model_registry (model_id),
    ADD CONSTRAINT model_prediction_v2_instrument_id_fkey FOREIGN KEY (instrument_id) REFERENCES instrument (instrument_id);
ALTER TABLE meta_learner_component_v2
    ADD CONSTRAINT meta_learner_component_v2_meta_prediction_id_fkey FOREIGN KEY (meta_prediction_id)
        REFERENCES model_prediction_v2 (prediction_id),
    ADD CONSTRAINT meta_learner_component_v2_base_prediction_id_fkey FOREIGN KEY (base_prediction_id)
        REFERENCES model_prediction_v2 (prediction_id);
ALTER TABLE trade_signal_v2
    ADD CONSTRAINT trade_signal_v2_account_id_fkey FOREIGN KEY (account_id) REFERENCES account (account_id),
    ADD CONSTRAINT trade_signal_v2_instrument_id_fkey FOREIGN KEY (instrument_id) REFERENCES instrument (instrument_id),
    ADD CONSTRAINT trade_signal_v2_prediction_id_fkey FOREIGN KEY (prediction_id)
        REFERENCES model_prediction_v2 (prediction_id),
    ADD CONSTRAINT trade_signal_v2_regime_output_id_fkey FOREIGN KEY (regime_output_id)
        REFERENCES regime_output_v2 (regime_output_id);
ALTER TABLE order_request_v2
    ADD CONSTRAINT order_request_v2_account_id_fkey FOREIGN KEY (account_id) REFERENCES account (account_id),
    ADD CONSTRAINT order_request_v2_instrument_id_fkey FOREIGN KEY (instrument_id) REFERENCES instrument (instrument_id),
    ADD CONSTRAINT fk_order_request_v2_signal FOREIGN KEY (account_id, signal_id)
        REFERENCES trade_signal_v2 (account_id, signal_id);
ALTER TABLE order_fill_v2
    ADD CONSTRAINT order_fill_v2_account_id_fkey FOREIGN KEY (account_id) REFERENCES account (account_id),
    ADD CONSTRAINT order_fill_v2_instrument_id_fkey FOREIGN KEY (instrument_id) REFERENCES instrument (instrument_id),
    ADD CONSTRAINT fk_order_fill_v2_order FOREIGN KEY (account_id, order_id)
        REFERENCES order_request_v2 (account_id, order_id);
ALTER TABLE position_lot_v2
    ADD CONSTRAINT position_lot_v2_account_id_fkey FOREIGN KEY (account_id) REFERENCES account (account_id),
    ADD CONSTRAINT position_lot_v2_instrument_id_fkey FOREIGN KEY (instrument_id) REFERENCES instrument (instrument_id),
    ADD CONSTRAINT fk_position_lot_v2_opening_fill FOREIGN KEY (account_id, opening_fill_id)
        REFERENCES order_fill_v2 (account_id, fill_id);
ALTER TABLE executed_trade_v2
    ADD CONSTRAINT executed_trade_v2_account_id_fkey FOREIGN KEY (account_id) REFERENCES account (account_id),
    ADD CONSTRAINT executed_trade_v2_instrument_id_fkey FOREIGN KEY (instrument_id) REFERENCES instrument (instrument_id),
    ADD CONSTRAINT fk_executed_trade_v2_lot FOREIGN KEY (account_id, lot_id)
        REFERENCES position_lot_v2 (account_id, lot_id),
    ADD CONSTRAINT fk_executed_trade_v2_sell_fill FOREIGN KEY (account_id, sell_fill_id)
        REFERENCES order_fill_v2 (account_id, fill_id);
ALTER TABLE cash_ledger_v2
    ADD CONSTRAINT cash_ledger_v2_account_id_fkey FOREIGN KEY (account_id) REFERENCES account (account_id),
    ADD CONSTRAINT fk_cash_ledger_v2_fill FOREIGN KEY (account_id, fill_id)
        REFERENCES order_fill_v2 (account_id, fill_id);
ALTER TABLE risk_event_v2
    ADD CONSTRAINT risk_event_v2_account_id_fkey FOREIGN KEY (account_id) REFERENCES account (account_id);
