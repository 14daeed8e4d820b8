"""Who may do what: users, their role per organisation, entity-level limits.

Four roles, per organisation:

- Owner: everything, including settings, users and deleting a source's data;
- Accountant: imports, sources, structures, mappings and payroll;
- Reporting: reports and exports of the entities it may see, and Sync now;
- Viewer: reads reports and import status, changes nothing.

A role may be limited to some entities of its organisation: the user then sees only those
entities (in lists, reports and group totals) and cannot change anything that is shared by the
whole organisation (sources, structures, settings), whatever the role.

An admin is an Owner of every organisation. The first user who signs in becomes admin, so a new
install is never locked out; the local single-owner mode (no login configured, a laptop install)
acts as an admin too. Every service the app calls checks here first (`require`), so hiding a
button is a courtesy, never the protection.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import duckdb

from pipeline import audit, entities
from pipeline.db import rows_as_dicts
from pipeline.errors import ConfigError, NotFoundError, PermissionDenied, RefusedError

ROLES = ("owner", "accountant", "reporting", "viewer")
ROLE_LABELS = {"owner": "Owner", "accountant": "Accountant", "reporting": "Reporting", "viewer": "Viewer"}

_ALL = frozenset(ROLES)
_EDITORS = frozenset({"owner", "accountant"})
# action -> the roles that may take it
ACTIONS: dict[str, frozenset[str]] = {
    "view": _ALL,
    "export": frozenset({"owner", "accountant", "reporting"}),
    "sync": frozenset({"owner", "accountant", "reporting"}),
    "upload": _EDITORS,
    "sources.edit": _EDITORS,
    "sources.delete_data": frozenset({"owner"}),
    "structure.edit": _EDITORS,
    "mapping.edit": _EDITORS,
    "payroll.view": _EDITORS,
    "settings.edit": frozenset({"owner"}),
    "users.manage": frozenset({"owner"}),
}
# Actions that change what every entity of the organisation shares: not for entity-limited roles.
ORGANISATION_WIDE = frozenset(
    {"sources.edit", "sources.delete_data", "structure.edit", "settings.edit", "users.manage"}
)
ACTION_TEXT = {
    "view": "see this",
    "export": "download reports",
    "sync": "start imports",
    "upload": "upload ledger files",
    "sources.edit": "change sources",
    "sources.delete_data": "delete a source's data",
    "structure.edit": "change reporting structures",
    "mapping.edit": "change mappings",
    "payroll.view": "see payroll",
    "settings.edit": "change the organisation's settings",
    "users.manage": "manage users and roles",
}
LOCAL_LOGIN = "local"


@dataclass(frozen=True)
class User:
    """The person using the app. `local` is the single-owner mode of a laptop install."""

    login: str
    name: str | None = None
    local: bool = False

    @property
    def label(self) -> str:
        return self.name or self.login


LOCAL_USER = User(LOCAL_LOGIN, "Local owner", local=True)


@dataclass
class Grants:
    """A user's standing: admin (Owner everywhere), else role and entity limit per organisation."""

    admin: bool = False
    roles: dict[int, tuple[str, frozenset[int] | None]] = field(default_factory=dict)

    def role(self, organisation_id: int) -> str | None:
        if self.admin:
            return "owner"
        found = self.roles.get(organisation_id)
        return found[0] if found else None

    def limit(self, organisation_id: int) -> frozenset[int] | None:
        """The entity ids the user is limited to in the organisation, or None for all of them."""
        if self.admin:
            return None
        found = self.roles.get(organisation_id)
        return found[1] if found else frozenset()


def normal_login(login: str) -> str:
    text = (login or "").strip().lower()
    if not text:
        raise ConfigError("A user needs an e-mail address (the login the identity provider confirms).")
    return text


def grants(con: duckdb.DuckDBPyConnection, user: User) -> Grants:
    """What the user holds, read fresh from the warehouse (roles change while people work)."""
    if user.local:
        return Grants(admin=True)
    row = con.execute(
        "SELECT id, admin, active FROM users WHERE login = ?", [normal_login(user.login)]
    ).fetchone()
    if row is None or not row[2]:
        return Grants()
    out = Grants(admin=bool(row[1]))
    for org, role, ids in con.execute(
        "SELECT organisation_id, role, entity_ids FROM user_roles WHERE user_id = ?", [row[0]]
    ).fetchall():
        out.roles[org] = (role, None if ids is None else frozenset(ids))
    return out


def _organisation_of(con, entity_id: int) -> int:
    return entities.entity(con, entity_id)["organisation_id"]


def allowed(
    con: duckdb.DuckDBPyConnection,
    user: User,
    action: str,
    organisation_id: int | None = None,
    entity_id: int | None = None,
) -> bool:
    """Whether `require` would pass."""
    try:
        require(con, user, action, organisation_id, entity_id)
    except PermissionDenied:
        return False
    return True


def require(
    con: duckdb.DuckDBPyConnection,
    user: User,
    action: str,
    organisation_id: int | None = None,
    entity_id: int | None = None,
) -> None:
    """Raise PermissionDenied unless the user may take `action`.

    With an entity: on that entity (its organisation follows). With an organisation only: on the
    organisation as a whole, which an entity-limited role never covers for organisation-wide
    actions. With neither: in at least one organisation (what the navigation needs to know).
    """
    if action not in ACTIONS:
        raise ConfigError(f"Unknown action {action!r}.")
    g = grants(con, user)
    if g.admin:
        return
    what = ACTION_TEXT[action]
    if entity_id is None and organisation_id is None:
        if any(
            role in ACTIONS[action] and (limit is None or action not in ORGANISATION_WIDE)
            for role, limit in g.roles.values()
        ):
            return
        raise PermissionDenied(
            f"{user.label} may not {what}.", guidance="Ask an Owner of the organisation for a role that may."
        )
    org = organisation_id if organisation_id is not None else _organisation_of(con, entity_id)
    if entity_id is not None and organisation_id is not None and _organisation_of(con, entity_id) != org:
        raise PermissionDenied(f"Entity {entity_id} is not in organisation {organisation_id}.")
    role = g.role(org)
    if role is None:
        raise PermissionDenied(
            f"{user.label} has no role in this organisation.",
            guidance="Ask one of its Owners to add you in Settings.",
        )
    if role not in ACTIONS[action]:
        raise PermissionDenied(
            f"A {ROLE_LABELS[role]} may not {what}.",
            guidance="Owners and Accountants can; ask one of them."
            if ACTIONS[action] == _EDITORS
            else "Ask an Owner of the organisation.",
        )
    limit = g.limit(org)
    if limit is None:
        return
    if entity_id is None:
        if action in ORGANISATION_WIDE:
            raise PermissionDenied(
                f"{user.label} may only work with some entities, so may not {what} for the whole organisation.",
                guidance="Ask an Owner to lift the entity limit.",
            )
        return
    if entity_id not in limit:
        raise PermissionDenied(
            f"{user.label} may not see this entity.", guidance="Ask an Owner to add it to your entities."
        )


def visible_organisations(con: duckdb.DuckDBPyConnection, user: User) -> list[dict]:
    """The organisations the user has a role in (every one for an admin), by name."""
    rows = rows_as_dicts(con.execute("SELECT id, name, timezone, active FROM organisations ORDER BY name"))
    g = grants(con, user)
    return [r for r in rows if g.role(r["id"]) is not None]


def visible_entity_ids(
    con: duckdb.DuckDBPyConnection, user: User, organisation_id: int | None = None
) -> list[int]:
    """The entities the user may see (in one organisation, or in all of theirs), by id."""
    g = grants(con, user)
    rows = con.execute(
        "SELECT id, organisation_id FROM entities WHERE ? IS NULL OR organisation_id = ? ORDER BY id",
        [organisation_id, organisation_id],
    ).fetchall()
    out = []
    for eid, org in rows:
        if g.role(org) is None:
            continue
        limit = g.limit(org)
        if limit is None or eid in limit:
            out.append(eid)
    return out


def role_in(con: duckdb.DuckDBPyConnection, user: User, organisation_id: int) -> str | None:
    """The user's role in the organisation (None when they have none)."""
    return grants(con, user).role(organisation_id)


# ---------------------------------------------------------------- users


def sign_in(con: duckdb.DuckDBPyConnection, login: str, name: str | None = None) -> User:
    """Record a sign-in confirmed by the identity provider; the very first user becomes admin."""
    key = normal_login(login)
    row = con.execute("SELECT id, name FROM users WHERE login = ?", [key]).fetchone()
    if row is None:
        first = con.execute("SELECT count(*) FROM users").fetchone()[0] == 0
        con.execute(
            "INSERT INTO users (login, name, admin, last_login_at) VALUES (?, ?, ?, current_timestamp)",
            [key, name, first],
        )
        if first:
            audit.record(con, "users.first_admin", "user", key, after={"admin": True}, actor=key)
    else:
        con.execute(
            "UPDATE users SET last_login_at = current_timestamp, name = coalesce(?, name) WHERE id = ?",
            [name, row[0]],
        )
    return User(key, name or (row[1] if row else None))


def list_users(con: duckdb.DuckDBPyConnection, organisation_id: int) -> list[dict]:
    """Users with a role in the organisation, and admins, with their entity limits by name."""
    rows = rows_as_dicts(
        con.execute(
            """SELECT u.id, u.login, u.name, u.admin, u.active, u.last_login_at, r.role, r.entity_ids,
                      r.granted_by, r.granted_at
               FROM users u LEFT JOIN user_roles r ON r.user_id = u.id AND r.organisation_id = ?
               WHERE u.admin OR r.role IS NOT NULL
               ORDER BY u.login""",
            [organisation_id],
        )
    )
    names = dict(
        con.execute("SELECT id, name FROM entities WHERE organisation_id = ?", [organisation_id]).fetchall()
    )
    for r in rows:
        if r["admin"]:
            r["role"] = "owner"
        ids = r.pop("entity_ids")
        r["entities"] = None if ids is None else [names.get(i, f"#{i}") for i in ids]
    return rows


def _owners(con, organisation_id: int) -> int:
    return con.execute(
        """SELECT count(*) FROM users u WHERE u.active AND (u.admin OR EXISTS (
               SELECT 1 FROM user_roles r WHERE r.user_id = u.id AND r.organisation_id = ? AND r.role = 'owner'
               AND r.entity_ids IS NULL))""",
        [organisation_id],
    ).fetchone()[0]


def _keep_an_owner(con, organisation_id: int, owners_before: int) -> None:
    """Refuse a change that leaves an organisation which had an Owner without one.

    (The caller's transaction rolls the change back; the local single-owner mode has no Owner
    rows at all, so there the rule does not apply.)
    """
    if owners_before and not _owners(con, organisation_id):
        raise RefusedError(
            "The organisation would be left without an Owner.", guidance="Make someone else Owner first."
        )


def set_role(
    con: duckdb.DuckDBPyConnection,
    actor: User,
    login: str,
    organisation_id: int,
    role: str,
    *,
    entity_ids: list[int] | None = None,
    name: str | None = None,
) -> dict[str, Any]:
    """Give a user (created when new) a role in the organisation, optionally limited to entities.

    Run it in a transaction: a refused change (the last Owner) is undone by rolling back.
    """
    require(con, actor, "users.manage", organisation_id)
    if role not in ROLES:
        raise ConfigError(f"Unknown role {role!r}; use one of {', '.join(ROLE_LABELS.values())}.")
    key = normal_login(login)
    if entity_ids is not None:
        ids = sorted({int(i) for i in entity_ids})
        if not ids:
            raise ConfigError("Choose at least one entity, or give access to every entity.")
        known = {
            r[0]
            for r in con.execute(
                "SELECT id FROM entities WHERE organisation_id = ?", [organisation_id]
            ).fetchall()
        }
        stray = [i for i in ids if i not in known]
        if stray:
            raise ConfigError(f"Entities {stray} are not in this organisation.")
        entity_ids = ids
    row = con.execute("SELECT id FROM users WHERE login = ?", [key]).fetchone()
    if row is None:
        user_id = con.execute(
            "INSERT INTO users (login, name) VALUES (?, ?) RETURNING id", [key, name]
        ).fetchone()[0]
    else:
        user_id = row[0]
    before = rows_as_dicts(
        con.execute(
            "SELECT role, entity_ids FROM user_roles WHERE user_id = ? AND organisation_id = ?",
            [user_id, organisation_id],
        )
    )
    owners = _owners(con, organisation_id)
    con.execute(
        "DELETE FROM user_roles WHERE user_id = ? AND organisation_id = ?", [user_id, organisation_id]
    )
    con.execute(
        """INSERT INTO user_roles (user_id, organisation_id, role, entity_ids, granted_by)
           VALUES (?, ?, ?, ?, ?)""",
        [user_id, organisation_id, role, entity_ids, actor.login],
    )
    _keep_an_owner(con, organisation_id, owners)
    after = {"role": role, "entity_ids": entity_ids, "organisation_id": organisation_id}
    audit.record(
        con,
        "users.set_role",
        "user",
        key,
        before=before[0] if before else None,
        after=after,
        actor=actor.login,
    )
    return {"login": key, **after}


def remove_role(con: duckdb.DuckDBPyConnection, actor: User, login: str, organisation_id: int) -> None:
    """Take the user's role in the organisation away (refused for the last Owner)."""
    require(con, actor, "users.manage", organisation_id)
    key = normal_login(login)
    row = con.execute("SELECT id FROM users WHERE login = ?", [key]).fetchone()
    if row is None:
        raise NotFoundError(f"No user {key!r}.")
    owners = _owners(con, organisation_id)
    removed = con.execute(
        "DELETE FROM user_roles WHERE user_id = ? AND organisation_id = ? RETURNING role",
        [row[0], organisation_id],
    ).fetchall()
    if not removed:
        raise NotFoundError(f"{key} has no role in this organisation.")
    _keep_an_owner(con, organisation_id, owners)
    audit.record(
        con,
        "users.remove_role",
        "user",
        key,
        before={"role": removed[0][0], "organisation_id": organisation_id},
        actor=actor.login,
    )
