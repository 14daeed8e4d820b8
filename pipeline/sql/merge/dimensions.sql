-- Upsert analytical axis values (cost centres, projects, ...).
INSERT INTO dimensions (entity_id, axis, code, name, parent_code, run_id)
SELECT $entity_id, axis, code, name, parent_code, $run_id
FROM read_parquet($staged)
ON CONFLICT (entity_id, axis, code) DO UPDATE SET
    name = coalesce(excluded.name, dimensions.name),
    parent_code = coalesce(excluded.parent_code, dimensions.parent_code),
    run_id = excluded.run_id;
