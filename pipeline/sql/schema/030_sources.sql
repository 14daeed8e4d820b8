-- Connecting sources (issue 6). The sources table itself is in 001_core.sql: status is
-- available | attention (setup half-way) | failed (with status_message) | disconnected.

-- One row per OAuth connect attempt in flight: the `state` sent to the vendor comes back on the
-- redirect and says which source the authorization code is for. Used once, then deleted.
CREATE TABLE oauth_states (
    state VARCHAR PRIMARY KEY,
    source_id INTEGER NOT NULL,
    redirect_uri VARCHAR NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
);
