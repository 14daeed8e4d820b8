-- The stored ledger lines whose keys the staged set sends or deletes (merge_keys), found by their
-- key_hash: scanning five million 8-byte hashes takes half the time of decoding five million key
-- strings, and the rows found are read by row id. merge_diff then joins them on the keys
-- themselves, so a line whose hash another key shares is left alone.
rowid IN (SELECT rowid FROM {table} WHERE entity_id = $entity_id
          AND key_hash IN (SELECT hash(k) FROM merge_keys))
