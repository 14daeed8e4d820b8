-- Merge staged lines into {table} for one entity, on line_key.
-- The stored rows in scope are listed first by key alone (merge_stored: row id, key, date):
-- every row of the entity when the staged set replaces 'all' or date 'ranges', only the staged
-- and deleted keys for upserts ('none'). Only stored rows whose key is staged again are read
-- whole, to compare a hash of their columns with the staged row's; reading the wide columns of
-- a few rows by row id lets DuckDB skip the row groups around them, where hashing every row of
-- a five-million-line entity would read them all. New keys are inserted, changed rows replaced,
-- identical rows left alone (a second run with no change writes nothing), and stored keys
-- missing from the staged set are deleted when they fall inside the replace scope ('all': the
-- entity; 'ranges': dates in merge_ranges) or are listed as deleted. merge_diff keeps only the
-- keys that change, with the stored row's id (rid) for the delete.
CREATE OR REPLACE TEMP TABLE merge_stored AS
SELECT rowid AS rid, line_key, {date_col} AS d
FROM {table}
WHERE entity_id = $entity_id
  AND ($replace <> 'none'
       OR line_key IN (SELECT line_key FROM read_parquet($staged)
                       UNION ALL SELECT line_key FROM merge_deleted));

CREATE OR REPLACE TEMP TABLE merge_diff AS
WITH staged AS (
    SELECT line_key, hash({compared}) AS h, {date_col} AS d FROM read_parquet($staged)
),
again AS (
    SELECT rowid AS rid, hash({compared}) AS h FROM {table}
    WHERE rowid IN (SELECT k.rid FROM merge_stored k SEMI JOIN staged s ON s.line_key = k.line_key)
),
joined AS (
    SELECT
        coalesce(s.line_key, t.line_key) AS line_key,
        CASE
            WHEN t.line_key IS NULL THEN 'insert'
            WHEN s.line_key IS NULL THEN 'delete'
            WHEN s.h IS DISTINCT FROM a.h THEN 'update'
            ELSE 'same'
        END AS action,
        t.d AS old_date,
        s.d AS new_date,
        t.rid
    FROM staged s
    FULL OUTER JOIN merge_stored t ON s.line_key = t.line_key
    LEFT JOIN again a ON a.rid = t.rid
    WHERE s.line_key IS NOT NULL
       OR $replace = 'all'
       OR ($replace = 'ranges' AND EXISTS (
            SELECT 1 FROM merge_ranges r WHERE t.d BETWEEN r.start_date AND r.end_date))
       OR t.line_key IN (SELECT line_key FROM merge_deleted)
)
SELECT * FROM joined WHERE action <> 'same';

DELETE FROM {table}
WHERE rowid IN (SELECT rid FROM merge_diff WHERE action IN ('update', 'delete'));

INSERT INTO {table} (entity_id, {cols}, run_id)
SELECT $entity_id, {cols}, $run_id
FROM read_parquet($staged)
WHERE $all_new OR line_key IN (SELECT line_key FROM merge_diff WHERE action IN ('insert', 'update'));

-- merge_diff when the staged set is most of the entity's rows in scope (a full sync, a reset, a
-- re-upload of every month): every stored row in scope is compared anyway, so one join of the
-- staged rows with the stored rows, hashed as they stream by, replaces the key listing above.
-- It builds one hash table where the keyed path builds four, which lets a five-million-line
-- entity re-sync within the memory cap (the keyed path ran out of memory there).
CREATE OR REPLACE TEMP TABLE merge_diff AS
WITH staged AS (
    SELECT line_key, hash({compared}) AS h, {date_col} AS d FROM read_parquet($staged)
),
stored AS (
    SELECT rowid AS rid, line_key, hash({compared}) AS h, {date_col} AS d FROM {table}
    WHERE entity_id = $entity_id
),
joined AS (
    SELECT
        coalesce(s.line_key, t.line_key) AS line_key,
        CASE
            WHEN t.line_key IS NULL THEN 'insert'
            WHEN s.line_key IS NULL THEN 'delete'
            WHEN s.h IS DISTINCT FROM t.h THEN 'update'
            ELSE 'same'
        END AS action,
        t.d AS old_date,
        s.d AS new_date,
        t.rid
    FROM staged s
    FULL OUTER JOIN stored t ON s.line_key = t.line_key
    WHERE s.line_key IS NOT NULL
       OR $replace = 'all'
       OR ($replace = 'ranges' AND EXISTS (
            SELECT 1 FROM merge_ranges r WHERE t.d BETWEEN r.start_date AND r.end_date))
       OR t.line_key IN (SELECT line_key FROM merge_deleted)
)
SELECT * FROM joined WHERE action <> 'same';
