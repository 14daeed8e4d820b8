-- The stored rows merge_diff compares (keyed_lines.sql) when the staged set is most of the
-- entity's rows in scope (a full sync, a reset, a re-upload of every month): every row is read
-- anyway, so each is hashed as it streams by and no key listing comes first. The comparison
-- then builds one hash table where the keyed way builds four, which lets a five-million-line
-- entity re-sync within the memory cap (the keyed way ran out of memory there).
SELECT rowid AS rid, {stored_key} AS line_key, {date_col} AS d, hash({compared}) AS h
FROM {table}
WHERE entity_id = $entity_id
