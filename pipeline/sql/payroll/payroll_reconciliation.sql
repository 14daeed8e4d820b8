-- Mapped payroll costs per GL account and month against the GL postings on that account.
-- P&L accounts are compared on their net movement. Balance-sheet accounts also carry the
-- payments of what payroll made payable, so only the postings on payroll's side are compared:
-- the credits of an account payroll credits (sign -1), the debits of one it debits (+1).
-- The months compared are those of the payroll costs in range, per GL entity.
WITH mapped AS (
    SELECT l.gl_entity_id, m.account_code, m.statement, m.sign,
           date_trunc('month', c.period_end)::DATE AS month, c.amount * m.sign AS gl_amount
    FROM payroll_costs c
    JOIN payroll_component_map m
      ON m.entity_id = c.entity_id AND m.component_code = c.component_code
     AND NOT m.hidden AND m.account_code IS NOT NULL
    JOIN payroll_gl_links l ON l.entity_id = c.entity_id
    WHERE list_contains($entity_ids, c.entity_id)
      AND date_trunc('month', c.period_end)::DATE BETWEEN coalesce($from_month, DATE '0001-01-01')
                                                      AND coalesce($to_month, DATE '9999-12-01')
),
basis AS (
    SELECT gl_entity_id, account_code,
           CASE WHEN bool_or(statement = 'pnl') OR (bool_or(sign > 0) AND bool_or(sign < 0)) THEN 'net'
                WHEN bool_and(sign < 0) THEN 'credit'
                ELSE 'debit' END AS basis
    FROM mapped GROUP BY ALL
),
payroll AS (
    SELECT gl_entity_id, account_code, month, sum(gl_amount)::DECIMAL(18,2) AS payroll_amount
    FROM mapped GROUP BY ALL
),
months AS (
    SELECT gl_entity_id, min(month) AS lo, max(month) AS hi FROM payroll GROUP BY ALL
),
gl AS (
    SELECT t.entity_id AS gl_entity_id, t.account_code, t.month,
           sum(t.debit) AS debit, sum(t.credit) AS credit, sum(t.net) AS net
    FROM rpt_trial_balance t
    JOIN basis b ON b.gl_entity_id = t.entity_id AND b.account_code = t.account_code
    JOIN months m ON m.gl_entity_id = t.entity_id AND t.month BETWEEN m.lo AND m.hi
    WHERE t.kind = 'movement'
    GROUP BY ALL
)
SELECT coalesce(p.gl_entity_id, g.gl_entity_id) AS gl_entity_id, e.name AS gl_entity,
       coalesce(p.account_code, g.account_code) AS account_code, a.name AS account_name,
       b.basis, coalesce(p.month, g.month) AS month,
       coalesce(p.payroll_amount, 0)::DECIMAL(18,2) AS payroll_amount,
       (CASE b.basis WHEN 'net' THEN coalesce(g.net, 0)
                     WHEN 'credit' THEN -coalesce(g.credit, 0)
                     ELSE coalesce(g.debit, 0) END)::DECIMAL(18,2) AS gl_amount
FROM payroll p
FULL OUTER JOIN gl g
  ON g.gl_entity_id = p.gl_entity_id AND g.account_code = p.account_code AND g.month = p.month
JOIN basis b ON b.gl_entity_id = coalesce(p.gl_entity_id, g.gl_entity_id)
            AND b.account_code = coalesce(p.account_code, g.account_code)
JOIN entities e ON e.id = coalesce(p.gl_entity_id, g.gl_entity_id)
LEFT JOIN accounts a ON a.entity_id = coalesce(p.gl_entity_id, g.gl_entity_id)
                    AND a.code = coalesce(p.account_code, g.account_code)
ORDER BY gl_entity, account_code, month;
