"""A local QuickBooks Online (Accounting API v3) for tests and demos.

Contract facts (Intuit's v3 schemas, ../shared/contracts/quickbooks-online; Intuit's OAuth,
query, change-data-capture, reports and throttling documentation):
- OAuth2 authorization code at /connect/oauth2; the redirect carries `code`, `state` and
  `realmId`; tokens at /oauth2/v1/tokens/bearer with the app's id and secret as HTTP Basic;
  access tokens 3600 s; refresh tokens rotate and live 100 days (x_refresh_token_expires_in);
- /v3/company/{realm}/query?query=select * from X [where ...] [orderby ...] startposition n
  maxresults m (m at most 1000) -> {"QueryResponse": {X: [...], "startPosition", "maxResults"},
  "time"}; /cdc?entities=..&changedSince=.. -> {"CDCResponse": [{"QueryResponse": [{X: [...]}
  ...]}], "time"}, at most 30 days back and 1000 objects per answer; deleted entities are
  {"Id", "status": "Deleted", "MetaData"}; /companyinfo/{realm}; /preferences;
  /reports/TrialBalance?end_date=... (Report.xsd: Header, Columns, Rows/Row/ColData);
- entities carry Id, SyncToken, MetaData {CreateTime, LastUpdatedTime}; an update bumps the
  SyncToken and LastUpdatedTime;
- errors: {"Fault": {"Error": [{"Message", "Detail", "code"}], "type"}}; 429 (ThrottleExceeded,
  error 003001) over 500 calls a minute or 10 a second per company.

Assumptions where Intuit does not document a detail (the connector is tolerant of each):
- minute and second windows are calendar windows; throttled calls do not count; a 429 carries
  no Retry-After;
- query pages in Id order (orderby Id); the Ids of all entity types come from one counter;
- a company that was closed (or whose subscription ended) answers every call with 403
  AuthorizationFault, code 003100;
- the trial balance shows balance sheet accounts to date, income and expense accounts for the
  current fiscal year, and earlier years' result in the RetainedEarnings account.

The books are the demo organisation's (connectors.demo), one company (realm) per demo entity;
each entry is encoded as the QuickBooks entity its lines make it: sales on account an Invoice
(items per revenue account, VAT through a tax rate of an agency), purchases a Bill, receipts and
payments Payment / BillPayment, other bank lines Purchase / Deposit / Transfer, the rest a
JournalEntry. The trial balance report is computed from the books, not from the entities, so a
connector that rebuilds the ledger from entities is checked against something independent.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from connectors.demo.books import (
    Account,
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

DEFAULT_REALMS = {
    "9130357766900001": "demo-retail",
    "9130357766900002": "demo-services",
    "9130357766900003": "demo-inc",
}
ACCOUNT_TYPES = {
    "bank": ("Bank", "Checking", "Asset"),
    "receivable": ("Accounts Receivable", "AccountsReceivable", "Asset"),
    "current_asset": ("Other Current Asset", "OtherCurrentAssets", "Asset"),
    "fixed_asset": ("Fixed Asset", "MachineryAndEquipment", "Asset"),
    "payable": ("Accounts Payable", "AccountsPayable", "Liability"),
    "current_liability": ("Other Current Liability", "OtherCurrentLiabilities", "Liability"),
    "long_term_liability": ("Long Term Liability", "NotesPayable", "Liability"),
    "equity": ("Equity", "OwnersEquity", "Equity"),
    "revenue": ("Income", "SalesOfProductIncome", "Revenue"),
    "other_income": ("Other Income", "InterestEarned", "Revenue"),
    "cost_of_sales": ("Cost of Goods Sold", "SuppliesMaterialsCogs", "Expense"),
    "expense": ("Expense", "OtherMiscellaneousServiceCost", "Expense"),
    "other_expense": ("Other Expense", "OtherMiscellaneousExpense", "Expense"),
}
RETAINED_EARNINGS = "0520"
VAT_PAYABLE, VAT_RECEIVABLE = "1510", "1500"
MAX_RESULTS = 1000
CDC_CAP = 1000
_QUERY = re.compile(
    r"^\s*select\s+\*\s+from\s+(\w+)(?:\s+where\s+(.+?))?(?:\s+orderby\s+([\w.]+)(?:\s+(asc|desc))?)?"
    r"(?:\s+startposition\s+(\d+))?(?:\s+maxresults\s+(\d+))?\s*$",
    re.IGNORECASE,
)


def qbo_time(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def fault(status: int, kind: str, code: str, message: str, detail: str) -> SandboxResponse:
    body = {
        "Fault": {"Error": [{"Message": message, "Detail": detail, "code": code}], "type": kind},
        "time": "",
    }
    return SandboxResponse.json(body, status)


def ref(value: str, name: str | None = None) -> dict[str, str]:
    return {"value": value, **({"name": name} if name else {})}


class _Company:
    def __init__(self, realm: str, demo_id: str):
        self.realm, self.demo_id = realm, demo_id
        self.books = Books({})
        self.chart = {a.code: a for a in demo_chart(demo_id)}
        self.masters: dict[str, list[dict[str, Any]]] = {}
        self.entities: dict[tuple[str, str], dict[str, Any]] = {}  # (type, Id) -> entity
        self.by_entry: dict[str, tuple[str, str]] = {}  # books entry key -> (type, Id)
        self.changed: dict[tuple[str, str], float] = {}  # (type, Id) -> LastUpdatedTime
        self.deleted: dict[tuple[str, str], float] = {}
        self.next_id = 1
        self.closed = False

    def account_id(self, code: str) -> str:
        return str(list(self.chart).index(code) + 1)


class QuickBooksSandbox(BooksSandbox):
    """QuickBooks Online on 127.0.0.1: sign-in with realmId, query, CDC, reports, limits."""

    authorize_path = "/connect/oauth2"
    token_path = "/oauth2/v1/tokens/bearer"

    def __init__(
        self,
        *,
        client_id: str = "ledgerline-qbo-sandbox",
        client_secret: str = "qbo-sandbox-secret",
        as_of: str | date = "2024-03-31",
        seed: int = 42,
        clock: Clock | None = None,
        realms: dict[str, str] | None = None,
        minute_limit: int = 500,
        second_limit: int = 10,
        concurrent: int = 10,
        cdc_cap: int = CDC_CAP,
        access_lifetime: int = 3600,
        port: int = 0,
    ):
        self._setup(clock, seed, as_of)
        self.cdc_cap = cdc_cap
        self.companies: dict[str, _Company] = {}
        for realm, demo_id in (realms or DEFAULT_REALMS).items():
            company = _Company(realm, demo_id)
            self.companies[realm] = company
            self._masters(company)
            self._open(company)
        self.auth = SandboxAuthority(
            client_id=client_id,
            client_secret=client_secret,
            clock=self.clock,
            access_lifetime=access_lifetime,
            refresh_lifetime=101 * 86400,
            rotate=True,
            token_auth="client_secret_basic",
            refresh_expiry_field="x_refresh_token_expires_in",
            redirect_extra={"realmId": next(iter(self.companies))},
        )
        self.quota = SandboxQuota(
            self.clock, {"minute": (minute_limit, 60.0), "second": (second_limit, 1.0)}, concurrent=concurrent
        )
        self.server = LocalServer(self.handle, port=port, clock=self.clock)

    # -- controls for tests

    def realm(self, demo_id: str) -> str:
        return next(r for r, c in self.companies.items() if c.demo_id == demo_id)

    def sign_in_realm(self, realm: str) -> None:
        """The company the next sign-in picks (QuickBooks asks the user which one)."""
        self.auth.redirect_extra["realmId"] = realm

    def replace_ledger(self, realm: str, frames: dict[str, Any]) -> int:
        """Give a company other books (demo-shaped frames); returns the number of entities."""
        company = self.companies[realm]
        with self._lock:
            company.books, company.entities, company.by_entry = Books({}), {}, {}
            company.changed, company.deleted, company.next_id = {}, {}, 1
            self._record(company, company.books.replace(entries_from_frames(frames)), initial=True)
            return len(company.entities)

    def change_entry(self, realm: str, key: str, lines: tuple[Any, ...]) -> dict[str, int]:
        """Book an entry again with other lines (e.g. an invoice line removed), now."""
        company = self.companies[realm]
        new = dict(company.books.entries)
        new[key] = replace(new[key], lines=lines)
        return self._record(company, company.books.replace(new))

    def close_company(self, realm: str) -> None:
        """The company was closed or its subscription ended."""
        self.companies[realm].closed = True

    def entity_counts(self, realm: str) -> dict[str, int]:
        out: dict[str, int] = {}
        for kind, _ in self.companies[realm].entities:
            out[kind] = out.get(kind, 0) + 1
        return out

    def line_count(self, realm: str) -> int:
        return sum(len(e.lines) for e in self.companies[realm].books.entries.values())

    def calls(self, path: str | None = None) -> int:
        with self._lock:
            return sum(1 for r in self.requests if path is None or path in r.path)

    def book_trial_balance(self, realm: str, end: date) -> dict[str, Decimal]:
        """The trial balance computed from the books (by account code), as the report shows it."""
        company = self.companies[realm]
        out: dict[str, Decimal] = {}
        start = date(end.year, 1, 1)
        for entry in company.books.entries.values():
            if entry.day > end:
                continue
            for line in entry.lines:
                code = line.account
                if not company.chart[code].balance_sheet and entry.day < start:
                    code = RETAINED_EARNINGS
                out[code] = out.get(code, Decimal("0.00")) + line.amount
        return {k: v for k, v in out.items() if v != 0}

    # -- master data

    def _masters(self, company: _Company) -> None:
        accounts = []
        for account in company.chart.values():
            kind, subtype, classification = ACCOUNT_TYPES[account.kind]
            if account.code == RETAINED_EARNINGS:
                subtype = "RetainedEarnings"
            accounts.append(
                {
                    "Id": company.account_id(account.code),
                    "Name": account.name,
                    "FullyQualifiedName": account.name,
                    "AcctNum": account.code,
                    "AccountType": kind,
                    "AccountSubType": subtype,
                    "Classification": classification,
                    "Active": True,
                    "CurrentBalance": 0,
                    "SyncToken": "0",
                    "MetaData": {
                        "CreateTime": "2023-10-01T09:00:00.000Z",
                        "LastUpdatedTime": "2023-10-01T09:00:00.000Z",
                    },
                }
            )
        dims = dimensions()
        company.masters = {
            "Account": accounts,
            "Class": [
                {"Id": str(i), "Name": code, "FullyQualifiedName": code, "Active": True}
                for i, (a, code, _) in enumerate(dims, 1)
                if a == "cost_centre"
            ],
            "Department": [
                {"Id": str(i), "Name": code, "FullyQualifiedName": code, "Active": True}
                for i, (a, code, _) in enumerate(dims, 1)
                if a == "project"
            ],
            "Item": [
                {
                    "Id": str(i),
                    "Name": f"Sales {a.code}",
                    "Type": "Service",
                    "IncomeAccountRef": ref(company.account_id(a.code), a.name),
                    "Active": True,
                }
                for i, a in enumerate(company.chart.values(), 1)
                if a.kind in ("revenue", "other_income")
            ],
            "TaxAgency": [
                {
                    "Id": "1",
                    "DisplayName": "Belastingdienst",
                    "TaxTrackedOnSales": True,
                    "TaxTrackedOnSalesAccountRef": ref(company.account_id(VAT_PAYABLE)),
                    "TaxTrackedOnPurchases": True,
                    "TaxOnPurchasesAccountRef": ref(company.account_id(VAT_RECEIVABLE)),
                }
            ],
            "TaxRate": [
                {
                    "Id": "1",
                    "Name": "BTW",
                    "RateValue": 21,
                    "AgencyRef": ref("1", "Belastingdienst"),
                    "Active": True,
                }
            ],
        }

    def _class_id(self, company: _Company, code: str | None) -> dict[str, str] | None:
        for row in company.masters["Class"]:
            if row["Name"] == code:
                return ref(row["Id"], code)
        return None

    def _dept_id(self, company: _Company, code: str | None) -> dict[str, str] | None:
        for row in company.masters["Department"]:
            if row["Name"] == code:
                return ref(row["Id"], code)
        return None

    def _item_id(self, company: _Company, account: str) -> dict[str, str]:
        account_id = company.account_id(account)
        item = next(i for i in company.masters["Item"] if i["IncomeAccountRef"]["value"] == account_id)
        return ref(item["Id"], item["Name"])

    # -- the books as entities

    def _ledgers(self) -> dict[str, _Company]:
        return self.companies

    def _remove(self, company: _Company, entry: Entry, now: float) -> None:
        key = company.by_entry.pop(entry.key)
        del company.entities[key]
        company.changed.pop(key, None)
        company.deleted[key] = now

    def _save(self, company: _Company, entry: Entry, stamp: float) -> None:
        kind, body = self._encode(company, entry)
        old = company.by_entry.get(entry.key)
        if old is not None and old[0] != kind:  # the entry now is another kind of transaction
            del company.entities[old]
            company.changed.pop(old, None)
            company.deleted[old] = stamp
            old = None
        if old is None:
            key = (kind, str(company.next_id))
            company.next_id += 1
            created, sync = stamp, 0
        else:
            key = old
            previous = company.entities[key]
            created, sync = previous["_created"], int(previous["SyncToken"]) + 1
        body.update(
            {
                "Id": key[1],
                "SyncToken": str(sync),
                "domain": "QBO",
                "sparse": False,
                "TxnDate": entry.day.isoformat(),
                "DocNumber": entry.document or entry.number,
                "MetaData": {"CreateTime": qbo_time(created), "LastUpdatedTime": qbo_time(stamp)},
                "_created": created,
            }
        )
        company.entities[key] = body
        company.by_entry[entry.key] = key
        company.changed[key] = stamp

    def _encode(self, company: _Company, entry: Entry) -> tuple[str, dict[str, Any]]:
        """The QuickBooks entity an entry's lines make, or a JournalEntry when none fits."""
        chart = company.chart
        kinds = [chart[ln.account].kind for ln in entry.lines]
        plain = all(ln.amount_fc is None for ln in entry.lines) and all(ln.amount != 0 for ln in entry.lines)
        projects = {ln.project for ln in entry.lines if ln.project}
        dept = self._dept_id(company, next(iter(projects))) if len(projects) == 1 else None
        if plain and entry.journal != "OB" and len(projects) <= 1:
            encoded = (
                self._sales(company, entry, kinds)
                or self._purchase_invoice(company, entry, kinds)
                or self._bank(company, entry, kinds)
            )
            if encoded is not None:
                kind, body = encoded
                if dept is not None:
                    body["DepartmentRef"] = dept
                return kind, body
        return "JournalEntry", self._journal(company, entry)

    def _journal(self, company: _Company, entry: Entry) -> dict[str, Any]:
        lines = []
        for i, ln in enumerate(entry.lines, 1):
            detail: dict[str, Any] = {
                "PostingType": "Debit" if ln.amount >= 0 else "Credit",
                "AccountRef": ref(company.account_id(ln.account), company.chart[ln.account].name),
            }
            if ln.cost_centre:
                detail["ClassRef"] = self._class_id(company, ln.cost_centre)
            if ln.project:
                detail["DepartmentRef"] = self._dept_id(company, ln.project)
            lines.append(
                {
                    "Id": str(i),
                    "Description": ln.description,
                    "Amount": abs(ln.amount),
                    "DetailType": "JournalEntryLineDetail",
                    "JournalEntryLineDetail": detail,
                }
            )
        return {"Line": lines, "PrivateNote": f"{entry.journal} {entry.number}"}

    def _tax(self, amount: Decimal) -> dict[str, Any]:
        return {
            "TotalTax": amount,
            "TaxLine": [
                {
                    "Amount": amount,
                    "DetailType": "TaxLineDetail",
                    "TaxLineDetail": {"TaxRateRef": ref("1"), "PercentBased": True, "TaxPercent": 21},
                }
            ],
        }

    def _sales(self, company: _Company, entry: Entry, kinds: list[str]) -> tuple[str, dict[str, Any]] | None:
        heads = [i for i, k in enumerate(kinds) if k in ("receivable", "bank")]
        if entry.journal != "VRK" or len(heads) != 1:
            return None
        head = entry.lines[heads[0]]
        rest = [ln for i, ln in enumerate(entry.lines) if i != heads[0]]
        sign = 1 if head.amount > 0 else -1
        if any(
            company.chart[ln.account].kind not in ("revenue", "other_income") and ln.account != VAT_PAYABLE
            for ln in rest
        ):
            return None
        if any(ln.amount * sign > 0 for ln in rest):
            return None
        tax = sum((-sign * ln.amount for ln in rest if ln.account == VAT_PAYABLE), Decimal("0.00"))
        lines = []
        for i, ln in enumerate(x for x in rest if x.account != VAT_PAYABLE):
            detail: dict[str, Any] = {
                "ItemRef": self._item_id(company, ln.account),
                "Qty": 1,
                "UnitPrice": -sign * ln.amount,
            }
            if ln.cost_centre:
                detail["ClassRef"] = self._class_id(company, ln.cost_centre)
            lines.append(
                {
                    "Id": str(i + 1),
                    "LineNum": i + 1,
                    "Description": ln.description,
                    "Amount": -sign * ln.amount,
                    "DetailType": "SalesItemLineDetail",
                    "SalesItemLineDetail": detail,
                }
            )
        lines.append(
            {
                "Amount": sum((x["Amount"] for x in lines), Decimal("0.00")),
                "DetailType": "SubTotalLineDetail",
                "SubTotalLineDetail": {},
            }
        )
        body: dict[str, Any] = {
            "Line": lines,
            "TotalAmt": sign * head.amount,
            "GlobalTaxCalculation": "TaxExcluded",
        }
        if tax:
            body["TxnTaxDetail"] = self._tax(tax)
        account = ref(company.account_id(head.account), company.chart[head.account].name)
        if company.chart[head.account].kind == "receivable":
            body["ARAccountRef"] = account
            return ("Invoice" if sign > 0 else "CreditMemo"), body
        body["DepositToAccountRef"] = account
        return ("SalesReceipt" if sign > 0 else "RefundReceipt"), body

    def _expense_lines(self, company: _Company, lines: list[Any], sign: int) -> list[dict[str, Any]]:
        out = []
        for i, ln in enumerate(lines, 1):
            detail: dict[str, Any] = {
                "AccountRef": ref(company.account_id(ln.account), company.chart[ln.account].name)
            }
            if ln.cost_centre:
                detail["ClassRef"] = self._class_id(company, ln.cost_centre)
            out.append(
                {
                    "Id": str(i),
                    "Description": ln.description,
                    "Amount": sign * ln.amount,
                    "DetailType": "AccountBasedExpenseLineDetail",
                    "AccountBasedExpenseLineDetail": detail,
                }
            )
        return out

    def _purchase_invoice(
        self, company: _Company, entry: Entry, kinds: list[str]
    ) -> tuple[str, dict[str, Any]] | None:
        heads = [i for i, k in enumerate(kinds) if k == "payable"]
        if entry.journal != "INK" or len(heads) != 1:
            return None
        head = entry.lines[heads[0]]
        rest = [ln for i, ln in enumerate(entry.lines) if i != heads[0]]
        sign = 1 if head.amount < 0 else -1
        if any(ln.amount * sign < 0 for ln in rest):
            return None
        tax = sum((sign * ln.amount for ln in rest if ln.account == VAT_RECEIVABLE), Decimal("0.00"))
        body: dict[str, Any] = {
            "Line": self._expense_lines(company, [ln for ln in rest if ln.account != VAT_RECEIVABLE], sign),
            "TotalAmt": -sign * head.amount,
            "APAccountRef": ref(company.account_id(head.account), company.chart[head.account].name),
            "GlobalTaxCalculation": "TaxExcluded",
        }
        if tax:
            body["TxnTaxDetail"] = self._tax(tax)
        return ("Bill" if sign > 0 else "VendorCredit"), body

    def _bank(self, company: _Company, entry: Entry, kinds: list[str]) -> tuple[str, dict[str, Any]] | None:
        banks = [i for i, k in enumerate(kinds) if k == "bank"]
        if entry.journal != "BNK" or not banks:
            return None
        if len(entry.lines) == 2:
            a, b = entry.lines
            ka, kb = kinds
            pair = {ka: a, kb: b}
            if ka == kb == "bank":
                to, frm = (a, b) if a.amount > 0 else (b, a)
                return "Transfer", {
                    "Amount": to.amount,
                    "ToAccountRef": ref(company.account_id(to.account)),
                    "FromAccountRef": ref(company.account_id(frm.account)),
                }
            if "bank" in pair and "receivable" in pair and pair["bank"].amount > 0:
                bank, ar = pair["bank"], pair["receivable"]
                return "Payment", {
                    "TotalAmt": bank.amount,
                    "DepositToAccountRef": ref(company.account_id(bank.account)),
                    "ARAccountRef": ref(company.account_id(ar.account)),
                    "Line": [],
                }
            if "bank" in pair and "payable" in pair and pair["bank"].amount < 0:
                bank, ap = pair["bank"], pair["payable"]
                return "BillPayment", {
                    "TotalAmt": -bank.amount,
                    "PayType": "Check",
                    "CheckPayment": {"BankAccountRef": ref(company.account_id(bank.account))},
                    "APAccountRef": ref(company.account_id(ap.account)),
                    "Line": [],
                }
        if len(banks) != 1 or any(k in ("receivable", "payable") for k in kinds):
            return None
        bank = entry.lines[banks[0]]
        rest = [ln for i, ln in enumerate(entry.lines) if i != banks[0]]
        if bank.amount < 0 and all(ln.amount > 0 for ln in rest):
            return "Purchase", {
                "AccountRef": ref(company.account_id(bank.account), company.chart[bank.account].name),
                "PaymentType": "Check",
                "Credit": False,
                "TotalAmt": -bank.amount,
                "Line": self._expense_lines(company, rest, 1),
            }
        if bank.amount > 0 and all(ln.amount < 0 for ln in rest):
            lines = []
            for i, ln in enumerate(rest, 1):
                detail: dict[str, Any] = {"AccountRef": ref(company.account_id(ln.account))}
                if ln.cost_centre:
                    detail["ClassRef"] = self._class_id(company, ln.cost_centre)
                lines.append(
                    {
                        "Id": str(i),
                        "Description": ln.description,
                        "Amount": -ln.amount,
                        "DetailType": "DepositLineDetail",
                        "DepositLineDetail": detail,
                    }
                )
            return "Deposit", {
                "DepositToAccountRef": ref(company.account_id(bank.account)),
                "TotalAmt": bank.amount,
                "Line": lines,
            }
        return None

    # -- HTTP

    def _api(self, request: SandboxRequest, path: str) -> SandboxResponse:
        match = re.fullmatch(r"/v3/company/(\w+)/(.+)", path)
        if match is None:
            return fault(404, "ValidationFault", "610", "Object Not Found", "The resource does not exist.")
        if not self.auth.bearer(request):
            return fault(
                401,
                "AUTHENTICATION",
                "3200",
                "message=AuthenticationFailed; errorCode=003200; statusCode=401",
                "Token expired or invalid",
            )
        company = self.companies.get(match.group(1))
        if company is None or company.closed:
            return fault(
                403,
                "AuthorizationFault",
                "003100",
                "ApplicationAuthorizationFailed",
                "The application is not authorized for this company.",
            )
        return metered(
            self.quota, company.realm, _throttled, lambda: self._route(company, match.group(2), request)
        )

    def _route(self, company: _Company, resource: str, request: SandboxRequest) -> SandboxResponse:
        now = qbo_time(self.clock.time())
        profile = PROFILES[company.demo_id]
        if resource == f"companyinfo/{company.realm}":
            return SandboxResponse.json(
                {
                    "CompanyInfo": {
                        "Id": "1",
                        "CompanyName": profile.name,
                        "LegalName": profile.name,
                        "Country": "NL" if profile.currency == "EUR" else "US",
                    },
                    "time": now,
                }
            )
        if resource == "preferences":
            prefs = {
                "AccountingInfoPrefs": {"FiscalYearStartMonth": "January", "TaxYearMonth": "January"},
                "CurrencyPrefs": {"MultiCurrencyEnabled": False, "HomeCurrency": {"value": profile.currency}},
            }
            return SandboxResponse.json({"Preferences": prefs, "time": now})
        if resource == "query":
            return self._query(company, request.arg("query") or "", now)
        if resource == "cdc":
            return self._cdc(company, request, now)
        if resource == "reports/TrialBalance":
            return self._trial_balance(company, request, now)
        return fault(400, "ValidationFault", "4000", "Unsupported Operation", f"{resource} is not supported")

    def _rows(self, company: _Company, kind: str) -> list[dict[str, Any]]:
        if kind in company.masters:
            return company.masters[kind]
        rows = [e for (k, _), e in company.entities.items() if k == kind]
        return sorted(rows, key=lambda e: int(e["Id"]))

    def _query(self, company: _Company, query: str, now: str) -> SandboxResponse:
        match = _QUERY.match(query)
        if match is None:
            return fault(400, "ValidationFault", "4000", "Error parsing query", f"QueryParserError: {query}")
        kind, _, order, direction, start, count = match.groups()
        start, count = int(start or 1), int(count or 100)
        if count > MAX_RESULTS:
            return fault(
                400,
                "ValidationFault",
                "4001",
                "Invalid query",
                f"MAXRESULTS cannot be more than {MAX_RESULTS}",
            )
        with self._lock:
            rows = list(self._rows(company, kind))
        if order and order.lower() == "id" and direction and direction.lower() == "desc":
            rows.reverse()
        chunk = [_public(r) for r in rows[start - 1 : start - 1 + count]]
        body: dict[str, Any] = {"startPosition": start, "maxResults": len(chunk)}
        if chunk:
            body[kind] = chunk
        return SandboxResponse.json({"QueryResponse": body, "time": now})

    def _cdc(self, company: _Company, request: SandboxRequest, now: str) -> SandboxResponse:
        kinds = [k for k in (request.arg("entities") or "").split(",") if k]
        try:
            since = datetime.fromisoformat(
                (request.arg("changedSince") or "").replace("Z", "+00:00")
            ).timestamp()
        except ValueError:
            return fault(
                400, "ValidationFault", "4000", "Invalid changedSince", "changedSince must be a date-time"
            )
        if since < self.clock.time() - 30 * 86400:
            return fault(
                400,
                "ValidationFault",
                "4000",
                "Invalid changedSince",
                "changedSince cannot be more than 30 days ago",
            )
        responses = []
        left = self.cdc_cap
        with self._lock:
            for kind in kinds:
                found: list[tuple[float, dict[str, Any]]] = []
                for key, stamp in company.changed.items():
                    if key[0] == kind and stamp > since:
                        found.append((stamp, _public(company.entities[key])))
                for key, stamp in company.deleted.items():
                    if key[0] == kind and stamp > since:
                        found.append(
                            (
                                stamp,
                                {
                                    "Id": key[1],
                                    "status": "Deleted",
                                    "domain": "QBO",
                                    "MetaData": {"LastUpdatedTime": qbo_time(stamp)},
                                },
                            )
                        )
                if kind in company.masters:
                    found = []  # master data does not change in the sandbox
                found.sort(key=lambda x: x[0])
                chunk = [e for _, e in found[:left]]
                left -= len(chunk)
                block: dict[str, Any] = {"startPosition": 1, "maxResults": len(chunk)}
                if chunk:
                    block[kind] = chunk
                responses.append(block)
        return SandboxResponse.json({"CDCResponse": [{"QueryResponse": responses}], "time": now})

    def _trial_balance(self, company: _Company, request: SandboxRequest, now: str) -> SandboxResponse:
        try:
            end = date.fromisoformat(request.arg("end_date") or self.as_of.isoformat())
        except ValueError:
            return fault(400, "ValidationFault", "4000", "Invalid date", "end_date must be a date")
        balances = self.book_trial_balance(company.realm, end)
        rows = []
        for code, amount in sorted(balances.items()):
            account: Account = company.chart[code]
            rows.append(
                {
                    "ColData": [
                        {"value": account.name, "id": company.account_id(code)},
                        {"value": f"{amount:.2f}" if amount > 0 else ""},
                        {"value": f"{-amount:.2f}" if amount < 0 else ""},
                    ]
                }
            )
        debit = sum((a for a in balances.values() if a > 0), Decimal("0.00"))
        report = {
            "Header": {
                "Time": now,
                "ReportName": "TrialBalance",
                "StartPeriod": f"{end.year}-01-01",
                "EndPeriod": end.isoformat(),
                "Currency": PROFILES[company.demo_id].currency,
            },
            "Columns": {
                "Column": [
                    {"ColTitle": "", "ColType": "Account"},
                    {"ColTitle": "Debit", "ColType": "Money"},
                    {"ColTitle": "Credit", "ColType": "Money"},
                ]
            },
            "Rows": {
                "Row": [
                    *rows,
                    {
                        "Summary": {
                            "ColData": [
                                {"value": "TOTAL"},
                                {"value": f"{debit:.2f}"},
                                {"value": f"{debit:.2f}"},
                            ]
                        },
                        "type": "Section",
                        "group": "GrandTotal",
                    },
                ]
            },
        }
        return SandboxResponse.json(report)


def _public(entity: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in entity.items() if not k.startswith("_")}


def _throttled(window: str, wait: float) -> SandboxResponse:
    # QuickBooks' 429 names neither the window nor a wait.
    return fault(
        429,
        "SERVICE",
        "003001",
        "message=ThrottleExceeded; errorCode=003001; statusCode=429",
        "The request limit was reached.",
    )


def main(argv: list[str] | None = None) -> None:
    """Serve the sandbox until interrupted (for trying the QuickBooks source without an Intuit account)."""
    serve(QuickBooksSandbox, argv, name="QuickBooks Online", short="QuickBooks")


if __name__ == "__main__":
    main()
