-- The resolved mapping of one structure for the accounts in the temp table regen_accounts.
-- Every account gets exactly one default line. A rule's candidates are ranked by priority
-- (higher first), then entity-specific before all-entities, then the narrowest account span
-- (one account before a range). Rules tied at the top that name different lines are a
-- conflict: the account stays on the Unmapped line and the conflict is listed, never settled
-- silently. Rules with a cost centre or project are kept apart (map_axis_rules) and split the
-- account's lines later. The previous resolution is kept in map_before to see which lines moved
-- (needed after a mapping change only; a full rebuild redoes every line).
CREATE OR REPLACE TEMP TABLE map_before AS
SELECT m.entity_id, m.account_code, m.line_code, m.has_axis
FROM map_accounts m
JOIN regen_accounts g ON g.entity_id = m.entity_id AND g.account_code = m.account_code
WHERE m.structure_id = $structure_id AND NOT $full;

DELETE FROM map_accounts m
WHERE m.structure_id = $structure_id
  AND EXISTS (SELECT 1 FROM regen_accounts g WHERE g.entity_id = m.entity_id AND g.account_code = m.account_code);

DELETE FROM map_axis_rules m
WHERE m.structure_id = $structure_id
  AND EXISTS (SELECT 1 FROM regen_accounts g WHERE g.entity_id = m.entity_id AND g.account_code = m.account_code);

-- One-account rules join on the code; ranges compare numerically when the codes are digits
-- (so 4000-4999 does not take 40000) and as text otherwise. Plain inequalities let DuckDB use a
-- range join instead of testing every account against every rule.
CREATE OR REPLACE TEMP TABLE map_candidates AS
WITH accts AS (
    SELECT a.entity_id, a.code, TRY_CAST(a.code AS HUGEINT) AS code_num,
           regexp_full_match(a.code, '[0-9]+') AS is_num
    FROM accounts a
    JOIN regen_accounts g ON g.entity_id = a.entity_id AND g.account_code = a.code
),
rules AS (
    SELECT r.id, r.entity_id AS rule_entity, r.account_from, r.account_to, r.axis, r.axis_value, r.line_code,
           r.exclude, r.priority,
           regexp_full_match(r.account_from, '[0-9]+') AND regexp_full_match(r.account_to, '[0-9]+') AS num_range,
           TRY_CAST(r.account_from AS HUGEINT) AS n_from, TRY_CAST(r.account_to AS HUGEINT) AS n_to
    FROM mapping_rules r
    WHERE r.structure_id = $structure_id
),
matched AS (
    SELECT a.entity_id, a.code, r.id, r.rule_entity, r.axis, r.axis_value, r.line_code, r.exclude, r.priority,
           0::HUGEINT AS width
    FROM accts a JOIN rules r ON r.account_from = r.account_to AND r.account_from = a.code
    UNION ALL
    SELECT a.entity_id, a.code, r.id, r.rule_entity, r.axis, r.axis_value, r.line_code, r.exclude, r.priority,
           r.n_to - r.n_from
    FROM (SELECT * FROM accts WHERE is_num) a
    JOIN (SELECT * FROM rules WHERE account_from <> account_to AND num_range) r
      ON a.code_num >= r.n_from AND a.code_num <= r.n_to
    UNION ALL
    SELECT a.entity_id, a.code, r.id, r.rule_entity, r.axis, r.axis_value, r.line_code, r.exclude, r.priority,
           '100000000000000000000000000000'::HUGEINT
    FROM accts a
    JOIN (SELECT * FROM rules WHERE account_from <> account_to AND NOT num_range) r
      ON a.code >= r.account_from AND a.code <= r.account_to
)
SELECT entity_id, code AS account_code, id AS rule_id, axis, axis_value, line_code, exclude, priority,
       rule_entity IS NOT NULL AS entity_specific, width
FROM matched
WHERE rule_entity IS NULL OR rule_entity = entity_id;

-- The best-ranked plain rules per account (conflict details are gathered later, for the few).
CREATE OR REPLACE TEMP TABLE map_top AS
WITH ranked AS (
    SELECT *, rank() OVER (PARTITION BY entity_id, account_code
                           ORDER BY priority DESC, entity_specific DESC, width ASC) AS rk
    FROM map_candidates
    WHERE axis IS NULL
)
SELECT entity_id, account_code,
       count(DISTINCT CASE WHEN exclude THEN '' ELSE line_code END) AS targets,
       bool_and(exclude) AS exclude,
       min(line_code) AS line_code,
       min(rule_id) AS rule_id,
       max(priority) AS priority,
       bool_or(entity_specific) AS entity_specific,
       min(width) AS width
FROM ranked
WHERE rk = 1
GROUP BY entity_id, account_code;

INSERT INTO map_accounts
WITH axis_top AS (
    SELECT entity_id, account_code, max(priority) AS priority
    FROM map_candidates WHERE axis IS NOT NULL GROUP BY entity_id, account_code
)
SELECT $structure_id, a.entity_id, a.code,
       CASE WHEN t.targets = 1 AND t.exclude
                THEN CASE WHEN a.account_type = 'pnl' THEN $pnl_excluded ELSE $bs_excluded END
            WHEN t.targets = 1 THEN t.line_code
            WHEN a.account_type = 'pnl' THEN $pnl_unmapped
            ELSE $bs_unmapped END,
       CASE WHEN t.targets IS NULL THEN 'unmapped' WHEN t.targets > 1 THEN 'conflict'
            WHEN t.exclude THEN 'excluded' ELSE 'mapped' END,
       CASE WHEN t.targets = 1 THEN t.rule_id END,
       CASE WHEN t.targets = 1 THEN t.priority END,
       CASE WHEN t.targets = 1 THEN t.entity_specific END,
       CASE WHEN t.targets = 1 THEN t.width END,
       x.priority IS NOT NULL AND (t.targets IS DISTINCT FROM 1 OR x.priority >= t.priority)
FROM accounts a
JOIN regen_accounts g ON g.entity_id = a.entity_id AND g.account_code = a.code
LEFT JOIN map_top t ON t.entity_id = a.entity_id AND t.account_code = a.code
LEFT JOIN axis_top x ON x.entity_id = a.entity_id AND x.account_code = a.code;

INSERT INTO map_axis_rules
SELECT $structure_id, c.entity_id, c.account_code, c.axis, c.axis_value,
       CASE WHEN NOT c.exclude THEN c.line_code
            WHEN a.account_type = 'pnl' THEN $pnl_excluded ELSE $bs_excluded END,
       c.rule_id, c.priority, c.entity_specific, c.width
FROM map_candidates c
JOIN map_accounts m ON m.structure_id = $structure_id AND m.entity_id = c.entity_id
                   AND m.account_code = c.account_code AND m.has_axis
JOIN accounts a ON a.entity_id = c.entity_id AND a.code = c.account_code
WHERE c.axis IS NOT NULL;
