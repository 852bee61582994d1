-- a risk event present in the archive only (lost by the backfill)
--@sets after_cutover
--@needs SELECT EXISTS (SELECT 1 FROM risk_event_phase1a_archive)
--@expect risk_event (risk_event_phase1a_archive -> risk_event): 1 missing, 0 changed, 0 extra
--@key SELECT jsonb_build_object('risk_event_id', max(risk_event_id) + 1000) FROM risk_event_phase1a_archive
INSERT INTO risk_event_phase1a_archive
SELECT (jsonb_populate_record(NULL::risk_event_phase1a_archive, to_jsonb(e) || jsonb_build_object(
          'risk_event_id', e.risk_event_id + 1000, 'hour_ts', e.hour_ts + interval '1000 hours'))).*
FROM risk_event_phase1a_archive e WHERE e.risk_event_id = (SELECT max(risk_event_id) FROM risk_event_phase1a_archive);
