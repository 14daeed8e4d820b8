"""AFAS Profit: general ledger, accounts and allocation axes through GetConnectors (REST, token).

Setup as users know it (../shared/seeds/002): an App connector with a token, the Ledgerline
GetConnectors imported into Profit, and an AdministrationId filter on the administrations
connector. The source form asks for the environment (Omgevingsnaam, e.g. 12345), the token name
and the token value; test and acceptance environments are selectable.

Incremental runs read lines modified since the last run (minus an overlap window; the merge is
idempotent on line_key, so lines read twice are harmless). Deletions leave no line behind, so the
booking days AFAS reports as changed are read again whole and replace what is stored for those
days; when that connector is missing, the months with changes (and the current month) are read
again instead.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

import httpx

from connectors.afas import parse
from connectors.afas.client import MAX_PARALLEL, ROW_FIELD_BUDGET, AfasClient, base_url, split_groups
from connectors.afas.parse import EQ, GE, LE, Condition, LineBatch
from connectors.base import (
    Capabilities,
    Connector,
    EntityInfo,
    Extraction,
    ExtractRequest,
    Problem,
    Stream,
    StreamData,
    conform,
    frame_from_rows,
)
from connectors.http import Clock, HttpPolicy
from pipeline.errors import AuthError, ConfigError

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
DEFAULT_OVERLAP_MINUTES = 120  # covers clock skew, late commits and the autumn DST hour

LINE_FIELDS = (
    "UnitId",
    "EntryNo",
    "SeqNo",
    "Year",
    "Period",
    "JournalId",
    "AccountNo",
    "AmtDebit",
    "AmtCredit",
    "EntryDate",
    "Modified",
)


class Role:
    """A GetConnector Ledgerline reads: its default name and the fields it needs."""

    def __init__(self, key: str, default: str, fields: tuple[str, ...], purpose: str, required: bool):
        self.key, self.default, self.fields, self.purpose, self.required = (
            key,
            default,
            fields,
            purpose,
            required,
        )


ROLES: tuple[Role, ...] = (
    Role("administrations", "Profit_Administrations", ("AdminId", "AdminNm"), "the administrations", True),
    Role("accounts", "Profit_Accounts", ("Account", "Description"), "the chart of accounts", True),
    Role("journals", "Profit_Journals", ("JournalId", "Description"), "the journals", False),
    Role("transactions", "Profit_Transactions", LINE_FIELDS, "the ledger lines", False),
    Role(
        "transactions_allocated",
        "Profit_Transactions_Allocated",
        (*LINE_FIELDS, "DimAx1", "DimAx2"),
        "the ledger lines with their allocation to cost centres and carriers",
        False,
    ),
    Role("cost_centres", "Profit_CostCentres", ("CostCentreId", "Description"), "the cost centres", False),
    Role(
        "cost_carriers", "Profit_CostCarriers", ("CostCarrierId", "Description"), "the cost carriers", False
    ),
    Role(
        "changed_days",
        "Profit_Fin_ChangedEntrydate",
        ("UnitId", "EntryDate", "Modified"),
        "the booking days with changes (to detect deleted lines)",
        False,
    ),
)
ROLE_BY_KEY = {r.key: r for r in ROLES}

IMPORT_STEPS = (
    "Import the Ledgerline GetConnectors in Profit: Algemeen > Uitvoer > Beheer > GetConnector > "
    "Meer acties > Importeren > Map, choose the folder with the .gcn files, check that the status is "
    "GOED and select Voltooien. Then add them to the App connector (Algemeen > Beheer > App connector) "
    "and reconnect."
)
FIELD_STEPS = (
    "Add the fields to the GetConnector (Wijzigen GetConnector > Gegevens), or import the Ledgerline "
    "GetConnectors again (files with the same name are overwritten; reset the AdministrationId filter "
    "on the administrations connector afterwards)."
)


class Setup:
    """Which GetConnector plays which role, and how many rows to take per page of each."""

    def __init__(self, names: dict[str, str], takes: dict[str, int], notes: list[str]):
        self.names, self.takes, self.notes = names, takes, notes

    @property
    def lines(self) -> str:
        return self.names.get("transactions_allocated") or self.names["transactions"]

    @property
    def allocated(self) -> bool:
        return "transactions_allocated" in self.names

    def as_cursor(self) -> dict[str, Any]:
        return {"names": self.names, "takes": self.takes}

    @classmethod
    def from_cursor(cls, value: Any) -> Setup | None:
        names = value.get("names") if isinstance(value, dict) else None
        if not isinstance(names, dict) or not ({"transactions", "transactions_allocated"} & set(names)):
            return None
        return cls(dict(names), {k: int(v) for k, v in (value.get("takes") or {}).items()}, [])


class AfasConnector(Connector):
    """AFAS Profit over its REST GetConnectors."""

    name = "afas"
    label = "AFAS Profit"
    kind = "api"
    capabilities = Capabilities(
        transactions=True,
        accounts=True,
        dimensions=True,
        opening_balances=True,
        incremental=True,
        deletions=True,
        multi_entity=True,
        notes=(
            "One entity per administration the token can see (narrowed by the AdministrationId filter).",
            "Allocation axis 1 (kostenplaats) fills the cost centre, axis 2 (kostendrager) the project.",
            "Deleted lines are found by reading the booking days AFAS reports as changed again, or the "
            "changed months when the changed-days GetConnector is not available.",
            "Lines of period 0 are the opening balance.",
        ),
    )
    streams = (
        Stream("accounts"),
        Stream("dimensions"),
        Stream("transactions", cursor="Modified"),
        Stream("opening_balances", cursor="Modified"),
    )
    # What the Sources page asks when adding the source (secret fields go to credentials).
    setup_fields: ClassVar[tuple[dict[str, Any], ...]] = (
        {"key": "environment", "label": "Environment (Omgevingsnaam)", "example": "12345"},
        {"key": "token_name", "label": "Token name"},
        {"key": "token", "label": "Token value", "secret": True},
        {
            "key": "env_type",
            "label": "Environment type",
            "choices": ("production", "test", "accept"),
            "default": "production",
        },
    )

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        policy: HttpPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
    ):
        self.clock, self.policy, self.transport = clock, policy, transport

    # -- helpers

    def client(self, request: ExtractRequest) -> AfasClient:
        """A client for the source in the request (the sandbox when config holds `base_url`)."""
        config = request.config
        url = config.get("base_url") or base_url(
            str(config.get("environment") or ""), str(config.get("env_type") or "production")
        )
        token = request.credentials.get("token")
        if not token:
            raise AuthError(
                "No AFAS token is stored for this source.", guidance="Reconnect with a new token."
            )
        policy = self.policy or HttpPolicy(max_parallel=MAX_PARALLEL)
        return AfasClient(url, str(token), clock=self.clock, policy=policy, transport=self.transport)

    def check_setup(self, client: AfasClient, config: Mapping[str, Any]) -> Setup:
        """Check on the metainfo endpoints that every needed GetConnector and field is there."""
        wanted = {r.key: str((config.get("connectors") or {}).get(r.key) or r.default) for r in ROLES}
        available = {c.get("id") for c in client.metainfo().get("getConnectors") or []}
        present = {key: name for key, name in wanted.items() if name in available}
        with ThreadPoolExecutor(MAX_PARALLEL) as pool:
            fields = dict(zip(present, pool.map(client.fields, present.values()), strict=True))
        problems: list[str] = []
        notes: list[str] = []
        names: dict[str, str] = {}
        takes: dict[str, int] = {}
        for key, name in present.items():
            ids = {f.get("id") for f in fields[key]}
            lacking = [f for f in ROLE_BY_KEY[key].fields if f not in ids]
            if lacking:
                problems.append(f"GetConnector {name} lacks the field(s) {', '.join(lacking)}.")
                continue
            names[key] = name
            takes[key] = max(100, ROW_FIELD_BUDGET // max(1, len(ids)))
        missing = [r for r in ROLES if r.key not in present]
        for role in missing:
            if role.required:
                problems.append(
                    f"GetConnector {wanted[role.key]} ({role.purpose}) is not available to this token."
                )
        if not {"transactions", "transactions_allocated"} & set(present):
            problems.append(
                f"Neither GetConnector {wanted['transactions_allocated']} nor {wanted['transactions']} "
                "(the ledger lines) is available to this token."
            )
        if problems:
            steps = [IMPORT_STEPS] if missing else []
            if any("lacks" in p for p in problems):
                steps.append(FIELD_STEPS)
            raise ConfigError("AFAS setup is incomplete: " + " ".join(problems), guidance=" ".join(steps))
        for role in missing:
            notes.append(f"GetConnector {wanted[role.key]} is not available, so {role.purpose} are not read.")
        return Setup(names, takes, notes)

    def _take(self, request: ExtractRequest, setup: Setup, key: str) -> int:
        forced = request.options.get("take") or request.config.get("take")
        return int(forced) if forced else setup.takes.get(key, 1000)

    # -- the contract

    def list_entities(self, request: ExtractRequest) -> list[EntityInfo]:
        """The administrations the token can see, after checking the GetConnector setup."""
        client = self.client(request)
        try:
            setup = self.check_setup(client, request.config)
            rows = client.read_all(
                setup.names["administrations"],
                take=self._take(request, setup, "administrations"),
                order=["AdminId"],
            )
        finally:
            client.close()
        return _narrow(parse.administrations(rows), request.config)

    def extract(self, request: ExtractRequest) -> Extraction:
        """One administration's ledger: everything, or what changed since the cursor."""
        admin = request.entity_external_id
        if not admin:
            raise ConfigError(f"Entity {request.entity_name!r} is not linked to an AFAS administration.")
        client = self.client(request)
        try:
            return _Run(self, client, request, str(admin)).extract()
        finally:
            client.close()


def _narrow(found: list[EntityInfo], config: Mapping[str, Any]) -> list[EntityInfo]:
    wanted = config.get("administrations")
    if not wanted:
        return found
    keep = {str(x).strip() for x in (wanted if isinstance(wanted, list | tuple) else str(wanted).split(";"))}
    return [e for e in found if e.external_id in keep]


class _Run:
    """The reads of one extraction, sharing a client and the setup."""

    def __init__(self, connector: AfasConnector, client: AfasClient, request: ExtractRequest, admin: str):
        self.connector, self.client, self.request, self.admin = connector, client, request, admin
        self.problems: list[Problem] = []
        self.stats: dict[str, Any] = {}

    def unit(self) -> Condition:
        return ("UnitId", EQ, int(self.admin) if self.admin.isdigit() else self.admin)

    def take(self, key: str) -> int:
        return self.connector._take(self.request, self.setup, key)

    def read(
        self, key: str, order: list[str], groups: list[list[Condition]] | None = None
    ) -> list[dict[str, Any]]:
        name = self.setup.names[key]
        return self.client.read_all(name, take=self.take(key), order=order, groups=groups or [])

    def line_order(self) -> list[str]:
        return ["EntryNo", "SeqNo", *(["DimAx1", "DimAx2"] if self.setup.allocated else [])]

    def line_key(self) -> str:
        return "transactions_allocated" if self.setup.allocated else "transactions"

    def extract(self) -> Extraction:
        request = self.request
        cursor = request.cursor or {}
        since = None if request.full else _cursor_time(cursor.get("modified"), self.problems)
        self.setup = Setup.from_cursor(cursor.get("setup")) if since is not None else None
        if self.setup is None or request.config.get("connectors"):
            self.setup = self.connector.check_setup(self.client, request.config)
            self.problems.extend(Problem("afas_setup", n, severity="info") for n in self.setup.notes)

        jobs: dict[str, Callable[[], Any]] = {
            "admin": lambda: self.read("administrations", ["AdminId"], [[("AdminId", EQ, self.unit()[2])]]),
            "accounts": lambda: self.read("accounts", ["Account"]),
        }
        if "cost_centres" in self.setup.names:
            jobs["cost_centres"] = lambda: self.read("cost_centres", ["CostCentreId"])
        if "cost_carriers" in self.setup.names:
            jobs["cost_carriers"] = lambda: self.read("cost_carriers", ["CostCarrierId"])
        if since is None:
            jobs["lines"] = lambda: self.read(self.line_key(), self.line_order(), [[self.unit()]])
        else:
            start = since - timedelta(
                minutes=int(request.config.get("overlap_minutes") or DEFAULT_OVERLAP_MINUTES)
            )
            self.stats["since"] = start.isoformat()
            modified = [[self.unit(), ("Modified", GE, start)]]
            jobs["lines"] = lambda: self.read(self.line_key(), self.line_order(), modified)
            if "changed_days" in self.setup.names:
                jobs["changed_days"] = lambda: self.read("changed_days", ["EntryDate"], modified)
        with ThreadPoolExecutor(MAX_PARALLEL) as pool:
            futures = {name: pool.submit(job) for name, job in jobs.items()}
            results = {name: f.result() for name, f in futures.items()}

        admins = parse.administrations(results["admin"])
        if not admins:
            raise ConfigError(
                f"AFAS administration {self.admin} is not visible to this token.",
                guidance="Check the AdministrationId filter on the administrations GetConnector.",
            )
        info = admins[0]
        batch = LineBatch(connector=self.setup.lines, currency=info.currency)
        batch.add(results["lines"])
        ranges: list[tuple[date, date]] = []
        if since is not None:
            ranges = self._reread(batch, results, start)
            self.stats["modified_lines"] = len(results["lines"])
        server_now = self._server_now()
        latest = max([t for t in (batch.latest, server_now) if t is not None], default=None)
        new_cursor = {
            "modified": (latest or since or datetime(1900, 1, 1)).isoformat(),
            "setup": self.setup.as_cursor(),
        }
        replace = "all" if since is None else ("ranges" if ranges else "none")
        streams = [
            StreamData("accounts", _frame("accounts", frame_from_rows("accounts", self._accounts(results)))),
            StreamData(
                "dimensions", _frame("dimensions", frame_from_rows("dimensions", self._dimensions(results)))
            ),
            StreamData(
                "transactions",
                _frame("transactions", frame_from_rows("transactions", list(batch.transactions.values()))),
                replace=replace,
                ranges=ranges,
            ),
            StreamData(
                "opening_balances",
                _frame("opening_balances", frame_from_rows("opening_balances", list(batch.opening.values()))),
                replace=replace,
                ranges=ranges,
            ),
        ]
        self.stats.update(
            {
                "mode": "full" if since is None else "incremental",
                "lines": len(batch.transactions),
                "opening_lines": len(batch.opening),
                **self.client.api.stats.as_dict(),
            }
        )
        return Extraction(
            streams=streams,
            cursor=new_cursor,
            entity=info,
            problems=[*self.problems, *batch.problems],
            format="afas",
            stats=self.stats,
        )

    def _reread(self, batch: LineBatch, results: dict[str, Any], start: datetime) -> list[tuple[date, date]]:
        """Read whole booking days (or months) again, so lines deleted there disappear too."""
        if "changed_days" in results:
            days, latest = parse.changed_days(
                results["changed_days"], connector=self.setup.names["changed_days"]
            )
            if latest is not None and (batch.latest is None or latest > batch.latest):
                batch.latest = latest
            ranges = parse.day_ranges(days)
            self.stats["changed_days"] = len(days)
        else:
            months = {(r["tx_date"].year, r["tx_date"].month) for r in batch.transactions.values()}
            today = self._server_now() or start
            d = start.date().replace(day=1)
            while d <= today.date():
                months.add((d.year, d.month))
                d = (d + timedelta(days=32)).replace(day=1)
            ranges = sorted(parse.month_range(y, m) for y, m in months)
            self.problems.append(
                Problem(
                    "afas_deletions_by_month",
                    f"GetConnector {ROLE_BY_KEY['changed_days'].default} is not available: the months with "
                    "changes were read again to find deleted lines; deletions in other months are found by "
                    "the next full import.",
                    severity="info",
                )
            )
        groups = [[self.unit(), ("EntryDate", GE, a), ("EntryDate", LE, b)] for a, b in ranges]
        batches = split_groups(groups, order=self.line_order()) if groups else []
        self.stats["reread_ranges"] = len(ranges)
        self.stats["reread_queries"] = len(batches)
        with ThreadPoolExecutor(MAX_PARALLEL) as pool:
            reads = list(pool.map(lambda g: self.read(self.line_key(), self.line_order(), g), batches))
        for rows in reads:
            batch.add(rows)
        self.stats["reread_lines"] = sum(len(rows) for rows in reads)
        return ranges

    def _server_now(self) -> datetime | None:
        """AFAS's own clock (HTTP Date) in Amsterdam time, the zone of its Modified fields."""
        stamp = self.client.api.server_time
        if stamp is None:
            return None
        return datetime.fromtimestamp(stamp, UTC).astimezone(AMSTERDAM).replace(tzinfo=None)

    def _accounts(self, results: dict[str, Any]) -> list[dict[str, Any]]:
        return parse.account_rows(results["accounts"], admin_id=self.admin)

    def _dimensions(self, results: dict[str, Any]) -> list[dict[str, Any]]:
        out = []
        if "cost_centres" in results:
            out += parse.dimension_rows(
                results["cost_centres"], axis="cost_centre", code_field="CostCentreId", admin_id=self.admin
            )
        if "cost_carriers" in results:
            out += parse.dimension_rows(
                results["cost_carriers"], axis="project", code_field="CostCarrierId", admin_id=self.admin
            )
        return out


def _cursor_time(value: Any, problems: list[Problem]) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        problems.append(
            Problem(
                "unreadable_cursor", f"The stored cursor {value!r} is not a time; everything was read again."
            )
        )
        return None


def _frame(stream: str, frame) -> Any:
    """A stream frame in the contract's columns, materialised (the rows are in memory already)."""
    return conform(stream, frame).collect()
