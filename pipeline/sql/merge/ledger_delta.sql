-- The ledger lines a merge changes for one entity, as signed contributions: each replaced or
-- deleted line once with sign -1 (captured in ledger_old before the merge deletes it, by the row
-- ids the diff found), each inserted or replacing line once with sign +1 (the entity's lines
-- stamped with this run, read where the insert left them: copying them costs more than the two
-- reads). Report-ready rows derived from the ledger (trial balance, unbalanced entries) are
-- updated from these few rows instead of being recomputed from every line of the entity.
CREATE OR REPLACE TEMP TABLE ledger_old AS
SELECT entity_id, fiscal_year, date_trunc('month', tx_date)::DATE AS month, account_code, journal, entry,
       amount, -1 AS sign
FROM transactions
WHERE rowid IN (SELECT rid FROM merge_diff WHERE action IN ('update', 'delete'));

-- A view cannot take parameters: the entity and run ids are integers the merge formats in.
CREATE OR REPLACE TEMP VIEW ledger_delta AS
SELECT * FROM ledger_old
UNION ALL
SELECT entity_id, fiscal_year, date_trunc('month', tx_date)::DATE, account_code, journal, entry, amount, 1
FROM transactions
WHERE entity_id = {entity_id} AND run_id = {run_id};
