-- Reporting structures, mapping rules, resolved mappings and report-ready statement rows.
-- Tables that are replaced wholesale (lines, resolved mappings, rpt_ rows) have no primary key:
-- DuckDB checks keys eagerly inside a transaction, and these rows are always deleted and
-- re-inserted together; their uniqueness is kept by the code that writes them.
CREATE SEQUENCE IF NOT EXISTS seq_structures START 1;
CREATE SEQUENCE IF NOT EXISTS seq_mapping_rules START 1;

CREATE TABLE structures (
    id INTEGER PRIMARY KEY DEFAULT nextval('seq_structures'),
    organisation_id INTEGER NOT NULL,
    name VARCHAR NOT NULL,
    description VARCHAR,
    template VARCHAR,                    -- 'rgs' | 'international' when created from a shipped template
    is_default BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
    UNIQUE (organisation_id, name)
);

-- One row per line of one of the structure's three statement trees, depth-first order.
CREATE TABLE structure_lines (
    structure_id INTEGER NOT NULL,
    statement VARCHAR NOT NULL,          -- 'pnl' | 'bs' | 'cf'
    code VARCHAR NOT NULL,               -- unique within the structure, across its statements
    name VARCHAR NOT NULL,
    kind VARCHAR NOT NULL,               -- group | mapped | formula | result | retained | unmapped
                                         -- | excluded | cash_open | cash
    parent_code VARCHAR,
    position INTEGER NOT NULL,
    sign SMALLINT NOT NULL,              -- shown amount = sign * net (net is debit positive)
    formula VARCHAR,
    role VARCHAR,                        -- revenue, cogs, gross_margin, ebitda, receivables ... (KPIs)
    cf_line VARCHAR,                     -- balance-sheet lines: the cash-flow line their movements go to
    standard VARCHAR[]                   -- 'RGS:WOmz*'-style patterns the suggestions match
);

-- A rule maps accounts (one, or a range) of one entity or of every entity, optionally only for
-- one cost centre or project, to a line; or excludes them. Higher priority wins, then the most
-- specific rule; equally ranked rules that disagree are a conflict.
CREATE TABLE mapping_rules (
    id BIGINT PRIMARY KEY DEFAULT nextval('seq_mapping_rules'),
    structure_id INTEGER NOT NULL,
    entity_id INTEGER,                   -- NULL: every entity of the structure's organisation
    account_from VARCHAR NOT NULL,
    account_to VARCHAR NOT NULL,         -- = account_from for a one-account rule
    axis VARCHAR,                        -- NULL | 'cost_centre' | 'project'
    axis_value VARCHAR,
    line_code VARCHAR,                   -- NULL when the rule excludes
    exclude BOOLEAN NOT NULL DEFAULT FALSE,
    priority INTEGER NOT NULL DEFAULT 0,
    note VARCHAR,
    created_by VARCHAR,
    created_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
);

-- The resolved mapping: every account of every entity lands on exactly one line (a mapped line,
-- or its statement's Unmapped / Excluded line), so mapped totals always equal the ledger's.
CREATE TABLE map_accounts (
    structure_id INTEGER NOT NULL,
    entity_id INTEGER NOT NULL,
    account_code VARCHAR NOT NULL,
    line_code VARCHAR NOT NULL,
    status VARCHAR NOT NULL,             -- mapped | excluded | unmapped | conflict
    rule_id BIGINT,
    priority INTEGER,
    entity_specific BOOLEAN,
    width HUGEINT,
    has_axis BOOLEAN NOT NULL            -- some lines of the account go elsewhere by cost centre/project
);

-- The axis rules that can take lines of an account away from its default line.
CREATE TABLE map_axis_rules (
    structure_id INTEGER NOT NULL,
    entity_id INTEGER NOT NULL,
    account_code VARCHAR NOT NULL,
    axis VARCHAR NOT NULL,
    axis_value VARCHAR NOT NULL,
    line_code VARCHAR NOT NULL,
    rule_id BIGINT NOT NULL,
    priority INTEGER NOT NULL,
    entity_specific BOOLEAN NOT NULL,
    width HUGEINT NOT NULL
);

-- Lines of accounts split by cost-centre or project rules: per month and axis values, the line
-- they resolve to (conflicting groups resolve to Unmapped and are flagged).
CREATE TABLE map_axis_lines (
    structure_id INTEGER NOT NULL,
    entity_id INTEGER NOT NULL,
    month DATE NOT NULL,
    account_code VARCHAR NOT NULL,
    cost_centre VARCHAR,
    project VARCHAR,
    net DECIMAL(18,2) NOT NULL,
    lines BIGINT NOT NULL,
    line_code VARCHAR NOT NULL,
    conflict BOOLEAN NOT NULL,
    rule_ids VARCHAR,
    conflict_lines VARCHAR
);

-- Rules that tie for an account (or for an account's lines with a cost centre / project) and
-- point at different lines. Their amounts go to the Unmapped line until a priority decides.
CREATE TABLE map_conflicts (
    structure_id INTEGER NOT NULL,
    entity_id INTEGER NOT NULL,
    account_code VARCHAR NOT NULL,
    cost_centre VARCHAR,
    project VARCHAR,
    rule_ids VARCHAR NOT NULL,
    lines VARCHAR NOT NULL,
    amount DECIMAL(18,2) NOT NULL
);

-- Report-ready statement rows: per structure, entity, month and leaf line, the opening
-- balances (dated at their fiscal year's first month) and the month's movements, debit positive.
CREATE TABLE rpt_statement_month (
    structure_id INTEGER NOT NULL,
    entity_id INTEGER NOT NULL,
    month DATE NOT NULL,
    line_code VARCHAR NOT NULL,
    opening DECIMAL(18,2) NOT NULL,
    movement DECIMAL(18,2) NOT NULL,
    lines BIGINT NOT NULL
);

-- Entries whose lines do not sum to zero, per entity and month (a validation shown on reports).
CREATE TABLE rpt_unbalanced_entries (
    entity_id INTEGER NOT NULL,
    month DATE NOT NULL,
    journal VARCHAR,
    entry VARCHAR,
    amount DECIMAL(18,2) NOT NULL,
    lines BIGINT NOT NULL
);

-- When each structure was last regenerated for each entity (and up to which import run).
CREATE TABLE map_state (
    structure_id INTEGER NOT NULL,
    entity_id INTEGER NOT NULL,
    run_id INTEGER,
    regenerated_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
);
