-- Trial balance of one entity over [$from_month, $to_month] from report-ready rows.
-- opening: the balance at the start of the range. For balance-sheet accounts (and accounts of
--   unknown type) the fiscal year's opening balance when the source gave one, else everything
--   booked before the fiscal year; for P&L accounts nothing before the fiscal year. Plus the
--   fiscal year's movements before the range.
-- debit / credit: movements inside the range. balance: opening + debit - credit.
WITH tb AS (
    SELECT r.*, coalesce(a.account_type, 'balance') AS acc_type
    FROM rpt_trial_balance r
    LEFT JOIN accounts a ON a.entity_id = r.entity_id AND a.code = r.account_code
    WHERE r.entity_id = $entity_id AND r.month <= $to_month
),
has_opening AS (
    SELECT count(*) > 0 AS yes FROM tb WHERE kind = 'opening' AND month = $fy_start
),
per_account AS (
    SELECT account_code,
        sum(CASE
              WHEN kind = 'opening' THEN CASE WHEN month = $fy_start THEN net ELSE 0 END
              WHEN month >= $from_month THEN 0
              WHEN month >= $fy_start THEN net
              WHEN acc_type = 'balance' AND NOT (SELECT yes FROM has_opening) THEN net
              ELSE 0 END) AS opening,
        sum(CASE WHEN kind = 'movement' AND month >= $from_month THEN debit ELSE 0 END) AS debit,
        sum(CASE WHEN kind = 'movement' AND month >= $from_month THEN credit ELSE 0 END) AS credit
    FROM tb GROUP BY account_code
)
SELECT p.account_code AS code, a.name, a.account_type,
       p.opening::DECIMAL(18,2) AS opening, p.debit::DECIMAL(18,2) AS debit, p.credit::DECIMAL(18,2) AS credit,
       (p.opening + p.debit - p.credit)::DECIMAL(18,2) AS balance
FROM per_account p
LEFT JOIN accounts a ON a.entity_id = $entity_id AND a.code = p.account_code
WHERE p.opening <> 0 OR p.debit <> 0 OR p.credit <> 0
ORDER BY p.account_code;
