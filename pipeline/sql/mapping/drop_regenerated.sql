-- Drop the rows of {table} that a regeneration of one structure produces again: every row of
-- the entities in regen_entities when regen_accounts holds all their accounts (all_accounts: a
-- full rebuild; the entities placeholder is a range test when their ids are consecutive), else
-- the rows of the re-resolved accounts. Each DELETE runs in one mode only: DuckDB drops a
-- statement whose test of the mode parameter is false before running it.
DELETE FROM {table} x
WHERE $all_accounts AND x.structure_id = $structure_id AND x.entity_id {entities};

DELETE FROM {table} x
WHERE NOT $all_accounts AND x.structure_id = $structure_id
  AND EXISTS (SELECT 1 FROM regen_accounts g WHERE g.entity_id = x.entity_id AND g.account_code = x.account_code);
