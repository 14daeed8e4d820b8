-- The cost-centre and project rules of the re-resolved accounts that they may split (has_axis),
-- from the candidates of map_accounts.sql: each account's own unit when it has one, else its
-- code's. (Run only when such an account exists.)
INSERT INTO map_axis_rules
SELECT $structure_id, g.entity_id, g.account_code, c.axis, c.axis_value,
       CASE WHEN NOT c.exclude THEN c.line_code
            WHEN g.account_type = 'pnl' THEN $pnl_excluded ELSE $bs_excluded END,
       c.rule_id, c.priority, c.entity_specific, c.width
FROM map_accounts m
JOIN regen_accounts g ON g.entity_id = m.entity_id AND g.account_code = m.account_code
LEFT JOIN map_specific s ON s.entity_id = g.entity_id AND s.account_code = g.account_code
JOIN map_candidates c ON c.entity_id IS NOT DISTINCT FROM s.entity_id AND c.account_code = g.account_code
WHERE m.structure_id = $structure_id AND m.has_axis AND c.axis IS NOT NULL;
