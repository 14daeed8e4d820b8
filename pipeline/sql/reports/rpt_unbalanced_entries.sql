-- Entries whose lines do not sum to zero, for the entities in the temp table regen_entities:
-- every entry when $all_months, else the entries with a line in the months of regen_months
-- (all their lines are summed, whatever month they sit in). Lines without an entry number cannot
-- be grouped into entries and are left out of this check.
CREATE OR REPLACE TEMP TABLE unbalanced_scope AS
SELECT DISTINCT entity_id, journal, entry
FROM transactions
WHERE entity_id IN (SELECT entity_id FROM regen_entities) AND entry IS NOT NULL
  AND NOT $all_months AND date_trunc('month', tx_date)::DATE IN (SELECT month FROM regen_months);

DELETE FROM rpt_unbalanced_entries u
WHERE u.entity_id IN (SELECT entity_id FROM regen_entities)
  AND ($all_months
       OR u.month IN (SELECT month FROM regen_months)
       OR EXISTS (SELECT 1 FROM unbalanced_scope s
                  WHERE s.entity_id = u.entity_id AND s.journal IS NOT DISTINCT FROM u.journal
                    AND s.entry = u.entry));

INSERT INTO rpt_unbalanced_entries
SELECT t.entity_id, min(date_trunc('month', t.tx_date))::DATE, t.journal, t.entry,
       sum(t.amount)::DECIMAL(18,2), count(*)
FROM transactions t
WHERE t.entity_id IN (SELECT entity_id FROM regen_entities) AND t.entry IS NOT NULL
  AND ($all_months OR EXISTS (SELECT 1 FROM unbalanced_scope s
                              WHERE s.entity_id = t.entity_id AND s.journal IS NOT DISTINCT FROM t.journal
                                AND s.entry = t.entry))
GROUP BY t.entity_id, t.journal, t.entry
HAVING sum(t.amount) <> 0;
