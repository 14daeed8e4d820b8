-- Report-ready trial balance of the entities in the temp table ledger_entities, rebuilt from all
-- their lines. One statement for any number of entities: a full rebuild scans the ledger once,
-- not once per entity. Movements per month and account; opening balances as their own kind.
-- (Runs after an entity's first load update these rows from their changed lines instead:
-- rpt_trial_balance_delta.sql.)
DELETE FROM rpt_trial_balance
WHERE entity_id IN (SELECT entity_id FROM ledger_entities);

-- Credits are debits minus the net (both exact decimals): two sums over millions of lines, not three.
-- Lines are grouped on a month number and the month's first day is made once per group:
-- date_trunc on every line cost as much as the rest of the grouping together.
INSERT INTO rpt_trial_balance
SELECT entity_id, fiscal_year, make_date(ym // 12, ym % 12 + 1, 1), account_code, 'movement',
       debit::DECIMAL(18,2), (debit - net)::DECIMAL(18,2), net::DECIMAL(18,2), lines
FROM (
    SELECT entity_id, fiscal_year, year(tx_date) * 12 + month(tx_date) - 1 AS ym, account_code,
           coalesce(sum(amount) FILTER (WHERE amount > 0), 0) AS debit, sum(amount) AS net, count(*) AS lines
    FROM transactions
    WHERE entity_id IN (SELECT entity_id FROM ledger_entities)
    GROUP BY ALL
);

INSERT INTO rpt_trial_balance
SELECT entity_id, fiscal_year, date_trunc('month', balance_date)::DATE, account_code, 'opening',
       sum(greatest(amount, 0))::DECIMAL(18,2), sum(greatest(-amount, 0))::DECIMAL(18,2),
       sum(amount)::DECIMAL(18,2), count(*)
FROM opening_balances
WHERE entity_id IN (SELECT entity_id FROM ledger_entities)
GROUP BY ALL;
