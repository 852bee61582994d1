-- migration_lock set back to locked = TRUE on a finished database
--@sets after_cutover
--@expect phase_1b_schema: locked
UPDATE migration_lock SET locked = TRUE, unlocked_at_utc = NULL WHERE migration_name = 'phase_1b_schema';
