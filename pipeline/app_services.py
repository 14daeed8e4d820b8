"""The services the web pages call: one function per user action or view.

Every function takes the signed-in user first, checks `pipeline.access` before it reads or
changes anything, then calls the engine (sources, imports, manual, structure, mapping, reports,
scheduler). Pages stay thin (widgets in, one call here, render out) and the rules hold whatever
a page shows or hides. The warehouse is the one in $LEDGERLINE_DATA (set by `ledgerline serve`).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from dataclasses import asdict, replace
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from connectors import registry
from pipeline import (
    access,
    audit,
    db,
    entities,
    feed,
    imports,
    manual,
    mapping,
    payroll,
    reports,
    scheduler,
    sources,
    uploads,
    workbooks,
)
from pipeline import structure as structures
from pipeline.access import User
from pipeline.errors import AuthError, ConfigError, NotFoundError, RefusedError
from pipeline.schedules import format_local, latest_slot, zone
from pipeline.statements import STATEMENT_NAMES, Statement
from pipeline.trial_balance import trial_balance as _trial_balance

EXCLUDE = "__exclude__"
PAGE_SIZE = 9

# What a user can do about a failed import, by the error kind stored on the run.
WHAT_TO_DO: dict[str, tuple[str, str | None]] = {
    "auth": ("The source refused the credentials: reconnect it on the Sources page.", "sources"),
    "retriable": (
        "The provider could not be reached. The scheduler tries again; you can also use Sync now later.",
        None,
    ),
    "parse": ("The file could not be read. Fix it and upload it again; nothing was imported.", "upload"),
    "too_large": ("The file is over the upload limit. Export a shorter period and upload that.", "upload"),
    "interrupted": (
        "The import stopped before it finished; the previous figures were kept. Start it again.",
        None,
    ),
    "fatal": (
        "The source says this administration cannot be read (deleted, archived or no permission). "
        "Check it in the accounting software.",
        "sources",
    ),
    "config": (
        "Ledgerline's settings for this source are incomplete. Check them on the Sources page.",
        "sources",
    ),
    "not_found": (
        "Something the import needs no longer exists. Check the source on the Sources page.",
        "sources",
    ),
    "paused": ("The organisation is paused. Resume it in Settings to import again.", "settings"),
    "source": ("The source reported an error. Try again later, or check the source's status.", "sources"),
    "internal": (
        "An unexpected error; the previous figures were kept. Report it with the message above.",
        None,
    ),
}


def data_path() -> Path:
    """The data folder the app works on ($LEDGERLINE_DATA, else ./data)."""
    return db.data_dir(None)


def _connect(**kwargs):
    return db.connect(data_path(), **kwargs)


def _transaction():
    return db.transaction(data_path())


# ---------------------------------------------------------------- session


def sign_in(login: str, name: str | None = None) -> User:
    """The user the identity provider confirmed, recorded (the first one becomes admin)."""
    with _transaction() as con:
        return access.sign_in(con, login, name)


def data_version() -> tuple:
    """Changes whenever anything pages cache could change: a run ending, a config change."""
    with _connect() as con:
        return con.execute(
            """SELECT (SELECT max(id) FROM import_runs WHERE status IN ('succeeded', 'failed')),
                      (SELECT count(*) FROM import_runs WHERE status = 'waiting'),
                      (SELECT count(*) FROM import_runs WHERE status = 'running'),
                      (SELECT max(id) FROM audit_log),
                      (SELECT max(id) FROM entities), (SELECT max(id) FROM sources),
                      (SELECT max(id) FROM organisations), (SELECT count(*) FROM user_roles)"""
        ).fetchone()


def my_organisations(user: User) -> list[dict]:
    """The organisations the user has a role in, with that role."""
    with _connect() as con:
        out = access.visible_organisations(con, user)
        for org in out:
            org["role"] = access.role_in(con, user, org["id"])
        return out


def first_organisation(user: User) -> list[dict]:
    """For an admin on an empty warehouse: the default organisation, created so setup can start."""
    with _transaction() as con:
        if not access.grants(con, user).admin:
            return []
        if con.execute("SELECT count(*) FROM organisations").fetchone()[0] == 0:
            entities.ensure_organisation(con, entities.DEFAULT_ORGANISATION)
    return my_organisations(user)


def permissions(user: User, organisation_id: int | None) -> dict[str, bool]:
    """Every action's answer at once, for one organisation (or any, when None)."""
    with _connect() as con:
        return {a: access.allowed(con, user, a, organisation_id) for a in access.ACTIONS}


def my_entities(user: User, organisation_id: int | None = None) -> list[dict]:
    """The entities the user may see, with their source, whether files feed them, and currency."""
    with _connect() as con:
        ids = access.visible_entity_ids(con, user, organisation_id)
        rows = [r for r in entities.list_entities(con, organisation_id) if r["id"] in set(ids)]
    for r in rows:
        r["file_based"] = not scheduler.syncable(r.get("connector"))
        r.pop("info", None)
    return rows


def scheduler_state(user: User) -> dict[str, Any]:
    """Whether the scheduler sidecar runs (imports and Sync now wait for it)."""
    with _connect() as con:
        access.require(con, user, "view")
        return scheduler.scheduler_status(con).as_json()


# ---------------------------------------------------------------- entities and imports


def _cards_sql() -> str:
    return """
        WITH last AS (SELECT entity_id, max(id) AS id FROM import_runs WHERE list_contains($ids, entity_id)
                      GROUP BY entity_id),
             ok AS (SELECT entity_id, max(finished_at) AS at FROM import_runs
                    WHERE status = 'succeeded' AND list_contains($ids, entity_id) GROUP BY entity_id),
             tb AS (SELECT entity_id, sum(lines) AS lines, min(month) AS first_month, max(month) AS last_month
                    FROM rpt_trial_balance WHERE kind = 'movement' AND list_contains($ids, entity_id)
                    GROUP BY entity_id)
        SELECT e.id, e.name, e.currency, e.active, e.organisation_id, o.name AS organisation, o.timezone,
               s.id AS source_id, s.name AS source, s.connector, s.status AS source_status,
               r.id AS run_id, r.status, r.trigger, r.queued_at, r.started_at, r.finished_at, r.error_kind,
               r.error_message, r.inserted, r.updated, r.deleted, r.rows_read, r.file_name, r.problem_count,
               ok.at AS last_success_at, coalesce(tb.lines, 0) AS lines, tb.first_month, tb.last_month
        FROM entities e JOIN organisations o ON o.id = e.organisation_id
        LEFT JOIN sources s ON s.id = e.source_id
        LEFT JOIN last ON last.entity_id = e.id LEFT JOIN import_runs r ON r.id = last.id
        LEFT JOIN ok ON ok.entity_id = e.id LEFT JOIN tb ON tb.entity_id = e.id
        WHERE list_contains($ids, e.id)
        ORDER BY o.name, e.name"""


def entity_cards(
    user: User,
    organisation_id: int | None = None,
    *,
    search: str = "",
    status: str | None = None,
    page: int = 1,
) -> dict[str, Any]:
    """Entity cards for the Entities page, a page at a time, with counts per status.

    Each card: latest run (status, trigger, times, counts, error with what to do), the last
    successful import, whether files feed it, and whether Sync now is possible now (and if not,
    why and when again). `status` filters on the latest run's status ('never' for none).
    """
    with _connect() as con:
        ids = access.visible_entity_ids(con, user, organisation_id)
        rows = db.rows_as_dicts(con.execute(_cards_sql(), {"ids": ids})) if ids else []
        counts = {"all": len(rows), "succeeded": 0, "failed": 0, "running": 0, "waiting": 0, "never": 0}
        for r in rows:
            counts[r["status"] or "never"] = counts.get(r["status"] or "never", 0) + 1
        if search.strip():
            needle = search.strip().lower()
            rows = [r for r in rows if needle in r["name"].lower() or needle in (r["source"] or "").lower()]
        if status:
            rows = [r for r in rows if (r["status"] or "never") == status]
        pages = max(1, -(-len(rows) // PAGE_SIZE))
        page = min(max(1, page), pages)
        shown = rows[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
        for r in shown:
            r["file_based"] = not scheduler.syncable(r["connector"])
            r["connector_label"] = _connector_label(r["connector"])
            r["may_sync"] = access.allowed(con, user, "sync", entity_id=r["id"])
            r["may_upload"] = access.allowed(con, user, "upload", entity_id=r["id"])
            r["what_to_do"], r["fix_page"] = (
                WHAT_TO_DO.get(r["error_kind"] or "", WHAT_TO_DO["source"])
                if r["status"] == "failed"
                else (None, None)
            )
            r["sync"] = None
            if not r["file_based"] and r["may_sync"]:
                check = manual.check_manual_import(con, r["id"])
                r["sync"] = check.as_json()
                r["sync"]["possible_at"] = check.possible_at
                r["sync"]["short"] = _sync_text(check, r["timezone"])
            if r["status"] == "waiting":
                r["queue_position"] = scheduler.queue_position(con, r["run_id"])
        return {"cards": shown, "counts": counts, "page": page, "pages": pages, "matching": len(rows)}


def _sync_text(check: manual.ManualCheck, timezone: str) -> str:
    """Why Sync now is not offered, in one line: 'Sync now possible again at 11:53 (Europe/Brussels)'."""
    if check.allowed:
        return check.message
    when = format_local(check.possible_at, zone(timezone), datetime.now(UTC)) if check.possible_at else None
    if check.reason == "cooldown" and when:
        return f"Sync now possible again at {when}."
    if check.reason == "daily_cap" and when:
        return f"The {check.daily_cap} manual imports of today are used; Sync now possible again at {when}."
    return check.message


def _connector_label(name: str | None) -> str:
    if name == "files":
        return "File uploads"
    try:
        return registry.get(name).label
    except ConfigError:
        return name or "no source"


def busy(user: User, organisation_id: int | None = None) -> bool:
    """Whether a run of a visible entity is waiting or in progress (the page then refreshes itself)."""
    with _connect() as con:
        ids = access.visible_entity_ids(con, user, organisation_id)
        if not ids:
            return False
        return bool(
            con.execute(
                "SELECT count(*) FROM import_runs WHERE status IN ('waiting', 'running') AND list_contains(?, entity_id)",
                [ids],
            ).fetchone()[0]
        )


def entity_history(user: User, entity_id: int, limit: int = 20) -> list[dict]:
    """The entity's import runs, newest first: status, trigger, duration and counts."""
    with _connect() as con:
        access.require(con, user, "view", entity_id=entity_id)
        return imports.list_runs(con, entity_id=entity_id, limit=limit)


def run_problems(user: User, run_id: int) -> list[dict]:
    """The data problems a run recorded (unbalanced entries, odd lines)."""
    with _connect() as con:
        row = con.execute("SELECT entity_id FROM import_runs WHERE id = ?", [run_id]).fetchone()
        if row is None:
            raise NotFoundError(f"No import run {run_id}.")
        access.require(con, user, "view", entity_id=row[0])
        return imports.run_problems(con, run_id)


def sync_now(user: User, entity_id: int) -> dict[str, Any]:
    """Sync now: queue a manual import (the scheduler runs it). Raises ImportRefused with when."""
    with _connect() as con:
        access.require(con, user, "sync", entity_id=entity_id)
    queued = manual.request_manual_import(data_path(), entity_id, actor=user.login)
    return queued.as_json()


# ---------------------------------------------------------------- sources


def _source_org(con, source_id: int) -> int:
    row = con.execute("SELECT organisation_id FROM sources WHERE id = ?", [source_id]).fetchone()
    if row is None:
        raise NotFoundError(f"No source with id {source_id}.")
    return row[0]


def _require_source(user: User, source_id: int, action: str = "sources.edit") -> None:
    with _connect() as con:
        access.require(con, user, action, _source_org(con, source_id))


def connector_catalog(user: User) -> list[dict]:
    """Every kind of source: API connectors (with their setup form) and file formats, with what
    each can and cannot provide and whether it is beta."""
    with _connect() as con:
        access.require(con, user, "view")
    out = [{**c, "kind": "api"} for c in sources.connector_catalog()]
    for cls in registry.REGISTRY:
        if cls.kind == "file":
            out.append(
                {
                    "name": cls.name,
                    "label": cls.label,
                    "beta": cls.beta,
                    "oauth": False,
                    "fields": [],
                    "capabilities": asdict(cls.capabilities),
                    "kind": "file",
                }
            )
    return out


def list_sources(user: User, organisation_id: int | None = None) -> list[dict]:
    """Connected API sources of the user's organisations, with status, entities and last run."""
    with _connect() as con:
        orgs = {o["id"] for o in access.visible_organisations(con, user)}
    return [s for s in sources.list_sources(data_path(), organisation_id) if s["organisation_id"] in orgs]


def other_sources(user: User, organisation_id: int | None = None) -> list[dict]:
    """Sources that are not API connections: file uploads and the demo generator, with entity counts."""
    with _connect() as con:
        orgs = {o["id"] for o in access.visible_organisations(con, user)}
        api = sorted(sources.api_connector_names())
        rows = db.rows_as_dicts(
            con.execute(
                """SELECT s.id, s.name, s.connector, s.organisation_id, o.name AS organisation, s.status,
                          (SELECT count(*) FROM entities e WHERE e.source_id = s.id) AS entities,
                          (SELECT max(r.finished_at) FROM import_runs r JOIN entities e ON e.id = r.entity_id
                           WHERE e.source_id = s.id AND r.status = 'succeeded') AS last_success_at
                   FROM sources s JOIN organisations o ON o.id = s.organisation_id
                   WHERE NOT list_contains(?, s.connector) AND (? IS NULL OR s.organisation_id = ?)
                   ORDER BY o.name, s.name""",
                [api, organisation_id, organisation_id],
            )
        )
    for r in rows:
        r["label"] = _connector_label(r["connector"])
        r["file_based"] = not scheduler.syncable(r["connector"])
    return [r for r in rows if r["organisation_id"] in orgs]


def add_source(
    user: User, connector: str, name: str, settings: dict[str, Any], organisation_id: int
) -> dict[str, Any]:
    """Add an API source from the form; it starts as 'Requires attention' until connected."""
    with _connect() as con:
        access.require(con, user, "sources.edit", organisation_id)
        org = con.execute("SELECT name FROM organisations WHERE id = ?", [organisation_id]).fetchone()
    if org is None:
        raise NotFoundError(f"No organisation with id {organisation_id}.")
    return sources.add_source(
        data_path(), connector, name=name, settings=settings, organisation=org[0], actor=user.login
    )


def connect_token_source(
    user: User, connector: str, name: str, settings: dict[str, Any], organisation_id: int
) -> dict[str, Any]:
    """Add a token source and test it at once: {"source", "check"}.

    Credentials the vendor refuses leave nothing behind (the new source is removed, the error is
    raised for the form to show); a vendor-side setup that is not finished keeps the source as
    'Requires attention' so the user can resume once it is fixed.
    """
    added = add_source(user, connector, name, settings, organisation_id)
    try:
        check = sources.check_connection(data_path(), added["id"])
    except Exception:
        _remove_new_source(user, added["id"])
        raise
    if not check["ok"] and check["status"] == "failed":
        _remove_new_source(user, added["id"])
        raise AuthError(
            check["message"] or "The credentials were refused.",
            guidance="Check the values and try again; nothing was saved.",
        )
    return {"source": sources.get_source(data_path(), added["id"]), "check": check}


def _remove_new_source(user: User, source_id: int) -> None:
    """Take back a source added a moment ago that never imported anything."""
    with _transaction() as con:
        used = con.execute(
            "SELECT (SELECT count(*) FROM entities WHERE source_id = ?) + (SELECT count(*) FROM import_runs WHERE source_id = ?)",
            [source_id, source_id],
        ).fetchone()[0]
        if used:
            return
        con.execute("DELETE FROM oauth_states WHERE source_id = ?", [source_id])
        con.execute("DELETE FROM sources WHERE id = ?", [source_id])
        audit.record(con, "remove_unconnected", "source", source_id, actor=user.login)


def check_connection(user: User, source_id: int) -> dict[str, Any]:
    """Test the stored credentials; the source's status follows the answer."""
    _require_source(user, source_id)
    return sources.check_connection(data_path(), source_id)


def available_entities(user: User, source_id: int) -> list[dict]:
    """The administrations the credentials can see, marked when selected for import."""
    _require_source(user, source_id)
    return sources.available_entities(data_path(), source_id)


def select_entities(user: User, source_id: int, external_ids: list[str]) -> list[dict]:
    """Import exactly these administrations of the source."""
    _require_source(user, source_id)
    return sources.select_entities(data_path(), source_id, external_ids, actor=user.login)


def update_credentials(user: User, source_id: int, settings: dict[str, Any]) -> dict[str, Any]:
    """Reconnect with new credentials and test them."""
    _require_source(user, source_id)
    return sources.update_credentials(data_path(), source_id, settings, actor=user.login)


def connect_url(user: User, source_id: int, redirect_uri: str | None = None) -> str:
    """The vendor sign-in URL of an OAuth source (the vendor redirects back to the Sources page)."""
    _require_source(user, source_id)
    return sources.connect_url(data_path(), source_id, redirect_uri=redirect_uri)


def complete_oauth(user: User, *, state: str | None, code: str | None, error: str | None = None) -> dict:
    """Finish signing in at the vendor with the code it redirected back with."""
    with _connect() as con:
        row = con.execute("SELECT source_id FROM oauth_states WHERE state = ?", [state or ""]).fetchone()
        if row is not None:
            access.require(con, user, "sources.edit", _source_org(con, row[0]))
    return sources.complete_oauth(data_path(), state=state, code=code, error=error)


def disconnect(user: User, source_id: int) -> dict[str, Any]:
    """Stop importing from the source; its data stays, read-only and marked disconnected."""
    _require_source(user, source_id)
    return sources.disconnect(data_path(), source_id, actor=user.login)


def delete_source_data(user: User, source_id: int, confirm: str) -> dict[str, int]:
    """Delete what a disconnected source imported; `confirm` must be the source's name."""
    _require_source(user, source_id, "sources.delete_data")
    return sources.delete_source_data(data_path(), source_id, confirm=confirm, actor=user.login)


def source_runs(user: User, source_id: int, limit: int = 20) -> list[dict]:
    """The source's import history with API calls and quota."""
    with _connect() as con:
        access.require(con, user, "view", _source_org(con, source_id))
    return sources.source_runs(data_path(), source_id, limit=limit)


def start_import(user: User, source_id: int) -> list[dict]:
    """Start import: a manual import of every entity the source feeds; one result per entity."""
    with _connect() as con:
        org = _source_org(con, source_id)
        access.require(con, user, "sync", org)
        visible = set(access.visible_entity_ids(con, user, org))
        ids = [
            r[0]
            for r in con.execute(
                "SELECT id FROM entities WHERE source_id = ? AND active ORDER BY name", [source_id]
            ).fetchall()
            if r[0] in visible
        ]
        names = dict(con.execute("SELECT id, name FROM entities WHERE source_id = ?", [source_id]).fetchall())
    if not ids:
        raise RefusedError(
            "The source has no entity selected for import.", guidance="Choose its entities first."
        )
    out = []
    for eid in ids:
        try:
            queued = manual.request_manual_import(data_path(), eid, actor=user.login)
            out.append({"entity": names[eid], "ok": True, **queued.as_json()})
        except RefusedError as exc:
            out.append({"entity": names[eid], "ok": False, "message": exc.user_message()})
    return out


# ---------------------------------------------------------------- uploads


def save_upload(user: User, file_name: str, content: bytes) -> str:
    """Keep the uploaded bytes in the data folder; returns where."""
    with _connect() as con:
        access.require(con, user, "upload")
    return str(uploads.save_upload(data_path(), file_name, content))


def detect_upload(user: User, path: str) -> uploads.Detection:
    """Format, preset (and how sure), and the columns of a CSV/Excel file."""
    with _connect() as con:
        access.require(con, user, "upload")
    return uploads.detect(path)


def check_upload(
    user: User, path: str, *, fmt: str, preset: str | None = None, options: dict[str, Any] | None = None
) -> uploads.FileCheck:
    """The whole file read and validated as an import would, nothing written."""
    with _connect() as con:
        access.require(con, user, "upload")
    return uploads.check_file(path, fmt=fmt, preset=preset, options=options)


def import_upload(
    user: User,
    path: str,
    entity_name: str,
    *,
    organisation_id: int,
    fmt: str,
    preset: str | None = None,
    options: dict[str, Any] | None = None,
    progress: Callable[[str, float], None] | None = None,
) -> imports.RunResult:
    """Import the checked file for an entity (created in the organisation when new), as one run."""
    name = (entity_name or "").strip()
    if not name:
        raise ConfigError("Name the entity the file belongs to.")
    with _connect() as con:
        found = con.execute(
            "SELECT id FROM entities WHERE organisation_id = ? AND name = ?", [organisation_id, name]
        ).fetchone()
        if found:
            access.require(con, user, "upload", entity_id=found[0])
            src = con.execute(
                "SELECT s.connector FROM entities e JOIN sources s ON s.id = e.source_id WHERE e.id = ?",
                [found[0]],
            ).fetchone()
            if src and scheduler.syncable(src[0]):
                raise RefusedError(
                    f"{name} is imported from {_connector_label(src[0])}; a file would mix two sources.",
                    guidance="Upload the file as a new entity, or use Sync now for this one.",
                )
        else:
            access.require(con, user, "upload", organisation_id)
        org = con.execute("SELECT name FROM organisations WHERE id = ?", [organisation_id]).fetchone()
    return imports.import_file(
        data_path(),
        path,
        name,
        fmt=fmt,
        preset=preset,
        options=options,
        organisation=org[0],
        progress=progress,
    )


# ---------------------------------------------------------------- structures


def _structure(con, user: User, structure_id: int, action: str = "view") -> structures.Structure:
    struct = structures.structure_by_id(con, structure_id)
    access.require(con, user, action, struct.organisation_id)
    return struct


def _require_editable(con, user: User, organisation_id: int) -> None:
    access.require(con, user, "structure.edit", organisation_id)
    locked = manual.structures_locked(con, organisation_id)
    if locked:
        raise RefusedError(locked)


def list_structures(user: User, organisation_id: int) -> list[dict]:
    """The organisation's structures with line and rule counts (the default first)."""
    with _connect() as con:
        access.require(con, user, "view", organisation_id)
        rows = structures.list_structures(con, organisation_id)
    return sorted(rows, key=lambda r: (not r["is_default"], r["name"]))


def get_structure(user: User, structure_id: int) -> structures.Structure:
    """One structure with its lines in display order."""
    with _connect() as con:
        return _structure(con, user, structure_id)


def structure_templates() -> list[dict]:
    """The shipped templates a new structure can start from."""
    return [{"key": key, "name": structures.load_template(key).name} for key in structures.TEMPLATES]


def create_structure_from_template(user: User, organisation_id: int, template: str, name: str) -> int:
    """A new structure copied from a template; returns its id."""
    with _transaction() as con:
        _require_editable(con, user, organisation_id)
        return structures.create_from_template(
            con, template, organisation_id=organisation_id, name=name.strip() or None, actor=user.login
        ).id


def duplicate_structure(user: User, structure_id: int, new_name: str, *, with_rules: bool = True) -> int:
    """Copy a structure (and its mapping rules) under a new name; returns the copy's id."""
    with _transaction() as con:
        struct = _structure(con, user, structure_id)
        _require_editable(con, user, struct.organisation_id)
        if not new_name.strip():
            raise ConfigError("Name the copy.")
        return structures.duplicate_structure(
            con,
            struct.name,
            new_name.strip(),
            organisation_id=struct.organisation_id,
            with_rules=with_rules,
            actor=user.login,
        ).id


def set_default_structure(user: User, structure_id: int) -> None:
    """Make the structure the one reports and mappings use by default."""
    with _transaction() as con:
        struct = _structure(con, user, structure_id)
        _require_editable(con, user, struct.organisation_id)
        structures.set_default(con, struct.name, organisation_id=struct.organisation_id, actor=user.login)


def delete_structure(user: User, structure_id: int, confirm: str) -> None:
    """Delete a structure with its rules; `confirm` must be its name."""
    with _transaction() as con:
        struct = _structure(con, user, structure_id)
        _require_editable(con, user, struct.organisation_id)
        if confirm.strip() != struct.name:
            raise RefusedError(f"Type the structure's name ({struct.name!r}) to confirm deleting it.")
        if struct.is_default:
            raise RefusedError(
                "The default structure cannot be deleted.", guidance="Make another one default first."
            )
        structures.delete_structure(
            con, struct.name, organisation_id=struct.organisation_id, actor=user.login
        )


def _edit_lines(
    user: User, structure_id: int, change: Callable[[list[structures.Line]], list[structures.Line]]
):
    with _transaction() as con:
        struct = _structure(con, user, structure_id)
        _require_editable(con, user, struct.organisation_id)
        lines = change([replace(line) for line in struct.lines])
        updated = structures.Structure(
            name=struct.name,
            lines=lines,
            id=struct.id,
            organisation_id=struct.organisation_id,
            description=struct.description,
            template=struct.template,
            is_default=struct.is_default,
        )
        return structures.save_structure(con, updated, actor=user.login)


def _find(lines: list[structures.Line], code: str) -> structures.Line:
    for line in lines:
        if line.code == code:
            return line
    raise NotFoundError(f"The structure has no line {code!r}.")


def add_structure_line(
    user: User,
    structure_id: int,
    *,
    statement: str,
    code: str,
    name: str,
    kind: str,
    parent: str | None = None,
    formula: str | None = None,
) -> structures.Structure:
    """Add a line (a group, a mapped line or a formula line) at the end of its parent."""
    if statement not in structures.STATEMENTS:
        raise ConfigError(f"Unknown statement {statement!r}.")
    if kind not in ("group", "mapped", "formula"):
        raise ConfigError("A new line is a group, a mapped line or a formula line.")

    def change(lines):
        sign = structures.DEFAULT_SIGN[statement]
        if parent:
            sign = _find(lines, parent).sign
        new = structures.Line(
            statement=statement,
            code=code.strip(),
            name=name.strip() or code.strip(),
            kind=kind,
            parent=parent or None,
            sign=sign,
            formula=((formula or "").strip() or None) if kind == "formula" else None,
        )
        return [*lines, new]

    return _edit_lines(user, structure_id, change)


def rename_structure_line(user: User, structure_id: int, code: str, name: str) -> structures.Structure:
    """Give a line a new name (its code, which rules and formulas use, stays)."""
    if not name.strip():
        raise ConfigError("A line needs a name.")

    def change(lines):
        _find(lines, code).name = name.strip()
        return lines

    return _edit_lines(user, structure_id, change)


def set_structure_formula(user: User, structure_id: int, code: str, formula: str) -> structures.Structure:
    """Change a formula line's formula (checked before it is saved)."""

    def change(lines):
        line = _find(lines, code)
        if line.kind != "formula":
            raise ConfigError(f"{line.name} is a {line.kind} line, not a formula line.")
        line.formula = formula.strip()
        return lines

    return _edit_lines(user, structure_id, change)


def move_structure_line(
    user: User, structure_id: int, code: str, *, direction: str | None = None, parent: str | None = "<keep>"
) -> structures.Structure:
    """Move a line up or down among its siblings, or under another group (to its end)."""

    def change(lines):
        line = _find(lines, code)
        if parent != "<keep>" and (parent or None) != line.parent:
            target = _find(lines, parent) if parent else None
            if target is not None:
                probe: structures.Line | None = target
                while probe is not None:
                    if probe.code == line.code:
                        raise RefusedError(f"{line.name} cannot move under its own sub-line {target.name}.")
                    probe = next((x for x in lines if x.code == probe.parent), None) if probe.parent else None
            line.parent = parent or None
            lines = [x for x in lines if x is not line] + [line]
        if direction in ("up", "down"):
            siblings = [x for x in lines if x.statement == line.statement and x.parent == line.parent]
            at = siblings.index(line)
            other_at = at - 1 if direction == "up" else at + 1
            if 0 <= other_at < len(siblings):
                other = siblings[other_at]
                i, j = lines.index(line), lines.index(other)
                lines[i], lines[j] = lines[j], lines[i]
        return lines

    return _edit_lines(user, structure_id, change)


def delete_structure_line(user: User, structure_id: int, code: str) -> structures.Structure:
    """Delete a line without sub-lines (refused while rules or formulas still use it)."""

    def change(lines):
        line = _find(lines, code)
        kids = [x for x in lines if x.parent == code]
        if kids:
            raise RefusedError(
                f"{line.name} still has {len(kids)} sub-line(s).", guidance="Move or delete them first."
            )
        return [x for x in lines if x is not line]

    return _edit_lines(user, structure_id, change)


# ---------------------------------------------------------------- mapping


def _mapping_target(con, user: User, entity_id: int, structure_id: int | None, action: str = "view"):
    access.require(con, user, action, entity_id=entity_id)
    ent = entities.entity(con, entity_id)
    if structure_id is None:
        struct = structures.resolve_structure(con, None, entity_id=entity_id)
    else:
        struct = structures.structure_by_id(con, structure_id)
        if struct.organisation_id != ent["organisation_id"]:
            raise ConfigError(
                f"Structure {struct.name!r} belongs to another organisation than {ent['name']}."
            )
    return ent, struct


def mapping_grid(user: User, entity_id: int, structure_id: int | None = None) -> dict[str, Any]:
    """Every account of the entity with its current line, amounts, and the lines it can go to.

    Unmapped and conflicting accounts come first. `lines`: (code, label, statement) of every
    mapped line of the P&L and balance sheet.
    """
    with _transaction() as con:
        ent, struct = _mapping_target(con, user, entity_id, structure_id)
        mapping.ensure_fresh(con, struct, [entity_id])
        rows = db.rows_as_dicts(
            con.execute(
                """WITH tb AS (
                       SELECT account_code, sum(net) FILTER (WHERE kind = 'movement') AS movement,
                              sum(net) AS balance, sum(lines) FILTER (WHERE kind = 'movement') AS lines
                       FROM rpt_trial_balance WHERE entity_id = $e GROUP BY account_code)
                   SELECT a.code, a.name, a.account_type, a.category, a.standard_code,
                          coalesce(m.status, 'unmapped') AS status, m.line_code, m.rule_id, coalesce(m.has_axis, FALSE) AS has_axis,
                          coalesce(tb.movement, 0)::DECIMAL(18,2) AS movement,
                          coalesce(tb.balance, 0)::DECIMAL(18,2) AS balance, coalesce(tb.lines, 0) AS lines
                   FROM accounts a
                   LEFT JOIN map_accounts m ON m.structure_id = $s AND m.entity_id = a.entity_id AND m.account_code = a.code
                   LEFT JOIN tb ON tb.account_code = a.code
                   WHERE a.entity_id = $e
                   ORDER BY coalesce(m.status, 'unmapped') NOT IN ('unmapped', 'conflict'), a.code""",
                {"e": entity_id, "s": struct.id},
            )
        )
    lines = [(ln.code, ln.name, ln.statement) for ln in struct.mappable()]
    names = {ln.code: ln.name for ln in struct.lines}
    for r in rows:
        if r["status"] in ("unmapped", "conflict"):
            r["line"] = None
        elif r["status"] == "excluded":
            r["line"] = EXCLUDE
        else:
            r["line"] = r["line_code"]
        r["line_name"] = names.get(r["line_code"] or "", r["line_code"])
    return {
        "entity": ent["name"],
        "structure": struct.name,
        "structure_id": struct.id,
        "lines": lines,
        "rows": rows,
        "unmapped": sum(1 for r in rows if r["status"] in ("unmapped", "conflict")),
    }


def mapping_suggestions(
    user: User, entity_id: int, structure_id: int | None = None, limit: int = 3
) -> list[dict]:
    """Ranked suggestions with reasons for each unmapped account of the entity."""
    from pipeline import suggest

    with _transaction() as con:
        ent, struct = _mapping_target(con, user, entity_id, structure_id)
        found = suggest.suggest(con, ent["name"], struct.name, limit=limit)
    return [{**a.as_json(), "movement": a.movement} for a in found]


def _current_rules(con, struct, entity_id: int) -> dict[str, int]:
    """The entity's own one-account rules without cost centre or project: account -> rule id."""
    return {
        r[0]: r[1]
        for r in con.execute(
            """SELECT account_from, max(id) FROM mapping_rules
               WHERE structure_id = ? AND entity_id = ? AND account_from = account_to AND axis IS NULL
               GROUP BY account_from""",
            [struct.id, entity_id],
        ).fetchall()
    }


def _apply_choices(con, user: User, struct, ent: dict, choices: dict[str, str | None]) -> dict[str, int]:
    """Make each chosen account land on its line through the entity's own one-account rule."""
    own = _current_rules(con, struct, ent["id"])
    current = mapping.account_lines(con, struct, ent["id"])
    known = {
        r[0] for r in con.execute("SELECT code FROM accounts WHERE entity_id = ?", [ent["id"]]).fetchall()
    }
    added, changed, removed = [], 0, 0
    for account, line in sorted(choices.items()):
        if account not in known:
            raise NotFoundError(f"{ent['name']} has no account {account!r}.")
        now = current.get(account, {})
        same = (line == EXCLUDE and now.get("status") == "excluded") or (
            line not in (None, EXCLUDE) and now.get("status") == "mapped" and now.get("line_code") == line
        )
        if same:
            continue
        exclude = line == EXCLUDE
        if line is None:
            if account in own:
                mapping.delete_rule(con, own[account], actor=user.login)
                removed += 1
            continue
        if account in own:
            mapping.update_rule(
                con, own[account], actor=user.login, line=None if exclude else line, exclude=exclude
            )
            changed += 1
        else:
            added.append(
                mapping.Rule(
                    account,
                    account,
                    None if exclude else line,
                    exclude=exclude,
                    entity=ent["name"],
                    note="mapping grid",
                )
            )
    if added:
        mapping.add_rules(con, struct, added, actor=user.login, action="mapping.grid")
    return {"added": len(added), "changed": changed, "removed": removed}


def _totals(con, ent: dict, struct) -> dict[tuple[str, str], tuple[str, Decimal | None]]:
    out = {}
    for kind in structures.STATEMENTS:
        report = reports.statement(con, kind, entity=ent["name"], structure=struct.name, by="year")
        for line in report.lines:
            out[(kind, line.code)] = (line.name, line.total)
    return out


def preview_mapping(
    user: User, entity_id: int, structure_id: int | None, choices: dict[str, str | None]
) -> list[dict]:
    """How each statement total would change if the choices were saved; nothing is saved."""
    if not choices:
        return []
    with _connect() as con:
        ent, struct = _mapping_target(con, user, entity_id, structure_id, "mapping.edit")
        mapping.ensure_fresh(con, struct, [entity_id])
        before = _totals(con, ent, struct)
        con.execute("BEGIN TRANSACTION")
        try:
            _apply_choices(con, user, struct, ent, choices)
            after = _totals(con, ent, struct)
        finally:
            con.execute("ROLLBACK")
    out = []
    for key, (name, value) in after.items():
        old = before.get(key, (name, None))[1]
        if old != value:
            out.append(
                {
                    "statement": STATEMENT_NAMES[key[0]],
                    "code": key[1],
                    "line": name,
                    "before": old,
                    "after": value,
                    "change": None if old is None or value is None else value - old,
                }
            )
    return out


def save_mapping(
    user: User, entity_id: int, structure_id: int | None, choices: dict[str, str | None]
) -> dict[str, int]:
    """Save the grid's changes (one rule per account for this entity) in one transaction, audited."""
    with _transaction() as con:
        ent, struct = _mapping_target(con, user, entity_id, structure_id, "mapping.edit")
        locked = manual.structures_locked(con, ent["organisation_id"])
        if locked:
            raise RefusedError(locked)
        return _apply_choices(con, user, struct, ent, choices)


def unmapped_badge(user: User) -> int:
    """Unmapped (or conflicting) accounts of the visible entities on their organisation's default
    structure: the badge on the Mapping page in the navigation."""
    with _connect() as con:
        total = 0
        for org in access.visible_organisations(con, user):
            ids = access.visible_entity_ids(con, user, org["id"])
            if not ids:
                continue
            try:
                struct = structures.resolve_structure(con, None, organisation_id=org["id"], create=False)
            except NotFoundError:
                continue
            total += con.execute(
                """SELECT count(*) FROM map_accounts WHERE structure_id = ? AND status IN ('unmapped', 'conflict')
                   AND list_contains(?, entity_id)""",
                [struct.id, ids],
            ).fetchone()[0]
        return total


# ---------------------------------------------------------------- reports


def _scope_kwargs(con, user: User, organisation_id: int, entity_id: int | None) -> dict[str, Any]:
    """The reports.* scope for one entity, or for every entity of the organisation the user sees."""
    if entity_id is not None:
        access.require(con, user, "view", entity_id=entity_id)
        return {"entity": entities.entity(con, entity_id)["name"]}
    access.require(con, user, "view", organisation_id)
    ids = access.visible_entity_ids(con, user, organisation_id)
    if not ids:
        raise NotFoundError("You see no entity of this organisation yet.")
    limit = access.grants(con, user).limit(organisation_id)
    if limit is None:
        return {
            "organisation": con.execute(
                "SELECT name FROM organisations WHERE id = ?", [organisation_id]
            ).fetchone()[0]
        }
    names = [
        r[0]
        for r in con.execute(
            "SELECT name FROM entities WHERE list_contains(?, id) AND active ORDER BY name", [ids]
        ).fetchall()
    ]
    return {"entities": names}


def role_lines(user: User, organisation_id: int, entity_id: int | None = None) -> dict[str, list[str]]:
    """The line codes of the structure's revenue, costs-of-sales and net-result lines (for charts)."""
    with _connect() as con:
        access.require(con, user, "view", organisation_id if entity_id is None else None, entity_id)
        struct = structures.resolve_structure(
            con, None, entity_id=entity_id, organisation_id=organisation_id, create=False
        )
    return {
        role: [ln.code for ln in struct.with_role(role, "pnl")] for role in ("revenue", "cogs", "net_result")
    }


def report_months(user: User, organisation_id: int, entity_id: int | None = None) -> list[str]:
    """The months with data for the scope, oldest first, as YYYY-MM."""
    with _connect() as con:
        if entity_id is not None:
            access.require(con, user, "view", entity_id=entity_id)
            ids = [entity_id]
        else:
            access.require(con, user, "view", organisation_id)
            ids = access.visible_entity_ids(con, user, organisation_id)
        if not ids:
            return []
        lo, hi = con.execute(
            "SELECT min(month), max(month) FROM rpt_trial_balance WHERE list_contains(?, entity_id)", [ids]
        ).fetchone()
    if lo is None:
        return []
    out, m = [], lo
    while m <= hi:
        out.append(m.strftime("%Y-%m"))
        m = date(m.year + (m.month == 12), m.month % 12 + 1, 1)
    return out


def statement(
    user: User,
    kind: str,
    *,
    organisation_id: int,
    entity_id: int | None = None,
    from_month: str | None = None,
    to_month: str | None = None,
    by: str = "month",
    ytd: bool = False,
    compare: bool = False,
) -> Statement:
    """P&L ('pnl'), balance sheet ('bs') or cash flow ('cf') of an entity or the group."""
    with _connect() as con:
        scope = _scope_kwargs(con, user, organisation_id, entity_id)
        return reports.statement(
            con, kind, from_month=from_month, to_month=to_month, by=by, ytd=ytd, compare=compare, **scope
        )


def kpis(
    user: User,
    *,
    organisation_id: int,
    entity_id: int | None = None,
    from_month: str | None = None,
    to_month: str | None = None,
    by: str = "month",
) -> reports.KpiReport:
    """Gross margin, EBITDA, net result, current ratio, working capital, DSO, DPO per period."""
    with _connect() as con:
        scope = _scope_kwargs(con, user, organisation_id, entity_id)
        return reports.kpis(con, from_month=from_month, to_month=to_month, by=by, **scope)


def chart_series(
    user: User,
    *,
    organisation_id: int,
    entity_id: int | None = None,
    from_month: str | None = None,
    to_month: str | None = None,
) -> dict[str, Any]:
    """Per month: revenue, costs (everything between revenue and the result), net result, cash."""
    with _connect() as con:
        scope = _scope_kwargs(con, user, organisation_id, entity_id)
        pnl = reports.statement(con, "pnl", from_month=from_month, to_month=to_month, by="month", **scope)
        cf = reports.statement(con, "cf", from_month=from_month, to_month=to_month, by="month", **scope)
        first = (
            entities.entity(con, entity_id)
            if entity_id is not None
            else {"id": None, "organisation_id": organisation_id}
        )
        struct = structures.resolve_structure(
            con, pnl.structure, entity_id=first["id"], organisation_id=first["organisation_id"]
        )
    months = [p.label for p in pnl.periods]
    revenue_codes = [ln.code for ln in struct.with_role("revenue", "pnl")]
    result_codes = [ln.code for ln in struct.with_role("net_result", "pnl")]
    by_code = {ln.code: ln for ln in pnl.lines}

    def series(codes: list[str]) -> list[Decimal | None]:
        if not codes:
            return [None] * len(months)
        return [
            sum((by_code[c].amounts.get(m) or Decimal(0) for c in codes if c in by_code), Decimal(0))
            for m in months
        ]

    revenue = series(revenue_codes)
    result = series(result_codes) if result_codes else [None] * len(months)
    costs = [None if r is None or n is None else n - r for r, n in zip(revenue, result, strict=True)]
    cash_line = next((ln for ln in cf.lines if ln.kind == "cash"), None)
    cash = [cash_line.amounts.get(m) if cash_line else None for m in [p.label for p in cf.periods]]
    return {
        "months": months,
        "revenue": revenue,
        "costs": costs,
        "result": result,
        "cash": cash,
        "currency": pnl.currency,
    }


def trial_balance(
    user: User,
    *,
    organisation_id: int,
    entity_id: int | None = None,
    from_month: str | None = None,
    to_month: str | None = None,
) -> dict[str, Any]:
    """Opening, debit, credit and balance per account; for a group, summed per account code."""
    with _connect() as con:
        scope = _scope_kwargs(con, user, organisation_id, entity_id)
        if "entity" in scope:
            names = [scope["entity"]]
        else:
            sc = reports.scope(con, entities=scope.get("entities"), organisation=scope.get("organisation"))
            names = [e["name"] for e in sc.entities]
        merged: dict[str, dict] = {}
        for name in names:
            part = _trial_balance(con, name, from_month, to_month)
            for a in part.accounts:
                row = merged.setdefault(
                    a["code"],
                    {
                        "code": a["code"],
                        "name": a["name"],
                        "type": a["account_type"],
                        "opening": Decimal("0.00"),
                        "debit": Decimal("0.00"),
                        "credit": Decimal("0.00"),
                        "balance": Decimal("0.00"),
                    },
                )
                for key in ("opening", "debit", "credit", "balance"):
                    row[key] += a[key]
    rows = [merged[k] for k in sorted(merged)]
    return {
        "accounts": rows,
        "debit_total": sum((r["debit"] for r in rows), Decimal("0.00")),
        "credit_total": sum((r["credit"] for r in rows), Decimal("0.00")),
        "entities": names,
    }


def drilldown(
    user: User,
    entity_id: int,
    line: str,
    *,
    from_month: str | None = None,
    to_month: str | None = None,
    account: str | None = None,
) -> reports.Drilldown:
    """A report line's accounts with their amounts; with `account`, its ledger lines on the line."""
    with _connect() as con:
        access.require(con, user, "view", entity_id=entity_id)
        name = entities.entity(con, entity_id)["name"]
        return reports.drilldown(
            con, entity=name, line=line, from_month=from_month, to_month=to_month, account=account
        )


def _money(value: Decimal | None) -> str:
    return "" if value is None else f"{value:.2f}"


def statement_csv(user: User, organisation_id: int, report: Statement) -> str:
    """A computed statement as CSV (amounts with a point and two decimals, no separators)."""
    with _connect() as con:
        access.require(con, user, "export", organisation_id)
    labels = [p.label for p in report.periods]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["code", "name", "kind", *labels, "total"])
    for ln in report.lines:
        writer.writerow(
            [ln.code, ln.name, ln.kind, *(_money(ln.amounts.get(k)) for k in labels), _money(ln.total)]
        )
    return out.getvalue()


def rows_csv(user: User, organisation_id: int, columns: list[str], rows: list[dict]) -> str:
    """Any table of the Reports page (trial balance, drill-down) as CSV."""
    with _connect() as con:
        access.require(con, user, "export", organisation_id)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(columns)
    for r in rows:
        writer.writerow([_money(r.get(c)) if isinstance(r.get(c), Decimal) else r.get(c) for c in columns])
    return out.getvalue()


# ---------------------------------------------------------------- settings


def organisation_settings(user: User, organisation_id: int) -> dict[str, Any]:
    """Time zone, schedule (with the next slots), manual cap and cooldown, paused or not."""
    with _connect() as con:
        access.require(con, user, "view", organisation_id)
        out = scheduler.organisation_schedule(con, organisation_id).as_json()
        out["scheduler"] = scheduler.scheduler_status(con).as_json()
    return out


def set_import_rules(
    user: User,
    organisation_id: int,
    *,
    times: str | None = None,
    interval_minutes: int | None = None,
    cooldown_minutes: int | None = None,
    daily_manual_cap: int | None = None,
) -> dict[str, Any]:
    """Change the import schedule and the manual-import rules (only what is given); audited."""
    with _transaction() as con:
        access.require(con, user, "settings.edit", organisation_id)
        return scheduler.set_schedule(
            con,
            organisation_id,
            times=times,
            interval_minutes=interval_minutes,
            cooldown_minutes=cooldown_minutes,
            daily_manual_cap=daily_manual_cap,
            actor=user.login,
        ).as_json()


def set_timezone(user: User, organisation_id: int, timezone: str) -> None:
    """The organisation's time zone: schedules, the daily cap's day and shown times follow it."""
    zone(timezone)  # a clear error for an unknown name
    with _transaction() as con:
        access.require(con, user, "settings.edit", organisation_id)
        before = scheduler.organisation_schedule(con, organisation_id)
        con.execute("UPDATE organisations SET timezone = ? WHERE id = ?", [timezone, organisation_id])
        after = scheduler.organisation_schedule(con, organisation_id)
        if before.last_slot_at is not None:
            # The same wall-clock times fall on other instants now: start from the latest one, so
            # the change itself does not trigger an import.
            con.execute(
                "UPDATE org_schedules SET last_slot_at = ? WHERE organisation_id = ?",
                [latest_slot(after.schedule, datetime.now(UTC)), organisation_id],
            )
        audit.record(
            con,
            "settings.timezone",
            "organisation",
            organisation_id,
            before={"timezone": before.schedule.timezone},
            after={"timezone": timezone},
            actor=user.login,
        )


def set_paused(user: User, organisation_id: int, paused: bool) -> None:
    """Pause (nothing imports, data stays) or resume the organisation."""
    with _transaction() as con:
        access.require(con, user, "settings.edit", organisation_id)
        scheduler.set_paused(con, organisation_id, paused, actor=user.login)


def list_users(user: User, organisation_id: int) -> list[dict]:
    """Users with a role in the organisation (Owners only)."""
    with _connect() as con:
        access.require(con, user, "users.manage", organisation_id)
        return access.list_users(con, organisation_id)


def set_user_role(
    user: User, organisation_id: int, login: str, role: str, entity_ids: list[int] | None = None
) -> dict[str, Any]:
    """Give someone a role in the organisation (optionally limited to some entities)."""
    with _transaction() as con:
        return access.set_role(con, user, login, organisation_id, role, entity_ids=entity_ids)


def remove_user_role(user: User, organisation_id: int, login: str) -> None:
    """Take someone's role in the organisation away."""
    with _transaction() as con:
        access.remove_role(con, user, login, organisation_id)


def recent_changes(user: User, organisation_id: int, limit: int = 50) -> list[dict]:
    """The audit log (who changed what, when), for Owners."""
    with _connect() as con:
        access.require(con, user, "users.manage", organisation_id)
        rows = audit.list_changes(con, limit=limit)
    for r in rows:
        for key in ("before", "after"):
            if r[key] is not None and not isinstance(r[key], str):
                r[key] = json.dumps(r[key], ensure_ascii=False)[:300]
    return rows


def auth_mode_text(configured: bool) -> str:
    """How people sign in, in one sentence for the UI."""
    if configured:
        return "Sign-in with your organisation's identity provider (OIDC)."
    return (
        "Local single-owner mode: no sign-in is configured, so whoever opens this app acts as the Owner. "
        "Configure an [auth] section in .streamlit/secrets.toml to require sign-in."
    )


# ---------------------------------------------------------------- Excel


def export_workbook(user: User, *, template: str | None = None, **scope) -> workbooks.Download:
    """The Reports page's Excel download for the chosen scope and period."""
    return workbooks.export_for_user(user, template=template, data=data_path(), **scope)


def refresh_workbook(user: User, content: bytes, file_name: str) -> workbooks.Download:
    """A linked workbook the user uploaded, back with current numbers (everything else kept)."""
    return workbooks.refresh_for_user(user, content, file_name, data=data_path())


def workbook_templates(user: User) -> list[dict]:
    """The statement templates the user can export with."""
    return workbooks.templates_for_user(user, data=data_path())


def feed_tokens(user: User) -> list[dict]:
    """The user's tokens for Excel's CSV feed."""
    return feed.my_tokens(user, data=data_path())


def new_feed_token(user: User, label: str | None = None) -> str:
    """A new feed token, shown to the user once."""
    return feed.new_token(user, label, data=data_path())


def revoke_feed_token(user: User, token_id: int) -> None:
    """Revoke one of the user's feed tokens."""
    feed.revoke_user_token(user, token_id, data=data_path())


def payroll_sources(user: User, organisation_id: int | None) -> list[dict]:
    """The organisation's payroll sources for the Sources page (Owner and Accountant only)."""
    return payroll.payroll_sources(data_path(), user, organisation_id)
