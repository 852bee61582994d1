-- STEP_8_FULL_VALIDATION (read-only). The validation itself is the gate the runner is given:
-- the twelve checks, the structural confirmations (cutover, FK legality, identity parity, the
-- thirteen contract triggers present and enabled for ordinary sessions, archive parity, the
-- lock and the step log) and nothing else; one implementation serves this step and
-- `harness validate`, so the two cannot disagree. Any failure fails this step and the lock
-- stays held; STEP_9_UNLOCK refuses to run without a STEP_8 SUCCESS after the last change.
--
-- This file only refuses to validate outside the lock epoch: validation must happen while
-- phase_1b_schema is still locked.

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM migration_lock WHERE migration_name = 'phase_1b_schema' AND locked) THEN
        RAISE EXCEPTION 'STEP_8_FULL_VALIDATION: phase_1b_schema lock is not held: validation must run inside the lock epoch';
    END IF;
    PERFORM set_config('migrations.step_notes', 'Lock held; validation gate run', true);
END $$;
