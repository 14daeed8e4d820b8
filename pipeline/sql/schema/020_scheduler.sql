-- The scheduler sidecar's state. The app and the scheduler talk only through these tables and
-- import_runs; every decision (queue, claim, retry) is one short transaction on them.

-- Per organisation: when it imports, the manual-import rules, and the last slot already queued.
-- A missing row means the defaults below.
CREATE TABLE org_schedules (
    organisation_id INTEGER PRIMARY KEY,
    times VARCHAR NOT NULL DEFAULT '00:00,05:00',  -- local wall-clock times, when interval_minutes is NULL
    interval_minutes INTEGER,                      -- every N minutes from local midnight
    cooldown_minutes INTEGER NOT NULL DEFAULT 60,  -- after an entity's last successful import
    daily_manual_cap INTEGER NOT NULL DEFAULT 10,  -- manual imports per local day
    alert_after INTEGER NOT NULL DEFAULT 3,        -- consecutive failed imports before an entity is flagged
    last_slot_at TIMESTAMPTZ,                      -- the latest slot whose runs were queued
    updated_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
);

-- One row per run the scheduler is responsible for (scheduled, manual, reset, retries). Runs
-- queued elsewhere (an upload executed by the app itself) have no row and are never claimed.
CREATE SEQUENCE IF NOT EXISTS seq_scheduler_claims START 1;

CREATE TABLE scheduler_runs (
    run_id INTEGER PRIMARY KEY,
    entity_id INTEGER NOT NULL,
    organisation_id INTEGER NOT NULL,
    manual BOOLEAN NOT NULL DEFAULT FALSE,   -- counts towards the daily manual cap
    requested_by VARCHAR,                    -- the user, 'schedule' or 'cli'
    slot_at TIMESTAMPTZ,                     -- the schedule slot a scheduled run belongs to
    attempt INTEGER NOT NULL DEFAULT 1,
    retry_of INTEGER,                        -- the failed run this run retries
    retried_by INTEGER,                      -- the run that retries this one, once queued
    claim_seq BIGINT,                        -- the order in which workers took runs
    claimed_by VARCHAR,
    claimed_at TIMESTAMPTZ
);

-- A worker's hold on a run between taking it and finishing it: counts against the worker slots
-- and keeps every other run of the entity waiting. Removed when the run ends or the worker dies.
CREATE TABLE scheduler_claims (
    run_id INTEGER PRIMARY KEY,
    entity_id INTEGER NOT NULL,
    worker VARCHAR NOT NULL,                 -- host:pid:start-ticks of the worker process
    claimed_at TIMESTAMPTZ NOT NULL
);

-- Each scheduler process beats here every tick; the app reads it to say whether imports happen.
CREATE TABLE scheduler_heartbeats (
    scheduler VARCHAR PRIMARY KEY,           -- host:pid:start-ticks
    host VARCHAR NOT NULL,
    pid INTEGER NOT NULL,
    started_at TIMESTAMPTZ NOT NULL,
    beat_at TIMESTAMPTZ NOT NULL,
    stopped_at TIMESTAMPTZ,
    tick_seconds DOUBLE NOT NULL,
    slots INTEGER NOT NULL
);

-- Warehouse-wide scheduler settings (key 'worker_slots').
CREATE TABLE scheduler_settings (
    key VARCHAR PRIMARY KEY,
    value VARCHAR NOT NULL
);
