-- Entries whose lines do not sum to zero, rebuilt for the entities in the temp table
-- ledger_entities. Lines without an entry number cannot be grouped into entries and are left
-- out of this check.
--
-- Grouping every line by entry is the costly part, and nearly every entity balances, so a
-- screen runs first: per entity, the sum over its lines of w(entry) * amount in cents, with
-- w a 32-bit weight taken from a hash of (journal, entry), twice with independent weights.
-- Each balanced entry adds w * 0, so an entity whose entries all balance sums to exactly
-- zero; an unbalanced one sums to zero only if its imbalances cancel under both random weight
-- sets (odds about 1 in 2^64). Only entities with a non-zero screen are grouped by entry.
-- HUGEINT keeps the sums exact: 2^32 * 10^18 cents * 2^32 lines stays below 2^127.
CREATE OR REPLACE TEMP TABLE unbalanced_suspects AS
SELECT entity_id
FROM transactions
WHERE entity_id IN (SELECT entity_id FROM ledger_entities) AND entry IS NOT NULL
GROUP BY entity_id
HAVING sum((hash(journal, entry) >> 32)::HUGEINT * (amount * 100)::HUGEINT) <> 0
    OR sum((hash(journal, entry) & 4294967295)::HUGEINT * (amount * 100)::HUGEINT) <> 0;

DELETE FROM rpt_unbalanced_entries
WHERE entity_id IN (SELECT entity_id FROM ledger_entities);

INSERT INTO rpt_unbalanced_entries
SELECT t.entity_id, date_trunc('month', min(t.tx_date))::DATE, t.journal, t.entry,
       sum(t.amount)::DECIMAL(18,2), count(*)
FROM transactions t
WHERE t.entity_id IN (SELECT entity_id FROM unbalanced_suspects) AND t.entry IS NOT NULL
GROUP BY t.entity_id, t.journal, t.entry
HAVING sum(t.amount) <> 0;
