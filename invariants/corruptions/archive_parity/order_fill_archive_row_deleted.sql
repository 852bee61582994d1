-- a row deleted from order_fill_phase1a_archive: the archive no longer matches what STEP_7B recorded when the cutover sealed it
--@sets after_cutover
--@needs SELECT EXISTS (SELECT 1 FROM order_fill_phase1a_archive)
--@expect order_fill (order_fill_phase1a_archive -> order_fill): 0 missing, 0 changed, 1 extra; the archive no longer matches its cutover record
--@key SELECT jsonb_build_object('fill_id', min(fill_id)) FROM order_fill_phase1a_archive
DELETE FROM order_fill_phase1a_archive WHERE fill_id = (SELECT min(fill_id) FROM order_fill_phase1a_archive);
