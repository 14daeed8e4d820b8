-- Merge staged lines into {table} for one entity, on line_key.
-- The staged rows are compared with the stored ones: new keys are inserted, changed rows are
-- replaced, identical rows are left alone (so a second run with no change writes nothing), and
-- stored keys missing from the staged set are deleted when they fall inside the replace scope
-- ('all': the whole entity; 'ranges': the dates in merge_ranges) or are listed as deleted.
CREATE OR REPLACE TEMP TABLE merge_diff AS
WITH staged AS (
    SELECT * FROM read_parquet($staged)
),
stored AS (
    SELECT * FROM {table}
    WHERE entity_id = $entity_id
      AND ($replace <> 'none'
           OR line_key IN (SELECT line_key FROM staged)
           OR line_key IN (SELECT line_key FROM merge_deleted))
)
SELECT
    coalesce(s.line_key, t.line_key) AS line_key,
    CASE
        WHEN t.line_key IS NULL THEN 'insert'
        WHEN s.line_key IS NULL THEN 'delete'
        WHEN ({s_cols}) IS DISTINCT FROM ({t_cols}) THEN 'update'
        ELSE 'same'
    END AS action,
    t.{date_col} AS old_date,
    s.{date_col} AS new_date
FROM staged s
FULL OUTER JOIN stored t ON s.line_key = t.line_key
WHERE s.line_key IS NOT NULL
   OR $replace = 'all'
   OR ($replace = 'ranges' AND EXISTS (
        SELECT 1 FROM merge_ranges r WHERE t.{date_col} BETWEEN r.start_date AND r.end_date))
   OR t.line_key IN (SELECT line_key FROM merge_deleted);

DELETE FROM {table}
WHERE entity_id = $entity_id
  AND line_key IN (SELECT line_key FROM merge_diff WHERE action IN ('update', 'delete'));

INSERT INTO {table} (entity_id, {cols}, run_id)
SELECT $entity_id, {cols}, $run_id
FROM read_parquet($staged)
WHERE line_key IN (SELECT line_key FROM merge_diff WHERE action IN ('insert', 'update'));
