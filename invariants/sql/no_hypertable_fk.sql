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
JOIN timescaledb_information.hypertables h
  ON c.confrelid = to_regclass(format('%I.%I', h.hypertable_schema, h.hypertable_name))
WHERE c.contype = 'f' AND c.conparentid = 0
  AND NOT EXISTS (SELECT 1 FROM _timescaledb_catalog.chunk_constraint cc
                  WHERE cc.constraint_name = c.conname AND cc.hypertable_constraint_name IS NOT NULL
                    AND c.conrelid IN (SELECT to_regclass(format('%I.%I', k.schema_name, k.table_name))
                                       FROM _timescaledb_catalog.chunk k WHERE k.id = cc.chunk_id))
--@endif
--@if rule:fk_to_chunk
UNION ALL
SELECT 'fk_to_chunk', NULL::bigint,
       jsonb_build_object('constraint', c.conname, 'table', c.conrelid::regclass::text),
       jsonb_build_object('references', c.confrelid::regclass::text,
                          'hypertable', format('%I.%I', ch.hypertable_schema, ch.hypertable_name))
FROM pg_constraint c
JOIN timescaledb_information.chunks ch
  ON c.confrelid = to_regclass(format('%I.%I', ch.chunk_schema, ch.chunk_name))
WHERE c.contype = 'f' AND c.conparentid = 0
  AND NOT EXISTS (SELECT 1 FROM _timescaledb_catalog.chunk_constraint cc
                  WHERE cc.constraint_name = c.conname AND cc.hypertable_constraint_name IS NOT NULL
                    AND c.conrelid IN (SELECT to_regclass(format('%I.%I', k.schema_name, k.table_name))
                                       FROM _timescaledb_catalog.chunk k WHERE k.id = cc.chunk_id))
--@endif
