-- the phase_1b_schema lock row deleted
--@sets after_cutover
--@expect the phase_1b_schema lock row is missing
DELETE FROM migration_lock WHERE migration_name = 'phase_1b_schema';
