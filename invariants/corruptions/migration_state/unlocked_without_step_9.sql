-- STEP_9_UNLOCK's SUCCESS rewritten as FAILED: the lock was released without it
--@sets after_cutover
--@expect unlocked without a STEP_9_UNLOCK SUCCESS
UPDATE migration_step_log SET status = 'FAILED' WHERE step_name = 'STEP_9_UNLOCK';
