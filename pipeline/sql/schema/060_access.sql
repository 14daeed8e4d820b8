-- Users of the web app and their role per organisation (issue 4).
-- A user signs in with OIDC; `login` is the lower-cased e-mail the identity provider vouches for.
-- An admin is an Owner of every organisation, present and future (the first user to sign in
-- becomes one, so a fresh install is never locked out). The local single-owner mode (no [auth]
-- configured) acts as an admin without a row here.
CREATE SEQUENCE IF NOT EXISTS seq_users START 1;

CREATE TABLE users (
    id INTEGER PRIMARY KEY DEFAULT nextval('seq_users'),
    login VARCHAR NOT NULL UNIQUE,
    name VARCHAR,
    admin BOOLEAN NOT NULL DEFAULT FALSE,
    active BOOLEAN NOT NULL DEFAULT TRUE,
    created_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
    last_login_at TIMESTAMPTZ
);

-- One row per user and organisation (kept unique by pipeline.access, replaced as a whole).
-- entity_ids NULL: every entity of the organisation; otherwise only these entities, and no
-- organisation-wide changes (sources, structures, settings) whatever the role.
CREATE TABLE user_roles (
    user_id INTEGER NOT NULL,
    organisation_id INTEGER NOT NULL,
    role VARCHAR NOT NULL,               -- owner | accountant | reporting | viewer
    entity_ids INTEGER[],
    granted_by VARCHAR,
    granted_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
);
