-- a row deleted from order_fill_phase1a_archive: the canonical table holds a fill the archive lost
--@sets after_cutover
--@expect order_fill (order_fill_phase1a_archive -> order_fill): 0 missing, 0 changed, 1 extra
--@key SELECT jsonb_build_object('fill_id', min(fill_id)) FROM order_fill_phase1a_archive
DELETE FROM order_fill_phase1a_archive WHERE fill_id = (SELECT min(fill_id) FROM order_fill_phase1a_archive);
