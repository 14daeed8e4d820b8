-- Tokens for the CSV feed Excel reads with Data > Refresh All (issue 8). Excel's Power Query
-- cannot use the browser login, so each user creates tokens of their own: a token acts as its
-- user (same role, same entity limits) and only for reading the feed. Only a SHA-256 hash of the
-- token is stored; the token itself is shown once, when it is created.
CREATE SEQUENCE IF NOT EXISTS seq_feed_tokens START 1;

CREATE TABLE feed_tokens (
    id INTEGER PRIMARY KEY DEFAULT nextval('seq_feed_tokens'),
    login VARCHAR NOT NULL,              -- users.login, or 'local' in the single-owner mode
    label VARCHAR,                       -- what the user calls it, e.g. 'board pack laptop'
    token_hash VARCHAR NOT NULL UNIQUE,  -- hex SHA-256 of the token
    hint VARCHAR NOT NULL,               -- the token's first characters, to tell tokens apart
    created_by VARCHAR,
    created_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
    last_used_at TIMESTAMPTZ,
    revoked_at TIMESTAMPTZ
);
