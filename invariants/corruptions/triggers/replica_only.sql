-- a contract trigger enabled only for replica sessions
--@sets after_cutover
--@expect order_fill.trg_order_fill_append_only: enabled only for replica sessions (ENABLE REPLICA)
ALTER TABLE order_fill ENABLE REPLICA TRIGGER trg_order_fill_append_only;
