-- Trial balance of one entity over [$from_month, $to_month] from report-ready rows.
-- opening: the balance at the start of the range.
--   Balance-sheet accounts (and accounts of unknown type) chain from the latest opening balance
--   the source gave at or before the range's fiscal year ($fy_start), plus every movement since;
--   with no opening balance at all, everything booked before the range.
--   P&L accounts start each fiscal year at zero: only the fiscal year's movements before the range.
--   This is the same rule the statements use, so a TB and a balance sheet agree.
-- debit / credit: movements inside the range. balance: opening + debit - credit.
WITH tb AS (
    SELECT r.*, coalesce(a.account_type, 'balance') AS acc_type
    FROM rpt_trial_balance r
    LEFT JOIN accounts a ON a.entity_id = r.entity_id AND a.code = r.account_code
    WHERE r.entity_id = $entity_id AND r.month <= $to_month
),
chain AS (
    SELECT max(month) AS start FROM tb WHERE kind = 'opening' AND month <= $fy_start
),
per_account AS (
    SELECT account_code,
        sum(CASE
              WHEN kind = 'opening' THEN
                  CASE WHEN month = (SELECT start FROM chain) AND (acc_type = 'balance' OR month = $fy_start)
                       THEN net ELSE 0 END
              WHEN month >= $from_month THEN 0
              WHEN acc_type <> 'balance' THEN CASE WHEN month >= $fy_start THEN net ELSE 0 END
              WHEN (SELECT start FROM chain) IS NULL OR month >= (SELECT start FROM chain) THEN net
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
