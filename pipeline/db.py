"""The warehouse: one DuckDB file, short-lived connections, numbered migrations.

DuckDB lets one process write a file at a time and fails at once on a conflicting lock. The app
and the scheduler are two processes, so every unit of work opens a connection, does one
transaction and closes; `connect` retries lock conflicts with jittered backoff. The file is
attached to one in-memory DuckDB instance per process and detached when the process's last
connection closes, which is what releases the lock.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import random
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path

import duckdb

from pipeline.errors import ConfigError

LOCK_MARKERS = ("Could not set lock", "Conflicting lock", "database is locked", "IO Error: Cannot open")
DEFAULT_LOCK_WAIT = 60.0

_migrated: set[str] = set()


def data_dir(explicit: str | os.PathLike | None = None) -> Path:
    """The data folder: explicit, else $LEDGERLINE_DATA, else ./data."""
    path = Path(explicit or os.environ.get("LEDGERLINE_DATA") or "data")
    return path.resolve()


def warehouse_path(data: str | os.PathLike | None = None) -> Path:
    return data_dir(data) / "warehouse.duckdb"


def _is_lock_error(exc: Exception) -> bool:
    text = str(exc)
    return any(marker in text for marker in LOCK_MARKERS)


def duckdb_config() -> dict[str, str | bool]:
    """Settings for every warehouse connection (one process must always use the same ones).

    A memory cap makes large merges spill to disk instead of growing the process; insertion
    order is not needed (every query orders explicitly) and costs memory on bulk loads. A new
    warehouse is written in the 1.5 storage format: its string compression writes a 5M-line
    import about 30% faster than the 1.0 format DuckDB picks by default, and DuckDB is pinned to
    1.5 anyway (files written by 2.0 cannot be opened by 1.5, and the other way round is fine).
    """
    return {
        "memory_limit": os.environ.get("LEDGERLINE_DUCKDB_MEMORY", "1GB"),
        "preserve_insertion_order": False,
        "storage_compatibility_version": "v1.5.0",
    }


class _Attachment:
    """One warehouse file attached to this process's DuckDB instance, and who is using it."""

    def __init__(self) -> None:
        self.changed = threading.Condition()
        self.alias: str | None = None  # None while detached
        self.read_only = False
        self.users = 0


_instance: duckdb.DuckDBPyConnection | None = None
_instance_guard = threading.Lock()
_attachments: dict[str, _Attachment] = {}
_aliases = itertools.count(1)
_settings: dict[str, str] = {}  # instance-wide settings asked for since it started (_settle_instance)
_settings_guard = threading.Lock()


def instance() -> duckdb.DuckDBPyConnection:
    """This process's one in-memory DuckDB instance: warehouse files are attached to it, and
    work on staged files (validation) runs on cursors of it.

    One instance, not one per purpose: two instances in one process each keep freed memory for
    their own threads, and a 5M-line import peaked 140 MB higher with a second one.
    """
    global _instance
    with _instance_guard:
        if _instance is None:
            _instance = duckdb.connect(":memory:", config=duckdb_config())
        return _instance


def cursor() -> duckdb.DuckDBPyConnection:
    """A new connection to this process's instance, for the caller to close: its temp tables and
    views are its own, so threads may each work on one at once."""
    con = instance().cursor()
    con.execute("SET enable_progress_bar = false")
    return con


def _on_instance(sql: str) -> None:
    con = cursor()
    try:
        con.execute(sql)
    finally:
        con.close()


def _attach(path: Path, *, read_only: bool, lock_wait: float) -> str:
    """Attach the file (or join the users of this process already attached to it); its alias.

    A read-write user waits for read-only users to leave, as it would for another process.
    """
    with _instance_guard:
        attachment = _attachments.setdefault(str(path), _Attachment())
    with attachment.changed:
        deadline = time.monotonic() + lock_wait
        while attachment.users and attachment.read_only and not read_only:
            if not attachment.changed.wait(max(0.0, deadline - time.monotonic())):
                raise _locked(path, lock_wait)
        if attachment.alias is None:
            _settle_instance(path)
            migrated = str(path) in _migrated
            attachment.alias = _attach_file(path, read_only=read_only and migrated, lock_wait=lock_wait)
            attachment.read_only = read_only and migrated
            if not migrated:
                con = cursor()
                try:
                    con.execute(f"USE {attachment.alias}")
                    migrate(con)
                except BaseException:
                    _on_instance(f"DETACH {attachment.alias}")
                    attachment.alias = None
                    raise
                finally:
                    con.close()
                _migrated.add(str(path))
        attachment.users += 1
        return attachment.alias


def _settle_instance(path: Path) -> None:
    """Apply what a DuckDB instance opened on the file itself would have: the memory cap as the
    environment sets it now (the instance outlives a change of it), and spill files in a folder
    beside the warehouse, not in the process's working folder (DuckDB fixes that folder at its
    first use: the first warehouse this process attaches)."""
    limit = duckdb_config()["memory_limit"]
    with _settings_guard:
        if _settings.get("memory_limit") != limit:
            _on_instance(f"SET memory_limit = {_literal(limit)}")
            _settings["memory_limit"] = limit
        if "temp_directory" not in _settings:
            folder = str(path) + ".tmp"
            # Refused when something spilled before any warehouse was attached: it stays there.
            with contextlib.suppress(duckdb.Error):
                _on_instance(f"SET temp_directory = {_literal(folder)}")
            _settings["temp_directory"] = folder


def _attach_file(path: Path, *, read_only: bool, lock_wait: float) -> str:
    """ATTACH the file under a new alias, retrying while another process holds its lock."""
    alias = f"warehouse_{next(_aliases)}"
    statement = f"ATTACH {_literal(str(path))} AS {alias}{' (READ_ONLY)' if read_only else ''}"
    deadline = time.monotonic() + lock_wait
    delay = 0.02
    while True:
        try:
            _on_instance(statement)
            return alias
        except duckdb.Error as exc:
            if not _is_lock_error(exc) or time.monotonic() >= deadline:
                if _is_lock_error(exc):
                    raise _locked(path, lock_wait) from exc
                raise
            time.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 0.5)


def _literal(text: str) -> str:
    """A SQL string literal (ATTACH and SET take no parameters)."""
    return "'" + text.replace("'", "''") + "'"


def _locked(path: Path, lock_wait: float) -> ConfigError:
    return ConfigError(
        f"The warehouse {path.name} stayed locked by another process for {lock_wait:.0f} s.",
        guidance="An import may be finishing; try again in a moment.",
    )


def _detach(path: Path) -> None:
    """Leave the file; the last user of this process detaches it, releasing its lock."""
    attachment = _attachments[str(path)]
    with attachment.changed:
        attachment.users -= 1
        if not attachment.users:
            # Should DETACH fail, the file stays attached (alias set) for the next user.
            _on_instance(f"DETACH {attachment.alias}")
            attachment.alias = None
            attachment.changed.notify_all()


@contextmanager
def connect(
    data: str | os.PathLike | None = None, *, read_only: bool = False, lock_wait: float = DEFAULT_LOCK_WAIT
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A short-lived connection to the warehouse, migrated on first use in this process.

    The file is attached to one in-memory DuckDB instance that lives as long as the process,
    and detached (its lock released) when the last connection of this process closes: that is
    a quarter of the cost of starting and closing a DuckDB instance per connection (2 ms against
    9 ms), and a run opens two.
    """
    path = warehouse_path(data)
    path.parent.mkdir(parents=True, exist_ok=True)
    alias = _attach(path, read_only=read_only, lock_wait=lock_wait)
    try:
        con = cursor()
        try:
            con.execute(f"USE {alias}")
            yield con
        finally:
            con.close()
    finally:
        _detach(path)


@contextmanager
def transaction(
    data: str | os.PathLike | None = None, *, vacuum: bool = True, **kwargs
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection inside one transaction: committed on success, rolled back on any error.

    The commit writes the changes into the file (`write_at_commit`); `vacuum` False leaves the
    rows it deleted where they are.
    """
    with connect(data, **kwargs) as con, _begun(con):
        yield con
        write_at_commit(con, vacuum=vacuum)


def write_at_commit(con: duckdb.DuckDBPyConnection, *, vacuum: bool) -> None:
    """Make the open transaction's COMMIT write its changes into the warehouse file itself.

    A plain commit appends the changes to the write-ahead log and the checkpoint at close writes
    them into the file a second time. With the checkpoint threshold at zero DuckDB checkpoints
    within the commit and skips the log: a 20k-line sync commits 10 ms sooner (40 ms instead of
    50). The caller's transaction block restores both settings after the commit (`_begun`).

    `vacuum` False keeps the checkpoint from vacuuming: DuckDB's checkpoint rewrites every row
    group that holds deleted rows, across all tables, and after a run that changed 20k lines of
    a 5M-line ledger that rewrite took 0.05-1 s, most of the run. The deleted rows are reclaimed
    by the next commit that vacuums (any other write: the scheduler's heartbeat, an edit in the
    app, a run that changed much; see pipeline.imports.vacuum_due). When another connection of
    this process has a transaction open DuckDB cannot checkpoint at commit; it logs the changes
    as usual, and a later checkpoint writes them.
    """
    con.execute("SET checkpoint_threshold = '0B'")
    if not vacuum:
        con.execute("SET max_vacuum_tasks = 0")
    _writing_at_commit.add(id(con))


def in_transaction(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether an explicit transaction is open: in autocommit mode every query gets a new id.

    (A BEGIN inside a transaction would fail and abort the caller's transaction, so probe.)
    """
    first = con.execute("SELECT txid_current()").fetchone()[0]
    return con.execute("SELECT txid_current()").fetchone()[0] == first


@contextmanager
def atomic(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """Run a block in a transaction: the caller's when one is open, else a new one."""
    if in_transaction(con):
        yield con  # the caller's transaction commits or rolls back
        return
    with _begun(con):
        yield con


@contextmanager
def _begun(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """A new transaction on `con`: committed when the block ends, rolled back on any error."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        _restore_commit_settings(con)
        raise
    try:
        con.execute("COMMIT")
    finally:
        _restore_commit_settings(con)


# Connections (by id) whose open transaction write_at_commit changed the settings for: only
# their transaction's end restores them, so other transactions run no extra statements.
_writing_at_commit: set[int] = set()


def _restore_commit_settings(con: duckdb.DuckDBPyConnection) -> None:
    # Both are database-wide: other connections of this process commit as DuckDB does by default.
    if id(con) not in _writing_at_commit:
        return
    _writing_at_commit.discard(id(con))
    con.execute("RESET checkpoint_threshold")
    con.execute("RESET max_vacuum_tasks")


def sql_text(*parts: str) -> str:
    """The text of a SQL file under pipeline/sql/, e.g. sql_text('merge', 'transactions.sql')."""
    return resources.files("pipeline").joinpath("sql", *parts).read_text(encoding="utf-8")


def migrations() -> list[tuple[int, str, str]]:
    """(version, name, sql) of every file in sql/schema, in order."""
    folder = resources.files("pipeline").joinpath("sql", "schema")
    found = []
    for item in folder.iterdir():
        if item.name.endswith(".sql"):
            version = int(item.name.split("_", 1)[0])
            found.append((version, item.name, item.read_text(encoding="utf-8")))
    return sorted(found)


def migrate(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Apply migrations not yet applied, each in its own transaction. Returns the names applied."""
    con.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name VARCHAR, "
        "applied_at TIMESTAMPTZ DEFAULT current_timestamp)"
    )
    done = {row[0] for row in con.execute("SELECT version FROM schema_migrations").fetchall()}
    applied = []
    for version, name, text in migrations():
        if version in done:
            continue
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(text)
            con.execute("INSERT INTO schema_migrations (version, name) VALUES (?, ?)", [version, name])
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
        applied.append(name)
    _refresh_key_hashes(con)
    return applied


# The hash of this fixed text tells whether hash() is the one that wrote key_hash (migration 080).
_HASH_PROBE = "hash('ledgerline key hash')"


def _refresh_key_hashes(con: duckdb.DuckDBPyConnection) -> None:
    """Compute transactions.key_hash again when DuckDB's hash() is not the one that wrote it.

    A small sync finds stored lines by these hashes (pipeline/sql/merge/probe_hashed.sql); after
    an upgrade that changed hash(), stale ones would hide lines the sync changes, which would then
    be stored twice.
    """
    (same,) = con.execute(f"SELECT probe = {_HASH_PROBE} FROM key_hash_function").fetchone()  # noqa: S608
    if same:
        return
    with _begun(con):
        con.execute("UPDATE transactions SET key_hash = hash(line_key) WHERE line_key IS NOT NULL")
        con.execute(f"UPDATE key_hash_function SET probe = {_HASH_PROBE}")  # noqa: S608


def rows_as_dicts(cursor: duckdb.DuckDBPyConnection) -> list[dict]:
    """Fetch all rows of the last query as dicts keyed by column name."""
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
