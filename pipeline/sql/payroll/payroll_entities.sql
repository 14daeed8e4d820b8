-- The payroll entities of an organisation (those with payroll data or a payroll source), with
-- their company, the GL entity they book into and what their mapping still lacks.
SELECT e.id, e.name, e.organisation_id, s.connector, s.id AS source_id,
       pc.name AS company, pc.company_number, pc.period_type,
       l.gl_entity_id, g.name AS gl_entity,
       (SELECT max(date_trunc('month', c.period_end))::DATE FROM payroll_costs c WHERE c.entity_id = e.id) AS last_month,
       (SELECT count(DISTINCT c.component_code) FROM payroll_costs c WHERE c.entity_id = e.id) AS components,
       (SELECT count(DISTINCT c.component_code) FROM payroll_costs c
         WHERE c.entity_id = e.id
           AND NOT EXISTS (SELECT 1 FROM payroll_component_map m
                           WHERE m.entity_id = c.entity_id AND m.component_code = c.component_code
                             AND (m.hidden OR m.account_code IS NOT NULL))) AS unmapped
FROM entities e
LEFT JOIN sources s ON s.id = e.source_id
LEFT JOIN payroll_companies pc ON pc.entity_id = e.id
LEFT JOIN payroll_gl_links l ON l.entity_id = e.id
LEFT JOIN entities g ON g.id = l.gl_entity_id
WHERE ($organisation_id IS NULL OR e.organisation_id = $organisation_id)
  AND (list_contains($payroll_connectors, s.connector)
       OR EXISTS (SELECT 1 FROM payroll_companies x WHERE x.entity_id = e.id))
ORDER BY e.name;
