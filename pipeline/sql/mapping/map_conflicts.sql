-- Rules that tie for a re-resolved account (or for an account's lines with a cost centre or
-- project) and point at different lines, with the amounts they leave on the Unmapped line.
-- The rows it replaces were dropped before (drop_regenerated.sql).
-- Conflicts are found per unit of map_accounts.sql (a code, or an entity's own account) and
-- listed per account, with the account's movements. Each part runs only when the caller found
-- something for it (unit_conflicts: a unit's top rules disagree; axis_split: cost-centre or
-- project lines were resolved).
INSERT INTO map_conflicts
WITH ranked AS (
    SELECT c.*, rank() OVER (PARTITION BY c.entity_id, c.account_code
                             ORDER BY c.priority DESC, c.entity_specific DESC, c.width ASC) AS rk
    FROM map_candidates c
    JOIN map_top t ON t.entity_id IS NOT DISTINCT FROM c.entity_id AND t.account_code = c.account_code
                  AND t.targets > 1
    WHERE c.axis IS NULL
),
tied AS (
    SELECT k.entity_id, k.account_code,
           string_agg(DISTINCT k.rule_id::VARCHAR, ', ' ORDER BY k.rule_id::VARCHAR) AS rule_ids,
           string_agg(DISTINCT CASE WHEN k.exclude THEN '(excluded)' ELSE k.line_code END, ', '
                      ORDER BY CASE WHEN k.exclude THEN '(excluded)' ELSE k.line_code END) AS lines
    FROM ranked k
    WHERE k.rk = 1
    GROUP BY k.entity_id, k.account_code
),
accounts_in_conflict AS (
    SELECT g.entity_id, g.account_code, k.rule_ids, k.lines
    FROM regen_accounts g
    LEFT JOIN map_specific s ON s.entity_id = g.entity_id AND s.account_code = g.account_code
    JOIN tied k ON k.entity_id IS NOT DISTINCT FROM s.entity_id AND k.account_code = g.account_code
)
SELECT $structure_id, a.entity_id, a.account_code, NULL, NULL, a.rule_ids, a.lines,
       coalesce((SELECT sum(r.net) FROM rpt_trial_balance r
                 WHERE r.entity_id = a.entity_id AND r.account_code = a.account_code AND r.kind = 'movement'),
                0)::DECIMAL(18,2)
FROM accounts_in_conflict a
WHERE $unit_conflicts
UNION ALL
SELECT $structure_id, x.entity_id, x.account_code, x.cost_centre, x.project, x.rule_ids, x.conflict_lines,
       sum(x.net)::DECIMAL(18,2)
FROM map_axis_lines x
JOIN regen_accounts g ON g.entity_id = x.entity_id AND g.account_code = x.account_code
WHERE $axis_split AND x.structure_id = $structure_id AND x.conflict
GROUP BY x.entity_id, x.account_code, x.cost_centre, x.project, x.rule_ids, x.conflict_lines;
