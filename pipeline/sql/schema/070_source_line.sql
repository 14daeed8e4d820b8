-- A file's line or row number apart from the rest of source_ref (connectors/base.py): five million
-- distinct strings like "line 4711" cost about 0.4 s to compress on an import, a number almost
-- nothing. Lines imported earlier are split the same way, so the next upload of the same file
-- compares equal and changes nothing.
ALTER TABLE transactions ADD COLUMN source_line INTEGER;

UPDATE transactions
SET source_line = TRY_CAST(regexp_extract(source_ref, '^(line |sheet ''.*'', row )([0-9]+)$', 2) AS INTEGER),
    source_ref = regexp_extract(source_ref, '^(line |sheet ''.*'', row )([0-9]+)$', 1)
WHERE regexp_matches(source_ref, '^(line |sheet ''.*'', row )[0-9]+$');
