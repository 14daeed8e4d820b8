"""Pure functions from Xero Accounting API payloads to Ledgerline stream rows.

Shapes follow Xero's OpenAPI description (XeroAPI/Xero-OpenAPI, xero_accounting.yaml):
- Journals: {JournalID, JournalNumber, JournalDate "/Date(ms+0000)/", CreatedDateUTC, Reference,
  SourceType, JournalLines: [{JournalLineID, AccountID, AccountCode, AccountName, Description,
  NetAmount, TrackingCategories: [{TrackingCategoryID, Name, Option, TrackingOptionID}]}]}.
  NetAmount is what the line posts in the organisation's base currency, debit positive; tax is a
  line of its own on the tax account, so a journal's NetAmounts sum to zero. Journals never change:
  an edited or voided invoice gets a reversing journal and, when edited, a new one.
- Accounts: {AccountID, Code, Name, Type, Class (ASSET, EQUITY, EXPENSE, LIABILITY, REVENUE),
  Status, ReportingCode}.
- TrackingCategories: {TrackingCategoryID, Name, Status, Options: [{TrackingOptionID, Name}]}.
- Organisation: {OrganisationID, Name, BaseCurrency, FinancialYearEndMonth, ...}.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any

from connectors.base import EntityInfo, Problem
from connectors.fiscal import fiscal_period, start_month
from connectors.oauth_connector import money as api_money
from connectors.oauth_connector import text
from pipeline.errors import ParseError

FILE = "Xero"
_MS_DATE = re.compile(r"/Date\((-?\d+)([+-]\d{4})?\)/")
BALANCE_CLASSES = {"ASSET", "EQUITY", "LIABILITY"}
PNL_CLASSES = {"EXPENSE", "REVENUE"}


def xero_datetime(value: Any, *, field: str, where: str) -> datetime | None:
    """A Xero date ("/Date(1539993600000+0000)/" or ISO) as a naive UTC datetime."""
    if value is None or value == "":
        return None
    text = str(value).strip()
    match = _MS_DATE.fullmatch(text)
    if match:
        # The offset says which zone the date was meant in; the milliseconds are UTC already.
        return datetime.fromtimestamp(int(match.group(1)) / 1000, UTC).replace(tzinfo=None)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ParseError(f"{text!r} is not a date", file=FILE, where=where, field=field) from None
    return parsed.astimezone(UTC).replace(tzinfo=None) if parsed.tzinfo else parsed


def xero_date(value: Any, *, field: str, where: str) -> date:
    moment = xero_datetime(value, field=field, where=where)
    if moment is None:
        raise ParseError("the date is missing", file=FILE, where=where, field=field)
    return moment.date()


money = partial(api_money, file=FILE)  # an amount in cents; missing or blank is zero


def organisation(body: Mapping[str, Any], tenant_id: str) -> EntityInfo:
    """The Organisation answer as an entity."""
    orgs = body.get("Organisations") or []
    if not orgs:
        raise ParseError("the answer holds no organisation", file=FILE, where="Organisation")
    org = orgs[0]
    end_month = int(org.get("FinancialYearEndMonth") or 12)
    return EntityInfo(
        name=text(org.get("Name")),
        external_id=tenant_id,
        currency=text(org.get("BaseCurrency")),
        fiscal_year_start_month=start_month(end_month),
        extra={"xero_year_end_month": end_month, "xero_short_code": text(org.get("ShortCode"))},
    )


def connections(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, str]]:
    """The organisations connected to the app (tenantType ORGANISATION), by tenant id."""
    return [
        {"tenant_id": str(r["tenantId"]), "name": text(r.get("tenantName")) or str(r["tenantId"])}
        for r in rows
        if r.get("tenantId") and (r.get("tenantType") or "ORGANISATION") == "ORGANISATION"
    ]


def account_rows(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Accounts: Class ASSET/EQUITY/LIABILITY are balance sheet, EXPENSE/REVENUE profit and loss.
    Accounts without a code (some bank accounts) are known by their AccountID."""
    out = []
    for row in rows:
        code = text(row.get("Code")) or text(row.get("AccountID"))
        if code is None:
            continue
        klass = (text(row.get("Class")) or "").upper()
        out.append(
            {
                "code": code,
                "name": text(row.get("Name")),
                "account_type": "balance"
                if klass in BALANCE_CLASSES
                else "pnl"
                if klass in PNL_CLASSES
                else None,
                "category": text(row.get("Type")),
                "standard_code": text(row.get("ReportingCode")),
                "standard_scheme": "Xero reporting code" if text(row.get("ReportingCode")) else None,
            }
        )
    return out


def tracking_axes(
    categories: Iterable[Mapping[str, Any]], wanted: Mapping[str, str] | None
) -> dict[str, str]:
    """Which tracking category fills which axis: the source's setting (category name -> axis),
    else the first category (in Xero's order) is the cost centre and the second the project."""
    names = [text(c.get("Name")) for c in categories if text(c.get("Name"))]
    if wanted:
        return {name: axis for name, axis in wanted.items() if name in names}
    return dict(zip(names, ("cost_centre", "project"), strict=False))


def dimension_rows(categories: Iterable[Mapping[str, Any]], axes: Mapping[str, str]) -> list[dict[str, Any]]:
    """Tracking options as dimension values; the option's name is its code, as journal lines
    name the option."""
    out = []
    for category in categories:
        axis = axes.get(text(category.get("Name")) or "")
        if axis is None:
            continue
        for option in category.get("Options") or []:
            name = text(option.get("Name"))
            if name:
                out.append({"axis": axis, "code": name, "name": name})
    return out


class JournalBatch:
    """Journal lines of one organisation as transaction rows, keyed by JournalLineID."""

    def __init__(self, *, tenant_id: str, currency: str | None, year_end_month: int, axes: Mapping[str, str]):
        self.tenant_id, self.currency, self.year_end_month, self.axes = (
            tenant_id,
            currency,
            year_end_month,
            axes,
        )
        self.rows: dict[str, dict[str, Any]] = {}
        self.last_number: int | None = None
        self.last_created: datetime | None = None
        self.journals = 0
        self.unbalanced: list[int] = []

    def add(self, journals: Iterable[Mapping[str, Any]]) -> None:
        for journal in journals:
            self._add(journal)

    def problems(self) -> list[Problem]:
        if not self.unbalanced:
            return []
        shown = ", ".join(str(n) for n in self.unbalanced[:10])
        return [
            Problem(
                "unbalanced_entry",
                f"{len(self.unbalanced)} Xero journal(s) do not balance: {shown}.",
                f"organisation {self.tenant_id}",
            )
        ]

    def _add(self, journal: Mapping[str, Any]) -> None:
        number = journal.get("JournalNumber")
        if number is None:
            raise ParseError(
                "a journal has no JournalNumber", file=FILE, where="Journals", field="JournalNumber"
            )
        number = int(number)
        where = f"journal {number}"
        day = xero_date(journal.get("JournalDate"), field="JournalDate", where=where)
        created = xero_datetime(journal.get("CreatedDateUTC"), field="CreatedDateUTC", where=where)
        year, period = fiscal_period(day, self.year_end_month)
        source = text(journal.get("SourceType")) or "JOURNAL"
        reference = text(journal.get("Reference"))
        total = Decimal("0.00")
        for i, line in enumerate(journal.get("JournalLines") or [], 1):
            line_where = f"{where}, line {i}"
            key = text(line.get("JournalLineID"))
            if key is None:
                raise ParseError(
                    "the line has no JournalLineID", file=FILE, where=line_where, field="JournalLineID"
                )
            account = text(line.get("AccountCode")) or text(line.get("AccountID"))
            if account is None:
                raise ParseError("the line has no account", file=FILE, where=line_where, field="AccountCode")
            amount = money(line.get("NetAmount"), field="NetAmount", where=line_where)
            total += amount
            axes = self._tracking(line.get("TrackingCategories") or [])
            self.rows[key.lower()] = {
                "line_key": key.lower(),
                "journal": source,
                "entry": str(number),
                "line": str(i),
                "tx_date": day,
                "fiscal_year": year,
                "period": period,
                "account_code": account,
                "amount": amount,
                "currency": self.currency,
                "description": text(line.get("Description")) or reference,
                "cost_centre": axes.get("cost_centre"),
                "project": axes.get("project"),
                "document_no": reference,
                "source_ref": f"xero:{self.tenant_id}:journal:{number}",
            }
        if total != 0:
            self.unbalanced.append(number)
        self.journals += 1
        if self.last_number is None or number > self.last_number:
            self.last_number = number
        if created is not None and (self.last_created is None or created > self.last_created):
            self.last_created = created

    def _tracking(self, categories: Iterable[Mapping[str, Any]]) -> dict[str, str]:
        out = {}
        for category in categories:
            axis = self.axes.get(text(category.get("Name")) or "")
            option = text(category.get("Option"))
            if axis and option:
                out[axis] = option
        return out


def since_header(moment: datetime, overlap: timedelta) -> str:
    """An If-Modified-Since value (UTC, ISO 8601 without a zone, as Xero's SDKs send it)."""
    return (moment - overlap).replace(microsecond=0).isoformat()
