-- One entity's unbalanced entries updated from the lines a run changed (ledger_delta). An
-- entry's new sum is its stored imbalance (zero when it was not listed, since every unbalanced
-- entry is) plus the change of its lines. Entries that now balance are dropped; the few that do
-- not are read again whole, for their month and line count (the caller skips that read when
-- none is left unbalanced).
CREATE OR REPLACE TEMP TABLE entry_delta AS
SELECT d.journal, d.entry, coalesce(u.amount, 0) + sum(d.sign * d.amount) AS amount
FROM ledger_delta d
LEFT JOIN rpt_unbalanced_entries u
       ON u.entity_id = d.entity_id AND u.journal IS NOT DISTINCT FROM d.journal AND u.entry = d.entry
WHERE d.entity_id = $entity_id AND d.entry IS NOT NULL
GROUP BY d.journal, d.entry, u.amount;

DELETE FROM rpt_unbalanced_entries u
WHERE u.entity_id = $entity_id
  AND EXISTS (SELECT 1 FROM entry_delta d WHERE d.journal IS NOT DISTINCT FROM u.journal AND d.entry = u.entry);

-- The entries' lines may lie anywhere among the entity's, and entry numbers of mixed lengths
-- ('1' to '5000' spans nearly every row group's range of strings) keep DuckDB from skipping any
-- row group: lines whose entry number is shorter or longer than all of these cannot match, and
-- dropping them before the join took a 5M-line search for 5,000 entries from 52 to 29 ms.
INSERT INTO rpt_unbalanced_entries
SELECT t.entity_id, date_trunc('month', min(t.tx_date))::DATE, t.journal, t.entry,
       sum(t.amount)::DECIMAL(18,2), count(*)
FROM transactions t
JOIN (SELECT journal, entry FROM entry_delta WHERE amount <> 0) d
  ON t.journal IS NOT DISTINCT FROM d.journal AND t.entry = d.entry
WHERE t.entity_id = $entity_id AND strlen(t.entry) BETWEEN $shortest AND $longest
GROUP BY t.entity_id, t.journal, t.entry
HAVING sum(t.amount) <> 0;
