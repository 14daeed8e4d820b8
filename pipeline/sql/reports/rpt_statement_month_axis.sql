-- Corrections of rpt_statement_month for accounts split by cost centre or project: each group of
-- map_axis_lines moves from the account's default line to the line it resolves to. Applied only
-- to the rows just rebuilt (the scope filter: every row on a full rebuild, the regen_lines pairs after a
-- mapping change); the rows kept from before already carry their corrections.
CREATE OR REPLACE TEMP TABLE axis_delta AS
SELECT entity_id, month, line_code, sum(movement) AS movement, sum(lines) AS lines
FROM (
    SELECT x.entity_id, x.month, x.line_code, x.net AS movement, x.lines
    FROM map_axis_lines x
    WHERE x.structure_id = $structure_id AND x.entity_id IN (SELECT entity_id FROM regen_entities)
    UNION ALL
    SELECT x.entity_id, x.month, m.line_code, -x.net, -x.lines
    FROM map_axis_lines x
    JOIN map_accounts m ON m.structure_id = x.structure_id AND m.entity_id = x.entity_id
                       AND m.account_code = x.account_code
    WHERE x.structure_id = $structure_id AND x.entity_id IN (SELECT entity_id FROM regen_entities)
) c
WHERE {scope}
GROUP BY entity_id, month, line_code;

CREATE OR REPLACE TEMP TABLE axis_merged AS
SELECT d.entity_id, d.month, d.line_code, coalesce(s.opening, 0) AS opening,
       coalesce(s.movement, 0) + d.movement AS movement, coalesce(s.lines, 0) + d.lines AS lines
FROM axis_delta d
LEFT JOIN rpt_statement_month s ON s.structure_id = $structure_id AND s.entity_id = d.entity_id
                               AND s.month = d.month AND s.line_code = d.line_code;

DELETE FROM rpt_statement_month s
WHERE s.structure_id = $structure_id
  AND EXISTS (SELECT 1 FROM axis_merged a
              WHERE a.entity_id = s.entity_id AND a.month = s.month AND a.line_code = s.line_code);

INSERT INTO rpt_statement_month
SELECT $structure_id, entity_id, month, line_code, opening::DECIMAL(18,2), movement::DECIMAL(18,2), lines::BIGINT
FROM axis_merged
WHERE opening <> 0 OR movement <> 0 OR lines <> 0;
