-- Ledger lines on an account the chart does not list: keep the lines, add the account without a
-- name so it shows up as unmapped, and return the codes so the run can report them.
INSERT INTO accounts (entity_id, code, first_seen_run, run_id)
SELECT DISTINCT $entity_id, c.account_code, $run_id, $run_id
FROM (
    SELECT account_code FROM transactions WHERE entity_id = $entity_id AND run_id = $run_id
    UNION
    SELECT account_code FROM opening_balances WHERE entity_id = $entity_id AND run_id = $run_id
) c
WHERE NOT EXISTS (SELECT 1 FROM accounts a WHERE a.entity_id = $entity_id AND a.code = c.account_code)
RETURNING code;
