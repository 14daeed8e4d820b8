"""A local AFAS Profit REST server that follows AFAS's published contract, for tests and demos.

Contract facts, from AFAS's own documentation (github.com/AFASSoftware/OASContent):
- MarkdownPages/Profit/en/GetConnector.md: GET /ProfitRestServices/connectors/{id} answers
  {"skip", "take", "rows"}; skip/take default to 0/100, skip=-1&take=-1 returns everything; without
  `orderbyfieldids` the order between calls is not guaranteed ("-Field" sorts descending);
  filters: `filterfieldids`/`filtervalues`/`operatortypes`, ',' ANDs and ';' ORs, operator types
  1..14; the parameter string ('?' and '&' included) may be 2049 characters, longer gets 404;
  date-times end in 'Z' but are Amsterdam time; /metainfo/get/{id} lists the fields.
- OpenApiSpecs/profit/en/Mutaties.json: GET /MetaInfo lists getConnectors ({id, description});
  hosts {env}.rest / .resttest / .restaccept .afas.online; AfasToken header.
- "Fouten verhelpen" (troubleshooting): 401 bad token, 403 IP restriction, 500 with
  {"externalMessage", "errorNumber", "profitLogReference"} (bad skip/take gives "Er is een
  onverwachte fout opgetreden."), 503 maintenance with {"retry_after": seconds}; at most 8 calls
  at once; too much data in one call gives 500 "Out of memory".

Assumptions where AFAS does not document a detail (the connector is tolerant of each):
- The field ids of the financial GetConnectors follow AFAS's standard ones as seen in published
  integrations (UnitId, EntryNo, SeqNo, Year, Period, JournalId, AccountNo, AmtDebit, AmtCredit,
  EntryDate, VoucherNo, DimAx1..DimAx2, Modified); CurrencyId/AmtDebitCur/AmtCreditCur carry
  foreign-currency amounts; cost centres/carriers have CostCentreId/CostCarrierId + Description.
- Profit_Fin_ChangedEntrydate (named in AFAS's own MetaInfo example) has one row per
  administration and booking day: UnitId, EntryDate, Modified (the latest change, deletions too).
- The opening balance is booked in period 0; the 401/403 bodies carry an externalMessage.
- More than 8 calls at once answer 500 with an externalMessage; more than `max_cells`
  (rows x fields) in one answer is 500 "Out of memory".

The ledger is the demo organisation's (connectors.demo.generate): `advance_to(day)` moves "today"
forward, which adds entries and corrects or deletes recent lines, stamping them with the clock.
"""

from __future__ import annotations

import argparse
import base64
import functools
import hashlib
import threading
import time
from collections.abc import Iterable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from connectors.demo.generate import PROFILES, as_date, generate_entity
from connectors.http import Clock, LocalServer, ManualClock, SandboxRequest, SandboxResponse, SystemClock

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
PREFIX = "/ProfitRestServices"
MAX_QUERY_CHARS = 2049
DEFAULT_ADMINISTRATIONS = {1: "demo-retail", 2: "demo-services", 3: "demo-inc"}
JOURNAL_NUMBERS = {"BNK": 1, "VRK": 2, "INK": 3, "MEM": 4, "LON": 5}
OPENING_JOURNAL = "90"

_LINE = [
    ("UnitId", "int"),
    ("EntryNo", "int"),
    ("SeqNo", "int"),
    ("Year", "int"),
    ("Period", "int"),
    ("JournalId", "string"),
    ("AccountNo", "string"),
    ("Description", "string"),
    ("AmtDebit", "decimal"),
    ("AmtCredit", "decimal"),
    ("CurrencyId", "string"),
    ("AmtDebitCur", "decimal"),
    ("AmtCreditCur", "decimal"),
    ("EntryDate", "date"),
    ("VoucherNo", "string"),
    ("Created", "date"),
    ("Modified", "date"),
]
SCHEMAS: dict[str, list[tuple[str, str]]] = {
    "Profit_Administrations": [
        ("AdminId", "int"),
        ("AdminNm", "string"),
        ("AdminCd", "string"),
        ("CurrencyId", "string"),
    ],
    "Profit_Accounts": [
        ("UnitId", "int"),
        ("Account", "string"),
        ("Description", "string"),
        ("AccountType", "string"),
        ("TypeAccount", "string"),
        ("RgsCode", "string"),
    ],
    "Profit_Journals": [("UnitId", "int"), ("JournalId", "string"), ("Description", "string")],
    "Profit_Transactions": _LINE,
    "Profit_Transactions_Allocated": [*_LINE, ("DimAx1", "string"), ("DimAx2", "string")],
    "Profit_CostCentres": [("UnitId", "int"), ("CostCentreId", "string"), ("Description", "string")],
    "Profit_CostCarriers": [("UnitId", "int"), ("CostCarrierId", "string"), ("Description", "string")],
    "Profit_Fin_ChangedEntrydate": [("UnitId", "int"), ("EntryDate", "date"), ("Modified", "date")],
}


def afas_error(message: str, status: int = 500, number: int = -2147180999) -> SandboxResponse:
    reference = hashlib.md5(message.encode(), usedforsecurity=False).hexdigest().upper()
    body = {"externalMessage": message, "errorNumber": number, "profitLogReference": reference}
    return SandboxResponse.json(body, status)


def _stamp(d: date) -> str:
    return f"{d.isoformat()}T00:00:00Z"


class _Admin:
    """One administration's current rows, keyed (EntryNo, SeqNo)."""

    def __init__(self, unit: int, demo_id: str):
        self.unit, self.demo_id = unit, demo_id
        self.lines: dict[tuple[int, int], dict[str, Any]] = {}
        self.changed: dict[str, str] = {}  # booking day -> latest change stamp
        self.masters: dict[str, list[dict[str, Any]]] = {}


class AfasSandbox:
    """An AFAS environment on 127.0.0.1 with the demo ledger in up to three administrations."""

    def __init__(
        self,
        *,
        token: str = "sandbox-token",
        as_of: str | date = "2024-03-31",
        seed: int = 42,
        clock: Clock | None = None,
        administrations: dict[int, str] | None = None,
        visible: Iterable[int] | None = None,
        missing_connectors: Iterable[str] = (),
        missing_fields: dict[str, Iterable[str]] | None = None,
        max_parallel: int = 8,
        max_cells: int = 1_500_000,
        latency: float = 0.0,
        port: int = 0,
    ):
        self.token = token
        self.seed = seed
        self.clock = clock or SystemClock()
        self.visible = set(visible) if visible is not None else None  # the AdministrationId filter
        self.missing_connectors = set(missing_connectors)
        self.missing_fields = {k: set(v) for k, v in (missing_fields or {}).items()}
        self.max_parallel = max_parallel
        self.max_cells = max_cells
        self.latency = latency  # real seconds per answer, so parallel calls overlap in tests
        self.admins = {u: _Admin(u, d) for u, d in (administrations or DEFAULT_ADMINISTRATIONS).items()}
        self.requests: list[SandboxRequest] = []
        self.revoked = False
        self.ip_blocked = False
        self._faults: list[SandboxResponse] = []
        self._lock = threading.RLock()
        self._version = 0
        self._cache: dict[tuple, list[dict[str, Any]]] = {}
        self._shuffle = 0
        self.as_of = as_date(as_of)
        self._load(self.as_of, initial=True)
        self.server = LocalServer(self.handle, port=port, clock=self.clock)

    # -- lifecycle

    @property
    def url(self) -> str:
        """The REST base URL (what `config['base_url']` takes)."""
        return self.server.url + PREFIX

    def start(self) -> AfasSandbox:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    def __enter__(self) -> AfasSandbox:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- controls for tests

    def now(self) -> datetime:
        """The environment's local (Amsterdam) time."""
        return datetime.fromtimestamp(self.clock.time(), UTC).astimezone(AMSTERDAM).replace(tzinfo=None)

    def advance_to(self, as_of: str | date) -> dict[str, int]:
        """Move the ledger to a later day: new entries, corrections and deletions, stamped now."""
        day = as_date(as_of)
        if isinstance(self.clock, ManualClock):
            evening = datetime(day.year, day.month, day.day, 20, tzinfo=AMSTERDAM).timestamp()
            if self.clock.time() < evening:
                self.clock.advance(evening - self.clock.time())
        return self._load(day, initial=False)

    def replace_ledger(self, unit: int, frames: dict[str, Any]) -> int:
        """Give an administration another ledger (frames shaped like the demo generator's), as
        its starting state. Returns the number of rows the lines connectors now hold."""
        admin = self.admins[unit]
        with self._lock:
            new = self._lines(unit, PROFILES[admin.demo_id].currency, frames)
            admin.lines, admin.changed = {}, {}
            self._apply(admin, new, initial=True)
            admin.masters = self._masters(unit, frames)
        return len(new)

    def fail_next(self, response: SandboxResponse, times: int = 1) -> None:
        """Answer the next `times` data calls with `response` (maintenance, errors ...)."""
        with self._lock:
            self._faults.extend([response] * times)

    def maintenance(self, times: int = 1, retry_after: int = 30) -> None:
        body = {
            "error": {"code": {"example": "503"}, "message": {"example": "Service temporarily unavailable"}},
            "retry_after": retry_after,
        }
        self.fail_next(SandboxResponse.json(body, 503), times)

    def calls(self, connector: str | None = None) -> int:
        """Requests received; with a name, the data calls of that GetConnector."""
        with self._lock:
            if connector is None:
                return len(self.requests)
            return sum(1 for r in self.requests if r.path == f"{PREFIX}/connectors/{connector}")

    def line_count(self, unit: int) -> int:
        return len(self.admins[unit].lines)

    # -- the ledger

    def _load(self, as_of: date, *, initial: bool) -> dict[str, int]:
        counts = {"inserted": 0, "updated": 0, "deleted": 0}
        for admin in self.admins.values():
            frames = _frames(admin.demo_id, as_of, self.seed)
            new = self._lines(admin.unit, PROFILES[admin.demo_id].currency, frames)
            with self._lock:
                for k, v in self._apply(admin, new, initial=initial).items():
                    counts[k] += v
                admin.masters = self._masters(admin.unit, frames)
        self.as_of = as_of
        return counts

    def edit(
        self, unit: int, *, correct: int = 0, delete: int = 0, before: str | date | None = None
    ) -> dict[str, int]:
        """Correct (amounts x 1.1, still balanced) and delete the most recent entries (booked before
        `before`, when given), stamped now."""
        admin = self.admins[unit]
        limit = _stamp(as_date(before)) if before else None
        with self._lock:
            entries: dict[int, list[tuple[int, int]]] = {}
            for key, row in admin.lines.items():
                if row["Period"] != 0 and (limit is None or row["EntryDate"] < limit):
                    entries.setdefault(key[0], []).append(key)
            recent = sorted(entries, key=lambda e: (admin.lines[entries[e][0]]["EntryDate"], e), reverse=True)
            new = {k: dict(v) for k, v in admin.lines.items()}
            for entry in recent[:delete]:
                for key in entries[entry]:
                    del new[key]
            for entry in recent[delete : delete + correct]:
                keys = sorted(entries[entry])
                nets = [new[k]["AmtDebit"] - new[k]["AmtCredit"] for k in keys]
                scaled = [(n * Decimal("1.1")).quantize(Decimal("0.01")) for n in nets]
                scaled[0] -= sum(scaled)
                for key, net in zip(keys, scaled, strict=True):
                    new[key]["AmtDebit"] = net if net > 0 else Decimal("0.00")
                    new[key]["AmtCredit"] = -net if net < 0 else Decimal("0.00")
            return self._apply(admin, new, initial=False)

    def _apply(
        self, admin: _Admin, new: dict[tuple[int, int], dict[str, Any]], *, initial: bool
    ) -> dict[str, int]:
        """Make `new` the administration's lines, stamping what changed with the clock."""
        now = self.now().replace(microsecond=0).isoformat() + "Z"
        counts = {"inserted": 0, "updated": 0, "deleted": 0}
        old = admin.lines
        for key, row in new.items():
            before = old.get(key)
            if initial:
                row["Modified"] = min(row["Modified"], now)
                row["Created"] = row["Modified"]
            elif before is None or _content(before) != _content(row):
                row["Modified"] = row["Created"] = now
                if before is not None:
                    row["Created"] = before["Created"]
                    if before["EntryDate"] != row["EntryDate"]:
                        self._mark(admin, before["EntryDate"], now)
                counts["inserted" if before is None else "updated"] += 1
            else:
                row["Modified"], row["Created"] = before["Modified"], before["Created"]
            self._mark(admin, row["EntryDate"], row["Modified"])
        for key in set(old) - set(new):
            self._mark(admin, old[key]["EntryDate"], now)
            counts["deleted"] += 1
        admin.lines = new
        self._version += 1
        self._cache.clear()
        return counts

    @staticmethod
    def _mark(admin: _Admin, entry_date: str, stamp: str) -> None:
        day = entry_date[:10]
        if admin.changed.get(day, "") < stamp:
            admin.changed[day] = stamp

    @staticmethod
    def _lines(unit: int, currency: str, frames: dict[str, Any]) -> dict[tuple[int, int], dict[str, Any]]:
        out: dict[tuple[int, int], dict[str, Any]] = {}
        for r in frames["transactions"].iter_rows(named=True):
            entry_no = int(f"{JOURNAL_NUMBERS.get(r['journal'], 9)}{r['entry']}")
            seq = int(r["line"])
            amount: Decimal = r["amount"]
            fc: Decimal | None = r["amount_fc"]
            out[(entry_no, seq)] = {
                "UnitId": unit,
                "EntryNo": entry_no,
                "SeqNo": seq,
                "Year": r["fiscal_year"],
                "Period": r["period"],
                "JournalId": r["journal"],
                "AccountNo": r["account_code"],
                "Description": r["description"],
                "AmtDebit": amount if amount > 0 else Decimal("0.00"),
                "AmtCredit": -amount if amount < 0 else Decimal("0.00"),
                "CurrencyId": r["currency_fc"] or currency,
                "AmtDebitCur": (fc if fc > 0 else Decimal("0.00")) if fc is not None else None,
                "AmtCreditCur": (-fc if fc < 0 else Decimal("0.00")) if fc is not None else None,
                "EntryDate": _stamp(r["tx_date"]),
                "VoucherNo": r["document_no"],
                "DimAx1": r["cost_centre"],
                "DimAx2": r["project"],
                "Created": f"{r['modified'].isoformat()}T18:00:00Z",
                "Modified": f"{r['modified'].isoformat()}T18:00:00Z",
            }
        for r in frames["opening_balances"].iter_rows(named=True):
            entry_no = int(f"9{r['fiscal_year']}")
            seq = int(r["account_code"])
            amount = r["amount"]
            stamp = f"{r['balance_date'].isoformat()}T06:00:00Z"
            out[(entry_no, seq)] = {
                "UnitId": unit,
                "EntryNo": entry_no,
                "SeqNo": seq,
                "Year": r["fiscal_year"],
                "Period": 0,
                "JournalId": OPENING_JOURNAL,
                "AccountNo": r["account_code"],
                "Description": r["description"],
                "AmtDebit": amount if amount > 0 else Decimal("0.00"),
                "AmtCredit": -amount if amount < 0 else Decimal("0.00"),
                "CurrencyId": currency,
                "AmtDebitCur": None,
                "AmtCreditCur": None,
                "EntryDate": _stamp(r["balance_date"]),
                "VoucherNo": None,
                "DimAx1": None,
                "DimAx2": None,
                "Created": stamp,
                "Modified": stamp,
            }
        return out

    @staticmethod
    def _masters(unit: int, frames: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
        accounts = [
            {
                "UnitId": unit,
                "Account": a["code"],
                "Description": a["name"],
                "AccountType": {"balance": "Balans", "pnl": "Resultaat"}.get(a["account_type"]),
                "TypeAccount": a["category"],
                "RgsCode": a["standard_code"],
            }
            for a in frames["accounts"].iter_rows(named=True)
        ]
        dims = list(frames["dimensions"].iter_rows(named=True))
        journals = sorted({r for r in frames["transactions"]["journal"].unique().to_list()})
        return {
            "Profit_Accounts": accounts,
            "Profit_Journals": [{"UnitId": unit, "JournalId": j, "Description": j} for j in journals],
            "Profit_CostCentres": [
                {"UnitId": unit, "CostCentreId": d["code"], "Description": d["name"]}
                for d in dims
                if d["axis"] == "cost_centre"
            ],
            "Profit_CostCarriers": [
                {"UnitId": unit, "CostCarrierId": d["code"], "Description": d["name"]}
                for d in dims
                if d["axis"] == "project"
            ],
        }

    def _rows(self, connector: str) -> list[dict[str, Any]]:
        """Every row a GetConnector would return before request filters."""
        admins = [a for a in self.admins.values() if self.visible is None or a.unit in self.visible]
        if connector == "Profit_Administrations":
            return [
                {
                    "AdminId": a.unit,
                    "AdminNm": PROFILES[a.demo_id].name,
                    "AdminCd": a.demo_id.split("-")[-1].upper(),
                    "CurrencyId": PROFILES[a.demo_id].currency,
                }
                for a in admins
            ]
        if connector in ("Profit_Transactions", "Profit_Transactions_Allocated"):
            fields = [f for f, _ in SCHEMAS[connector]]
            return [{f: row.get(f) for f in fields} for a in admins for row in a.lines.values()]
        if connector == "Profit_Fin_ChangedEntrydate":
            return [
                {"UnitId": a.unit, "EntryDate": f"{day}T00:00:00Z", "Modified": stamp}
                for a in admins
                for day, stamp in a.changed.items()
            ]
        return [row for a in admins for row in a.masters.get(connector, [])]

    # -- HTTP

    def handle(self, request: SandboxRequest) -> SandboxResponse:
        with self._lock:
            self.requests.append(request)
        if not request.path.startswith(PREFIX):
            return SandboxResponse(404)
        if self.latency:
            time.sleep(self.latency)
        if self.server.in_flight > self.max_parallel:
            return afas_error("Het maximum aantal gelijktijdige aanroepen is overschreden.")
        if len(request.raw_query) + 1 > MAX_QUERY_CHARS:
            return SandboxResponse(404, b"Not Found", {"Content-Type": "text/plain"})
        expected = "AfasToken " + base64.b64encode(
            f"<token><version>1</version><data>{self.token}</data></token>".encode()
        ).decode("ascii")
        if request.headers.get("authorization") != expected or self.revoked:
            return afas_error("Autorisatie mislukt: het token is ongeldig.", 401, -2147024891)
        if self.ip_blocked:
            return afas_error("Het IP-adres is niet toegestaan voor deze App connector.", 403)
        with self._lock:
            fault = self._faults.pop(0) if self._faults else None
        if fault is not None:
            return fault
        parts = [p for p in request.path[len(PREFIX) :].split("/") if p]
        if len(parts) == 1 and parts[0].lower() == "metainfo":
            return self._metainfo()
        if len(parts) == 3 and parts[0].lower() == "metainfo" and parts[1].lower() == "get":
            return self._fields(parts[2])
        if len(parts) == 2 and parts[0].lower() == "connectors":
            return self._connector(parts[1], request)
        return SandboxResponse(404)

    def _available(self) -> list[str]:
        return [name for name in SCHEMAS if name not in self.missing_connectors]

    def _schema(self, connector: str) -> list[tuple[str, str]]:
        hidden = self.missing_fields.get(connector, set())
        return [(f, t) for f, t in SCHEMAS[connector] if f not in hidden]

    def _metainfo(self) -> SandboxResponse:
        return SandboxResponse.json(
            {
                "updateConnectors": [],
                "getConnectors": [{"id": n, "description": n} for n in self._available()],
                "customConnectors": [],
                "info": {
                    "envid": "O12345AA",
                    "appName": "Ledgerline",
                    "group": "Ledgerline",
                    "tokenExpiry": "0",
                },
            }
        )

    def _fields(self, connector: str) -> SandboxResponse:
        if connector not in self._available():
            return afas_error(
                "GetConnector niet ondersteund voor deze app of de gebruiker is niet geautoriseerd."
            )
        fields = [
            {
                "id": f,
                "fieldId": f"U{i:03d}",
                "dataType": t,
                "label": f,
                "length": 0,
                "controlType": 1,
                "decimals": 2,
            }
            for i, (f, t) in enumerate(self._schema(connector), 1)
        ]
        return SandboxResponse.json({"name": connector, "description": connector, "fields": fields})

    def _connector(self, connector: str, request: SandboxRequest) -> SandboxResponse:
        if connector not in self._available():
            return afas_error(
                "GetConnector niet ondersteund voor deze app of de gebruiker is niet geautoriseerd."
            )
        schema = dict(self._schema(connector))
        try:
            skip = int(request.arg("skip", "0") or 0)
            take = int(request.arg("take", "100") or 100)
        except ValueError:
            return afas_error("Er is een onverwachte fout opgetreden.")
        if (skip, take) != (-1, -1) and (skip < 0 or take < 0):
            return afas_error("Er is een onverwachte fout opgetreden.")
        if take * len(schema) > self.max_cells:
            return afas_error("Out of memory")
        try:
            groups = _parse_filters(request, schema)
            order = [f for f in (request.arg("orderbyfieldids") or "").split(",") if f]
            for f in order:
                if f.lstrip("-") not in schema:
                    raise KeyError(f.lstrip("-"))
        except KeyError as exc:
            return afas_error(f"Connector-veld '{exc.args[0]}' niet gevonden.")
        except ValueError as exc:
            return afas_error(str(exc))
        key = (
            connector,
            request.arg("filterfieldids"),
            request.arg("filtervalues"),
            request.arg("operatortypes"),
            tuple(order),
        )
        with self._lock:
            rows = self._cache.get(key)
            if rows is None:
                rows = [
                    {f: r.get(f) for f in schema}
                    for r in self._rows(connector)
                    if not groups
                    or any(all(_match(r.get(f), op, v, schema[f]) for f, op, v in g) for g in groups)
                ]
                if order:
                    for f in reversed(order):
                        field = f.lstrip("-")
                        rows.sort(
                            key=lambda r, field=field: _sort_key(r.get(field)), reverse=f.startswith("-")
                        )
                    self._cache[key] = rows
            if not order:
                # No order asked: like a database, no stable order between calls.
                self._shuffle += 1
                salt = str(self._shuffle).encode()
                rows = sorted(
                    rows, key=lambda r: hashlib.md5(salt + repr(r).encode(), usedforsecurity=False).digest()
                )
        page = rows if (skip, take) == (-1, -1) else rows[skip : skip + take]
        return SandboxResponse.json({"skip": skip, "take": take, "rows": page})


@functools.lru_cache(maxsize=32)
def _frames(demo_id: str, as_of: date, seed: int) -> dict[str, Any]:
    """The demo ledger at a day; generated once per process (frames are never modified)."""
    return generate_entity(demo_id, as_of, seed)


def _content(row: dict[str, Any]) -> tuple:
    return tuple((k, v) for k, v in row.items() if k not in ("Modified", "Created"))


def _parse_filters(request: SandboxRequest, schema: dict[str, str]) -> list[list[tuple[str, int, str]]]:
    ids, values, ops = (request.arg(n) for n in ("filterfieldids", "filtervalues", "operatortypes"))
    if not ids:
        return []
    if values is None or ops is None:
        raise ValueError("Er is een onverwachte fout opgetreden.")
    id_groups, value_groups, op_groups = (s.split(";") for s in (ids, values, ops))
    if not len(id_groups) == len(value_groups) == len(op_groups):
        raise ValueError("Er is een onverwachte fout opgetreden.")
    out = []
    for fg, vg, og in zip(id_groups, value_groups, op_groups, strict=True):
        fields, vals, operators = fg.split(","), vg.split(","), og.split(",")
        if not len(fields) == len(vals) == len(operators):
            raise ValueError("Er is een onverwachte fout opgetreden.")
        group = []
        for f, v, o in zip(fields, vals, operators, strict=True):
            if f not in schema:
                raise KeyError(f)
            if not o.isdigit() or not 1 <= int(o) <= 14:
                raise ValueError("Er is een onverwachte fout opgetreden.")
            group.append((f, int(o), v))
        out.append(group)
    return out


def _typed(value: Any, kind: str) -> Any:
    if value is None or value == "":
        return None
    if kind == "date":
        text = str(value).rstrip("Z")
        return datetime.fromisoformat(text if "T" in text else f"{text}T00:00:00")
    if kind == "int":
        return int(value)
    if kind == "decimal":
        return Decimal(str(value))
    return str(value)


def _match(value: Any, op: int, raw: str, kind: str) -> bool:
    if op == 8:
        return value in (None, "")
    if op == 9:
        return value not in (None, "")
    if value is None:
        return op == 7
    if op in (6, 10, 11, 12, 13, 14):
        text, needle = str(value).casefold(), raw.casefold()
        return {
            6: needle in text,
            10: text.startswith(needle),
            11: needle not in text,
            12: not text.startswith(needle),
            13: text.endswith(needle),
            14: not text.endswith(needle),
        }[op]
    left, right = _typed(value, kind), _typed(raw, kind)
    return {
        1: left == right,
        2: left >= right,
        3: left <= right,
        4: left > right,
        5: left < right,
        7: left != right,
    }[op]


def _sort_key(value: Any) -> tuple:
    return (value is not None, value if value is not None else 0)


def main(argv: list[str] | None = None) -> None:
    """Serve the sandbox until interrupted (for trying the AFAS source without an AFAS account)."""
    parser = argparse.ArgumentParser(description="AFAS Profit sandbox on 127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--token", default="sandbox-token")
    parser.add_argument("--as-of", default=date.today().isoformat())
    args = parser.parse_args(argv)
    sandbox = AfasSandbox(token=args.token, as_of=args.as_of, port=args.port).start()
    print(f"AFAS sandbox at {sandbox.url} (token {args.token!r}); Ctrl-C stops it", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        sandbox.stop()


if __name__ == "__main__":
    main()
