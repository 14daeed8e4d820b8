-- Components with costs that are neither mapped nor hidden: their values are not shown until
-- they are, so they are listed with their amounts instead.
SELECT c.entity_id, coalesce(pc.name, e.name) AS company, c.component_code,
       arg_max(coalesce(c.component_name, c.component_code), c.period_end) AS component_name,
       sum(c.amount)::DECIMAL(18,2) AS amount, count(*) AS periods,
       min(date_trunc('month', c.period_end))::DATE AS first_month,
       max(date_trunc('month', c.period_end))::DATE AS last_month
FROM payroll_costs c
JOIN entities e ON e.id = c.entity_id
LEFT JOIN payroll_companies pc ON pc.entity_id = c.entity_id AND pc.line_key = c.company_key
WHERE list_contains($entity_ids, c.entity_id)
  AND date_trunc('month', c.period_end)::DATE BETWEEN coalesce($from_month, DATE '0001-01-01')
                                                  AND coalesce($to_month, DATE '9999-12-01')
  AND NOT EXISTS (SELECT 1 FROM payroll_component_map m
                  WHERE m.entity_id = c.entity_id AND m.component_code = c.component_code
                    AND (m.hidden OR m.account_code IS NOT NULL))
GROUP BY c.entity_id, company, c.component_code
ORDER BY company, try_cast(regexp_extract(c.component_code, '^[0-9]+') AS BIGINT) NULLS LAST, c.component_code;
