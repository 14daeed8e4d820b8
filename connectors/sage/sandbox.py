"""A local Sage Business Cloud Accounting (API v3.1) for tests and demos.

Contract facts (Sage's v3.1 guides: authentication, filtering, paging; its API reference as
generated into Sage's SDKs):
- OAuth2 authorization code at /oauth2/auth/central?filter=apiv3.1, tokens at /token with the
  client id and secret in the form; access tokens 5 minutes; refresh tokens single-use, expiring
  31 days after issue when unused (refresh_token_expires_in);
- /v3.1/businesses lists the user's businesses; other calls need the X-Business header;
- collections: page, items_per_page (at most 200), answers {"$total", "$page", "$next",
  "$back", "$itemsPerPage", "$items"}; updated_or_created_since (inclusive) and deleted_since;
- /v3.1/financial_settings {year_end_date, base_currency}; /v3.1/ledger_accounts;
  /v3.1/ledger_entries {id, date, debit, credit, ledger_account, transaction, transaction_type,
  description, deleted, created_at, updated_at};
- errors: [{"$severity", "$dataCode", "$message", "$source"}].

Assumptions where Sage does not publish a detail (the connector is tolerant of each):
- limits per business: 100 calls a minute and 2500 a day (calendar windows); a 429 carries
  Retry-After; refused calls do not count;
- ledger_entries?deleted_since=... answers the deleted entries as {id, displayed_as, deleted_at};
- an edited transaction keeps the ids of its entries (updated_at moves), entries it no longer has
  are deleted, new ones created;
- a business the user lost access to answers 403 [{"$dataCode": "AccessDenied"}] and is no longer
  in /businesses.

The books are the demo organisation's (connectors.demo), one business per demo entity.
"""

from __future__ import annotations

import math
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from connectors.demo.books import Books, Changes, Entry, demo_chart, entries_from_frames
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

NAMESPACE = uuid.UUID("7a4e2f61-1b3c-4d8e-9f10-2a3b4c5d6e7f")
DEFAULT_BUSINESSES = ("demo-retail", "demo-services", "demo-inc")
TRANSACTION_TYPES = {
    "VRK": "SALES_INVOICE",
    "INK": "PURCHASE_INVOICE",
    "MEM": "JOURNAL",
    "LON": "JOURNAL",
    "OB": "JOURNAL",
}
ACCOUNT_TYPES = {
    "bank": "BANK",
    "receivable": "CURRENT_ASSETS",
    "current_asset": "CURRENT_ASSETS",
    "fixed_asset": "FIXED_ASSETS",
    "payable": "CURRENT_LIABILITY",
    "current_liability": "CURRENT_LIABILITY",
    "long_term_liability": "FUTURE_LIABILITY",
    "equity": "EQUITY",
    "revenue": "SALES",
    "other_income": "OTHER_INCOME",
    "cost_of_sales": "DIRECT_EXPENSES",
    "expense": "OVERHEADS",
    "other_expense": "OVERHEADS",
}
MAX_PAGE = 200


def guid(*parts: Any) -> str:
    return uuid.uuid5(NAMESPACE, "|".join(str(p) for p in parts)).hex


def iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def sage_error(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> SandboxResponse:
    return SandboxResponse.json(
        [{"$severity": "error", "$dataCode": code, "$message": message, "$source": ""}], status, headers
    )


class _Business:
    def __init__(self, business_id: str, demo_id: str):
        self.id, self.demo_id = business_id, demo_id
        self.books = Books({})
        self.entries: dict[
            str, dict[str, Any]
        ] = {}  # ledger entry id -> item (insertion order = creation order)
        self.deleted: list[tuple[float, str, str]] = []  # (deleted at, id, displayed_as)
        self.by_entry: dict[str, list[str]] = {}  # books entry key -> its ledger entry ids
        self.updated: dict[str, float] = {}  # ledger entry id -> updated_at, epoch seconds
        self.views: dict[tuple, list[dict[str, Any]]] = {}  # filtered lists, until the next change
        self.accessible = True


class SageSandbox(BooksSandbox):
    """Sage Accounting on 127.0.0.1: sign-in, businesses, the demo books as ledger entries."""

    authorize_path = "/oauth2/auth/central"
    token_path = "/token"

    def __init__(
        self,
        *,
        client_id: str = "ledgerline-sage-sandbox",
        client_secret: str = "sage-sandbox-secret",
        as_of: str | date = "2024-03-31",
        seed: int = 42,
        clock: Clock | None = None,
        businesses: tuple[str, ...] = DEFAULT_BUSINESSES,
        minute_limit: int = 100,
        day_limit: int = 2500,
        access_lifetime: int = 300,
        port: int = 0,
    ):
        self._setup(clock, seed, as_of)
        self.auth = SandboxAuthority(
            client_id=client_id,
            client_secret=client_secret,
            clock=self.clock,
            access_lifetime=access_lifetime,
            refresh_lifetime=31 * 86400,
            rotate=True,
            refresh_expiry_field="refresh_token_expires_in",
        )
        self.quota = SandboxQuota(self.clock, {"minute": (minute_limit, 60.0), "day": (day_limit, 86400.0)})
        self.businesses: dict[str, _Business] = {}
        for demo_id in businesses:
            business = _Business(guid("business", demo_id), demo_id)
            self.businesses[business.id] = business
            self._open(business)
        self.server = LocalServer(self.handle, port=port, clock=self.clock)

    # -- controls for tests

    def business(self, demo_id: str) -> str:
        return guid("business", demo_id)

    def replace_ledger(self, business_id: str, frames: dict[str, Any]) -> int:
        business = self.businesses[business_id]
        with self._lock:
            business.books, business.entries, business.deleted, business.by_entry = Books({}), {}, [], {}
            business.updated = {}
            self._record(business, business.books.replace(entries_from_frames(frames)), initial=True)
            return len(business.entries)

    def revoke_access(self, business_id: str) -> None:
        """The user lost access to the business (removed as a user, subscription ended)."""
        self.businesses[business_id].accessible = False

    def entry_count(self, business_id: str) -> int:
        return len(self.businesses[business_id].entries)

    def calls(self, path: str | None = None) -> int:
        with self._lock:
            return sum(1 for r in self.requests if path is None or r.path.endswith(path))

    # -- the books as ledger entries

    def _ledgers(self) -> dict[str, _Business]:
        return self.businesses

    def _record(self, business: _Business, changes: Changes, *, initial: bool = False) -> dict[str, int]:
        with self._lock:
            business.views.clear()  # the filtered lists hold until the books change
            return super()._record(business, changes, initial=initial)

    def _remove(self, business: _Business, entry: Entry, now: float) -> None:
        for key in business.by_entry.pop(entry.key, []):
            item = business.entries.pop(key)
            business.updated.pop(key, None)
            business.deleted.append((now, key, item["displayed_as"]))

    def _save(self, business: _Business, entry: Entry, stamp: float) -> None:
        """Write an entry's ledger entries: existing ids keep their place, surplus ones go."""
        accounts = {a.code: a for a in demo_chart(business.demo_id)}
        old = business.by_entry.get(entry.key, [])
        transaction = {"id": guid(business.id, "tx", entry.key), "displayed_as": entry.document or entry.key}
        transaction["$path"] = f"/transactions/{transaction['id']}"
        kind = TRANSACTION_TYPES.get(entry.journal) or self._bank_type(entry, accounts)
        ids = []
        for i, line in enumerate(entry.lines):
            key = old[i] if i < len(old) else guid(business.id, "le", entry.key, i, stamp)
            before = business.entries.get(key)
            item = {
                "id": key,
                "displayed_as": f"{transaction['displayed_as']} ({line.account})",
                "$path": f"/ledger_entries/{key}",
                "created_at": before["created_at"] if before else iso(stamp),
                "updated_at": iso(stamp),
                "date": entry.day.isoformat(),
                "debit": line.amount if line.amount > 0 else Decimal("0.00"),
                "credit": -line.amount if line.amount < 0 else Decimal("0.00"),
                "description": line.description,
                "deleted": False,
                "ledger_account": {
                    "id": guid(business.id, "account", line.account),
                    "displayed_as": f"{accounts[line.account].name} ({line.account})",
                    "$path": f"/ledger_accounts/{guid(business.id, 'account', line.account)}",
                },
                "transaction": transaction,
                "transaction_type": {"id": kind, "displayed_as": kind.replace("_", " ").title()},
            }
            if before is not None and all(before[k] == item[k] for k in item if k not in ("updated_at",)):
                item["updated_at"] = before["updated_at"]
            else:
                business.updated[key] = stamp
            business.entries[key] = item
            ids.append(key)
        for key in old[len(entry.lines) :]:
            item = business.entries.pop(key)
            business.updated.pop(key, None)
            business.deleted.append((stamp, key, item["displayed_as"]))
        business.by_entry[entry.key] = ids

    @staticmethod
    def _bank_type(entry: Entry, accounts: dict[str, Any]) -> str:
        kinds = {accounts[line.account].kind for line in entry.lines}
        bank = sum((ln.amount for ln in entry.lines if accounts[ln.account].kind == "bank"), Decimal(0))
        if "receivable" in kinds:
            return "CUSTOMER_RECEIPT"
        if "payable" in kinds:
            return "VENDOR_PAYMENT"
        return "OTHER_RECEIPT" if bank >= 0 else "OTHER_PAYMENT"

    # -- HTTP

    def _api(self, request: SandboxRequest, path: str) -> SandboxResponse:
        if not path.startswith("/v3.1/"):
            return sage_error(404, "RESOURCE_NOT_FOUND", "Not found")
        if not self.auth.bearer(request):
            return sage_error(401, "AuthenticationFailed", "The access token is invalid or has expired.")
        resource = path[len("/v3.1/") :]
        if resource == "businesses":
            return SandboxResponse.json([self._business(b) for b in self.businesses.values() if b.accessible])
        business = self.businesses.get(request.headers.get("x-business", ""))
        if business is None or not business.accessible:
            return sage_error(403, "AccessDenied", "You do not have access to this business.")
        return metered(self.quota, business.id, _too_many, lambda: self._route(business, resource, request))

    def _business(self, business: _Business) -> dict[str, Any]:
        name = PROFILES[business.demo_id].name
        return {"id": business.id, "displayed_as": name, "$path": f"/businesses/{business.id}", "name": name}

    def _route(self, business: _Business, resource: str, request: SandboxRequest) -> SandboxResponse:
        profile = PROFILES[business.demo_id]
        if resource == "financial_settings":
            return SandboxResponse.json(
                {
                    "$path": "/financial_settings",
                    "year_end_date": f"{self.as_of.year}-12-31",
                    "base_currency": {
                        "id": profile.currency,
                        "displayed_as": profile.currency,
                        "$path": f"/currencies/{profile.currency}",
                    },
                    "accounting_type": "accrual",
                }
            )
        if resource == "ledger_accounts":
            rows = [
                {
                    "id": guid(business.id, "account", a.code),
                    "displayed_as": f"{a.name} ({a.code})",
                    "$path": f"/ledger_accounts/{guid(business.id, 'account', a.code)}",
                    "nominal_code": int(a.code),
                    "name": a.name,
                    "ledger_account_type": {
                        "id": ACCOUNT_TYPES[a.kind],
                        "displayed_as": ACCOUNT_TYPES[a.kind].title(),
                    },
                }
                for a in demo_chart(business.demo_id)
            ]
            return self._collection(request, resource, rows)
        if resource == "ledger_entries":
            deleted_since = _moment(request.arg("deleted_since"))
            if deleted_since is not None:
                rows = [
                    {"id": key, "displayed_as": shown, "deleted_at": iso(at)}
                    for at, key, shown in business.deleted
                    if at >= deleted_since
                ]
                return self._collection(request, resource, rows)
            since = _moment(request.arg("updated_or_created_since"))
            with self._lock:
                rows = business.views.get(("entries", since))
                if rows is None:
                    rows = [
                        r
                        for k, r in business.entries.items()
                        if since is None or business.updated[k] >= since
                    ]
                    business.views[("entries", since)] = rows
            return self._collection(request, resource, rows)
        return sage_error(404, "RESOURCE_NOT_FOUND", f"No resource {resource}")

    def _collection(
        self, request: SandboxRequest, resource: str, rows: list[dict[str, Any]]
    ) -> SandboxResponse:
        try:
            page = max(1, int(request.arg("page", "1") or 1))
            per_page = min(MAX_PAGE, max(1, int(request.arg("items_per_page", "20") or 20)))
        except ValueError:
            return sage_error(400, "InvalidParameter", "page and items_per_page must be numbers")
        start = (page - 1) * per_page
        chunk = rows[start : start + per_page]
        params = [(k, v[-1]) for k, v in request.query.items() if k != "page"]

        def link(n: int) -> str:
            return f"/{resource}?{urlencode([*params, ('page', str(n))])}"

        return SandboxResponse.json(
            {
                "$total": len(rows),
                "$page": page,
                "$next": link(page + 1) if start + per_page < len(rows) else None,
                "$back": link(page - 1) if page > 1 else None,
                "$itemsPerPage": per_page,
                "$items": chunk,
            }
        )


def _moment(value: str | None) -> float | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


def _too_many(window: str, wait: float) -> SandboxResponse:
    return sage_error(
        429,
        "TooManyRequests",
        f"Rate limit exceeded ({window}).",
        {"Retry-After": str(max(1, math.ceil(wait)))},
    )


def main(argv: list[str] | None = None) -> None:
    """Serve the sandbox until interrupted (for trying the Sage source without a Sage account)."""
    serve(SageSandbox, argv, name="Sage Accounting", short="Sage")


if __name__ == "__main__":
    main()
