-- The (entity, line) rows of rpt_statement_month to rebuild: the old and new lines of every
-- re-resolved account whose line (or split) moved, the lines its cost-centre/project split
-- feeds before and after. (A full rebuild skips this and rebuilds every row.)
CREATE OR REPLACE TEMP TABLE regen_lines AS
SELECT DISTINCT entity_id, line_code FROM (
    SELECT b.entity_id, b.line_code
    FROM map_before b
    LEFT JOIN map_accounts m ON m.structure_id = $structure_id AND m.entity_id = b.entity_id
                            AND m.account_code = b.account_code
    WHERE b.has_axis OR m.line_code IS DISTINCT FROM b.line_code OR m.has_axis IS DISTINCT FROM b.has_axis
    UNION ALL
    SELECT m.entity_id, m.line_code
    FROM map_accounts m
    JOIN regen_accounts g ON g.entity_id = m.entity_id AND g.account_code = m.account_code
    LEFT JOIN map_before b ON b.entity_id = m.entity_id AND b.account_code = m.account_code
    WHERE m.structure_id = $structure_id
      AND (m.has_axis OR m.line_code IS DISTINCT FROM b.line_code OR m.has_axis IS DISTINCT FROM b.has_axis)
    UNION ALL
    SELECT entity_id, line_code FROM axis_before
    UNION ALL
    SELECT x.entity_id, x.line_code
    FROM map_axis_lines x
    JOIN regen_accounts g ON g.entity_id = x.entity_id AND g.account_code = x.account_code
    WHERE x.structure_id = $structure_id
);
