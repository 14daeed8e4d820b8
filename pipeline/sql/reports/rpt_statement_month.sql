-- Report-ready statement rows of one structure: the trial balance joined to the resolved
-- mapping, per entity, month and leaf line. A full rebuild (new ledger data, a changed
-- structure) rebuilds every row of the entities in regen_entities and tb_scope is TRUE; after a
-- mapping change only the (entity, line) pairs in regen_lines are, and tb_scope keeps the few
-- trial-balance rows of the accounts on those lines. This join puts every account on its
-- default line; accounts split by cost centre or project are corrected afterwards
-- (rpt_statement_month_axis.sql), which keeps this one join and GROUP BY as lean as a plain
-- query. A trial-balance account missing from the chart lands on Unmapped.
-- Rows are stored entity by entity, so a report reads the row groups of its entities only;
-- sorting on month and line as well would cost more and spare a read nothing (a row group
-- spans every month). Each DELETE runs in one mode only: DuckDB drops a statement whose test of
-- the mode parameter is false before running it. The entities placeholder tests an entity id
-- against regen_entities: a plain range when the ids are consecutive, which DuckDB applies while
-- scanning instead of joining millions of rows to the list.
DELETE FROM rpt_statement_month s
WHERE $full AND s.structure_id = $structure_id AND s.entity_id {entities};

DELETE FROM rpt_statement_month s
WHERE NOT $full AND s.structure_id = $structure_id
  AND EXISTS (SELECT 1 FROM regen_lines g WHERE g.entity_id = s.entity_id AND g.line_code = s.line_code);

-- Rows of kind 'opening' are few (a month per fiscal year), so they are summed apart and the
-- movements are the rest (a trial-balance row is an opening or a movement): one sum over the
-- millions of rows instead of two filtered ones.
INSERT INTO rpt_statement_month
SELECT $structure_id, c.entity_id, c.month, c.line_code, coalesce(o.net, 0)::DECIMAL(18,2),
       (c.net - coalesce(o.net, 0))::DECIMAL(18,2), c.lines
FROM (
    SELECT r.entity_id, r.month, coalesce(m.line_code, $bs_unmapped) AS line_code, sum(r.net) AS net,
           sum(r.lines)::BIGINT AS lines
    FROM rpt_trial_balance r
    LEFT JOIN map_accounts m ON m.structure_id = $structure_id AND m.entity_id = r.entity_id
                            AND m.account_code = r.account_code
    WHERE r.entity_id {entities} AND {tb_scope}
    GROUP BY r.entity_id, r.month, coalesce(m.line_code, $bs_unmapped)
) c
LEFT JOIN (
    SELECT r.entity_id, r.month, coalesce(m.line_code, $bs_unmapped) AS line_code, sum(r.net) AS net
    FROM rpt_trial_balance r
    LEFT JOIN map_accounts m ON m.structure_id = $structure_id AND m.entity_id = r.entity_id
                            AND m.account_code = r.account_code
    WHERE r.kind = 'opening' AND r.entity_id {entities} AND {tb_scope}
    GROUP BY r.entity_id, r.month, coalesce(m.line_code, $bs_unmapped)
) o ON o.entity_id = c.entity_id AND o.month = c.month AND o.line_code = c.line_code
ORDER BY c.entity_id;
