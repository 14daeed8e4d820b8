-- Analytical axes beyond cost centre and project (XAF cost unit / article group, SAF-T analysis
-- types), as a JSON object per line so a source with more axes needs no schema change.
ALTER TABLE transactions ADD COLUMN axes VARCHAR;
