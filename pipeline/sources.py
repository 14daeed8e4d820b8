"""Sources: connecting ERP APIs, their credentials, their status and the entities they feed.

This is the service layer the Sources page and the `ledgerline source` CLI call. A source moves
through these states (sources.status):

- attention: added but not finished (no sign-in yet, setup incomplete, no entity chosen);
- available: connected, with at least one entity chosen for import;
- failed: the vendor refused the credentials or the setup (status_message says what to do);
- disconnected: credentials removed, no more imports; the imported data stays, read-only,
  until the separate, confirmed `delete_source_data`.

Credentials are Fernet-encrypted in sources.credentials (pipeline.secrets) and never returned,
logged or written to the audit log. Rotating OAuth tokens go through `SourceCredentialStore`,
which saves atomically and locks across processes (a file lock under data/locks/), so the app
and the scheduler never refresh one token at the same time.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from connectors import registry
from connectors.base import Connector, EntityInfo, ExtractRequest
from connectors.oauth import (
    RECONNECT_KEY,
    TokenManager,
    authorization_url,
    callback_params,
    new_code_verifier,
    new_state,
    parse_callback,
)
from pipeline import audit, db, entities
from pipeline.errors import (
    AuthError,
    ConfigError,
    LedgerlineError,
    NotFoundError,
    RefusedError,
    RetriableSourceError,
)
from pipeline.regenerate import Change, regenerate
from pipeline.secrets import decrypt_json, encrypt_json

log = logging.getLogger(__name__)

STATUSES = ("available", "attention", "failed", "disconnected")
PKCE_KEY = "pkce_verifiers"  # per connect attempt (state), kept with the encrypted credentials
LOCK_TIMEOUT = 120.0
OAUTH_STATE_MINUTES = 15
# Settings that point a source at a local sandbox instead of the vendor (tests, demos).
NON_FORM_CONFIG = ("base_url", "connectors", "administrations", "overlap_minutes", "take")
# What "delete the data" removes for a source's entities: imported rows and everything derived
# from them. The user's own configuration (mapping rules, payroll component mapping) and the
# import history stay, so reconnecting the source later rebuilds the same reports.
DATA_TABLES = (
    "transactions",
    "opening_balances",
    "accounts",
    "dimensions",
    "entity_cursors",
    "rpt_trial_balance",
    "rpt_statement_month",
    "rpt_unbalanced_entries",
    "map_accounts",
    "map_axis_lines",
    "map_conflicts",
    "map_state",
    "payroll_companies",
    "payroll_runs",
    "payroll_employees",
    "payroll_costs",
)


# ---------------------------------------------------------------- credentials


class SourceCredentialStore:
    """A source's encrypted credentials in the warehouse, with a lock shared by all processes.

    Implements connectors.base.CredentialStore. Saving credentials that carry the OAuth
    "reconnect required" marker also marks the source failed, in the same transaction.
    """

    _held = threading.local()

    def __init__(self, data: str | os.PathLike | None, source_id: int, *, lock_timeout: float = LOCK_TIMEOUT):
        self.data = db.data_dir(data)
        self.source_id = source_id
        self.lock_timeout = lock_timeout

    @property
    def lock_path(self) -> Path:
        return self.data / "locks" / f"source-{self.source_id}.lock"

    def load(self) -> dict[str, Any]:
        with db.connect(self.data) as con:
            row = con.execute("SELECT credentials FROM sources WHERE id = ?", [self.source_id]).fetchone()
        if row is None:
            raise NotFoundError(f"No source with id {self.source_id}.")
        return decrypt_json(self.data, row[0]) if row[0] is not None else {}

    def save(self, credentials: dict[str, Any]) -> None:
        blob = encrypt_json(self.data, dict(credentials))
        with db.transaction(self.data) as con:
            con.execute("UPDATE sources SET credentials = ? WHERE id = ?", [blob, self.source_id])
            marker = credentials.get(RECONNECT_KEY)
            if marker:
                con.execute(
                    "UPDATE sources SET status = 'failed', status_message = ? WHERE id = ? AND status <> 'disconnected'",
                    [str(marker), self.source_id],
                )

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Exclusive across processes and threads; re-entrant within one thread."""
        held: dict[int, int] = self._held.__dict__.setdefault("counts", {})
        if held.get(self.source_id):
            held[self.source_id] += 1
            try:
                yield
            finally:
                held[self.source_id] -= 1
            return
        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            deadline = time.monotonic() + self.lock_timeout
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise RetriableSourceError(
                            "Another process kept this source's credentials locked; the import will be retried."
                        ) from None
                    time.sleep(0.05)
            held[self.source_id] = 1
            try:
                yield
            finally:
                held[self.source_id] = 0
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)


def credential_store(
    data: str | os.PathLike | None, source: Mapping[str, Any] | None
) -> SourceCredentialStore | None:
    """The credential store the import run hands an API connector (None for file sources)."""
    if not source or source.get("connector") not in api_connector_names():
        return None
    return SourceCredentialStore(data, int(source["id"]))


# ---------------------------------------------------------------- catalogue


def api_connector_names() -> set[str]:
    return {c.name for c in registry.REGISTRY if c.kind == "api"}


def connector_catalog() -> list[dict[str, Any]]:
    """What the "Add source" dialog offers: each API connector, its form and its capabilities."""
    out = []
    for cls in registry.REGISTRY:
        if cls.kind != "api":
            continue
        out.append(
            {
                "name": cls.name,
                "label": cls.label,
                "beta": cls.beta,
                "oauth": bool(getattr(cls, "oauth", False)),
                "fields": [dict(f) for f in getattr(cls, "setup_fields", ())],
                "capabilities": asdict(cls.capabilities),
            }
        )
    return out


def _connector_class(name: str) -> type[Connector]:
    cls = registry.get(name)
    if cls.kind != "api":
        raise ConfigError(f"{cls.label} is a file format, not a source to connect; upload its files instead.")
    return cls


# ---------------------------------------------------------------- reading


def _public(row: Mapping[str, Any], creds: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A source as pages may show it: no credentials, plus what the user needs to see."""
    out = {k: v for k, v in row.items() if k != "credentials"}
    out["config"] = (
        json.loads(row["config"]) if isinstance(row.get("config"), str) else (row.get("config") or {})
    )
    out["has_credentials"] = row.get("credentials") is not None
    cls: type[Connector] | None = None
    try:
        cls = registry.get(row["connector"])
        out["label"] = cls.label
        out["beta"] = cls.beta
        out["capabilities"] = asdict(cls.capabilities)
        out["oauth"] = bool(getattr(cls, "oauth", False))
    except ConfigError:
        out["label"], out["beta"], out["capabilities"], out["oauth"] = row["connector"], False, {}, False
    if creds and creds.get("refresh_token_expires_at"):
        left = float(creds["refresh_token_expires_at"]) - time.time()
        out["refresh_token_days_left"] = round(left / 86400, 1)
        # Vendors whose unused refresh tokens run out (Xero: 60 days) say when to start warning.
        warn_days = getattr(cls, "refresh_warning_days", None)
        if warn_days is not None and left < warn_days * 86400 and not creds.get(RECONNECT_KEY):
            out["refresh_token_warning"] = refresh_warning(out["label"], left)
    return out


def refresh_warning(label: str, seconds_left: float) -> str:
    """What the Sources page says when an unused refresh token is about to expire."""
    if seconds_left <= 0:
        return f"The {label} authorisation has expired: reconnect the source."
    days = seconds_left / 86400
    when = f"in {days:.0f} days" if days >= 1.5 else "within a day"
    return (
        f"The {label} authorisation expires {when} unless an import runs before then: "
        "run an import (or keep a schedule on), or reconnect."
    )


def _row(con, source_id: int) -> dict[str, Any]:
    rows = db.rows_as_dicts(con.execute("SELECT * FROM sources WHERE id = ?", [source_id]))
    if not rows:
        raise NotFoundError(f"No source with id {source_id}.")
    return rows[0]


def _decrypt(data: Path, row: Mapping[str, Any]) -> dict[str, Any]:
    return decrypt_json(data, row["credentials"]) if row.get("credentials") is not None else {}


def get_source(data: str | os.PathLike | None, source_id: int) -> dict[str, Any]:
    """One source with its entities (never its credentials)."""
    data = db.data_dir(data)
    with db.connect(data) as con:
        row = _row(con, source_id)
        ents = db.rows_as_dicts(
            con.execute(
                """SELECT e.id, e.name, e.external_id, e.currency, e.active,
                          CASE WHEN r.error_kind = 'entity_unavailable' THEN r.error_message END AS unavailable
                   FROM entities e
                   LEFT JOIN import_runs r ON r.id = (SELECT max(id) FROM import_runs x
                                                      WHERE x.entity_id = e.id AND x.status IN ('succeeded', 'failed'))
                   WHERE e.source_id = ? ORDER BY e.name""",
                [source_id],
            )
        )
    out = _public(row, _decrypt(data, row) if row.get("credentials") is not None else None)
    out["entities"] = ents
    return out


def find_source(data: str | os.PathLike | None, ref: str | int) -> dict[str, Any]:
    """A source by id or by name."""
    if isinstance(ref, int) or str(ref).isdigit():
        return get_source(data, int(ref))
    with db.connect(data) as con:
        ids = [
            r[0]
            for r in con.execute("SELECT id FROM sources WHERE name = ? ORDER BY id", [str(ref)]).fetchall()
        ]
    if not ids:
        raise NotFoundError(f"No source named {ref!r}.")
    if len(ids) > 1:
        raise ConfigError(f"Several organisations have a source named {ref!r}; use its id.")
    return get_source(data, ids[0])


def list_sources(data: str | os.PathLike | None, organisation_id: int | None = None) -> list[dict[str, Any]]:
    """Every connected (API) source with its status, capabilities, entities and latest import."""
    data = db.data_dir(data)
    names = sorted(api_connector_names())
    with db.connect(data) as con:
        rows = db.rows_as_dicts(
            con.execute(
                """SELECT s.*, o.name AS organisation,
                       (SELECT count(*) FROM entities e WHERE e.source_id = s.id AND e.active) AS entities_selected,
                       (SELECT max(r.id) FROM import_runs r WHERE r.source_id = s.id) AS last_run_id
                   FROM sources s JOIN organisations o ON o.id = s.organisation_id
                   WHERE list_contains(?, s.connector) AND (? IS NULL OR s.organisation_id = ?)
                   ORDER BY o.name, s.name""",
                [names, organisation_id, organisation_id],
            )
        )
        runs = {
            r["id"]: r
            for r in db.rows_as_dicts(
                con.execute(
                    """SELECT id, status, finished_at, error_message, stats FROM import_runs
                       WHERE id IN (SELECT max(id) FROM import_runs WHERE source_id IN
                                    (SELECT id FROM sources WHERE list_contains(?, connector)) GROUP BY source_id)""",
                    [names],
                )
            )
        }
    out = []
    for row in rows:
        item = _public(row, _decrypt(data, row) if row.get("credentials") is not None else None)
        run = runs.get(row["last_run_id"])
        if run:
            stats = json.loads(run["stats"] or "{}")
            item["last_run"] = {
                "id": run["id"],
                "status": run["status"],
                "finished_at": run["finished_at"],
                "error": run["error_message"],
                "api_calls": stats.get("api_calls"),
                "refresh_token_days_left": stats.get("refresh_token_days_left"),
            }
        out.append(item)
    return out


def source_runs(data: str | os.PathLike | None, source_id: int, *, limit: int = 50) -> list[dict[str, Any]]:
    """Import history of a source with the API calls each run made, its quota and token time left."""
    with db.connect(data) as con:
        rows = db.rows_as_dicts(
            con.execute(
                """SELECT r.id, e.name AS entity, r.trigger, r.status, r.full_sync, r.started_at, r.finished_at,
                          r.rows_read, r.inserted, r.updated, r.deleted, r.error_kind, r.error_message, r.stats
                   FROM import_runs r JOIN entities e ON e.id = r.entity_id
                   WHERE r.source_id = ? ORDER BY r.id DESC LIMIT ?""",
                [source_id, limit],
            )
        )
    for row in rows:
        stats = json.loads(row.pop("stats") or "{}")
        row["api_calls"] = stats.get("api_calls")
        row["quota"] = stats.get("quota")
        row["refresh_token_expires_at"] = stats.get("refresh_token_expires_at")
        row["refresh_token_days_left"] = stats.get("refresh_token_days_left")
    return rows


# ---------------------------------------------------------------- adding and connecting


def _split(cls: type[Connector], values: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    fields = {f["key"]: f for f in getattr(cls, "setup_fields", ())}
    config: dict[str, Any] = {}
    secrets: dict[str, Any] = {}
    for key, value in values.items():
        if value is None or value == "":
            continue
        if key not in fields and key not in NON_FORM_CONFIG:
            raise ConfigError(f"{cls.label} has no setting {key!r}.")
        (secrets if fields.get(key, {}).get("secret") else config)[key] = value
    for key, field in fields.items():
        if key not in config and key not in secrets and "default" in field:
            config[key] = field["default"]
    return config, secrets


def _missing(cls: type[Connector], config: Mapping[str, Any], secrets: Mapping[str, Any]) -> list[str]:
    # A sandbox URL stands in for where the vendor lives (environment number, country).
    skip = {"environment", "region", "env_type"} if config.get("base_url") else set()
    return [
        f["label"]
        for f in getattr(cls, "setup_fields", ())
        if f["key"] not in skip and "default" not in f and f["key"] not in config and f["key"] not in secrets
    ]


def add_source(
    data: str | os.PathLike | None,
    connector: str,
    *,
    name: str,
    settings: Mapping[str, Any],
    organisation: str | None = None,
    actor: str | None = None,
) -> dict[str, Any]:
    """Add an API source from the "Add source" form; secret fields are encrypted at once.

    The source starts in 'attention': the connection still has to be tested (or signed in, for
    OAuth sources) and its entities chosen.
    """
    cls = _connector_class(connector)
    if not name or not name.strip():
        raise ConfigError("A source needs a name.")
    config, secrets = _split(cls, settings)
    missing = _missing(cls, config, secrets)
    if missing:
        raise ConfigError(f"{cls.label} needs: {', '.join(missing)}.")
    data = db.data_dir(data)
    with db.transaction(data) as con:
        org = (
            entities.ensure_organisation(con, organisation)
            if organisation
            else entities.default_organisation(con)
        )
        taken = con.execute(
            "SELECT id FROM sources WHERE organisation_id = ? AND name = ?", [org, name.strip()]
        ).fetchone()
        if taken:
            raise ConfigError(f"The organisation already has a source named {name.strip()!r}.")
        message = (
            f"Sign in at {cls.label} to finish connecting."
            if getattr(cls, "oauth", False)
            else "Test the connection, then choose the entities to import."
        )
        source_id = con.execute(
            """INSERT INTO sources (organisation_id, connector, name, config, credentials, status, status_message)
               VALUES (?, ?, ?, ?, ?, 'attention', ?) RETURNING id""",
            [org, cls.name, name.strip(), json.dumps(config), encrypt_json(data, secrets), message],
        ).fetchone()[0]
        audit.record(
            con,
            "add",
            "source",
            source_id,
            after={"name": name.strip(), "connector": cls.name, "config": config},
            actor=actor,
        )
    return get_source(data, source_id)


def update_credentials(
    data: str | os.PathLike | None, source_id: int, settings: Mapping[str, Any], *, actor: str | None = None
) -> dict[str, Any]:
    """Reconnect with new credentials (e.g. a new AFAS token) and test the connection again."""
    data = db.data_dir(data)
    with db.transaction(data) as con:
        row = _row(con, source_id)
        cls = _connector_class(row["connector"])
        config, secrets = _split(cls, settings)
        creds = {k: v for k, v in _decrypt(data, row).items() if k != RECONNECT_KEY}
        creds.update(secrets)
        merged = {**json.loads(row["config"]), **{k: v for k, v in config.items() if k in settings}}
        con.execute(
            """UPDATE sources SET credentials = ?, config = ?, status = 'attention', status_message = ?,
                   disconnected_at = NULL WHERE id = ?""",
            [encrypt_json(data, creds), json.dumps(merged), "Testing the new credentials.", source_id],
        )
        audit.record(con, "reconnect", "source", source_id, after={"settings": sorted(settings)}, actor=actor)
    check_connection(data, source_id)
    return get_source(data, source_id)


def _request(data: Path, row: Mapping[str, Any], entity: Mapping[str, Any] | None = None) -> ExtractRequest:
    return ExtractRequest(
        entity_name=(entity or {}).get("name") or "",
        entity_external_id=(entity or {}).get("external_id"),
        config=json.loads(row["config"]) if isinstance(row["config"], str) else dict(row["config"] or {}),
        credentials=_decrypt(data, row),
        credential_store=SourceCredentialStore(data, int(row["id"])),
    )


def _set_status(data: Path, source_id: int, status: str, message: str | None) -> None:
    with db.transaction(data) as con:
        con.execute(
            "UPDATE sources SET status = ?, status_message = ? WHERE id = ? AND status <> 'disconnected'",
            [status, message, source_id],
        )


def _selected_count(data: Path, source_id: int) -> int:
    with db.connect(data) as con:
        return con.execute(
            "SELECT count(*) FROM entities WHERE source_id = ? AND active", [source_id]
        ).fetchone()[0]


def _ready_status(data: Path, source_id: int, label: str) -> tuple[str, str | None]:
    if _selected_count(data, source_id):
        return "available", None
    return "attention", f"Choose the {label} entities to import."


def check_connection(data: str | os.PathLike | None, source_id: int) -> dict[str, Any]:
    """Ask the vendor what the credentials can see; sets the source's status from the answer.

    Returns {"ok", "status", "message", "entities"}. A refused token or an incomplete vendor
    setup is shown with what to do; a temporary outage leaves the status as it was.
    """
    data = db.data_dir(data)
    with db.connect(data) as con:
        row = _row(con, source_id)
    if row["status"] == "disconnected":
        raise RefusedError("The source is disconnected.", guidance="Reconnect it with new credentials first.")
    cls = _connector_class(row["connector"])
    try:
        found = cls().list_entities(_request(data, row))
    except AuthError as exc:
        _set_status(data, source_id, "failed", exc.user_message())
        return {"ok": False, "status": "failed", "message": exc.user_message(), "entities": []}
    except RetriableSourceError as exc:
        return {"ok": False, "status": row["status"], "message": exc.user_message(), "entities": []}
    except ConfigError as exc:  # the vendor-side setup is incomplete: half-way, not broken
        _set_status(data, source_id, "attention", exc.user_message())
        return {"ok": False, "status": "attention", "message": exc.user_message(), "entities": []}
    except LedgerlineError as exc:
        _set_status(data, source_id, "failed", exc.user_message())
        return {"ok": False, "status": "failed", "message": exc.user_message(), "entities": []}
    status, message = _ready_status(data, source_id, cls.label)
    _set_status(data, source_id, status, message)
    return {"ok": True, "status": status, "message": message, "entities": [_entity_dict(e) for e in found]}


def _entity_dict(info: EntityInfo) -> dict[str, Any]:
    return {"external_id": info.external_id, "name": info.name, "currency": info.currency}


def available_entities(data: str | os.PathLike | None, source_id: int) -> list[dict[str, Any]]:
    """The entities (administrations, divisions) the credentials can see, marked when selected."""
    data = db.data_dir(data)
    with db.connect(data) as con:
        row = _row(con, source_id)
        chosen = {
            r[0]: r[1]
            for r in con.execute(
                "SELECT external_id, id FROM entities WHERE source_id = ? AND active", [source_id]
            ).fetchall()
        }
    found = _connector_class(row["connector"])().list_entities(_request(data, row))
    return [
        {**_entity_dict(e), "selected": e.external_id in chosen, "entity_id": chosen.get(e.external_id)}
        for e in found
    ]


def select_entities(
    data: str | os.PathLike | None, source_id: int, external_ids: Sequence[str], *, actor: str | None = None
) -> list[dict[str, Any]]:
    """Import these entities of the source (created when new); the others stop importing."""
    data = db.data_dir(data)
    wanted = [str(x) for x in external_ids]
    with db.connect(data) as con:
        row = _row(con, source_id)
    if row["status"] == "disconnected":
        raise RefusedError("The source is disconnected.", guidance="Reconnect it before choosing entities.")
    cls = _connector_class(row["connector"])
    found = {e.external_id: e for e in cls().list_entities(_request(data, row))}
    unknown = [x for x in wanted if x not in found]
    if unknown:
        raise ConfigError(
            f"{cls.label} does not show {', '.join(unknown)} to these credentials; "
            f"it shows {', '.join(sorted(k for k in found if k)) or 'nothing'}."
        )
    with db.transaction(data) as con:
        ids = []
        for ext in wanted:
            info = found[ext]
            existing = con.execute(
                "SELECT id FROM entities WHERE source_id = ? AND external_id = ?", [source_id, ext]
            ).fetchone()
            if existing:
                con.execute("UPDATE entities SET active = TRUE WHERE id = ?", [existing[0]])
                ids.append(existing[0])
                continue
            name = _free_name(con, row["organisation_id"], info.name or f"{cls.label} {ext}", cls.label)
            ids.append(
                entities.ensure_entity(
                    con,
                    name,
                    organisation_id=row["organisation_id"],
                    source_id=source_id,
                    external_id=ext,
                    currency=info.currency,
                    fiscal_year_start_month=info.fiscal_year_start_month or 1,
                )
            )
        con.execute(
            "UPDATE entities SET active = FALSE WHERE source_id = ? AND NOT list_contains(?, id)",
            [source_id, ids],
        )
        con.execute(
            "UPDATE sources SET status = ?, status_message = ? WHERE id = ?",
            [
                "available" if ids else "attention",
                None if ids else f"Choose the {cls.label} entities to import.",
                source_id,
            ],
        )
        audit.record(con, "select_entities", "source", source_id, after={"external_ids": wanted}, actor=actor)
    return get_source(data, source_id)["entities"]


def _free_name(con, organisation_id: int, name: str, label: str) -> str:
    """The entity name, or one made unique when another source already uses it."""
    taken = {
        r[0]
        for r in con.execute(
            "SELECT name FROM entities WHERE organisation_id = ?", [organisation_id]
        ).fetchall()
    }
    if name not in taken:
        return name
    candidate = f"{name} ({label})"
    n = 2
    while candidate in taken:
        candidate = f"{name} ({label} {n})"
        n += 1
    return candidate


# ---------------------------------------------------------------- OAuth


def connect_url(data: str | os.PathLike | None, source_id: int, *, redirect_uri: str | None = None) -> str:
    """The vendor sign-in URL for an OAuth source; the vendor redirects back with a code."""
    data = db.data_dir(data)
    with db.connect(data) as con:
        row = _row(con, source_id)
    cls = _connector_class(row["connector"])
    if not getattr(cls, "oauth", False):
        raise ConfigError(f"{cls.label} connects with a token, not by signing in.")
    config = json.loads(row["config"])
    redirect = redirect_uri or config.get("redirect_uri")
    if not redirect:
        raise ConfigError("The source has no redirect URL.", guidance="Set this app's OAuth callback URL.")
    app = cls.oauth_app({**config, "redirect_uri": redirect}, _decrypt(data, row))
    state = new_state()
    verifier = None
    if app.pkce:
        # The verifier proves at the token endpoint that this installation started the sign-in.
        verifier = new_code_verifier()
        store = SourceCredentialStore(data, source_id)
        with store.lock():
            creds = store.load()
            pending = dict(creds.get(PKCE_KEY) or {})
            pending[state] = verifier
            store.save({**creds, PKCE_KEY: dict(list(pending.items())[-5:])})
    with db.transaction(data) as con:
        con.execute(
            "DELETE FROM oauth_states WHERE created_at < ?",
            [datetime.now(UTC) - timedelta(minutes=OAUTH_STATE_MINUTES)],
        )
        con.execute(
            "INSERT INTO oauth_states (state, source_id, redirect_uri) VALUES (?, ?, ?)",
            [state, source_id, redirect],
        )
    return authorization_url(app, state, verifier)


def complete_oauth(
    data: str | os.PathLike | None,
    *,
    state: str | None,
    code: str | None,
    error: str | None = None,
    params: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Finish signing in: trade the code from the vendor's redirect for tokens and store them.

    `params` are the redirect's other query parameters: a connector may keep some of them with
    its credentials (`callback_credentials`, e.g. the QuickBooks company id).
    """
    data = db.data_dir(data)
    if not state:
        raise ConfigError("The sign-in answer has no state; start connecting again.")
    with db.transaction(data) as con:
        found = con.execute(
            "SELECT source_id, redirect_uri, created_at FROM oauth_states WHERE state = ?", [state]
        ).fetchone()
        con.execute("DELETE FROM oauth_states WHERE state = ?", [state])
    if found is None:
        raise RefusedError("This sign-in link was already used or is unknown; start connecting again.")
    source_id, redirect, created = found
    if datetime.now(UTC) - created > timedelta(minutes=OAUTH_STATE_MINUTES):
        raise RefusedError("The sign-in took too long; start connecting again.")
    if error or not code:
        _set_status(data, source_id, "attention", f"Signing in was not completed ({error or 'no code'}).")
        raise AuthError(
            f"Signing in was not completed ({error or 'no code'}).", guidance="Start connecting again."
        )
    with db.connect(data) as con:
        row = _row(con, source_id)
    cls = _connector_class(row["connector"])
    config = json.loads(row["config"])
    keep = getattr(cls, "callback_credentials", None)
    extra = keep(dict(params or {})) if keep else {}  # refuses a redirect that lacks what it needs
    store = SourceCredentialStore(data, source_id)
    stored = store.load()
    verifier = (stored.get(PKCE_KEY) or {}).get(state)
    tokens = TokenManager(
        cls.oauth_app({**config, "redirect_uri": redirect}, stored),
        store,
        vendor=cls.label,
        refresh_token_lifetime=getattr(cls, "refresh_token_lifetime", None),
    )
    try:
        tokens.exchange_code(code, verifier)
    finally:
        tokens.close()
    with store.lock():
        creds = store.load()
        pending = {k: v for k, v in (creds.get(PKCE_KEY) or {}).items() if k != state}
        creds = {k: v for k, v in creds.items() if k != PKCE_KEY}
        store.save({**creds, **extra, **({PKCE_KEY: pending} if pending else {})})
    status, message = _ready_status(data, source_id, cls.label)
    with db.transaction(data) as con:
        con.execute(
            "UPDATE sources SET status = ?, status_message = ?, disconnected_at = NULL WHERE id = ?",
            [status, message, source_id],
        )
        audit.record(con, "connect", "source", source_id, after={"signed_in": True})
    if cls.verify_after_signin:
        # Signing in proves only one of the source's connections (Nmbrs: REST, not SOAP): the
        # connection check sets the status from what actually works.
        check_connection(data, source_id)
    return get_source(data, source_id)


def complete_oauth_url(data: str | os.PathLike | None, callback_url: str) -> dict[str, Any]:
    """`complete_oauth` from the full URL the browser was redirected to."""
    code, state, error = parse_callback(callback_url)
    params = {k: v for k, v in callback_params(callback_url).items() if k not in ("code", "state")}
    return complete_oauth(data, state=state, code=code, error=error, params=params)


# ---------------------------------------------------------------- disconnecting


def disconnect(data: str | os.PathLike | None, source_id: int, *, actor: str | None = None) -> dict[str, Any]:
    """Stop importing: credentials are wiped, entities stop importing, their data stays."""
    data = db.data_dir(data)
    with db.transaction(data) as con:
        _row(con, source_id)
        con.execute(
            """UPDATE sources SET status = 'disconnected', credentials = NULL, disconnected_at = current_timestamp,
                   status_message = 'Disconnected: the imported data stays; no more imports.' WHERE id = ?""",
            [source_id],
        )
        con.execute("UPDATE entities SET active = FALSE WHERE source_id = ?", [source_id])
        con.execute("DELETE FROM oauth_states WHERE source_id = ?", [source_id])
        audit.record(con, "disconnect", "source", source_id, actor=actor)
    return get_source(data, source_id)


def delete_source_data(
    data: str | os.PathLike | None, source_id: int, *, confirm: str, actor: str | None = None
) -> dict[str, int]:
    """Delete everything imported through a disconnected source; `confirm` must be its name.

    The entities and their import history stay (empty), so the audit trail keeps its references.
    """
    data = db.data_dir(data)
    with db.transaction(data) as con:
        row = _row(con, source_id)
        if row["status"] != "disconnected":
            raise RefusedError("Disconnect the source before deleting its data.")
        if confirm != row["name"]:
            raise RefusedError(f"Type the source's name ({row['name']!r}) to confirm deleting its data.")
        ids = [
            r[0] for r in con.execute("SELECT id FROM entities WHERE source_id = ?", [source_id]).fetchall()
        ]
        counts: dict[str, int] = {}
        if ids:
            for table in DATA_TABLES:
                counts[table] = con.execute(
                    f"DELETE FROM {table} WHERE list_contains(?, entity_id)",  # noqa: S608 - our table names
                    [ids],
                ).fetchone()[0]
            regenerate(con, [Change(i, None) for i in ids])
        audit.record(con, "delete_data", "source", source_id, after=counts, actor=actor)
    return counts
