-- a STEP_7B failure logged after the last success, never resolved
--@sets after_cutover
--@expect STEP_7B_POST_CUTOVER_FINALIZE (log_id
INSERT INTO migration_step_log (run_id, phase, step_name, started_at_utc, ended_at_utc, status, notes, error_text)
VALUES ('corruption', 'PHASE_1C', 'STEP_7B_POST_CUTOVER_FINALIZE', clock_timestamp(), clock_timestamp(), 'FAILED', NULL, 'injected');
