-- Movements of one entity's trial balance updated from the lines a run changed (ledger_delta:
-- old lines with sign -1, new lines with sign +1) instead of re-aggregating every line: each
-- touched (fiscal year, month, account) row gets its old figures plus the change, is added when
-- it is new and dropped when no line is left on it. Stored rows are updated in place: deleting
-- and inserting them again made the commit write every touched row anew, twice the time.
-- Opening balances are rebuilt whole (they are few).
CREATE OR REPLACE TEMP TABLE tb_delta AS
WITH change AS (
    -- summed per row first: joining every changed line to its row before grouping costs twice
    SELECT entity_id, fiscal_year, month, account_code,
           sum(sign * greatest(amount, 0)) AS debit, sum(sign * greatest(-amount, 0)) AS credit,
           sum(sign * amount) AS net, sum(sign) AS lines
    FROM ledger_delta
    WHERE entity_id = $entity_id
    GROUP BY entity_id, fiscal_year, month, account_code
)
SELECT d.entity_id, d.fiscal_year, d.month, d.account_code,
       coalesce(r.debit, 0) + d.debit AS debit, coalesce(r.credit, 0) + d.credit AS credit,
       coalesce(r.net, 0) + d.net AS net, coalesce(r.lines, 0) + d.lines AS lines,
       r.lines IS NOT NULL AS stored
FROM change d
LEFT JOIN rpt_trial_balance r
       ON r.entity_id = d.entity_id AND r.fiscal_year IS NOT DISTINCT FROM d.fiscal_year AND r.month = d.month
      AND r.account_code = d.account_code AND r.kind = 'movement';

UPDATE rpt_trial_balance r
SET debit = d.debit, credit = d.credit, net = d.net, lines = d.lines
FROM tb_delta d
WHERE r.entity_id = $entity_id AND r.kind = 'movement' AND d.stored AND d.lines <> 0
  AND d.fiscal_year IS NOT DISTINCT FROM r.fiscal_year AND d.month = r.month AND d.account_code = r.account_code;

DELETE FROM rpt_trial_balance r
WHERE r.entity_id = $entity_id
  AND (r.kind = 'opening'
       OR (r.kind = 'movement'
           AND EXISTS (SELECT 1 FROM tb_delta d
                       WHERE d.stored AND d.lines = 0 AND d.fiscal_year IS NOT DISTINCT FROM r.fiscal_year
                         AND d.month = r.month AND d.account_code = r.account_code)));

INSERT INTO rpt_trial_balance
SELECT entity_id, fiscal_year, month, account_code, 'movement', debit, credit, net, lines
FROM tb_delta
WHERE NOT stored AND lines <> 0;

INSERT INTO rpt_trial_balance
SELECT entity_id, fiscal_year, date_trunc('month', balance_date)::DATE, account_code, 'opening',
       sum(greatest(amount, 0))::DECIMAL(18,2), sum(greatest(-amount, 0))::DECIMAL(18,2),
       sum(amount)::DECIMAL(18,2), count(*)
FROM opening_balances
WHERE entity_id = $entity_id
GROUP BY ALL;
