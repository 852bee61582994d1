-- a regime output's label edited, row_hash kept
UPDATE {{regime_output}} SET regime = regime || '_edited'
WHERE regime_output_id = (SELECT min(regime_output_id) FROM {{regime_output}});
