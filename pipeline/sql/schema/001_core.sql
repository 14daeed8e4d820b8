-- Core warehouse tables. Money is DECIMAL(18,2), debit positive. Ids come from sequences.
CREATE SEQUENCE IF NOT EXISTS seq_organisations START 1;
CREATE SEQUENCE IF NOT EXISTS seq_sources START 1;
CREATE SEQUENCE IF NOT EXISTS seq_entities START 1;
CREATE SEQUENCE IF NOT EXISTS seq_import_runs START 1;
CREATE SEQUENCE IF NOT EXISTS seq_problems START 1;
CREATE SEQUENCE IF NOT EXISTS seq_audit_log START 1;

CREATE TABLE organisations (
    id INTEGER PRIMARY KEY DEFAULT nextval('seq_organisations'),
    name VARCHAR NOT NULL UNIQUE,
    timezone VARCHAR NOT NULL DEFAULT 'Europe/Brussels',
    active BOOLEAN NOT NULL DEFAULT TRUE,
    settings JSON NOT NULL DEFAULT '{}',
    created_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
);

CREATE TABLE sources (
    id INTEGER PRIMARY KEY DEFAULT nextval('seq_sources'),
    organisation_id INTEGER NOT NULL,
    connector VARCHAR NOT NULL,          -- registry name: 'xaf', 'csv', 'demo', 'afas', ...
    name VARCHAR NOT NULL,
    config JSON NOT NULL DEFAULT '{}',   -- non-secret settings
    credentials BLOB,                    -- encrypted (Fernet); never logged or shown back
    status VARCHAR NOT NULL DEFAULT 'available', -- available | attention | failed | disconnected
    status_message VARCHAR,
    created_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
    disconnected_at TIMESTAMPTZ,
    UNIQUE (organisation_id, name)
);

CREATE TABLE entities (
    id INTEGER PRIMARY KEY DEFAULT nextval('seq_entities'),
    organisation_id INTEGER NOT NULL,
    source_id INTEGER,
    name VARCHAR NOT NULL,
    external_id VARCHAR,                 -- the administration / company id in the source
    currency VARCHAR,
    fiscal_year_start_month INTEGER NOT NULL DEFAULT 1,
    active BOOLEAN NOT NULL DEFAULT TRUE,
    info JSON NOT NULL DEFAULT '{}',
    created_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
    UNIQUE (organisation_id, name)
);

CREATE TABLE accounts (
    entity_id INTEGER NOT NULL,
    code VARCHAR NOT NULL,
    name VARCHAR,
    account_type VARCHAR,                -- 'balance' | 'pnl' | NULL when unknown
    category VARCHAR,
    standard_code VARCHAR,               -- RGS code, SAF-T standard account ...
    standard_scheme VARCHAR,
    parent_code VARCHAR,
    first_seen_run INTEGER,
    run_id INTEGER,
    PRIMARY KEY (entity_id, code)
);

CREATE TABLE dimensions (
    entity_id INTEGER NOT NULL,
    axis VARCHAR NOT NULL,
    code VARCHAR NOT NULL,
    name VARCHAR,
    parent_code VARCHAR,
    run_id INTEGER,
    PRIMARY KEY (entity_id, axis, code)
);

-- One row per ledger line. No primary-key index: keys are kept unique by the merge, and an
-- index would slow every bulk load for nothing.
CREATE TABLE transactions (
    entity_id INTEGER NOT NULL,
    line_key VARCHAR NOT NULL,
    journal VARCHAR,
    entry VARCHAR,
    line VARCHAR,
    tx_date DATE NOT NULL,
    fiscal_year INTEGER,
    period INTEGER,
    account_code VARCHAR NOT NULL,
    amount DECIMAL(18,2) NOT NULL,
    currency VARCHAR,
    amount_fc DECIMAL(18,2),
    currency_fc VARCHAR,
    description VARCHAR,
    cost_centre VARCHAR,
    project VARCHAR,
    document_no VARCHAR,
    source_ref VARCHAR,
    run_id INTEGER NOT NULL
);

CREATE TABLE opening_balances (
    entity_id INTEGER NOT NULL,
    line_key VARCHAR NOT NULL,
    fiscal_year INTEGER NOT NULL,
    balance_date DATE,
    account_code VARCHAR NOT NULL,
    amount DECIMAL(18,2) NOT NULL,
    description VARCHAR,
    source_ref VARCHAR,
    run_id INTEGER NOT NULL
);

CREATE TABLE import_runs (
    id INTEGER PRIMARY KEY DEFAULT nextval('seq_import_runs'),
    entity_id INTEGER NOT NULL,
    source_id INTEGER,
    trigger VARCHAR NOT NULL,            -- scheduled | manual | upload | reset
    status VARCHAR NOT NULL,             -- waiting | running | succeeded | failed
    full_sync BOOLEAN NOT NULL DEFAULT FALSE,
    priority INTEGER NOT NULL DEFAULT 0, -- higher runs first
    format VARCHAR,
    file_name VARCHAR,
    file_sha256 VARCHAR,
    params JSON NOT NULL DEFAULT '{}',
    queued_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
    started_at TIMESTAMPTZ,
    finished_at TIMESTAMPTZ,
    heartbeat_at TIMESTAMPTZ,
    worker VARCHAR,                      -- host:pid:start-ticks of the process running it
    cursor_before JSON,
    cursor_after JSON,
    rows_read BIGINT,
    inserted BIGINT,
    updated BIGINT,
    deleted BIGINT,
    problem_count INTEGER NOT NULL DEFAULT 0,
    stats JSON NOT NULL DEFAULT '{}',
    error_kind VARCHAR,
    error_message VARCHAR
);

CREATE TABLE entity_cursors (
    entity_id INTEGER PRIMARY KEY,
    cursor JSON NOT NULL,
    run_id INTEGER NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
);

CREATE TABLE problems (
    id BIGINT PRIMARY KEY DEFAULT nextval('seq_problems'),
    run_id INTEGER NOT NULL,
    entity_id INTEGER NOT NULL,
    kind VARCHAR NOT NULL,
    severity VARCHAR NOT NULL,
    message VARCHAR NOT NULL,
    location VARCHAR
);

CREATE TABLE audit_log (
    id BIGINT PRIMARY KEY DEFAULT nextval('seq_audit_log'),
    changed_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
    actor VARCHAR NOT NULL,
    action VARCHAR NOT NULL,
    object_type VARCHAR NOT NULL,
    object_id VARCHAR,
    before JSON,
    after JSON
);

-- Report-ready trial balance: one row per entity, month and account. Opening balances are a
-- separate `kind` dated at the first month of their fiscal year, so a range that starts at the
-- fiscal year start carries them, and debit = credit whenever the books balance.
CREATE TABLE rpt_trial_balance (
    entity_id INTEGER NOT NULL,
    fiscal_year INTEGER,
    month DATE NOT NULL,
    account_code VARCHAR NOT NULL,
    kind VARCHAR NOT NULL,               -- 'opening' | 'movement'
    debit DECIMAL(18,2) NOT NULL,
    credit DECIMAL(18,2) NOT NULL,
    net DECIMAL(18,2) NOT NULL,
    lines BIGINT NOT NULL
);
