"""The import run: queue, claim, extract, stage, validate, merge atomically, record.

A run is `waiting` when queued, `running` once a process claims it, and ends `succeeded` or
`failed`. The slow part (reading the source) writes only to a staging folder; everything the
user sees changes in one short write transaction at the end: merge, deletes, cursor,
report-ready rows and the run's own status. A crash or kill before that commit leaves the last
good numbers in place, and the dead run is marked `failed` (interrupted) by the next process
that looks.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import signal
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from connectors import registry
from connectors.base import Extraction, ExtractRequest, Problem
from pipeline import db, entities
from pipeline.errors import ConfigError, InterruptedRun, LedgerlineError, ParseError
from pipeline.merge import MergeResult, changes_for, merge
from pipeline.regenerate import Change, regenerate, unbalanced_after
from pipeline.staging import stage, staging_folder
from pipeline.validate import MAX_LISTED, unbalanced_entry_problems, validate

log = logging.getLogger(__name__)

TRIGGERS = ("scheduled", "manual", "upload", "reset")
STATUSES = ("waiting", "running", "succeeded", "failed")
FILE_FORMATS = ("xaf", "saft", "xas", "csv", "xlsx")
DEFAULT_MAX_BYTES = 2 * 1024**3
HEARTBEAT_SECONDS = 10.0
STALE_HEARTBEAT_SECONDS = 300.0


@dataclass
class RunResult:
    """What a finished run reports (the CLI's --json object is built from this)."""

    run_id: int
    status: str
    entity: str
    format: str | None = None
    accounts: int = 0
    transactions: int = 0
    lines: int = 0
    debit_total: Decimal = Decimal("0.00")
    credit_total: Decimal = Decimal("0.00")
    inserted: int = 0
    updated: int = 0
    deleted: int = 0
    problems: list[Problem] = field(default_factory=list)
    error_kind: str | None = None
    error_message: str | None = None

    def as_json(self) -> dict[str, Any]:
        """The CLI contract: amounts as decimal strings, problems as {kind, message, where}."""
        out = {
            "run_id": self.run_id,
            "status": self.status,
            "entity": self.entity,
            "format": self.format,
            "accounts": self.accounts,
            "transactions": self.transactions,
            "lines": self.lines,
            "debit_total": f"{self.debit_total:.2f}",
            "credit_total": f"{self.credit_total:.2f}",
            "inserted": self.inserted,
            "updated": self.updated,
            "deleted": self.deleted,
            "problems": [{"kind": p.kind, "message": p.message, "where": p.where} for p in self.problems],
        }
        if self.status == "failed":
            out["error_kind"] = self.error_kind
            out["error"] = self.error_message
        return out


# ---------------------------------------------------------------- worker identity and recovery


def _proc_start_ticks(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            # The command name (field 2) may contain spaces; fields after its ')' are fixed.
            return fh.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def worker_id() -> str:
    """host:pid:start-ticks: identifies this process even after its pid is reused."""
    pid = os.getpid()
    return f"{socket.gethostname()}:{pid}:{_proc_start_ticks(pid) or '0'}"


def worker_alive(worker: str | None, heartbeat_at: datetime | None) -> bool:
    """Whether the process that claimed a run is still there."""
    if not worker:
        return False
    host, _, rest = worker.partition(":")
    pid_text, _, ticks = rest.partition(":")
    if host == socket.gethostname() and pid_text.isdigit():
        current = _proc_start_ticks(int(pid_text))
        return current is not None and (ticks in ("", "0") or current == ticks)
    if heartbeat_at is None:
        return False
    age = (datetime.now(UTC) - heartbeat_at).total_seconds()
    return age < STALE_HEARTBEAT_SECONDS


def recover_interrupted(con, data: str | os.PathLike | None = None) -> list[int]:
    """Mark runs left `running` by a dead process as failed (interrupted). Returns their ids.

    With `data`, the dead runs' staging folders are removed too.
    """
    stale = []
    for run_id, worker, heartbeat in con.execute(
        "SELECT id, worker, heartbeat_at FROM import_runs WHERE status = 'running'"
    ).fetchall():
        if not worker_alive(worker, heartbeat):
            stale.append(run_id)
    err = InterruptedRun("The import was interrupted before it finished (the process stopped).")
    for run_id in stale:
        con.execute(
            """UPDATE import_runs SET status = 'failed', finished_at = current_timestamp,
               error_kind = ?, error_message = ? WHERE id = ? AND status = 'running'""",
            [err.kind, err.user_message(), run_id],
        )
        if data is not None:
            shutil.rmtree(staging_folder(db.data_dir(data), run_id), ignore_errors=True)
    return stale


def fault_point(name: str) -> None:
    """Crash-test hook: SIGKILL this process at a named point when $LEDGERLINE_FAULT_POINT says so.

    The atomicity promise (a kill at any point keeps the last good numbers) is tested by killing a
    real import process; this makes the moment of the kill exact instead of a race.
    """
    if os.environ.get("LEDGERLINE_FAULT_POINT") == name:
        os.kill(os.getpid(), signal.SIGKILL)


# ---------------------------------------------------------------- queueing


def queue_run(
    con,
    entity_id: int,
    *,
    trigger: str,
    full: bool = False,
    priority: int = 0,
    fmt: str | None = None,
    file_name: str | None = None,
    file_sha256: str | None = None,
    params: dict[str, Any] | None = None,
) -> int:
    """Insert a `waiting` run and return its id."""
    if trigger not in TRIGGERS:
        raise ConfigError(f"Unknown trigger {trigger!r}; expected one of {', '.join(TRIGGERS)}.")
    ent = entities.entity(con, entity_id)
    return con.execute(
        """INSERT INTO import_runs (entity_id, source_id, trigger, status, full_sync, priority, format,
                                    file_name, file_sha256, params)
           VALUES (?, ?, ?, 'waiting', ?, ?, ?, ?, ?, ?) RETURNING id""",
        [
            entity_id,
            ent["source_id"],
            trigger,
            full,
            priority,
            fmt,
            file_name,
            file_sha256,
            json.dumps(params or {}),
        ],
    ).fetchone()[0]


def _claim(con, run_id: int) -> dict | None:
    rows = db.rows_as_dicts(
        con.execute(
            """UPDATE import_runs SET status = 'running', started_at = current_timestamp,
                      heartbeat_at = current_timestamp, worker = ?
               WHERE id = ? AND status = 'waiting' RETURNING *""",
            [worker_id(), run_id],
        )
    )
    return rows[0] if rows else None


# ---------------------------------------------------------------- running


class _Heartbeat(threading.Thread):
    """Touches the run's heartbeat while the slow part runs, so other hosts can tell it is alive."""

    def __init__(self, data: Path, run_id: int):
        super().__init__(daemon=True, name=f"heartbeat-{run_id}")
        self.data, self.run_id, self.stopped = data, run_id, threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(HEARTBEAT_SECONDS):
            try:
                with db.connect(self.data, lock_wait=2) as con:
                    con.execute(
                        "UPDATE import_runs SET heartbeat_at = current_timestamp WHERE id = ?", [self.run_id]
                    )
            except Exception:  # a missed beat is harmless; the next one will do
                log.debug("heartbeat skipped for run %s", self.run_id, exc_info=True)

    def stop(self) -> None:
        self.stopped.set()
        self.join(timeout=HEARTBEAT_SECONDS + 5)


@dataclass
class ClaimedRun:
    """A run this process claimed, with what the claim read about its entity and source."""

    run: dict
    ent: dict
    src: dict | None
    cursor_row: tuple | None


def claim_run(con, data: Path, run_id: int) -> ClaimedRun:
    """Claim a waiting run inside the caller's transaction (marking dead runs interrupted first)."""
    recover_interrupted(con, data)
    run = _claim(con, run_id)
    if run is None:
        row = con.execute("SELECT status FROM import_runs WHERE id = ?", [run_id]).fetchone()
        raise ConfigError(f"Run {run_id} cannot start: it is {row[0] if row else 'unknown'}, not waiting.")
    ent = entities.entity(con, run["entity_id"])
    src = entities.source(con, ent["source_id"]) if ent["source_id"] else None
    cursor_row = con.execute("SELECT cursor FROM entity_cursors WHERE entity_id = ?", [ent["id"]]).fetchone()
    return ClaimedRun(run, ent, src, cursor_row)


def execute_run(
    data: str | os.PathLike | None,
    run_id: int,
    *,
    progress: Callable[[str, float], None] | None = None,
) -> RunResult:
    """Run a queued run to its end in this process and return what it did.

    `progress(stage, fraction)` is handed to the connector (file parsers report how far they read).
    """
    data = db.data_dir(data)
    with db.transaction(data, vacuum=False) as con:
        claimed = claim_run(con, data, run_id)
    return run_claimed(data, claimed, progress=progress)


def run_claimed(
    data: Path,
    claimed: ClaimedRun,
    *,
    progress: Callable[[str, float], None] | None = None,
    file_digest: Future[str] | None = None,
) -> RunResult:
    """Run a run this process has claimed (`claim_run`) to its end.

    `file_digest`: the file's SHA-256 being computed beside the parse, recorded with the run.
    """
    run, ent, src, cursor_row = claimed.run, claimed.ent, claimed.src, claimed.cursor_row
    run_id = run["id"]
    cursor = json.loads(cursor_row[0]) if cursor_row and not run["full_sync"] else {}
    params = json.loads(run["params"] or "{}")
    heartbeat = _Heartbeat(data, run_id)
    heartbeat.start()
    started = time.monotonic()
    try:
        connector_name = run["format"] if run["format"] in FILE_FORMATS else (src or {}).get("connector")
        connector = registry.get(connector_name)()
        request = ExtractRequest(
            entity_name=ent["name"],
            entity_external_id=ent["external_id"],
            full=bool(run["full_sync"]) or not cursor,
            cursor=cursor,
            config=json.loads(src["config"]) if src else {},
            credentials=_credentials(data, src),
            credential_store=_credential_store(data, src),
            path=Path(params["path"]) if params.get("path") else None,
            options=params.get("options") or {},
            max_bytes=DEFAULT_MAX_BYTES if params.get("max_bytes") is None else params["max_bytes"],
            scratch_dir=_scratch(data, run_id),
            progress=progress,
            currency=ent["currency"],
            fiscal_year_start_month=ent["fiscal_year_start_month"],
        )
        extraction = connector.extract(request)
        currency = ent["currency"] or extraction.entity.currency
        fy_start = ent["fiscal_year_start_month"] or extraction.entity.fiscal_year_start_month or 1
        staged = stage(
            extraction,
            staging_folder(data, run_id),
            currency=currency,
            fy_start=fy_start,
            file_name=run["file_name"],
        )
        totals = validate(staged, file_name=run["file_name"])
        fault_point("after_staging")
        heartbeat.stop()
        with db.connect(data) as con, db.atomic(con):
            _still_ours(con, run_id)
            _update_entity_facts(con, ent, extraction)
            result = merge(con, staged, entity_id=ent["id"], run_id=run_id)
            changes = changes_for(ent["id"], result, staged_entries_balance=totals.unbalanced_entries == 0)
            regenerate(con, changes)
            con.execute(
                """INSERT INTO entity_cursors (entity_id, cursor, run_id) VALUES (?, ?, ?)
                   ON CONFLICT (entity_id) DO UPDATE SET cursor = excluded.cursor, run_id = excluded.run_id,
                   updated_at = now()""",
                [ent["id"], json.dumps(extraction.cursor, default=str), run_id],
            )
            problems = [
                *extraction.problems,
                *totals.problems,
                *result.problems,
                *_unbalanced_after_upsert(con, staged, changes),
            ]
            _store_problems(con, run_id, ent["id"], problems)
            stats = {
                **{k: _jsonable(v) for k, v in extraction.stats.items()},
                "lines": totals.lines,
                "entries": totals.entries,
                "debit_total": f"{totals.debit_total:.2f}",
                "credit_total": f"{totals.credit_total:.2f}",
                "accounts": totals.accounts,
                "opening_lines": totals.opening_lines,
                "streams": result.per_stream,
                "seconds": round(time.monotonic() - started, 3),
            }
            con.execute(
                """UPDATE import_runs SET status = 'succeeded', finished_at = current_timestamp,
                       format = coalesce(format, ?), cursor_before = ?, cursor_after = ?, rows_read = ?,
                       inserted = ?, updated = ?, deleted = ?, problem_count = ?, stats = ?,
                       file_sha256 = coalesce(?, file_sha256)
                   WHERE id = ?""",
                [
                    extraction.format or connector_name,
                    json.dumps(cursor, default=str),
                    json.dumps(extraction.cursor, default=str),
                    totals.lines,
                    result.inserted,
                    result.updated,
                    result.deleted,
                    len(problems),
                    json.dumps(stats),
                    file_digest.result() if file_digest else None,
                    run_id,
                ],
            )
            db.write_at_commit(con, vacuum=vacuum_due(run_id, result))
            fault_point("before_commit")
        return RunResult(
            run_id=run_id,
            status="succeeded",
            entity=ent["name"],
            format=extraction.format or connector_name,
            accounts=totals.accounts,
            transactions=totals.entries,
            lines=totals.lines,
            debit_total=totals.debit_total,
            credit_total=totals.credit_total,
            inserted=result.inserted,
            updated=result.updated,
            deleted=result.deleted,
            problems=problems,
        )
    except LedgerlineError as exc:
        return _fail(data, run_id, ent["name"], run["format"], exc.kind, exc.user_message(), file_digest)
    except Exception as exc:
        log.exception("run %s failed unexpectedly", run_id)
        message = f"Unexpected error ({type(exc).__name__}: {exc}). The previous figures were kept."
        return _fail(data, run_id, ent["name"], run["format"], "internal", message, file_digest)
    finally:
        heartbeat.stop()
        shutil.rmtree(staging_folder(data, run_id), ignore_errors=True)


# A run vacuums deleted rows at its commit when it replaced or deleted at least 1/VACUUM_SHARE of
# the entity's lines, and every VACUUM_EVERY-th run; other runs leave that to a later checkpoint.
VACUUM_SHARE = 20
VACUUM_EVERY = 20


def vacuum_due(run_id: int, result: MergeResult) -> bool:
    """Whether this run's commit should also vacuum the warehouse's deleted rows (db.transaction).

    Small runs skip it (it can cost more than the run); a run that replaced much of an entity
    reclaims what it freed, and every VACUUM_EVERY-th run reclaims what small runs left, so an
    install without the scheduler or the app running still stays compact.
    """
    dead = result.updated + result.deleted
    return run_id % VACUUM_EVERY == 0 or (dead > 0 and dead * VACUUM_SHARE >= result.lines)


def _scratch(data: Path, run_id: int) -> Path:
    path = staging_folder(data, run_id) / "scratch"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _still_ours(con, run_id: int) -> None:
    row = con.execute("SELECT status, worker FROM import_runs WHERE id = ?", [run_id]).fetchone()
    if row is None or row[0] != "running" or row[1] != worker_id():
        raise InterruptedRun("The run was taken over or marked interrupted while it was reading the source.")


def _update_entity_facts(con, ent: dict, extraction: Extraction) -> None:
    info = extraction.entity
    # Only when something changed: a table the commit left untouched costs its checkpoint nothing.
    con.execute(
        """UPDATE entities SET currency = coalesce(currency, $currency),
                  external_id = coalesce(external_id, $external_id), info = $info
           WHERE id = $id AND ((currency IS NULL AND $currency IS NOT NULL)
                               OR (external_id IS NULL AND $external_id IS NOT NULL)
                               OR info::VARCHAR IS DISTINCT FROM $info)""",
        {
            "currency": info.currency,
            "external_id": info.external_id,
            "info": json.dumps(
                {"source_name": info.name, **{k: _jsonable(v) for k, v in info.extra.items()}}
            ),
            "id": ent["id"],
        },
    )


def _unbalanced_after_upsert(con, staged, changes: list[Change]) -> list[Problem]:
    """Entries that do not balance in the ledger after a run that sent changed lines on their
    own (validation judges whole sets only): those whose lines the run changed."""
    lines = staged.streams.get("transactions")
    if lines is None or lines.replace != "none":
        return []
    problems = []
    for change in changes:
        if change.months is not None and not change.months:
            continue  # the run changed no line
        count, rows = unbalanced_after(con, change, MAX_LISTED)
        problems += unbalanced_entry_problems(rows, count, after=" after this run")
    return problems


def _store_problems(con, run_id: int, entity_id: int, problems: list[Problem]) -> None:
    # One INSERT of four parallel lists: a run may list 200 problems, and a row of placeholders
    # per problem costs DuckDB more to bind than the insert itself.
    if not problems:
        return
    con.execute(
        """INSERT INTO problems (run_id, entity_id, kind, severity, message, location)
           SELECT $run, $entity, unnest($kinds), unnest($severities), unnest($messages), unnest($wheres)""",
        {
            "run": run_id,
            "entity": entity_id,
            "kinds": [p.kind for p in problems],
            "severities": [p.severity for p in problems],
            "messages": [p.message for p in problems],
            "wheres": [p.where for p in problems],
        },
    )


def _fail(
    data: Path,
    run_id: int,
    entity_name: str,
    fmt: str | None,
    kind: str,
    message: str,
    file_digest: Future[str] | None = None,
) -> RunResult:
    # A failed run records which file it read too, when that file could be read to the end.
    digest = None
    if file_digest is not None and file_digest.exception() is None:
        digest = file_digest.result()
    with db.transaction(data) as con:
        con.execute(
            """UPDATE import_runs SET status = 'failed', finished_at = current_timestamp, error_kind = ?,
                   error_message = ?, file_sha256 = coalesce(?, file_sha256) WHERE id = ?""",
            [kind, message, digest, run_id],
        )
    return RunResult(
        run_id=run_id, status="failed", entity=entity_name, format=fmt, error_kind=kind, error_message=message
    )


def _credentials(data: Path, src: dict | None) -> dict:
    if not src or not src.get("credentials"):
        return {}
    from pipeline.secrets import decrypt_json

    return decrypt_json(data, src["credentials"])


def _credential_store(data: Path, src: dict | None):
    """The source's credential store, for API connectors whose tokens rotate (pipeline.sources)."""
    from pipeline.sources import credential_store

    return credential_store(data, src)


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, int | float | str | bool) or value is None:
        return value
    return str(value)


# ---------------------------------------------------------------- user actions


_HASHING = ThreadPoolExecutor(max_workers=2, thread_name_prefix="file-sha256")


def file_sha256(path: Path) -> str:
    """The file's SHA-256 (hex), recorded with its import run."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def import_file(
    data: str | os.PathLike | None,
    path: str | os.PathLike,
    entity_name: str,
    *,
    fmt: str = "auto",
    preset: str | None = None,
    options: dict[str, Any] | None = None,
    organisation: str | None = None,
    trigger: str = "upload",
    max_bytes: int | None = None,
    progress: Callable[[str, float], None] | None = None,
) -> RunResult:
    """Import one file for one entity (created when new) as a run, and wait for it."""
    data = db.data_dir(data)
    from connectors.files import detect_format

    path = Path(path).resolve()
    if not path.is_file():
        raise ParseError("the file does not exist or is not a file", file=str(path))
    if fmt == "auto":
        fmt = detect_format(path)
    elif fmt not in FILE_FORMATS:
        raise ConfigError(f"Unknown format {fmt!r}; use one of auto, {', '.join(FILE_FORMATS)}.")
    opts = dict(options or {})
    if preset:
        opts["preset"] = preset
    # Hashing a large export takes about a second per GB; hashlib releases the GIL, so it runs
    # beside the parse instead of before it.
    digest = _HASHING.submit(file_sha256, path)
    with db.transaction(data, vacuum=False) as con:
        org_id = entities.ensure_organisation(con, organisation) if organisation else None
        entity_id = entities.ensure_entity(con, entity_name, organisation_id=org_id)
        run_id = queue_run(
            con,
            entity_id,
            trigger=trigger,
            priority=10,
            fmt=fmt,
            file_name=path.name,
            params={"path": str(path), "options": opts, "max_bytes": max_bytes},
        )
        # Queued and claimed in one transaction: a run started here waits for no worker.
        claimed = claim_run(con, data, run_id)
    return run_claimed(data, claimed, progress=progress, file_digest=digest)


def sync_entity(
    data: str | os.PathLike | None,
    entity_id: int,
    *,
    full: bool = False,
    trigger: str = "manual",
    options: dict[str, Any] | None = None,
) -> RunResult:
    """Queue and run an import of a connected (non-file) entity in this process."""
    data = db.data_dir(data)
    with db.transaction(data, vacuum=False) as con:
        run_id = queue_run(
            con,
            entity_id,
            trigger=trigger,
            full=full,
            priority=10 if trigger == "manual" else 0,
            params={"options": options or {}},
        )
        claimed = claim_run(con, data, run_id)
    return run_claimed(data, claimed)


def list_runs(con, *, entity_id: int | None = None, limit: int = 100) -> list[dict]:
    """Import history, newest first, with the entity name and duration."""
    return db.rows_as_dicts(
        con.execute(
            """SELECT r.id, e.name AS entity, r.trigger, r.status, r.full_sync, r.format, r.file_name,
                      r.queued_at, r.started_at, r.finished_at,
                      epoch(r.finished_at - r.started_at) AS seconds,
                      r.rows_read, r.inserted, r.updated, r.deleted, r.problem_count,
                      r.error_kind, r.error_message
               FROM import_runs r JOIN entities e ON e.id = r.entity_id
               WHERE $entity_id IS NULL OR r.entity_id = $entity_id
               ORDER BY r.id DESC LIMIT $limit""",
            {"entity_id": entity_id, "limit": limit},
        )
    )


def run_problems(con, run_id: int) -> list[dict]:
    return db.rows_as_dicts(
        con.execute(
            "SELECT kind, severity, message, location FROM problems WHERE run_id = ? ORDER BY id", [run_id]
        )
    )
