"""The audit log: who changed which structure or mapping, when, and what it was before and after."""

from __future__ import annotations

import getpass
import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import duckdb

from pipeline.db import rows_as_dicts


def default_actor() -> str:
    """Who is acting when no user is named: the OS user of a CLI session, else 'cli'."""
    try:
        return getpass.getuser() or "cli"
    except Exception:  # no passwd entry in some containers
        return "cli"


def _json(value: Any) -> str | None:
    if value is None:
        return None

    def default(v):
        if isinstance(v, Decimal):
            return f"{v:.2f}"
        if isinstance(v, datetime | date):
            return v.isoformat()
        if isinstance(v, set | tuple):
            return sorted(v) if isinstance(v, set) else list(v)
        return str(v)

    return json.dumps(value, default=default, ensure_ascii=False, sort_keys=True)


def record(
    con: duckdb.DuckDBPyConnection,
    action: str,
    object_type: str,
    object_id: str | int | None,
    *,
    before: Any = None,
    after: Any = None,
    actor: str | None = None,
) -> int:
    """Add one change to the audit log (in the caller's transaction) and return its id."""
    return con.execute(
        """INSERT INTO audit_log (actor, action, object_type, object_id, before, after)
           VALUES (?, ?, ?, ?, ?, ?) RETURNING id""",
        [
            actor or default_actor(),
            action,
            object_type,
            None if object_id is None else str(object_id),
            _json(before),
            _json(after),
        ],
    ).fetchone()[0]


def list_changes(
    con: duckdb.DuckDBPyConnection,
    *,
    object_type: str | None = None,
    object_id: str | int | None = None,
    actor: str | None = None,
    limit: int = 200,
) -> list[dict]:
    """Recorded changes, newest first; `before`/`after` decoded from JSON."""
    rows = rows_as_dicts(
        con.execute(
            """SELECT id, changed_at, actor, action, object_type, object_id, before, after FROM audit_log
               WHERE ($type IS NULL OR object_type = $type) AND ($id IS NULL OR object_id = $id)
                 AND ($actor IS NULL OR actor = $actor)
               ORDER BY id DESC LIMIT $limit""",
            {
                "type": object_type,
                "id": None if object_id is None else str(object_id),
                "actor": actor,
                "limit": limit,
            },
        )
    )
    for row in rows:
        for key in ("before", "after"):
            if isinstance(row[key], str):
                row[key] = json.loads(row[key])
    return rows
