"""A local Exact Online server that follows Exact's published contract, for tests and demos.

Contract facts (Exact's reference pages as quoted in its official samples,
github.com/exactonline/exactonline-api-dotnet-sync-demo, and Exact's OAuth and rate-limit docs):
- OAuth2 authorization code: GET /api/oauth2/auth redirects to the app's redirect URI with
  `code` and `state`; POST /api/oauth2/token (grant_type authorization_code | refresh_token)
  answers {"access_token", "token_type": "bearer", "expires_in": "600", "refresh_token"}: access
  tokens live 10 minutes (expires_in is a string), authorization codes 3 minutes and once;
  each refresh issues a new refresh token and the used one stops working.
- /api/v1/current/Me -> CurrentDivision; /api/v1/{division}/system/Divisions.
- Collections answer {"d": {"results": [...], "__next": "<absolute url>"}}; dates are
  "/Date(<epoch ms>)/"; regular endpoints page by 60, sync and bulk endpoints by 1000.
- sync/* endpoints filter on `Timestamp gt <n>L` and need `$select`; sync/Deleted rows are
  {EntityKey, EntityType (1 = TransactionLines), Timestamp, DeletedDate, Division};
  read/sync/Sync/SyncTimestamp?modified=datetime'..'&endPoint='TransactionLines' returns the
  timestamp of the first record modified on or after that moment (TimeStampAsBigInt).
- Rate limits per division: 60 calls a minute and 5000 a day, on every answer as
  X-RateLimit-Minutely-Limit/-Remaining/-Reset and X-RateLimit-Limit/-Remaining/-Reset (epoch
  milliseconds); a call over the limit answers 429.

Assumptions where Exact does not document a detail (the connector is tolerant of each):
- a used refresh token fails at once with 400 {"error": "invalid_grant"} (Exact may allow a grace
  period; the strict reading is the safe one to test against);
- __next carries `$skiptoken` (the last Timestamp, or the last ID for bulk and regular lists);
- 429 answers carry the X-RateLimit headers but no Retry-After; rejected calls do not count;
- the minutely window is the calendar minute, the daily window the UTC day;
- 401 and error bodies are {"error": {"code": "", "message": {"lang": "", "value": ...}}}.

The ledger is the demo organisation's (connectors.demo.generate), one division per demo entity;
`advance_to(day)` moves "today" forward: new lines, corrected lines (new Timestamp) and deleted
lines (a sync/Deleted record).
"""

from __future__ import annotations

import bisect
import functools
import re
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from connectors.demo.generate import PROFILES, as_date, generate_entity
from connectors.http import Clock, LocalServer, SandboxRequest, SandboxResponse, SystemClock
from connectors.oauth import SandboxAuthority
from connectors.sandbox_kit import OAuthSandbox, evening, serve

NAMESPACE = uuid.UUID("6f1c1b9e-5d0a-4c55-9a52-0d6f3c3e8a10")
DEFAULT_DIVISIONS = {101: "demo-retail", 102: "demo-services", 103: "demo-inc"}
JOURNAL_TYPES = {"VRK": 20, "INK": 30, "BNK": 40, "MEM": 90, "LON": 90}
REGULAR_PAGE = 60


def odata_error(message: str, status: int) -> SandboxResponse:
    return SandboxResponse.json({"error": {"code": "", "message": {"lang": "", "value": message}}}, status)


def _ms(moment: date | datetime) -> str:
    if not isinstance(moment, datetime):
        moment = datetime(moment.year, moment.month, moment.day, tzinfo=UTC)
    elif moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return f"/Date({int(moment.timestamp() * 1000)})/"


def _guid(*parts: Any) -> str:
    return str(uuid.uuid5(NAMESPACE, "|".join(str(p) for p in parts)))


class _Division:
    def __init__(self, code: int, demo_id: str, hid: int):
        self.code, self.demo_id, self.hid = code, demo_id, hid
        self.lines: dict[str, dict[str, Any]] = {}
        self.deleted: list[dict[str, Any]] = []
        self.accounts: dict[str, dict[str, Any]] = {}
        self.centres: list[dict[str, Any]] = []
        self.units: list[dict[str, Any]] = []


class ExactSandbox(OAuthSandbox):
    """Exact Online on 127.0.0.1: OAuth, rate limits and the demo ledger in three divisions."""

    authorize_path = "/api/oauth2/auth"
    token_path = "/api/oauth2/token"

    def __init__(
        self,
        *,
        client_id: str = "ledgerline-sandbox",
        client_secret: str = "sandbox-secret",
        as_of: str | date = "2024-03-31",
        seed: int = 42,
        clock: Clock | None = None,
        divisions: dict[int, str] | None = None,
        current: int | None = None,
        minutely_limit: int = 60,
        daily_limit: int = 5000,
        page_size: int = 1000,
        access_lifetime: int = 600,
        token_latency: float = 0.0,
        port: int = 0,
    ):
        self.seed = seed
        self.clock = clock or SystemClock()
        # Exact's refresh tokens rotate with no grace; codes live 3 minutes; expires_in is text.
        self.auth = SandboxAuthority(
            client_id=client_id,
            client_secret=client_secret,
            clock=self.clock,
            access_lifetime=access_lifetime,
            code_lifetime=180,
            expires_in_text=True,
            latency=token_latency,
            token_type="bearer",
        )
        self.divisions = {
            code: _Division(code, demo, hid)
            for hid, (code, demo) in enumerate((divisions or DEFAULT_DIVISIONS).items(), 1)
        }
        self.current = current or next(iter(self.divisions))
        self.minutely_limit, self.daily_limit = minutely_limit, daily_limit
        self.page_size = page_size
        self.api_calls: dict[int, int] = {}
        self.throttled = 0
        self._usage: dict[tuple, int] = {}
        self._storm = 0
        self._lock = threading.RLock()
        self._views: dict[tuple, tuple[list[dict[str, Any]], list[Any]]] = {}  # filtered, sorted pages
        self._ts = 1_000_000
        self.as_of = as_date(as_of)
        self._load(self.as_of, initial=True)
        self.server = LocalServer(self.handle, port=port, clock=self.clock)

    # -- controls for tests

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock.time(), UTC)

    def advance_to(self, as_of: str | date) -> dict[str, int]:
        day = as_date(as_of)
        evening(self.clock, day)
        return self._load(day, initial=False)

    def replace_ledger(self, division: int, frames: dict[str, Any]) -> int:
        """Give a division another ledger (frames shaped like the demo generator's), as its
        starting state. Returns the number of transaction lines it now holds."""
        div = self.divisions[division]
        with self._lock:
            new = self._lines(div.code, PROFILES[div.demo_id].currency, frames)
            div.lines, div.deleted = {}, []
            self._apply(div, new, initial=True)
        return len(new)

    def storm(self, calls: int) -> None:
        """The next `calls` API calls answer 429 (another app used up the minute)."""
        with self._lock:
            self._storm += calls

    def line_count(self, division: int) -> int:
        return len(self.divisions[division].lines)

    # -- the ledger

    def _next_ts(self) -> int:
        self._ts += 1
        return self._ts

    def _load(self, as_of: date, *, initial: bool) -> dict[str, int]:
        counts = {"inserted": 0, "updated": 0, "deleted": 0}
        for div in self.divisions.values():
            frames = _frames(div.demo_id, as_of, self.seed)
            new = self._lines(div.code, PROFILES[div.demo_id].currency, frames)
            accounts = {
                a["code"]: {
                    "ID": _guid(div.code, "gl", a["code"]),
                    "Code": a["code"],
                    "Description": a["name"],
                    "BalanceType": {"balance": "B", "pnl": "W"}.get(a["account_type"]),
                    "TypeDescription": a["category"],
                }
                for a in frames["accounts"].iter_rows(named=True)
            }
            with self._lock:
                for k, v in self._apply(div, new, initial=initial).items():
                    counts[k] += v
                for code, row in accounts.items():
                    before = div.accounts.get(code)
                    same = before is not None and _content(before) == _content(row)
                    row["Timestamp"] = before["Timestamp"] if same else self._next_ts()
                div.accounts = accounts
                dims = list(frames["dimensions"].iter_rows(named=True))
                div.centres = [
                    {"ID": _guid(div.code, "cc", d["code"]), "Code": d["code"], "Description": d["name"]}
                    for d in dims
                    if d["axis"] == "cost_centre"
                ]
                div.units = [
                    {"ID": _guid(div.code, "cu", d["code"]), "Code": d["code"], "Description": d["name"]}
                    for d in dims
                    if d["axis"] == "project"
                ]
        self.as_of = as_of
        self._views.clear()
        return counts

    def edit(
        self, division: int, *, correct: int = 0, delete: int = 0, before: str | date | None = None
    ) -> dict[str, int]:
        """Correct (amounts x 1.1, still balanced) and delete the most recent entries (dated before
        `before`, when given), now."""
        div = self.divisions[division]
        limit = as_date(before) if before else None
        with self._lock:
            entries: dict[tuple[str, int], list[str]] = {}
            for key, row in div.lines.items():
                if row["Type"] != 10 and (limit is None or row["Date"] < limit):
                    entries.setdefault((row["JournalCode"], row["EntryNumber"]), []).append(key)
            recent = sorted(entries, key=lambda e: (div.lines[entries[e][0]]["Date"], e), reverse=True)
            new = {k: dict(v) for k, v in div.lines.items()}
            for entry in recent[:delete]:
                for key in entries[entry]:
                    del new[key]
            for entry in recent[delete : delete + correct]:
                keys = sorted(entries[entry], key=lambda k: new[k]["LineNumber"])
                scaled = [(new[k]["AmountDC"] * Decimal("1.1")).quantize(Decimal("0.01")) for k in keys]
                scaled[0] -= sum(scaled)
                for key, amount in zip(keys, scaled, strict=True):
                    new[key]["AmountDC"] = amount
                    if new[key]["Currency"] == PROFILES[div.demo_id].currency:
                        new[key]["AmountFC"] = amount
            return self._apply(div, new, initial=False)

    def _apply(self, div: _Division, new: dict[str, dict[str, Any]], *, initial: bool) -> dict[str, int]:
        """Make `new` the division's lines: changed lines get a new Timestamp, removed ones a
        sync/Deleted record."""
        now = self.now().replace(microsecond=0, tzinfo=None)
        counts = {"inserted": 0, "updated": 0, "deleted": 0}
        for key, row in sorted(new.items(), key=lambda kv: (kv[1]["Modified"], kv[0])):
            before = div.lines.get(key)
            if initial:
                row["Modified"] = min(row["Modified"], now)
                row["Timestamp"] = self._next_ts()
            elif before is None or _content(before) != _content(row):
                row["Modified"], row["Timestamp"] = now, self._next_ts()
                counts["inserted" if before is None else "updated"] += 1
            else:
                row["Modified"], row["Timestamp"] = before["Modified"], before["Timestamp"]
        for key in sorted(set(div.lines) - set(new)):
            div.deleted.append(
                {
                    "ID": _guid("deleted", key, self._ts),
                    "EntityKey": key,
                    "EntityType": 1,
                    "Timestamp": self._next_ts(),
                    "DeletedDate": now,
                    "Division": div.code,
                }
            )
            counts["deleted"] += 1
        div.lines = new
        self._views.clear()
        return counts

    @staticmethod
    def _lines(code: int, currency: str, frames: dict[str, Any]) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for r in frames["transactions"].iter_rows(named=True):
            key = _guid(code, r["line_key"])
            amount: Decimal = r["amount"]
            out[key] = {
                "ID": key,
                "Division": code,
                "Date": r["tx_date"],
                "FinancialYear": r["fiscal_year"],
                "FinancialPeriod": r["period"],
                "JournalCode": r["journal"],
                "EntryNumber": int(r["entry"]),
                "LineNumber": int(r["line"]),
                "GLAccountCode": r["account_code"],
                "AmountDC": amount,
                "AmountFC": r["amount_fc"] if r["amount_fc"] is not None else amount,
                "Currency": r["currency_fc"] or currency,
                "Description": r["description"],
                "CostCenter": r["cost_centre"],
                "CostUnit": r["project"],
                "YourRef": r["document_no"],
                "Type": JOURNAL_TYPES.get(r["journal"], 90),
                "Status": 50,
                "Modified": datetime(r["modified"].year, r["modified"].month, r["modified"].day, 18),
            }
        for r in frames["opening_balances"].iter_rows(named=True):
            key = _guid(code, r["line_key"])
            d = r["balance_date"]
            out[key] = {
                "ID": key,
                "Division": code,
                "Date": d,
                "FinancialYear": r["fiscal_year"],
                "FinancialPeriod": 1,
                "JournalCode": "90",
                "EntryNumber": r["fiscal_year"],
                "LineNumber": int(r["account_code"]),
                "GLAccountCode": r["account_code"],
                "AmountDC": r["amount"],
                "AmountFC": r["amount"],
                "Currency": currency,
                "Description": r["description"],
                "CostCenter": None,
                "CostUnit": None,
                "YourRef": None,
                "Type": 10,
                "Status": 50,
                "Modified": datetime(d.year, d.month, d.day, 6),
            }
        return out

    # -- HTTP

    def _api(self, request: SandboxRequest, path: str) -> SandboxResponse:
        if not path.startswith("/api/v1/"):
            return odata_error("Not found", 404)
        if not self.auth.bearer(request):
            return odata_error("The access token is invalid or has expired.", 401)
        parts = path.split("/")[3:]
        if parts[:2] == ["current", "Me"]:
            division, rest = self.current, ["current", "Me"]
        elif parts and parts[0].isdigit() and int(parts[0]) in self.divisions:
            division, rest = int(parts[0]), parts[1:]
        else:
            return odata_error("Forbidden: the user has no access to this division.", 403)
        limited = self._count(division)
        if limited is not None:
            return limited
        response = self._route(division, rest, request)
        response.headers.update(self._limit_headers(division))
        return response

    def _windows(self, division: int) -> tuple[tuple, tuple, float, float]:
        now = self.clock.time()
        minute = int(now // 60)
        day = datetime.fromtimestamp(now, UTC).date()
        day_end = datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() + 86400
        return (division, "m", minute), (division, "d", day), (minute + 1) * 60.0, day_end

    def _limit_headers(self, division: int) -> dict[str, str]:
        with self._lock:
            m_key, d_key, m_reset, d_reset = self._windows(division)
            used_m, used_d = self._usage.get(m_key, 0), self._usage.get(d_key, 0)
        return {
            "X-RateLimit-Limit": str(self.daily_limit),
            "X-RateLimit-Remaining": str(max(0, self.daily_limit - used_d)),
            "X-RateLimit-Reset": str(int(d_reset * 1000)),
            "X-RateLimit-Minutely-Limit": str(self.minutely_limit),
            "X-RateLimit-Minutely-Remaining": str(max(0, self.minutely_limit - used_m)),
            "X-RateLimit-Minutely-Reset": str(int(m_reset * 1000)),
        }

    def _count(self, division: int) -> SandboxResponse | None:
        with self._lock:
            m_key, d_key, _, _ = self._windows(division)
            over = (
                self._usage.get(m_key, 0) >= self.minutely_limit
                or self._usage.get(d_key, 0) >= self.daily_limit
            )
            if self._storm > 0 or over:
                self.throttled += 1
                headers = self._limit_headers(division)
                if self._storm > 0:
                    self._storm -= 1
                    headers["X-RateLimit-Minutely-Remaining"] = "0"
                response = odata_error("Too many requests: the API rate limit was exceeded.", 429)
                response.headers.update(headers)
                return response
            self._usage[m_key] = self._usage.get(m_key, 0) + 1
            self._usage[d_key] = self._usage.get(d_key, 0) + 1
            self.api_calls[division] = self.api_calls.get(division, 0) + 1
        return None

    def _route(self, division: int, rest: list[str], request: SandboxRequest) -> SandboxResponse:
        div = self.divisions[division]
        name = "/".join(rest)
        with self._lock:
            if name == "current/Me":
                me = {"UserID": _guid("user"), "FullName": "Sandbox User", "CurrentDivision": self.current}
                return self._collection(request, [me], order=None, page=REGULAR_PAGE)
            if name == "system/Divisions":
                rows = [
                    {
                        "Code": d.code,
                        "Description": PROFILES[d.demo_id].name,
                        "Currency": PROFILES[d.demo_id].currency,
                        "HID": d.hid,
                        "Current": d.code == self.current,
                    }
                    for d in self.divisions.values()
                ]
                return self._collection(request, rows, order="Code", page=REGULAR_PAGE)
            if name == "read/sync/Sync/SyncTimestamp":
                return self._sync_timestamp(div, request)
            if name == "hrm/Costcenters":
                return self._collection(request, div.centres, order="ID", page=REGULAR_PAGE)
            if name == "hrm/Costunits":
                return self._collection(request, div.units, order="ID", page=REGULAR_PAGE)
            if name in ("sync/Financial/TransactionLines", "sync/Financial/GLAccounts", "sync/Deleted"):
                if not request.arg("$select"):
                    return odata_error("$select is mandatory for sync endpoints.", 400)
                rows = {
                    "sync/Financial/TransactionLines": lambda: list(div.lines.values()),
                    "sync/Financial/GLAccounts": lambda: list(div.accounts.values()),
                    "sync/Deleted": lambda: list(div.deleted),
                }[name]()
                return self._collection(
                    request, rows, order="Timestamp", page=self.page_size, cache=(division, name)
                )
            if name == "bulk/Financial/TransactionLines":
                if not request.arg("$select"):
                    return odata_error("$select is mandatory for bulk endpoints.", 400)
                return self._collection(
                    request,
                    list(div.lines.values()),
                    order="ID",
                    page=self.page_size,
                    cache=(division, name),
                    hidden=frozenset({"Timestamp"}),  # bulk rows carry no sync timestamp
                )
        return odata_error(f"Resource not found: {name}", 404)

    def _sync_timestamp(self, div: _Division, request: SandboxRequest) -> SandboxResponse:
        modified = _literal(request.arg("modified") or "")
        endpoint = (request.arg("endPoint") or "").strip("'")
        if not isinstance(modified, datetime) or endpoint != "TransactionLines":
            return odata_error("Provide modified=datetime'...' and endPoint='TransactionLines'.", 400)
        found = [r for r in div.lines.values() if r["Modified"] >= modified]
        results = []
        if found:
            first = min(found, key=lambda r: r["Timestamp"])
            results = [
                {
                    "API": "TransactionLines",
                    "Modified": _ms(first["Modified"]),
                    "TimeStampAsBigInt": first["Timestamp"],
                }
            ]
        return SandboxResponse.json({"d": {"results": results}})

    def _collection(
        self,
        request: SandboxRequest,
        rows: list[dict[str, Any]],
        *,
        order: str | None,
        page: int,
        cache: tuple | None = None,
        hidden: frozenset[str] = frozenset(),
    ) -> SandboxResponse:
        try:
            conditions = _parse_filter(request.arg("$filter"))
            select = [f for f in (request.arg("$select") or "*").split(",") if f]
        except ValueError as exc:
            return odata_error(str(exc), 400)
        known = set(rows[0]) - hidden if rows else set()  # every row of a resource has the same fields
        for field, _, _ in conditions:
            if rows and field not in known:
                return odata_error(f"Property '{field}' not found.", 400)
        if select != ["*"] and rows:
            missing = [f for f in select if f not in known]
            if missing:
                return odata_error(f"Property '{missing[0]}' not found.", 400)
        key = (cache, request.arg("$filter")) if cache else None
        view = self._views.get(key) if key else None
        if view is None:
            kept = [r for r in rows if all(_compare(r.get(f), op, v) for f, op, v in conditions)]
            if order:
                kept.sort(key=lambda r: r[order])
            view = (kept, [r[order] for r in kept] if order else [])
            if key:
                self._views[key] = view
        kept, keys = view
        start = 0
        token = request.arg("$skiptoken")
        if order and token:
            start = bisect.bisect_right(keys, _literal(token))
        chunk = kept[start : start + page]
        fields = select if select != ["*"] else [f for f in (rows[0] if rows else {}) if f not in hidden]
        body: dict[str, Any] = {"results": [_out(r, fields) for r in chunk]}
        if order and start + page < len(kept):
            last = chunk[-1][order]
            token = f"{last}L" if isinstance(last, int) else f"guid'{last}'"
            params = [(k, v[-1]) for k, v in request.query.items() if k.lower() != "$skiptoken"]
            params.append(("$skiptoken", token))
            body["__next"] = f"{self.url}{request.path}?{urlencode(params)}"
        return SandboxResponse.json({"d": body})


@functools.lru_cache(maxsize=32)
def _frames(demo_id: str, as_of: date, seed: int) -> dict[str, Any]:
    """The demo ledger at a day; generated once per process (frames are never modified)."""
    return generate_entity(demo_id, as_of, seed)


def _content(row: dict[str, Any]) -> tuple:
    return tuple((k, v) for k, v in row.items() if k not in ("Modified", "Timestamp"))


def _out(row: dict[str, Any], fields: list[str]) -> dict[str, Any]:
    out = {}
    for f in fields:
        value = row.get(f)
        out[f] = _ms(value) if isinstance(value, date) else value
    return out


_LITERALS: list[tuple[re.Pattern[str], Callable[[re.Match[str]], Any]]] = [
    (re.compile(r"^(-?\d+)L?$"), lambda m: int(m.group(1))),
    (re.compile(r"^datetime'([^']+)'$"), lambda m: datetime.fromisoformat(m.group(1))),
    (re.compile(r"^guid'([^']+)'$"), lambda m: m.group(1).lower()),
    (re.compile(r"^'(.*)'$"), lambda m: m.group(1)),
]


def _literal(text: str) -> Any:
    text = text.strip()
    for pattern, convert in _LITERALS:
        match = pattern.match(text)
        if match:
            return convert(match)
    raise ValueError(f"Cannot read the value {text!r} in $filter.")


def _parse_filter(text: str | None) -> list[tuple[str, str, Any]]:
    if not text:
        return []
    out = []
    for part in re.split(r"\s+and\s+", text.strip(), flags=re.IGNORECASE):
        match = re.fullmatch(
            r"\(?\s*(\w+)\s+(eq|ne|gt|ge|lt|le)\s+(.+?)\s*\)?", part.strip(), flags=re.IGNORECASE
        )
        if not match:
            raise ValueError(f"Cannot read the $filter condition {part!r}.")
        out.append((match.group(1), match.group(2).lower(), _literal(match.group(3))))
    return out


def _compare(value: Any, op: str, target: Any) -> bool:
    if value is None:
        return op == "ne"
    if isinstance(value, date) and not isinstance(value, datetime) and isinstance(target, datetime):
        value = datetime(value.year, value.month, value.day)
    if isinstance(value, str) and isinstance(target, str):
        value, target = value.lower(), target.lower()
    try:
        return {
            "eq": value == target,
            "ne": value != target,
            "gt": value > target,
            "ge": value >= target,
            "lt": value < target,
            "le": value <= target,
        }[op]
    except TypeError:
        return False


def main(argv: list[str] | None = None) -> None:
    """Serve the sandbox until interrupted (for trying the Exact source without an Exact account)."""
    serve(ExactSandbox, argv, name="Exact Online", show_secret=True)


if __name__ == "__main__":
    main()
