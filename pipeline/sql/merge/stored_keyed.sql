-- The stored rows merge_diff compares (keyed_lines.sql), listed by key in merge_stored, with a
-- hash of their columns read only for keys the staged set sends again: reading the wide columns
-- of a few rows by row id lets DuckDB skip the row groups around them, where hashing every row
-- of a five-million-line entity would read them all.
SELECT k.rid, k.line_key, k.d, a.h
FROM merge_stored k
LEFT JOIN (
    SELECT rowid AS rid, hash({compared}) AS h FROM {table}
    WHERE rowid IN (SELECT k.rid FROM merge_stored k SEMI JOIN staged s ON s.line_key = k.line_key)
) a ON a.rid = k.rid
