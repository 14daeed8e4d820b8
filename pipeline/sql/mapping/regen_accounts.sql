-- The accounts a regeneration re-resolves, among those of the entities in regen_entities, with
-- their type: 'full' (a changed structure): every account; 'data' (new ledger data, the rules
-- unchanged): accounts not resolved yet, unmapped or excluded accounts whose type changed (their
-- line follows the type), accounts in conflict (the conflict lists their amounts) and accounts
-- split by cost centre or project (their split follows the ledger lines); 'rules' (a mapping
-- change): only accounts inside a changed rule's account range (temp table regen_ranges), since
-- no other account's mapping can have moved.
-- One statement per mode: DuckDB drops a statement whose test of the mode parameter is false
-- before running it, whereas one CASE over the modes would run every mode's subquery.
CREATE OR REPLACE TEMP TABLE regen_accounts AS
SELECT a.entity_id, a.code AS account_code, a.account_type
FROM accounts a
WHERE $mode = 'full' AND a.entity_id {entities};

INSERT INTO regen_accounts
SELECT a.entity_id, a.code, a.account_type
FROM accounts a
WHERE $mode = 'data' AND a.entity_id {entities}
  AND NOT EXISTS (
      SELECT 1 FROM map_accounts m
      WHERE m.structure_id = $structure_id AND m.entity_id = a.entity_id AND m.account_code = a.code
        AND NOT m.has_axis
        AND (m.status = 'mapped'
             OR m.line_code = CASE WHEN m.status = 'unmapped' AND a.account_type = 'pnl' THEN $pnl_unmapped
                                   WHEN m.status = 'unmapped' THEN $bs_unmapped
                                   WHEN m.status = 'excluded' AND a.account_type = 'pnl' THEN $pnl_excluded
                                   WHEN m.status = 'excluded' THEN $bs_excluded END));

INSERT INTO regen_accounts
SELECT a.entity_id, a.code, a.account_type
FROM accounts a
WHERE $mode = 'rules' AND a.entity_id {entities}
  AND EXISTS (
      SELECT 1 FROM regen_ranges r
      WHERE (r.entity_id IS NULL OR r.entity_id = a.entity_id)
        AND CASE WHEN r.account_from = r.account_to THEN a.code = r.account_from
                 WHEN regexp_full_match(r.account_from, '[0-9]+')
                      AND regexp_full_match(r.account_to, '[0-9]+')
                     THEN regexp_full_match(a.code, '[0-9]+')
                          AND TRY_CAST(a.code AS HUGEINT) BETWEEN TRY_CAST(r.account_from AS HUGEINT)
                                                              AND TRY_CAST(r.account_to AS HUGEINT)
                 ELSE a.code BETWEEN r.account_from AND r.account_to END);
