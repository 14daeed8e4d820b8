-- The wage components of one payroll entity: every component with costs, and every component
-- the mapping names, with its total and its number of periods (for the mapping page).
WITH costs AS (
    SELECT component_code, arg_max(component_name, period_end) AS component_name,
           sum(amount)::DECIMAL(18,2) AS amount, count(*) AS periods,
           min(date_trunc('month', period_end))::DATE AS first_month,
           max(date_trunc('month', period_end))::DATE AS last_month
    FROM payroll_costs
    WHERE entity_id = $entity_id
    GROUP BY component_code
),
mapped AS (
    SELECT DISTINCT component_code FROM payroll_component_map WHERE entity_id = $entity_id
)
SELECT coalesce(c.component_code, m.component_code) AS component_code,
       c.component_name, coalesce(c.amount, 0)::DECIMAL(18,2) AS amount, coalesce(c.periods, 0) AS periods,
       c.first_month, c.last_month
FROM costs c FULL OUTER JOIN mapped m ON m.component_code = c.component_code
ORDER BY try_cast(regexp_extract(coalesce(c.component_code, m.component_code), '^[0-9]+') AS BIGINT) NULLS LAST,
         coalesce(c.component_code, m.component_code);
