-- Lines of the re-resolved accounts that cost-centre or project rules split, per month and axis
-- values, each group resolved to one line: the best matching axis rule when it ranks at least as
-- high as the account's default rule, else the default line. A tie between different lines is a
-- conflict and its amounts go to the Unmapped line.
INSERT INTO map_axis_lines
WITH tx AS (
    SELECT row_number() OVER () AS gid, t.entity_id, date_trunc('month', t.tx_date)::DATE AS month,
           t.account_code, t.cost_centre, t.project, sum(t.amount)::DECIMAL(18,2) AS net, count(*) AS lines
    FROM transactions t
    JOIN map_accounts m ON m.structure_id = $structure_id AND m.entity_id = t.entity_id
                       AND m.account_code = t.account_code AND m.has_axis
    JOIN regen_accounts g ON g.entity_id = t.entity_id AND g.account_code = t.account_code
    GROUP BY t.entity_id, date_trunc('month', t.tx_date)::DATE, t.account_code, t.cost_centre, t.project
),
cand AS (
    SELECT tx.gid, x.line_code, x.rule_id, x.priority, x.entity_specific, 1 AS axis_flag, x.width
    FROM tx
    JOIN map_axis_rules x ON x.structure_id = $structure_id AND x.entity_id = tx.entity_id
                         AND x.account_code = tx.account_code
                         AND ((x.axis = 'cost_centre' AND x.axis_value = tx.cost_centre)
                              OR (x.axis = 'project' AND x.axis_value = tx.project))
    UNION ALL
    SELECT tx.gid, m.line_code, m.rule_id, coalesce(m.priority, -2147483648), coalesce(m.entity_specific, FALSE),
           0, coalesce(m.width, '100000000000000000000000000000'::HUGEINT)
    FROM tx
    JOIN map_accounts m ON m.structure_id = $structure_id AND m.entity_id = tx.entity_id
                       AND m.account_code = tx.account_code
),
ranked AS (
    SELECT *, rank() OVER (PARTITION BY gid ORDER BY priority DESC, entity_specific DESC, axis_flag DESC,
                                                    width ASC) AS rk
    FROM cand
),
top AS (
    SELECT gid, count(DISTINCT line_code) AS targets, min(line_code) AS line_code,
           string_agg(DISTINCT rule_id::VARCHAR, ', ' ORDER BY rule_id::VARCHAR) AS rule_ids,
           string_agg(DISTINCT line_code, ', ' ORDER BY line_code) AS lines
    FROM ranked WHERE rk = 1 GROUP BY gid
)
SELECT $structure_id, tx.entity_id, tx.month, tx.account_code, tx.cost_centre, tx.project, tx.net, tx.lines,
       CASE WHEN top.targets = 1 THEN top.line_code
            WHEN a.account_type = 'pnl' THEN $pnl_unmapped ELSE $bs_unmapped END AS line_code,
       coalesce(top.targets > 1, FALSE) AS conflict, top.rule_ids, top.lines AS conflict_lines
FROM tx
JOIN top ON top.gid = tx.gid
LEFT JOIN accounts a ON a.entity_id = tx.entity_id AND a.code = tx.account_code;
