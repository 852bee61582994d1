-- a signal's row_hash cleared
ALTER TABLE {{trade_signal}} ALTER COLUMN row_hash DROP NOT NULL;
UPDATE {{trade_signal}} SET row_hash = NULL WHERE signal_id = (SELECT min(signal_id) FROM {{trade_signal}});
