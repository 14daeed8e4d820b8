"""What the Xero, QuickBooks, Sage and Twinfield connector tests share.

- `apply`: what the pipeline's merge does with a stream (upsert, deleted keys, replaced ranges),
  so "incremental after changes equals a fresh full import" is checked on the rows themselves;
- `FileStore`: a credential store in a JSON file, saved atomically under a file lock, so a child
  process can refresh a token, be killed, and leave the parent the stored result;
- `refresh_in_child`: one process asking for a token the way an import run does, optionally
  killed at a fault point of connectors.oauth;
- `SUITE`: the sandbox checks every API connector must pass before it loses its beta label.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import polars as pl

from connectors.base import ExtractRequest
from connectors.oauth import MemoryStore

ROOT = Path(__file__).resolve().parents[2]

# Topic -> the words a test name must contain to count as covering it.
SUITE = {
    "full vs incremental equality after new, changed and deleted postings": ("incremental", "fresh"),
    "page boundaries": ("page",),
    "token expiry and rotation across a process kill": ("kill",),
    "429 storms": ("429",),
    "an entity that vanishes": ("vanish",),
}


def missing_from_suite(module: ModuleType) -> list[str]:
    """The suite topics no test function of `module` covers."""
    names = [n for n in dir(module) if n.startswith("test_")]
    return [topic for topic, words in SUITE.items() if not any(all(w in n for w in words) for n in names)]


def stream(extraction, name: str):
    return next(s for s in extraction.streams if s.stream == name)


def apply(before: pl.DataFrame, data) -> pl.DataFrame:
    """The stored rows after the pipeline merges `data` (a StreamData) into `before`."""
    rows = data.rows if isinstance(data.rows, pl.DataFrame) else data.rows.collect()
    if data.replace == "all":
        return rows
    kept = before
    if data.replace == "ranges" and data.ranges:
        in_ranges = pl.any_horizontal([pl.col("tx_date").is_between(a, b) for a, b in data.ranges])
        kept = kept.filter(~in_ranges)
    kept = kept.filter(~pl.col("line_key").is_in(rows["line_key"].implode()))
    merged = pl.concat([kept, rows])
    return merged.filter(~pl.col("line_key").is_in(list(data.deleted_keys)))


def same_rows(left: pl.DataFrame, right: pl.DataFrame) -> bool:
    return left.sort("line_key").equals(right.sort("line_key"))


class FileStore:
    """A CredentialStore in a JSON file: atomic saves (write, fsync, rename) under a file lock."""

    _held = threading.local()

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    def load(self) -> dict[str, Any]:
        return json.loads(self.path.read_text()) if self.path.exists() else {}

    def save(self, credentials: dict[str, Any]) -> None:
        tmp = self.path.with_suffix(".tmp")
        with open(tmp, "w") as f:
            json.dump(credentials, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)

    @contextmanager
    def lock(self) -> Iterator[None]:
        if getattr(self._held, "depth", 0):
            self._held.depth += 1
            try:
                yield
            finally:
                self._held.depth -= 1
            return
        with open(self.path.with_suffix(".lock"), "w") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            self._held.depth = 1
            try:
                yield
            finally:
                self._held.depth = 0
                fcntl.flock(f, fcntl.LOCK_UN)


CHILD = """
import json, sys, importlib
from connectors.oauth import TokenManager
from tests.connectors.intl_suite import FileStore
module, name = sys.argv[1].split(":")
cls = getattr(importlib.import_module(module), name)
store = FileStore(sys.argv[2])
config = json.loads(sys.argv[3])
tokens = TokenManager(cls.oauth_app(config, store.load()), store, vendor=cls.label)
print(tokens.access_token(), flush=True)
"""


def refresh_in_child(connector: str, store: FileStore, config: dict[str, Any], fault: str | None = None):
    """Run one token request in a child process (killed at `fault`); returns the finished process."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("LEDGERLINE_FAULT_POINT", None)
    if fault:
        env["LEDGERLINE_FAULT_POINT"] = fault
    return subprocess.run(
        [sys.executable, "-c", CHILD, connector, str(store.path), json.dumps(config)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


# ---------------------------------------------------------------- sandbox sessions shared by the suites


def signed_in(sandbox, clock) -> MemoryStore:
    """Credentials as they are right after the user signed in at the vendor's sandbox."""
    tokens = sandbox.issue_tokens()
    return MemoryStore(
        {
            "client_secret": sandbox.client_secret,
            "access_token": tokens["access_token"],
            "refresh_token": tokens["refresh_token"],
            "expires_at": clock.time() + int(tokens["expires_in"]),
        }
    )


def config(sandbox) -> dict:
    """The source settings that point a connector at its sandbox."""
    return {
        "base_url": sandbox.url,
        "client_id": sandbox.client_id,
        "redirect_uri": "http://127.0.0.1/callback",
    }


def request(sandbox, store, entity: str | None, **kwargs) -> ExtractRequest:
    """An extraction request for one entity (tenant, business, office) of the sandbox."""
    return ExtractRequest(
        entity_name="Demo Retail BV",
        entity_external_id=entity,
        config={**config(sandbox), **kwargs.pop("config", {})},
        credential_store=store,
        **kwargs,
    )
