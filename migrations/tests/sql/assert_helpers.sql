-- Session-local assertion helpers for the SQL-level migration tests (pg_temp: nothing is left
-- behind). Each test script is self-checking: any failed expectation RAISEs, so running it with
-- psql -v ON_ERROR_STOP=1 (or sqlx::raw_sql) fails exactly when the migration misbehaves.

-- `stmt` must fail (immediately or when deferred constraints are checked) with an error whose
-- message contains `needle`. Its effects are rolled back.
CREATE OR REPLACE FUNCTION pg_temp.expect_error(stmt text, needle text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    BEGIN
        EXECUTE stmt;
        EXECUTE 'SET CONSTRAINTS ALL IMMEDIATE';
    EXCEPTION WHEN others THEN
        IF position(needle IN SQLERRM) = 0 THEN
            RAISE EXCEPTION 'expected [%] to fail with "%", it failed with: %', stmt, needle, SQLERRM;
        END IF;
        RAISE NOTICE 'ok, rejected: %', SQLERRM;
        RETURN;
    END;
    RAISE EXCEPTION 'expected [%] to be rejected with "%", but it succeeded', stmt, needle;
END $$;

-- `stmt` must succeed, deferred constraints included. Its effects are rolled back.
CREATE OR REPLACE FUNCTION pg_temp.expect_ok(stmt text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    BEGIN
        EXECUTE stmt;
        EXECUTE 'SET CONSTRAINTS ALL IMMEDIATE';
        RAISE EXCEPTION 'expect_ok: rollback';
    EXCEPTION WHEN others THEN
        IF SQLERRM <> 'expect_ok: rollback' THEN
            RAISE EXCEPTION 'expected [%] to succeed, it failed with: %', stmt, SQLERRM;
        END IF;
    END;
    RAISE NOTICE 'ok, accepted: %', left(stmt, 80);
END $$;

-- `cond` must be true.
CREATE OR REPLACE FUNCTION pg_temp.expect(cond boolean, what text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF cond IS NOT TRUE THEN
        RAISE EXCEPTION 'expectation failed: %', what;
    END IF;
END $$;
