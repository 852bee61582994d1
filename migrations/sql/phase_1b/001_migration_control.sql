-- Phase 1B (phase_1b_schema), part 1: the migration lock, the step log and the backfill
-- progress table.
--
-- The lock row is the contract between phases: while `locked` is TRUE the database is between
-- schemas (dual write active, cutover pending) and only the migration runner may change the
-- schema. Phase 1C's STEP_9_UNLOCK is the only statement that releases it.
-- Idempotent: a rerun after an interruption finds everything in place and changes nothing.

--@stage control
CREATE TABLE IF NOT EXISTS migration_lock (
    migration_name  text        PRIMARY KEY,
    locked          boolean     NOT NULL,
    lock_reason     text        NOT NULL,
    locked_at_utc   timestamptz NOT NULL,
    unlocked_at_utc timestamptz,
    CHECK (locked = (unlocked_at_utc IS NULL))
);

-- One row per step of every phase and every run. A row is written RUNNING before the step
-- starts (so a crash leaves a visible trace) and completed afterwards with its status, notes
-- and, on failure, the error text. A RUNNING row whose run died is marked INTERRUPTED by the
-- next run that finds it (with the time it was found).
CREATE TABLE IF NOT EXISTS migration_step_log (
    log_id         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id         text        NOT NULL,
    phase          text        NOT NULL,
    step_name      text        NOT NULL,
    started_at_utc timestamptz NOT NULL,
    ended_at_utc   timestamptz,
    status         text        NOT NULL,
    notes          text,
    error_text     text,
    CONSTRAINT migration_step_log_status_check CHECK (status IN (
        'RUNNING', 'SUCCESS', 'FAILED', 'FAILED (post-commit compression stage)',
        'SKIPPED (already done)', 'INTERRUPTED')),
    CHECK ((status = 'RUNNING') = (ended_at_utc IS NULL))
);
CREATE INDEX IF NOT EXISTS migration_step_log_step_idx ON migration_step_log (step_name, started_at_utc);

-- Where each batched backfill stands: the last key it handled (as text, one element per key
-- column) and the rows it handled, so an interrupted backfill resumes where it stopped.
CREATE TABLE IF NOT EXISTS migration_backfill_progress (
    task           text        PRIMARY KEY,
    last_key       text[]      NOT NULL,
    rows_done      bigint      NOT NULL DEFAULT 0,
    batches        bigint      NOT NULL DEFAULT 0,
    updated_at_utc timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- One batch of `p_task` handled `p_rows` rows up to key `p_last`: move its cursor there.
CREATE OR REPLACE FUNCTION migration_backfill_advance(p_task text, p_last text[], p_rows bigint)
RETURNS void LANGUAGE sql AS $$
    INSERT INTO migration_backfill_progress (task, last_key, rows_done, batches)
    VALUES (p_task, p_last, p_rows, 1)
    ON CONFLICT (task) DO UPDATE
       SET last_key = excluded.last_key,
           rows_done = migration_backfill_progress.rows_done + excluded.rows_done,
           batches = migration_backfill_progress.batches + 1,
           updated_at_utc = clock_timestamp()
$$;

INSERT INTO migration_lock (migration_name, locked, lock_reason, locked_at_utc, unlocked_at_utc)
VALUES ('phase_1b_schema', TRUE, 'Phase 1B deterministic contract migration', now(), NULL)
ON CONFLICT (migration_name) DO NOTHING;

SELECT set_config('migrations.step_notes', 'migration_lock (phase_1b_schema locked), migration_step_log, migration_backfill_progress in place', true);
