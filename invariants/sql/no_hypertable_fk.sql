-- no_hypertable_fk: a foreign key anywhere whose referenced table is a hypertable, or one of a
-- hypertable's chunks (a FK into a chunk is a FK into the hypertable's data all the same).
-- Reads only the catalog, so it applies to every table set.
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
WHERE c.contype = 'f'
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
WHERE c.contype = 'f'
--@endif
