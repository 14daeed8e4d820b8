-- Report-ready trial balance of the entities in the temp table tb_entities, for the months a run
-- touched (merge_months), or all months when $all_months. One statement for any number of
-- entities: a full rebuild scans the ledger once, not once per entity.
-- Movements per month and account; opening balances as their own kind.
DELETE FROM rpt_trial_balance
WHERE entity_id IN (SELECT entity_id FROM tb_entities)
  AND (kind = 'opening'
       OR $all_months
       OR month IN (SELECT month FROM merge_months));

INSERT INTO rpt_trial_balance
SELECT entity_id, fiscal_year, date_trunc('month', tx_date)::DATE AS month, account_code, 'movement',
       sum(greatest(amount, 0))::DECIMAL(18,2), sum(greatest(-amount, 0))::DECIMAL(18,2),
       sum(amount)::DECIMAL(18,2), count(*)
FROM transactions
WHERE entity_id IN (SELECT entity_id FROM tb_entities)
  AND ($all_months OR date_trunc('month', tx_date)::DATE IN (SELECT month FROM merge_months))
GROUP BY ALL;

INSERT INTO rpt_trial_balance
SELECT entity_id, fiscal_year, date_trunc('month', balance_date)::DATE, account_code, 'opening',
       sum(greatest(amount, 0))::DECIMAL(18,2), sum(greatest(-amount, 0))::DECIMAL(18,2),
       sum(amount)::DECIMAL(18,2), count(*)
FROM opening_balances
WHERE entity_id IN (SELECT entity_id FROM tb_entities)
GROUP BY ALL;
