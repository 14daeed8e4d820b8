"""Organisations, sources and entities: the nouns imports hang from."""

from __future__ import annotations

import json
from typing import Any

import duckdb

from pipeline.db import rows_as_dicts
from pipeline.errors import ConfigError, NotFoundError

DEFAULT_ORGANISATION = "My organisation"
FILE_SOURCE = "File uploads"


def ensure_organisation(con: duckdb.DuckDBPyConnection, name: str, *, timezone: str | None = None) -> int:
    """The id of the organisation with this name, created when missing."""
    row = con.execute("SELECT id FROM organisations WHERE name = ?", [name]).fetchone()
    if row:
        return row[0]
    if timezone:
        return con.execute(
            "INSERT INTO organisations (name, timezone) VALUES (?, ?) RETURNING id", [name, timezone]
        ).fetchone()[0]
    return con.execute("INSERT INTO organisations (name) VALUES (?) RETURNING id", [name]).fetchone()[0]


def default_organisation(con: duckdb.DuckDBPyConnection) -> int:
    """The organisation new entities join when none is named: the only one, or the default one."""
    rows = con.execute("SELECT id FROM organisations ORDER BY id").fetchall()
    if len(rows) == 1:
        return rows[0][0]
    return ensure_organisation(con, DEFAULT_ORGANISATION)


def ensure_source(
    con: duckdb.DuckDBPyConnection,
    organisation_id: int,
    name: str,
    connector: str,
    config: dict[str, Any] | None = None,
) -> int:
    """The id of the organisation's source with this name, created when missing."""
    row = con.execute(
        "SELECT id FROM sources WHERE organisation_id = ? AND name = ?", [organisation_id, name]
    ).fetchone()
    if row:
        return row[0]
    return con.execute(
        "INSERT INTO sources (organisation_id, name, connector, config) VALUES (?, ?, ?, ?) RETURNING id",
        [organisation_id, name, connector, json.dumps(config or {})],
    ).fetchone()[0]


def ensure_entity(
    con: duckdb.DuckDBPyConnection,
    name: str,
    *,
    organisation_id: int | None = None,
    source_id: int | None = None,
    external_id: str | None = None,
    currency: str | None = None,
    fiscal_year_start_month: int = 1,
) -> int:
    """The id of the entity with this name, created (in the given or default organisation) when missing."""
    if not name or not name.strip():
        raise ConfigError("An entity needs a name.")
    found = find_entities(con, name)
    if organisation_id is not None:
        found = [e for e in found if e["organisation_id"] == organisation_id]
    if len(found) == 1:
        return found[0]["id"]
    if len(found) > 1:
        raise ConfigError(
            f"Several organisations have an entity named {name!r}.", guidance="Name the organisation."
        )
    org = organisation_id if organisation_id is not None else default_organisation(con)
    if source_id is None:
        source_id = ensure_source(con, org, FILE_SOURCE, "files")
    return con.execute(
        """INSERT INTO entities (organisation_id, source_id, name, external_id, currency, fiscal_year_start_month)
           VALUES (?, ?, ?, ?, ?, ?) RETURNING id""",
        [org, source_id, name.strip(), external_id, currency, fiscal_year_start_month],
    ).fetchone()[0]


def find_entities(con: duckdb.DuckDBPyConnection, name: str) -> list[dict]:
    return rows_as_dicts(con.execute("SELECT * FROM entities WHERE name = ? ORDER BY id", [name]))


def entity_by_name(con: duckdb.DuckDBPyConnection, name: str) -> dict:
    """The entity with this name; a clear error when there is none or several."""
    found = find_entities(con, name)
    if not found:
        known = [r[0] for r in con.execute("SELECT name FROM entities ORDER BY name LIMIT 20").fetchall()]
        hint = f" Known entities: {', '.join(known)}." if known else " There are no entities yet."
        raise NotFoundError(f"No entity named {name!r}.{hint}")
    if len(found) > 1:
        raise ConfigError(f"Several organisations have an entity named {name!r}.")
    return found[0]


def entity(con: duckdb.DuckDBPyConnection, entity_id: int) -> dict:
    rows = rows_as_dicts(con.execute("SELECT * FROM entities WHERE id = ?", [entity_id]))
    if not rows:
        raise NotFoundError(f"No entity with id {entity_id}.")
    return rows[0]


def source(con: duckdb.DuckDBPyConnection, source_id: int) -> dict:
    rows = rows_as_dicts(con.execute("SELECT * FROM sources WHERE id = ?", [source_id]))
    if not rows:
        raise NotFoundError(f"No source with id {source_id}.")
    return rows[0]


def list_entities(con: duckdb.DuckDBPyConnection, organisation_id: int | None = None) -> list[dict]:
    sql = """SELECT e.*, s.connector, s.name AS source_name, s.status AS source_status, o.name AS organisation
             FROM entities e LEFT JOIN sources s ON s.id = e.source_id JOIN organisations o ON o.id = e.organisation_id"""
    if organisation_id is None:
        return rows_as_dicts(con.execute(sql + " ORDER BY o.name, e.name"))
    return rows_as_dicts(con.execute(sql + " WHERE e.organisation_id = ? ORDER BY e.name", [organisation_id]))
