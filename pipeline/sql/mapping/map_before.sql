-- The resolution of the re-resolved accounts before a mapping change (and the lines their cost
-- centre / project splits fed), to see which statement lines moved (regen_lines.sql). A full
-- rebuild redoes every line and skips this.
CREATE OR REPLACE TEMP TABLE map_before AS
SELECT m.entity_id, m.account_code, m.line_code, m.has_axis
FROM map_accounts m
JOIN regen_accounts g ON g.entity_id = m.entity_id AND g.account_code = m.account_code
WHERE m.structure_id = $structure_id;

CREATE OR REPLACE TEMP TABLE axis_before AS
SELECT DISTINCT x.entity_id, x.line_code
FROM map_axis_lines x
JOIN regen_accounts g ON g.entity_id = x.entity_id AND g.account_code = x.account_code
WHERE x.structure_id = $structure_id;
