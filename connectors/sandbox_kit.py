"""What the local vendor sandboxes share: serving on 127.0.0.1, the OAuth side, moving books on.

- `SandboxServer`: `url`, `start`/`stop` and `with` around a `LocalServer` serving `handle`;
- `OAuthSandbox`: a sandbox whose sign-in and tokens come from a `SandboxAuthority` (`auth`);
- `BooksSandbox`: an OAuth sandbox whose entities hold the demo organisation's books
  (`connectors.demo.books`), moved on by `advance_to` and `edit` and recorded by the vendor's
  own rules (`_save`, `_change`, `_remove`);
- `metered`, `evening` and `serve`: the quota round of a call, the test clock's move to a day's
  evening, and the command line that serves a sandbox until Ctrl-C.
"""

from __future__ import annotations

import argparse
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from typing import Any, ClassVar, Self

from connectors.demo.books import Changes, Entry, demo_entries
from connectors.demo.generate import as_date
from connectors.http import (
    Clock,
    LocalServer,
    ManualClock,
    SandboxQuota,
    SandboxRequest,
    SandboxResponse,
    SystemClock,
)
from connectors.oauth import SandboxAuthority

EVENING_HOUR = 19  # advance_to moves a manual clock to this hour (UTC) of the day
POSTING_HOUR = 18  # the books' first entries count as posted at this hour (UTC) of their day


class SandboxServer:
    """A sandbox served on 127.0.0.1 by `server` (a `LocalServer` around the sandbox's `handle`)."""

    server: LocalServer

    @property
    def url(self) -> str:
        """The root of the sandbox (what the source's `config['base_url']` takes)."""
        return self.server.url

    def start(self) -> Self:
        """Start serving; returns the sandbox."""
        self.server.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        self.server.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class OAuthSandbox(SandboxServer):
    """A sandbox whose sign-in page, token endpoint and token checks are `auth`'s; every other
    request is the vendor's API (`_api`)."""

    auth: SandboxAuthority
    authorize_path: ClassVar[str]  # the vendor's sign-in page (GET)
    token_path: ClassVar[str]  # the vendor's token endpoint (POST)

    @property
    def client_id(self) -> str:
        return self.auth.client_id

    @property
    def client_secret(self) -> str:
        return self.auth.client_secret

    def issue_tokens(self) -> dict[str, Any]:
        """A token answer as if the user had just signed in (skips the browser step)."""
        return self.auth.issue()

    def handle(self, request: SandboxRequest) -> SandboxResponse:
        """Answer one HTTP request (the server calls this on its own threads)."""
        self._received(request)
        path = request.path.rstrip("/")
        if path == self.authorize_path and request.method == "GET":
            return self.auth.authorize(request)
        if path == self.token_path and request.method == "POST":
            return self.auth.token(request)
        return self._api(request, path)

    def _received(self, request: SandboxRequest) -> None:
        """Note a request before it is answered (for tests that count calls)."""

    def _api(self, request: SandboxRequest, path: str) -> SandboxResponse:
        """Answer a request to the vendor's API (`path` without a trailing slash)."""
        raise NotImplementedError


class BooksSandbox(OAuthSandbox):
    """An OAuth sandbox with one entity per demo entity, each holding its `books` (`demo_id`).

    A subclass keeps its entities in the mapping `_ledgers()` answers and records what changes
    in the books the vendor's way: `_save` an entry added (or changed, unless `_change` says
    otherwise) and `_remove` one deleted.
    """

    opening: ClassVar[str] = "first"  # how the demo books hold opening balances (demo_entries)

    def _setup(self, clock: Clock | None, seed: int, as_of: str | date) -> None:
        """The state every books sandbox starts from, before its entities are opened."""
        self.clock = clock or SystemClock()
        self.seed = seed
        self.as_of = as_date(as_of)
        self._lock = threading.RLock()
        self.requests: list[Any] = []

    def _open(self, ledger: Any) -> None:
        """Give a new entity its books as of `as_of`."""
        books = ledger.books.replace(demo_entries(ledger.demo_id, self.as_of, self.seed, self.opening))
        self._record(ledger, books, initial=True)

    def _received(self, request: SandboxRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def _ledgers(self) -> Mapping[str, Any]:
        """The entities by the vendor's id; each has `books` and `demo_id`."""
        raise NotImplementedError

    def _save(self, ledger: Any, entry: Entry, stamp: float) -> None:
        raise NotImplementedError

    def _change(self, ledger: Any, before: Entry, after: Entry, now: float) -> None:
        self._save(ledger, after, now)

    def _remove(self, ledger: Any, entry: Entry, now: float) -> None:
        raise NotImplementedError

    def advance_to(self, as_of: str | date) -> dict[str, int]:
        """Move every entity's books to a later day, recording the changes now; returns the lines
        inserted, updated and deleted."""
        day = as_date(as_of)
        evening(self.clock, day)
        counts = {"inserted": 0, "updated": 0, "deleted": 0}
        for ledger in self._ledgers().values():
            changes = ledger.books.replace(demo_entries(ledger.demo_id, day, self.seed, self.opening))
            for k, v in self._record(ledger, changes).items():
                counts[k] += v
        self.as_of = day
        return counts

    def edit(
        self, entity: str, *, correct: int = 0, delete: int = 0, before: str | date | None = None
    ) -> dict[str, int]:
        """Correct and delete the most recent entries of one entity (dated before `before`, when
        given), now."""
        ledger = self._ledgers()[entity]
        return self._record(ledger, ledger.books.edit(correct=correct, delete=delete, before=before))

    def _record(self, ledger: Any, changes: Changes, *, initial: bool = False) -> dict[str, int]:
        """Record what changed in an entity's books. The first books (`initial`) count as posted
        on their own day, at the latest now; every later change is posted now."""
        now = self.clock.time()
        with self._lock:
            for entry in changes.added:
                posted = datetime(entry.day.year, entry.day.month, entry.day.day, POSTING_HOUR, tzinfo=UTC)
                self._save(ledger, entry, min(now, posted.timestamp()) if initial else now)
            for before, after in changes.changed:
                self._change(ledger, before, after, now)
            for entry in changes.deleted:
                self._remove(ledger, entry, now)
        return changes.counts()


def metered(
    quota: SandboxQuota,
    key: str,
    refused: Callable[[str, float], SandboxResponse],
    answer: Callable[[], SandboxResponse],
) -> SandboxResponse:
    """`answer()` counted in `key`'s quota, or `refused(window, wait)` when the quota is spent."""
    over = quota.enter(key)
    if over is not None:
        return refused(*over)
    try:
        return answer()
    finally:
        quota.leave(key)


def evening(clock: Clock, day: date) -> None:
    """Move a test's manual clock on to the evening of `day` (a system clock is left alone)."""
    if isinstance(clock, ManualClock):
        moment = datetime(day.year, day.month, day.day, EVENING_HOUR, tzinfo=UTC).timestamp()
        if clock.time() < moment:
            clock.advance(moment - clock.time())


def serve(
    sandbox: Callable[..., SandboxServer],
    argv: list[str] | None,
    *,
    name: str,
    short: str | None = None,
    show_secret: bool = False,
) -> None:
    """The command line of a sandbox: serve it until interrupted (for trying a source without an
    account at the vendor). `name` is the vendor's full name, `short` how the banner says it."""
    parser = argparse.ArgumentParser(description=f"{name} sandbox on 127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--as-of", default=date.today().isoformat())
    args = parser.parse_args(argv)
    running: Any = sandbox(as_of=args.as_of, port=args.port).start()
    secret = f", secret {running.client_secret!r}" if show_secret else ""
    print(
        f"{short or name} sandbox at {running.url} (client id {running.client_id!r}{secret}); Ctrl-C stops it",
        flush=True,
    )
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        running.stop()
