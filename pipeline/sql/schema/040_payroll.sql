-- Payroll (Nmbrs, the XAS payroll auditfile): what imports bring, merged on line_key like ledger
-- lines, and what users set (the GL entity a payroll entity books into, the wage-component map).
-- No table holds a BSN, an employee's name, birth date or address: reporting needs none of them.

CREATE TABLE payroll_companies (
    entity_id INTEGER NOT NULL,
    line_key VARCHAR NOT NULL,           -- the company's key in the source
    company_number VARCHAR,
    name VARCHAR,
    period_type VARCHAR,                 -- 'month' | '4weeks' | 'week' | 'quarter' | 'mixed'
    currency VARCHAR,
    source_ref VARCHAR,
    run_id INTEGER NOT NULL
);

CREATE TABLE payroll_runs (
    entity_id INTEGER NOT NULL,
    line_key VARCHAR NOT NULL,           -- company|run
    company_key VARCHAR NOT NULL,
    payroll_run_id VARCHAR,
    run_number INTEGER,
    payroll_year INTEGER,
    period_from INTEGER,
    period_to INTEGER,
    period_start DATE,
    period_end DATE NOT NULL,
    description VARCHAR,
    run_date DATE,
    locked BOOLEAN,
    employees INTEGER,                   -- payslips in the run
    source_ref VARCHAR,
    run_id INTEGER NOT NULL
);

CREATE TABLE payroll_employees (
    entity_id INTEGER NOT NULL,
    line_key VARCHAR NOT NULL,           -- company|employee
    company_key VARCHAR NOT NULL,
    employee_number VARCHAR,
    source_ref VARCHAR,
    run_id INTEGER NOT NULL
);

-- Company cost per wage component and payroll period, as the payroll system reports it (a cost
-- is positive). The month a period belongs to is the month of its last day.
CREATE TABLE payroll_costs (
    entity_id INTEGER NOT NULL,
    line_key VARCHAR NOT NULL,           -- company|year|period|component (or the period's dates)
    company_key VARCHAR NOT NULL,
    payroll_year INTEGER,
    period INTEGER,
    period_start DATE,
    period_end DATE NOT NULL,
    component_code VARCHAR NOT NULL,
    component_name VARCHAR,
    amount DECIMAL(18,2) NOT NULL,
    currency VARCHAR,
    source_ref VARCHAR,
    run_id INTEGER NOT NULL
);

-- The GL entity (an imported ledger) whose accounts a payroll entity's components map onto and
-- whose postings its costs are reconciled with.
CREATE TABLE payroll_gl_links (
    entity_id INTEGER PRIMARY KEY,       -- the payroll entity
    gl_entity_id INTEGER NOT NULL,
    updated_by VARCHAR,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
);

-- The wage-component mapping of one payroll entity, replaced as a whole on "Save changes".
-- A component has one or more lines (one per statement/account it goes to), or one hidden line.
-- GL amount = sign * payroll amount (debit positive): a cost is +1 on a P&L account, the payable
-- -1 on a balance-sheet account.
CREATE TABLE payroll_component_map (
    entity_id INTEGER NOT NULL,
    component_code VARCHAR NOT NULL,
    line_no INTEGER NOT NULL,
    statement VARCHAR,                   -- 'pnl' | 'bs'; NULL on a hidden component
    account_code VARCHAR,                -- an account of the linked GL entity
    sign SMALLINT NOT NULL DEFAULT 1,
    hidden BOOLEAN NOT NULL DEFAULT FALSE,
    updated_by VARCHAR,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
);
