-- Phase 1B (phase_1b_schema), part 1: the migration lock and the step log.
--
-- The lock row is the contract between phases: while `locked` is TRUE the database is between
-- schemas (dual write active, cutover pending) and only the Phase 1C runner may change the
-- schema. Phase 1C's STEP_9_UNLOCK is the only statement that releases it.

CREATE TABLE migration_lock (
    migration_name  text        PRIMARY KEY,
    locked          boolean     NOT NULL,
    lock_reason     text        NOT NULL,
    locked_at_utc   timestamptz NOT NULL,
    unlocked_at_utc timestamptz,
    CHECK (locked = (unlocked_at_utc IS NULL))
);

-- One row per step of every phase and every run. A row is written RUNNING before the step's
-- transaction starts (so a crash leaves a visible trace) and completed afterwards with its
-- status, notes and, on failure, the error text.
CREATE TABLE migration_step_log (
    log_id         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id         text        NOT NULL,
    phase          text        NOT NULL,
    step_name      text        NOT NULL,
    started_at_utc timestamptz NOT NULL,
    ended_at_utc   timestamptz,
    status         text        NOT NULL CHECK (status IN (
                       'RUNNING', 'SUCCESS', 'FAILED', 'FAILED (post-commit compression stage)',
                       'SKIPPED (already done)')),
    notes          text,
    error_text     text,
    CHECK ((status = 'RUNNING') = (ended_at_utc IS NULL))
);
CREATE INDEX migration_step_log_step_idx ON migration_step_log (step_name, started_at_utc);

INSERT INTO migration_lock (migration_name, locked, lock_reason, locked_at_utc, unlocked_at_utc)
VALUES ('phase_1b_schema', TRUE, 'Phase 1B deterministic contract migration', now(), NULL);
