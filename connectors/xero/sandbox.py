"""A local Xero that follows Xero's published contract, for tests and demos.

Contract facts (XeroAPI/Xero-OpenAPI: xero_accounting.yaml, xero-identity.yaml; Xero's OAuth2 and
rate-limit guides):
- OAuth2 authorization code with PKCE (S256) at /identity/connect/authorize, tokens at
  /connect/token with the client id and secret as HTTP Basic; access tokens 30 minutes, refresh
  tokens rotate on every use (the used one still works for a 30-minute grace period) and expire
  after 60 days unused;
- GET /connections: [{id, authEventId, tenantId, tenantType, tenantName, createdDateUtc,
  updatedDateUtc}]; DELETE /connections/{id} disconnects an organisation;
- /api.xro/2.0/{Organisation, Accounts, TrackingCategories, Journals} with the xero-tenant-id
  header; Journals?offset=N answers journals numbered above N, oldest first, at most 100;
  If-Modified-Since keeps journals created after it; dates are "/Date(ms+0000)/";
- journals never change: an edited invoice gets a reversing journal plus a new one, a deleted
  (voided) one a reversing journal;
- limits per organisation: 60 calls a minute, 5000 a day, 5 at once; 429 answers carry
  Retry-After and X-Rate-Limit-Problem; every answer carries X-MinLimit-Remaining,
  X-DayLimit-Remaining, X-AppMinLimit-Remaining.

Assumptions where Xero does not document a detail (the connector is tolerant of each):
- minute and day windows are calendar windows (Xero's may be rolling); refused calls do not count;
- a disconnected organisation answers 403 {"Detail": "AuthenticationUnsuccessful"}; an app
  without the journals scope gets 403 {"Detail": "AuthorizationUnsuccessful"} on /Journals;
- a reversing journal is dated like the journal it reverses.

The books are the demo organisation's (connectors.demo), one organisation per demo entity;
`advance_to(day)` and `edit(...)` change them the way Xero records changes.
"""

from __future__ import annotations

import email.utils
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from connectors.demo.books import (
    Books,
    Entry,
    demo_chart,
    dimensions,
    entries_from_frames,
)
from connectors.demo.entities import PROFILES
from connectors.http import (
    Clock,
    LocalServer,
    SandboxQuota,
    SandboxRequest,
    SandboxResponse,
)
from connectors.oauth import SandboxAuthority
from connectors.sandbox_kit import BooksSandbox, metered, serve

NAMESPACE = uuid.UUID("3c9b1d0e-9c27-4c4e-8f53-5b1f6c0a7e21")
DEFAULT_TENANTS = {"demo-retail": "demo-retail", "demo-services": "demo-services", "demo-inc": "demo-inc"}
SOURCE_TYPES = {
    "VRK": "ACCREC",
    "INK": "ACCPAY",
    "MEM": "MANJOURNAL",
    "LON": "MANJOURNAL",
    "OB": "MANJOURNAL",
}
ACCOUNT_TYPES = {
    "bank": ("BANK", "ASSET"),
    "receivable": ("CURRENT", "ASSET"),
    "current_asset": ("CURRENT", "ASSET"),
    "fixed_asset": ("FIXED", "ASSET"),
    "payable": ("CURRLIAB", "LIABILITY"),
    "current_liability": ("CURRLIAB", "LIABILITY"),
    "long_term_liability": ("TERMLIAB", "LIABILITY"),
    "equity": ("EQUITY", "EQUITY"),
    "revenue": ("REVENUE", "REVENUE"),
    "other_income": ("OTHERINCOME", "REVENUE"),
    "cost_of_sales": ("DIRECTCOSTS", "EXPENSE"),
    "expense": ("OVERHEADS", "EXPENSE"),
    "other_expense": ("EXPENSE", "EXPENSE"),
}
TRACKING = {"cost_centre": "Cost centre", "project": "Project"}
JOURNALS_SCOPE = "accounting.journals.read"


def guid(*parts: Any) -> str:
    return str(uuid.uuid5(NAMESPACE, "|".join(str(p) for p in parts)))


def ms_date(moment: date | datetime) -> str:
    if not isinstance(moment, datetime):
        moment = datetime(moment.year, moment.month, moment.day, tzinfo=UTC)
    elif moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return f"/Date({int(moment.timestamp() * 1000)}+0000)/"


def xero_error(
    status: int, title: str, detail: str, headers: dict[str, str] | None = None
) -> SandboxResponse:
    body = {"Type": None, "Title": title, "Status": status, "Detail": detail, "Instance": str(uuid.uuid4())}
    return SandboxResponse.json(body, status, headers)


class _Organisation:
    def __init__(self, tenant_id: str, demo_id: str, books: Books):
        self.tenant_id, self.demo_id, self.books = tenant_id, demo_id, books
        self.journals: list[dict[str, Any]] = []
        self.created: list[float] = []  # CreatedDateUTC of each journal, epoch seconds
        self.connection_id = guid("connection", tenant_id)
        self.connected = True


class XeroSandbox(BooksSandbox):
    """Xero on 127.0.0.1: sign-in, connections, the demo books as journals, and Xero's limits."""

    authorize_path = "/identity/connect/authorize"
    token_path = "/connect/token"

    def __init__(
        self,
        *,
        client_id: str = "ledgerline-xero-sandbox",
        client_secret: str = "xero-sandbox-secret",
        as_of: str | date = "2024-03-31",
        seed: int = 42,
        clock: Clock | None = None,
        tenants: dict[str, str] | None = None,
        page_size: int = 100,
        minute_limit: int = 60,
        day_limit: int = 5000,
        concurrent: int = 5,
        journals_scope: bool = True,
        access_lifetime: int = 1800,
        token_latency: float = 0.0,
        port: int = 0,
    ):
        self._setup(clock, seed, as_of)
        self.page_size = page_size
        self.journals_scope = journals_scope
        self.auth = SandboxAuthority(
            client_id=client_id,
            client_secret=client_secret,
            clock=self.clock,
            access_lifetime=access_lifetime,
            refresh_lifetime=60 * 86400,
            rotate=True,
            grace=1800.0,
            pkce=True,
            token_auth="client_secret_basic",
            latency=token_latency,
        )
        self.quota = SandboxQuota(
            self.clock, {"minute": (minute_limit, 60.0), "day": (day_limit, 86400.0)}, concurrent=concurrent
        )
        self.orgs: dict[str, _Organisation] = {}
        for name, demo_id in (tenants or DEFAULT_TENANTS).items():
            tenant_id = guid("tenant", name)
            org = _Organisation(tenant_id, demo_id, Books({}))
            self.orgs[tenant_id] = org
            self._open(org)
        self.server = LocalServer(self.handle, port=port, clock=self.clock)

    # -- controls for tests

    def tenant(self, demo_name: str) -> str:
        """The tenant id of an organisation, by the name it was created under."""
        return guid("tenant", demo_name)

    def replace_ledger(self, tenant: str, frames: dict[str, Any]) -> int:
        """Give an organisation other books (demo-shaped frames) as its starting state; returns
        the number of journals."""
        org = self.orgs[tenant]
        with self._lock:
            org.books, org.journals, org.created = Books({}), [], []
            self._record(org, org.books.replace(entries_from_frames(frames)), initial=True)
            return len(org.journals)

    def disconnect(self, tenant: str) -> None:
        """The user disconnected the organisation from the app in Xero."""
        self.orgs[tenant].connected = False

    def journal_count(self, tenant: str) -> int:
        return len(self.orgs[tenant].journals)

    def line_count(self, tenant: str) -> int:
        return sum(len(j["JournalLines"]) for j in self.orgs[tenant].journals)

    def calls(self, resource: str | None = None) -> int:
        with self._lock:
            return sum(1 for r in self.requests if resource is None or r.path.endswith("/" + resource))

    # -- the books as journals: journals never change, so a change is a reversal and a new journal

    def _ledgers(self) -> dict[str, _Organisation]:
        return self.orgs

    def _save(self, org: _Organisation, entry: Entry, stamp: float) -> None:
        self._journal(org, entry, stamp)

    def _change(self, org: _Organisation, before: Entry, after: Entry, now: float) -> None:
        self._journal(org, before, now, reverse=True)
        self._journal(org, after, now)

    def _remove(self, org: _Organisation, entry: Entry, now: float) -> None:
        self._journal(org, entry, now, reverse=True)

    def _journal(self, org: _Organisation, entry: Entry, created: float, *, reverse: bool = False) -> None:
        number = len(org.journals) + 1
        accounts = {a.code: a for a in demo_chart(org.demo_id)}
        source = SOURCE_TYPES.get(entry.journal)
        if source is None:  # bank entries: money in or out
            bank = sum((ln.amount for ln in entry.lines if accounts[ln.account].kind == "bank"), Decimal(0))
            source = "CASHREC" if bank >= 0 else "CASHPAID"
        sign = -1 if reverse else 1
        lines = []
        for i, line in enumerate(entry.lines, 1):
            account = accounts[line.account]
            tracking = [
                {
                    "Name": TRACKING[axis],
                    "Option": code,
                    "TrackingCategoryID": guid(org.tenant_id, "tc", axis),
                    "TrackingOptionID": guid(org.tenant_id, "to", axis, code),
                }
                for axis, code in (("cost_centre", line.cost_centre), ("project", line.project))
                if code
            ]
            lines.append(
                {
                    "JournalLineID": guid(org.tenant_id, "line", number, i),
                    "AccountID": guid(org.tenant_id, "account", account.code),
                    "AccountCode": account.code,
                    "AccountType": ACCOUNT_TYPES[account.kind][0],
                    "AccountName": account.name,
                    "Description": line.description or "",
                    "NetAmount": sign * line.amount,
                    "GrossAmount": sign * line.amount,
                    "TaxAmount": Decimal("0.00"),
                    "TrackingCategories": tracking,
                }
            )
        org.journals.append(
            {
                "JournalID": guid(org.tenant_id, "journal", number),
                "JournalDate": ms_date(entry.day),
                "JournalNumber": number,
                "CreatedDateUTC": ms_date(datetime.fromtimestamp(created, UTC)),
                "Reference": ("Reversal: " if reverse else "") + (entry.document or entry.key),
                "SourceID": guid(org.tenant_id, "source", entry.key),
                "SourceType": source,
                "JournalLines": lines,
            }
        )
        org.created.append(created)

    # -- HTTP

    def _api(self, request: SandboxRequest, path: str) -> SandboxResponse:
        if not self.auth.bearer(request):
            return xero_error(401, "Unauthorized", "TokenExpired: token expired or invalid")
        if path == "/connections" and request.method == "GET":
            return SandboxResponse.json([self._connection(o) for o in self.orgs.values() if o.connected])
        if path.startswith("/connections/") and request.method == "DELETE":
            for org in self.orgs.values():
                if org.connection_id == path.rsplit("/", 1)[1]:
                    org.connected = False
                    return SandboxResponse(204)
            return xero_error(404, "Not Found", "The connection was not found")
        if not path.startswith("/api.xro/2.0/"):
            return xero_error(404, "Not Found", "The resource was not found")
        tenant = request.headers.get("xero-tenant-id", "")
        org = self.orgs.get(tenant)
        if org is None or not org.connected:
            return xero_error(403, "Forbidden", "AuthenticationUnsuccessful")
        response = metered(
            self.quota, tenant, _too_many, lambda: self._route(org, path[len("/api.xro/2.0/") :], request)
        )
        response.headers.update(self._limit_headers(tenant))
        return response

    def _limit_headers(self, tenant: str) -> dict[str, str]:
        left = self.quota.remaining(tenant)
        return {
            "X-MinLimit-Remaining": str(left["minute"]),
            "X-DayLimit-Remaining": str(left["day"]),
            "X-AppMinLimit-Remaining": "9999",
        }

    def _connection(self, org: _Organisation) -> dict[str, Any]:
        return {
            "id": org.connection_id,
            "authEventId": guid("auth", org.tenant_id),
            "tenantId": org.tenant_id,
            "tenantType": "ORGANISATION",
            "tenantName": PROFILES[org.demo_id].name,
            "createdDateUtc": "2024-01-01T09:00:00.0000000",
            "updatedDateUtc": "2024-01-01T09:00:00.0000000",
        }

    def _route(self, org: _Organisation, resource: str, request: SandboxRequest) -> SandboxResponse:
        envelope = {"Id": str(uuid.uuid4()), "Status": "OK", "ProviderName": "Ledgerline sandbox"}
        envelope["DateTimeUTC"] = ms_date(datetime.fromtimestamp(self.clock.time(), UTC))
        profile = PROFILES[org.demo_id]
        if resource == "Organisation":
            body = {
                "OrganisationID": org.tenant_id,
                "Name": profile.name,
                "ShortCode": "!" + org.demo_id[-4:],
                "BaseCurrency": profile.currency,
                "FinancialYearEndDay": 31,
                "FinancialYearEndMonth": 12,
                "OrganisationType": "COMPANY",
            }
            return SandboxResponse.json({**envelope, "Organisations": [body]})
        if resource == "Accounts":
            accounts = [
                {
                    "AccountID": guid(org.tenant_id, "account", a.code),
                    "Code": a.code,
                    "Name": a.name,
                    "Type": ACCOUNT_TYPES[a.kind][0],
                    "Class": ACCOUNT_TYPES[a.kind][1],
                    "Status": "ACTIVE",
                    "UpdatedDateUTC": ms_date(date(2024, 1, 1)),
                }
                for a in demo_chart(org.demo_id)
            ]
            return SandboxResponse.json({**envelope, "Accounts": accounts})
        if resource == "TrackingCategories":
            categories = []
            for axis, name in TRACKING.items():
                options = [
                    {
                        "TrackingOptionID": guid(org.tenant_id, "to", axis, code),
                        "Name": code,
                        "Status": "ACTIVE",
                    }
                    for a, code, _ in dimensions()
                    if a == axis
                ]
                categories.append(
                    {
                        "TrackingCategoryID": guid(org.tenant_id, "tc", axis),
                        "Name": name,
                        "Status": "ACTIVE",
                        "Options": options,
                    }
                )
            return SandboxResponse.json({**envelope, "TrackingCategories": categories})
        if resource == "Journals":
            if not self.journals_scope:
                return xero_error(403, "Forbidden", "AuthorizationUnsuccessful")
            return SandboxResponse.json({**envelope, "Journals": self._journals(org, request)})
        return xero_error(404, "Not Found", f"The resource {resource} was not found")

    def _journals(self, org: _Organisation, request: SandboxRequest) -> list[dict[str, Any]]:
        try:
            offset = int(request.arg("offset", "0") or 0)
        except ValueError:
            offset = 0
        since = _since(request.headers.get("if-modified-since"))
        with self._lock:
            # Journal n is at index n - 1: numbers are dense and start at 1.
            out = []
            for journal, created in zip(
                org.journals[max(0, offset) :], org.created[max(0, offset) :], strict=True
            ):
                if since is not None and created <= since:
                    continue
                out.append(journal)
                if len(out) == self.page_size:
                    break
            return out


def _too_many(window: str, wait: float) -> SandboxResponse:
    headers = {"Retry-After": str(max(1, int(wait + 0.999))), "X-Rate-Limit-Problem": window}
    return xero_error(429, "Too Many Requests", "The rate limit was exceeded", headers)


def _since(value: str | None) -> float | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        try:
            return email.utils.parsedate_to_datetime(value).timestamp()
        except (TypeError, ValueError):
            return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


def main(argv: list[str] | None = None) -> None:
    """Serve the sandbox until interrupted (for trying the Xero source without a Xero account)."""
    serve(XeroSandbox, argv, name="Xero", show_secret=True)


if __name__ == "__main__":
    main()
