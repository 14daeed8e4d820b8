"""One HTTP policy for every API connector: pacing, retries, typed errors and call counts.

Every API connector (AFAS, Exact, Xero, QuickBooks, Sage, Twinfield, later Nmbrs) talks to its
vendor through `ApiClient`, which:

- paces calls under the vendor's rate-limit windows (read from its response headers by a
  vendor-specific `rate_windows` function) instead of running into 429s;
- keeps to documented limits the vendor does not report in headers ("60 calls a minute",
  "10 a second") by counting its own calls (`HttpPolicy.limits`);
- waits and retries on 429/502/503/504 and network errors, honouring `Retry-After` (seconds or an
  HTTP date), a vendor's own hint in the body, or the window reset, else exponential backoff;
- retries a 401 once after `reauth` (an OAuth refresh), then fails with the vendor's message;
- never has more than `max_parallel` calls in flight;
- maps everything else to the typed errors of `pipeline.errors` with guidance for the user;
- counts every call it makes (the vendor counts 429s too) for the run history.

Time is injectable (`Clock`): tests of "60 calls a minute" or a 429 storm run on a `ManualClock`
whose `sleep` advances time instead of waiting. `LocalServer` at the end serves the vendor
sandboxes on 127.0.0.1 so connectors are tested over real HTTP.
"""

from __future__ import annotations

import email.utils
import json
import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

import httpx

from pipeline.errors import AuthError, FatalSourceError, LedgerlineError, RetriableSourceError

log = logging.getLogger(__name__)

# ---------------------------------------------------------------- time


class Clock(Protocol):
    """Wall-clock time in epoch seconds and a way to wait; injectable so tests never really wait."""

    def time(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock."""

    def time(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


class ManualClock:
    """A clock that only moves when told to: `sleep` advances it at once. Thread-safe.

    Share one between a sandbox and a client and an hour of rate-limit waiting takes no time.
    """

    def __init__(self, start: float = 1_751_295_600.0):  # 2025-06-30 15:00 UTC
        self._now = float(start)
        self._lock = threading.Lock()
        self.slept = 0.0

    def time(self) -> float:
        with self._lock:
            return self._now

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            with self._lock:
                self._now += seconds
                self.slept += seconds

    def advance(self, seconds: float) -> None:
        """Move time forward without counting it as a wait."""
        with self._lock:
            self._now += seconds


# ---------------------------------------------------------------- policy


@dataclass(frozen=True)
class RateWindow:
    """One rate-limit window as the vendor reports it: calls left until `reset_at` (epoch s)."""

    name: str
    limit: int | None
    remaining: int
    reset_at: float


@dataclass(frozen=True)
class Limit:
    """A documented vendor limit the client keeps to by counting its own calls: `calls` per
    `seconds`, as a sliding window (the strictest reading of "60 calls a minute")."""

    calls: int
    seconds: float
    name: str = ""

    @property
    def label(self) -> str:
        return self.name or f"{self.calls} calls per {self.seconds:g} s"


@dataclass
class HttpPolicy:
    """Retry and pacing settings; each connector starts from its vendor's documented limits."""

    max_attempts: int = 8  # attempts per request, the first included
    backoff_base: float = 1.0
    backoff_max: float = 120.0
    max_wait: float = 900.0  # longest single wait inside a run; longer means "retry the run later"
    max_parallel: int = 4
    timeout: float = 120.0
    reserve: int = 1  # calls left unused in each rate window (other processes share the quota)
    retry_statuses: frozenset[int] = frozenset({429, 502, 503, 504})
    limits: tuple[Limit, ...] = ()  # limits the vendor does not report in headers


@dataclass
class CallStats:
    """What a client did, for the run history: every call made, retries, and time spent waiting."""

    calls: int = 0
    retries: int = 0
    throttled: int = 0  # 429 responses
    unavailable: int = 0  # 502/503/504 responses and network errors
    waited_seconds: float = 0.0
    by_status: dict[int, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "api_calls": self.calls,
            "api_retries": self.retries,
            "api_throttled": self.throttled,
            "api_unavailable": self.unavailable,
            "api_waited_seconds": round(self.waited_seconds, 3),
        }


ErrorMapper = Callable[[httpx.Response], LedgerlineError]
RetryHint = Callable[[httpx.Response], float | None]
RateReader = Callable[[httpx.Headers, float], list[RateWindow]]


def retry_after_seconds(headers: httpx.Headers, now: float) -> float | None:
    """The `Retry-After` header as seconds from now (it may be seconds or an HTTP date)."""
    value = headers.get("retry-after")
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now)


def epoch_seconds(value: str | None, now: float) -> float | None:
    """A reset header as epoch seconds: epoch milliseconds, epoch seconds, or seconds from now."""
    if value is None or not str(value).strip():
        return None
    try:
        number = float(str(value).strip())
    except ValueError:
        return None
    if number > 1e11:
        return number / 1000.0
    if number > 1e9:
        return number
    return now + number


class EntityUnavailable(FatalSourceError):
    """The vendor no longer shows this entity: an organisation disconnected from the app, a
    company or office removed, access withdrawn. The entity's run fails with this kind, so the
    app can mark the entity instead of reporting a crash."""

    kind = "entity_unavailable"


def default_error(vendor: str) -> ErrorMapper:
    """Status-based mapping used when a connector does not read its vendor's error body."""

    def mapper(response: httpx.Response) -> LedgerlineError:
        status = response.status_code
        if status == 401:
            return AuthError(f"{vendor} rejected the credentials (HTTP 401).")
        if status == 403:
            return FatalSourceError(f"{vendor} refused access (HTTP 403).")
        if status in (429, 502, 503, 504) or status >= 500:
            return RetriableSourceError(f"{vendor} answered HTTP {status}.")
        return FatalSourceError(f"{vendor} answered HTTP {status} for {response.request.url.path}.")

    return mapper


def loads_decimal(content: bytes) -> Any:
    """JSON with every non-integer number as Decimal, so money never passes through float."""
    return json.loads(content, parse_float=Decimal)


# ---------------------------------------------------------------- the client


class ApiClient:
    """An httpx client wrapped in the shared policy. One per connector run; thread-safe."""

    def __init__(
        self,
        base_url: str,
        *,
        vendor: str,
        policy: HttpPolicy | None = None,
        clock: Clock | None = None,
        headers: Mapping[str, str] | None = None,
        auth: Callable[[], Mapping[str, str]] | None = None,
        reauth: Callable[[], None] | None = None,
        error: ErrorMapper | None = None,
        retry_hint: RetryHint | None = None,
        rate_windows: RateReader | None = None,
        transport: httpx.BaseTransport | None = None,
        seed: int | None = None,
    ):
        self.vendor = vendor
        self.policy = policy or HttpPolicy()
        self.clock = clock or SystemClock()
        self.stats = CallStats()
        self._auth = auth
        self._reauth = reauth
        self._error = error or default_error(vendor)
        self._retry_hint = retry_hint
        self._rate_windows = rate_windows
        self._windows: dict[str, RateWindow] = {}
        self._sent: dict[Limit, deque[float]] = {limit: deque() for limit in self.policy.limits}
        self.server_time: float | None = None  # the vendor's clock at its first answer (Date header)
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(self.policy.max_parallel)
        self._rng = random.Random(seed)
        self._http = httpx.Client(
            base_url=base_url,
            headers=dict(headers or {}),
            timeout=self.policy.timeout,
            transport=transport,
            follow_redirects=False,
        )

    # -- lifecycle

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def base_url(self) -> httpx.URL:
        return self._http.base_url

    @property
    def windows(self) -> dict[str, RateWindow]:
        """The rate-limit windows as last reported by the vendor."""
        with self._lock:
            return dict(self._windows)

    # -- calls

    def get_json(self, url: str, params: Mapping[str, Any] | None = None) -> Any:
        """GET and decode JSON (decimals as Decimal)."""
        response = self.request("GET", url, params=params)
        try:
            return loads_decimal(response.content)
        except ValueError as exc:
            raise FatalSourceError(
                f"{self.vendor} answered {response.request.url.path} with something that is not JSON.",
                guidance="Check the source's address (environment or region) in its settings.",
            ) from exc

    def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        data: Mapping[str, str] | None = None,
        content: str | bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """Send one request under the policy and return the successful response."""
        attempt = 0
        reauthed = False
        while True:
            attempt += 1
            self._pace()
            extra = dict(self._auth() if self._auth else {})
            extra.update(headers or {})
            try:
                with self._slots:
                    self._count_call()
                    response = self._http.request(
                        method, url, params=params, data=data, content=content, headers=extra
                    )
            except httpx.TransportError as exc:
                with self._lock:
                    self.stats.unavailable += 1
                if attempt >= self.policy.max_attempts:
                    raise RetriableSourceError(
                        f"{self.vendor} could not be reached ({type(exc).__name__})."
                    ) from exc
                self._wait(self._backoff(attempt), retry=True)
                continue
            self._note(response)
            status = response.status_code
            if status < 400:
                return response
            if status == 401 and self._reauth is not None and not reauthed:
                reauthed = True
                self._reauth()
                attempt -= 1  # a refreshed token is a new start, not a failed attempt
                continue
            if status in self.policy.retry_statuses:
                wait = self._retry_wait(response, attempt)
                if attempt >= self.policy.max_attempts or wait > self.policy.max_wait:
                    raise self._retriable(response, wait, attempt)
                self._wait(wait, retry=True)
                continue
            raise self._error(response)

    # -- internals

    def _count_call(self) -> None:
        with self._lock:
            self.stats.calls += 1
            # Spend one call from every known window before the answer says how many are left, so
            # parallel threads do not all see the same "remaining".
            for name, w in list(self._windows.items()):
                self._windows[name] = RateWindow(w.name, w.limit, w.remaining - 1, w.reset_at)

    def _note(self, response: httpx.Response) -> None:
        now = self.clock.time()
        with self._lock:
            self.stats.by_status[response.status_code] = self.stats.by_status.get(response.status_code, 0) + 1
            if response.status_code == 429:
                self.stats.throttled += 1
            elif response.status_code in (502, 503, 504):
                self.stats.unavailable += 1
            if self.server_time is None and response.headers.get("date"):
                try:
                    self.server_time = email.utils.parsedate_to_datetime(response.headers["date"]).timestamp()
                except (TypeError, ValueError):
                    pass
            if self._rate_windows is not None:
                for w in self._rate_windows(response.headers, now):
                    self._windows[w.name] = w

    def _pace(self) -> None:
        """Wait while a window has no calls left, so the vendor never has to answer 429.

        A call that may go is recorded against the local limits under the same lock, so
        parallel threads never overrun them together.
        """
        while True:
            now = self.clock.time()
            with self._lock:
                for name, w in list(self._windows.items()):
                    if w.reset_at <= now:
                        del self._windows[name]  # a new window: the next answer tells its size
                blocked = [
                    (w.reset_at, w.name) for w in self._windows.values() if w.remaining <= self.policy.reserve
                ]
                for limit, sent in self._sent.items():
                    while sent and sent[0] <= now - limit.seconds:
                        sent.popleft()
                    if len(sent) >= limit.calls:
                        blocked.append((sent[0] + limit.seconds, limit.label))
                if not blocked:
                    for sent in self._sent.values():
                        sent.append(now)
                    return
            reset_at, name = max(blocked)
            wait = reset_at - now + 0.05
            if wait > self.policy.max_wait:
                raise RetriableSourceError(
                    f"The {self.vendor} API quota ({name}) is used up until "
                    f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(reset_at))}.",
                    retry_after=wait,
                    guidance="The import will continue after the quota resets.",
                )
            self._wait(wait, retry=False)

    def _retry_wait(self, response: httpx.Response, attempt: int) -> float:
        now = self.clock.time()
        wait = retry_after_seconds(response.headers, now)
        if wait is None and self._retry_hint is not None:
            wait = self._retry_hint(response)
        if wait is None and response.status_code == 429:
            resets = [w.reset_at - now for w in self.windows.values() if w.remaining <= self.policy.reserve]
            if resets:
                wait = max(resets) + 0.05
        if wait is None:
            wait = self._backoff(attempt)
        return max(0.0, wait)

    def _backoff(self, attempt: int) -> float:
        base = min(self.policy.backoff_max, self.policy.backoff_base * 2 ** (attempt - 1))
        return base * (0.5 + self._rng.random() / 2)

    def _wait(self, seconds: float, *, retry: bool) -> None:
        with self._lock:
            self.stats.waited_seconds += seconds
            if retry:
                self.stats.retries += 1
        self.clock.sleep(seconds)

    def _retriable(self, response: httpx.Response, wait: float, attempt: int) -> RetriableSourceError:
        mapped = self._error(response)
        message = mapped.message if isinstance(mapped, LedgerlineError) else f"HTTP {response.status_code}"
        if wait > self.policy.max_wait:
            message = f"{message} It asks to wait {wait / 60:.0f} minutes, longer than an import waits."
        else:
            message = f"{message} Still so after {attempt} attempts."
        return RetriableSourceError(message, retry_after=wait)


# ---------------------------------------------------------------- local servers for sandboxes


@dataclass
class SandboxRequest:
    """A request as a sandbox sees it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: Mapping[str, str]
    body: bytes
    raw_query: str = ""

    def arg(self, name: str, default: str | None = None) -> str | None:
        """A query argument, matched case-insensitively as OData and AFAS servers do."""
        for key, values in self.query.items():
            if key.lower() == name.lower():
                return values[-1]
        return default

    def form(self) -> dict[str, str]:
        return {k: v[-1] for k, v in parse_qs(self.body.decode("utf-8"), keep_blank_values=True).items()}


@dataclass
class SandboxResponse:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, obj: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> SandboxResponse:
        out = {"Content-Type": "application/json; charset=utf-8", **(headers or {})}
        return cls(status, json.dumps(obj, default=_json_default).encode("utf-8"), out)


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        # Vendors send amounts as JSON numbers; a 2-decimal amount survives float's shortest repr.
        return float(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


class LocalServer:
    """A threaded HTTP server on 127.0.0.1 (ephemeral port) around a handler function.

    Counts requests in flight and the peak, so tests can check a client's parallelism.
    """

    def __init__(
        self,
        handler: Callable[[SandboxRequest], SandboxResponse],
        *,
        port: int = 0,
        clock: Clock | None = None,
    ):
        self._handler = handler
        self.clock = clock or SystemClock()
        self._lock = threading.Lock()
        self.in_flight = 0
        self.peak_in_flight = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out as separate writes

            def _serve(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                request = SandboxRequest(
                    method=self.command,
                    path=parts.path,
                    query=parse_qs(parts.query, keep_blank_values=True),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=body,
                    raw_query=parts.query,
                )
                server._enter()
                try:
                    response = server._handler(request)
                except Exception:  # a sandbox bug should be visible, not a hung client
                    log.exception("sandbox handler failed")
                    response = SandboxResponse.json({"error": "sandbox failure"}, 500)
                finally:
                    server._leave()
                self.send_response(response.status)
                for key, value in response.headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(response.body)))
                self.end_headers()
                self.wfile.write(response.body)

            do_GET = do_POST = do_PUT = do_DELETE = _serve

            def log_message(self, format, *args):  # keep test output quiet
                pass

            def date_time_string(self, timestamp=None):  # the sandbox's clock, not the machine's
                return email.utils.formatdate(
                    server.clock.time() if timestamp is None else timestamp, usegmt=True
                )

        self._server = _Server(("127.0.0.1", port), Handler)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> LocalServer:
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True, name="sandbox"
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _enter(self) -> None:
        with self._lock:
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)

    def _leave(self) -> None:
        with self._lock:
            self.in_flight -= 1


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver listens with a backlog of 5: a burst of calls beyond it waits for the
    # client's SYN retry (a second), so calls a test sends at once would not overlap as they
    # do on a vendor's server.
    request_queue_size = 128


class SandboxQuota:
    """A vendor's rate limits on the sandbox side: calls per calendar window per key (tenant,
    company, office), calls at once per key, and 429 storms a test can start.

    `enter` either counts the call and returns None, or refuses it and returns the window that is
    full and the seconds until it resets (what the vendor puts in Retry-After). Refused calls do
    not count. Every `enter` that returned None must be followed by `leave`.
    """

    def __init__(
        self, clock: Clock, windows: Mapping[str, tuple[int, float]], *, concurrent: int | None = None
    ):
        self.clock = clock
        self.windows = dict(windows)  # name -> (calls, seconds)
        self.concurrent = concurrent
        self.used: dict[tuple[str, str, int], int] = {}
        self.in_flight: dict[str, int] = {}
        self.peak: dict[str, int] = {}
        self.refused = 0
        self._storm: list[float] = []
        self._lock = threading.Lock()

    def storm(self, calls: int, retry_after: float = 1.0) -> None:
        """The next `calls` calls are refused (another app used the quota up)."""
        with self._lock:
            self._storm.extend([retry_after] * calls)

    def enter(self, key: str) -> tuple[str, float] | None:
        now = self.clock.time()
        with self._lock:
            if self._storm:
                self.refused += 1
                return "storm", self._storm.pop(0)
            if self.concurrent is not None and self.in_flight.get(key, 0) >= self.concurrent:
                self.refused += 1
                return "concurrent", 1.0
            slots = {
                name: (limit, seconds, int(now // seconds)) for name, (limit, seconds) in self.windows.items()
            }
            for name, (limit, seconds, index) in slots.items():
                if self.used.get((key, name, index), 0) >= limit:
                    self.refused += 1
                    return name, (index + 1) * seconds - now
            for name, (_, _, index) in slots.items():
                self.used[(key, name, index)] = self.used.get((key, name, index), 0) + 1
            self.in_flight[key] = self.in_flight.get(key, 0) + 1
            self.peak[key] = max(self.peak.get(key, 0), self.in_flight[key])
        return None

    def leave(self, key: str) -> None:
        with self._lock:
            self.in_flight[key] = self.in_flight.get(key, 1) - 1

    def remaining(self, key: str) -> dict[str, int]:
        """Calls left in each current window."""
        now = self.clock.time()
        with self._lock:
            return {
                name: max(0, limit - self.used.get((key, name, int(now // seconds)), 0))
                for name, (limit, seconds) in self.windows.items()
            }

    def max_used(self, name: str) -> int:
        """The most calls any key made in one window of `name` (to check a client's pacing)."""
        with self._lock:
            return max((n for (_, w, _), n in self.used.items() if w == name), default=0)
