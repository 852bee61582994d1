-- a fill's row_hash upper-cased
UPDATE {{order_fill}} SET row_hash = upper(row_hash) WHERE fill_id = (SELECT min(fill_id) FROM {{order_fill}});
