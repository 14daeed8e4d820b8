-- Payroll costs with their mapping: one row per company, period, component and mapping line.
-- Only mapped components have values; GL amount = sign * amount (debit positive).
SELECT c.entity_id, e.name AS entity, coalesce(pc.name, e.name) AS company, pc.company_number,
       c.payroll_year, c.period, c.period_start, c.period_end,
       date_trunc('month', c.period_end)::DATE AS month,
       c.component_code, coalesce(c.component_name, c.component_code) AS component_name,
       m.line_no, m.statement, m.account_code, a.name AS account_name, m.sign,
       c.amount, (c.amount * m.sign)::DECIMAL(18,2) AS gl_amount, c.currency,
       l.gl_entity_id, g.name AS gl_entity
FROM payroll_costs c
JOIN entities e ON e.id = c.entity_id
JOIN payroll_component_map m
  ON m.entity_id = c.entity_id AND m.component_code = c.component_code
 AND NOT m.hidden AND m.account_code IS NOT NULL
LEFT JOIN payroll_companies pc ON pc.entity_id = c.entity_id AND pc.line_key = c.company_key
LEFT JOIN payroll_gl_links l ON l.entity_id = c.entity_id
LEFT JOIN entities g ON g.id = l.gl_entity_id
LEFT JOIN accounts a ON a.entity_id = l.gl_entity_id AND a.code = m.account_code
WHERE list_contains($entity_ids, c.entity_id)
  AND date_trunc('month', c.period_end)::DATE BETWEEN coalesce($from_month, DATE '0001-01-01')
                                                  AND coalesce($to_month, DATE '9999-12-01')
ORDER BY company, c.period_end, c.period_start,
         try_cast(regexp_extract(c.component_code, '^[0-9]+') AS BIGINT) NULLS LAST, c.component_code, m.line_no;
