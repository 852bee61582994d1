-- no_hypertable_fk: a foreign key anywhere whose referenced table is a hypertable, or one of a
-- hypertable's chunks (a FK into a chunk is a FK into the hypertable's data all the same).
-- Reads only the catalog, so it applies to every table set.
--
-- One FK is counted once. TimescaleDB (2.16+) implements a FK to a hypertable by cloning it onto
-- each chunk of the referenced hypertable: the clones have conparentid = the FK itself, so only
-- constraints with conparentid = 0 are reported (the FK under fk_to_hypertable, a FK written
-- directly against a chunk under fk_to_chunk). The per-chunk copies TimescaleDB makes of a
-- hypertable's own constraints (listed in _timescaledb_catalog.chunk_constraint with their
-- hypertable constraint's name) are copies of one FK as well and are skipped likewise.
--
-- Hypertables and chunks are read from TimescaleDB's catalog tables (which the chunk-constraint
-- exclusion needs anyway) joined by name to pg_class, not from the timescaledb_information
-- views: planning those views cost ~4 ms of a ~5 ms check on every run.
--
-- Output of every check: rule, account_id (NULL when not account-owned), key (jsonb), detail (jsonb).
--@rule fk_to_hypertable ext:timescaledb
--@rule fk_to_chunk ext:timescaledb
SELECT NULL::text AS rule, NULL::bigint AS account_id, NULL::jsonb AS key, NULL::jsonb AS detail
WHERE false
--@if rule:fk_to_hypertable
UNION ALL
SELECT 'fk_to_hypertable', NULL::bigint,
       jsonb_build_object('constraint', c.conname, 'table', c.conrelid::regclass::text),
       jsonb_build_object('references', c.confrelid::regclass::text, 'definition', pg_get_constraintdef(c.oid))
FROM pg_constraint c
JOIN pg_class cr ON cr.oid = c.conrelid
JOIN pg_namespace cn ON cn.oid = cr.relnamespace
JOIN pg_class fr ON fr.oid = c.confrelid
JOIN pg_namespace fn ON fn.oid = fr.relnamespace
JOIN _timescaledb_catalog.hypertable h ON h.schema_name = fn.nspname AND h.table_name = fr.relname
WHERE c.contype = 'f' AND c.conparentid = 0
  AND NOT EXISTS (SELECT 1 FROM _timescaledb_catalog.chunk_constraint cc
                  JOIN _timescaledb_catalog.chunk k ON k.id = cc.chunk_id
                  WHERE cc.constraint_name = c.conname AND cc.hypertable_constraint_name IS NOT NULL
                    AND k.schema_name = cn.nspname AND k.table_name = cr.relname)
--@endif
--@if rule:fk_to_chunk
UNION ALL
SELECT 'fk_to_chunk', NULL::bigint,
       jsonb_build_object('constraint', c.conname, 'table', c.conrelid::regclass::text),
       jsonb_build_object('references', c.confrelid::regclass::text,
                          'hypertable', format('%I.%I', h.schema_name, h.table_name))
FROM pg_constraint c
JOIN pg_class cr ON cr.oid = c.conrelid
JOIN pg_namespace cn ON cn.oid = cr.relnamespace
JOIN pg_class fr ON fr.oid = c.confrelid
JOIN pg_namespace fn ON fn.oid = fr.relnamespace
JOIN _timescaledb_catalog.chunk ch ON ch.schema_name = fn.nspname AND ch.table_name = fr.relname AND NOT ch.dropped
JOIN _timescaledb_catalog.hypertable h ON h.id = ch.hypertable_id
WHERE c.contype = 'f' AND c.conparentid = 0
  AND NOT EXISTS (SELECT 1 FROM _timescaledb_catalog.chunk_constraint cc
                  JOIN _timescaledb_catalog.chunk k ON k.id = cc.chunk_id
                  WHERE cc.constraint_name = c.conname AND cc.hypertable_constraint_name IS NOT NULL
                    AND k.schema_name = cn.nspname AND k.table_name = cr.relname)
--@endif
