-- Ledger lines keyed by their journal|entry|line (a file's own numbers) are stored without a
-- line_key and the key is derived when merging (connectors.base.StreamData.derived_keys): five
-- million such strings cost about 0.4 s to compress on an import. Lines stored with their key
-- keep it; both compare equal on the key's text.
ALTER TABLE transactions ALTER COLUMN line_key DROP NOT NULL;

-- The entities holding lines stored without a line_key. The merge finds an entity's stored
-- lines by their key_hash unless it is listed here (then by the derived key): finding out by
-- scanning its lines for an empty key cost 0.04 s on a five-million-line entity, a tenth of a
-- small sync. An entity stays listed once listed (its keys are then derived where missing,
-- which is always correct).
CREATE TABLE entities_with_derived_keys (entity_id INTEGER PRIMARY KEY);

-- A hash of each stored key (NULL for derived keys), written by the merge's insert: a small sync
-- finds the stored lines it changes by scanning these 8-byte hashes instead of decoding every
-- key string of the entity (pipeline/sql/merge/probe_hashed.sql). Every writer of transactions
-- must fill it as hash(line_key).
ALTER TABLE transactions ADD COLUMN key_hash UBIGINT;

UPDATE transactions SET key_hash = hash(line_key) WHERE line_key IS NOT NULL;

-- DuckDB does not promise hash() stays the same across releases. The hash of a fixed text, as
-- the function that wrote key_hash computed it: when this process's hash() differs,
-- pipeline.db.migrate computes every key_hash again before any merge can miss a line.
CREATE TABLE key_hash_function (probe UBIGINT NOT NULL);

INSERT INTO key_hash_function VALUES (hash('ledgerline key hash'));
