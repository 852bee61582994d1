-- a step left RUNNING by a killed run and never rerun
--@sets after_cutover
--@expect interrupted without an end; not rerun
INSERT INTO migration_step_log (run_id, phase, step_name, started_at_utc, status)
VALUES ('corruption', 'PHASE_1C', 'STEP_5_M8_GUARDRAIL', clock_timestamp(), 'RUNNING');
