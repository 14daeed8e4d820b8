-- The resolved mapping of one structure for the accounts in the temp table regen_accounts.
-- Every account gets exactly one default line. A rule's candidates are ranked by priority
-- (higher first), then entity-specific before all-entities, then the narrowest account span
-- (one account before a range). Rules tied at the top that name different lines are a
-- conflict: the account stays on the Unmapped line and the conflict is listed, never settled
-- silently. Rules with a cost centre or project are kept apart (map_axis_rules.sql) and split
-- the account's lines later.
--
-- Which rules reach an account depends on its code alone, except for entity-specific rules. So
-- the rules are matched and ranked once per distinct code (a "unit" with entity_id NULL), and
-- once more per (entity, code) only where an entity-specific rule reaches that account (a unit
-- with the entity's id, whose candidates are the code's all-entities rules plus the entity's
-- own). 100 entities sharing a 500-account chart are resolved as 500 units, not 50,000 rows.
-- The rows it replaces were dropped before (drop_regenerated.sql).

-- The rules reaching each distinct code. One-account rules join on the code; ranges compare
-- numerically when the codes are digits (so 4000-4999 does not take 40000) and as text
-- otherwise. Plain inequalities let DuckDB use a range join instead of testing every code
-- against every rule.
CREATE OR REPLACE TEMP TABLE map_code_rules AS
WITH codes AS (
    SELECT code, TRY_CAST(code AS HUGEINT) AS code_num, regexp_full_match(code, '[0-9]+') AS is_num
    FROM (SELECT DISTINCT account_code AS code FROM regen_accounts)
),
rules AS (
    SELECT r.id, r.entity_id AS rule_entity, r.account_from, r.account_to, r.axis, r.axis_value, r.line_code,
           r.exclude, r.priority,
           regexp_full_match(r.account_from, '[0-9]+') AND regexp_full_match(r.account_to, '[0-9]+') AS num_range,
           TRY_CAST(r.account_from AS HUGEINT) AS n_from, TRY_CAST(r.account_to AS HUGEINT) AS n_to
    FROM mapping_rules r
    WHERE r.structure_id = $structure_id
)
SELECT a.code, r.id AS rule_id, r.rule_entity, r.axis, r.axis_value, r.line_code, r.exclude, r.priority,
       0::HUGEINT AS width
FROM codes a JOIN rules r ON r.account_from = r.account_to AND r.account_from = a.code
UNION ALL
SELECT a.code, r.id, r.rule_entity, r.axis, r.axis_value, r.line_code, r.exclude, r.priority, r.n_to - r.n_from
FROM (SELECT * FROM codes WHERE is_num) a
JOIN (SELECT * FROM rules WHERE account_from <> account_to AND num_range) r
  ON a.code_num >= r.n_from AND a.code_num <= r.n_to
UNION ALL
SELECT a.code, r.id, r.rule_entity, r.axis, r.axis_value, r.line_code, r.exclude, r.priority,
       '100000000000000000000000000000'::HUGEINT
FROM codes a
JOIN (SELECT * FROM rules WHERE account_from <> account_to AND NOT num_range) r
  ON a.code >= r.account_from AND a.code <= r.account_to;

-- The (entity, account) pairs an entity-specific rule reaches: each is a unit of its own.
CREATE OR REPLACE TEMP TABLE map_specific AS
SELECT g.entity_id, g.account_code
FROM regen_accounts g
WHERE (g.entity_id, g.account_code) IN (SELECT rule_entity, code FROM map_code_rules WHERE rule_entity IS NOT NULL);

-- The candidate rules of each unit (entity_id NULL: every entity without a rule of its own).
CREATE OR REPLACE TEMP TABLE map_candidates AS
SELECT NULL::INTEGER AS entity_id, c.code AS account_code, c.rule_id, c.axis, c.axis_value, c.line_code,
       c.exclude, c.priority, FALSE AS entity_specific, c.width
FROM map_code_rules c
WHERE c.rule_entity IS NULL
UNION ALL
SELECT s.entity_id, s.account_code, c.rule_id, c.axis, c.axis_value, c.line_code, c.exclude, c.priority,
       c.rule_entity IS NOT NULL, c.width
FROM map_specific s
JOIN map_code_rules c ON c.code = s.account_code AND (c.rule_entity IS NULL OR c.rule_entity = s.entity_id);

-- The best-ranked plain rules per unit (conflict details are gathered later, for the few).
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

-- Each account takes its own unit when it has one, else its code's (s.entity_id NULL).
INSERT INTO map_accounts
WITH axis_top AS (
    SELECT entity_id, account_code, max(priority) AS priority
    FROM map_candidates WHERE axis IS NOT NULL GROUP BY entity_id, account_code
)
SELECT $structure_id, g.entity_id, g.account_code,
       CASE WHEN t.targets = 1 AND t.exclude
                THEN CASE WHEN g.account_type = 'pnl' THEN $pnl_excluded ELSE $bs_excluded END
            WHEN t.targets = 1 THEN t.line_code
            WHEN g.account_type = 'pnl' THEN $pnl_unmapped
            ELSE $bs_unmapped END,
       CASE WHEN t.targets IS NULL THEN 'unmapped' WHEN t.targets > 1 THEN 'conflict'
            WHEN t.exclude THEN 'excluded' ELSE 'mapped' END,
       CASE WHEN t.targets = 1 THEN t.rule_id END,
       CASE WHEN t.targets = 1 THEN t.priority END,
       CASE WHEN t.targets = 1 THEN t.entity_specific END,
       CASE WHEN t.targets = 1 THEN t.width END,
       x.priority IS NOT NULL AND (t.targets IS DISTINCT FROM 1 OR x.priority >= t.priority)
FROM regen_accounts g
LEFT JOIN map_specific s ON s.entity_id = g.entity_id AND s.account_code = g.account_code
LEFT JOIN map_top t ON t.entity_id IS NOT DISTINCT FROM s.entity_id AND t.account_code = g.account_code
LEFT JOIN axis_top x ON x.entity_id IS NOT DISTINCT FROM s.entity_id AND x.account_code = g.account_code;
