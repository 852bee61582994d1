-- STEP_9_UNLOCK: release phase_1b_schema, only after validation passed in this lock epoch.
--
-- The runner only reaches this step after STEP_8 succeeded, but the rule is enforced here too,
-- so a DBA running this file by hand (or a runner resuming steps out of order) cannot unlock an
-- unvalidated database: there must be a STEP_8_FULL_VALIDATION SUCCESS in the step log that
-- started after the lock was taken and after the end of the last step that changed anything
-- (a SUCCESS of STEP_1 .. STEP_7B, or a STEP_7 whose cutover committed before its compression
-- stage failed).

DO $$
DECLARE
    lock_row    record;
    last_change timestamptz;
    validated   timestamptz;
BEGIN
    SELECT * INTO lock_row FROM migration_lock WHERE migration_name = 'phase_1b_schema' FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'STEP_9_UNLOCK: lock row phase_1b_schema is missing';
    END IF;
    IF NOT lock_row.locked THEN
        RAISE EXCEPTION 'STEP_9_UNLOCK: phase_1b_schema is not locked';
    END IF;

    SELECT max(ended_at_utc) INTO last_change
      FROM migration_step_log
     WHERE phase = 'PHASE_1C' AND started_at_utc >= lock_row.locked_at_utc
       AND step_name IN ('STEP_1_CLEANUP_M6', 'STEP_2_IDENTITY_TABLES', 'STEP_3_REVISED_M6', 'STEP_4_REVISED_M7',
                         'STEP_5_M8_GUARDRAIL', 'STEP_6_M9_HASH_ADDITIONS', 'STEP_7_M10_CUTOVER',
                         'STEP_7B_POST_CUTOVER_FINALIZE')
       AND status IN ('SUCCESS', 'FAILED (post-commit compression stage)');

    SELECT max(started_at_utc) INTO validated
      FROM migration_step_log
     WHERE phase = 'PHASE_1C' AND step_name = 'STEP_8_FULL_VALIDATION' AND status = 'SUCCESS'
       AND started_at_utc >= lock_row.locked_at_utc
       AND (last_change IS NULL OR started_at_utc >= last_change);

    IF validated IS NULL THEN
        RAISE EXCEPTION 'STEP_9_UNLOCK: refusing to unlock phase_1b_schema: no STEP_8_FULL_VALIDATION SUCCESS since the last change (last change ended %)',
            coalesce(last_change::text, 'never');
    END IF;
    IF last_change IS NULL OR NOT EXISTS (
        SELECT 1 FROM migration_step_log
         WHERE phase = 'PHASE_1C' AND step_name = 'STEP_7B_POST_CUTOVER_FINALIZE' AND status = 'SUCCESS'
           AND started_at_utc >= lock_row.locked_at_utc) THEN
        RAISE EXCEPTION 'STEP_9_UNLOCK: refusing to unlock phase_1b_schema: the cutover was not finalized (no STEP_7B_POST_CUTOVER_FINALIZE SUCCESS in this lock epoch)';
    END IF;

    UPDATE migration_lock SET locked = FALSE, unlocked_at_utc = now()
     WHERE migration_name = 'phase_1b_schema';
    PERFORM set_config('migrations.step_notes',
        format('Lock released only after full validation pass (validated at %s)', validated), true);
END $$;
