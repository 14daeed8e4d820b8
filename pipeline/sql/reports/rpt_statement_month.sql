-- Report-ready statement rows of one structure: the trial balance joined to the resolved
-- mapping, per entity, month and leaf line, for the (entity, line) pairs in regen_lines; the tb_scope filter
-- is TRUE on a full rebuild (new ledger data, a changed structure: every row of the entities in
-- regen_entities) and, after a mapping change, the regen_lines test on each trial-balance row, so
-- only the few accounts on the lines that moved are aggregated. This join puts every account
-- on its default line; accounts split by cost centre or project are corrected afterwards
-- (rpt_statement_month_axis.sql), which keeps this one join and GROUP BY as lean as a plain
-- query. A trial-balance account missing from the chart lands on Unmapped. Rows are stored in
-- read order, so an entity's rows sit together.
DELETE FROM rpt_statement_month s
WHERE s.structure_id = $structure_id
  AND (($full AND s.entity_id IN (SELECT entity_id FROM regen_entities))
       OR EXISTS (SELECT 1 FROM regen_lines g WHERE g.entity_id = s.entity_id AND g.line_code = s.line_code));

INSERT INTO rpt_statement_month
SELECT $structure_id, c.entity_id, c.month, c.line_code, c.opening, c.movement, c.lines
FROM (
    SELECT r.entity_id, r.month, coalesce(m.line_code, $bs_unmapped) AS line_code,
           coalesce(sum(r.net) FILTER (WHERE r.kind = 'opening'), 0)::DECIMAL(18,2) AS opening,
           coalesce(sum(r.net) FILTER (WHERE r.kind = 'movement'), 0)::DECIMAL(18,2) AS movement,
           sum(r.lines)::BIGINT AS lines
    FROM rpt_trial_balance r
    LEFT JOIN map_accounts m ON m.structure_id = $structure_id AND m.entity_id = r.entity_id
                            AND m.account_code = r.account_code
    WHERE r.entity_id IN (SELECT entity_id FROM regen_entities) AND {tb_scope}
    GROUP BY r.entity_id, r.month, coalesce(m.line_code, $bs_unmapped)
) c
ORDER BY c.entity_id, c.month, c.line_code;

DELETE FROM map_conflicts c
WHERE c.structure_id = $structure_id
  AND EXISTS (SELECT 1 FROM regen_accounts g WHERE g.entity_id = c.entity_id AND g.account_code = c.account_code);

INSERT INTO map_conflicts
WITH ranked AS (
    SELECT c.*, rank() OVER (PARTITION BY c.entity_id, c.account_code
                             ORDER BY c.priority DESC, c.entity_specific DESC, c.width ASC) AS rk
    FROM map_candidates c
    JOIN map_top t ON t.entity_id = c.entity_id AND t.account_code = c.account_code AND t.targets > 1
    WHERE c.axis IS NULL
)
SELECT $structure_id, k.entity_id, k.account_code, NULL, NULL,
       string_agg(DISTINCT k.rule_id::VARCHAR, ', ' ORDER BY k.rule_id::VARCHAR),
       string_agg(DISTINCT CASE WHEN k.exclude THEN '(excluded)' ELSE k.line_code END, ', '
                  ORDER BY CASE WHEN k.exclude THEN '(excluded)' ELSE k.line_code END),
       coalesce((SELECT sum(r.net) FROM rpt_trial_balance r
                 WHERE r.entity_id = k.entity_id AND r.account_code = k.account_code AND r.kind = 'movement'),
                0)::DECIMAL(18,2)
FROM ranked k
WHERE k.rk = 1
GROUP BY k.entity_id, k.account_code
UNION ALL
SELECT $structure_id, x.entity_id, x.account_code, x.cost_centre, x.project, x.rule_ids, x.conflict_lines,
       sum(x.net)::DECIMAL(18,2)
FROM map_axis_lines x
JOIN regen_accounts g ON g.entity_id = x.entity_id AND g.account_code = x.account_code
WHERE x.structure_id = $structure_id AND x.conflict
GROUP BY x.entity_id, x.account_code, x.cost_centre, x.project, x.rule_ids, x.conflict_lines;
