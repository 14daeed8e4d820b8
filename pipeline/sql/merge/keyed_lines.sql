-- Merge staged lines into {table} for one entity, on line_key (ledger lines without one are keyed
-- by their journal|entry|line: merge.DERIVED_KEY). merge_diff compares the staged
-- rows with the stored rows in scope, as stored_keyed.sql reads them (after merge_stored has
-- listed them by key alone: row id, key, date; every row of the entity when the staged set
-- replaces 'all' or date 'ranges', only the staged and deleted keys for upserts ('none')), or as
-- stored_whole.sql reads them when the staged set is about the size of the entity. New keys are
-- inserted, changed rows replaced, identical rows left alone (a second run with no change writes
-- nothing), and stored keys missing from the staged set are deleted when they fall inside the
-- replace scope ('all': the entity; 'ranges': dates in merge_ranges) or are listed as deleted.
-- merge_diff keeps only the keys that change, with the stored row's id (rid) for the delete.
CREATE OR REPLACE TEMP TABLE merge_stored AS
WITH merge_keys AS (
    SELECT {staged_key} AS k FROM read_parquet($staged) UNION ALL SELECT line_key FROM merge_deleted
)
SELECT rowid AS rid, {stored_key} AS line_key, {date_col} AS d
FROM {table}
WHERE entity_id = $entity_id AND {probe};

CREATE OR REPLACE TEMP TABLE merge_diff AS
WITH staged AS (
    SELECT {staged_key} AS line_key, hash({compared}) AS h, {date_col} AS d FROM read_parquet($staged)
),
stored AS (
{stored}
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

DELETE FROM {table}
WHERE rowid IN (SELECT rid FROM merge_diff WHERE action IN ('update', 'delete'));

INSERT INTO {table} (entity_id, {cols}{hash_col}, run_id)
SELECT $entity_id, {cols}{hash_val}, $run_id
FROM read_parquet($staged)
WHERE $every_row OR {staged_key} IN (SELECT line_key FROM merge_diff WHERE action IN ('insert', 'update'));
