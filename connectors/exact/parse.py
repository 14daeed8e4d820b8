"""Pure functions from Exact Online REST rows to Ledgerline stream rows.

Exact's JSON dates look like "/Date(1704153600000)/" (epoch milliseconds, sometimes with an
offset such as "+0100"); amounts are JSON numbers, read as Decimal. Transaction line types follow
Exact's list (10 opening balance, 20 sales, 30 purchase, 40 cash flow, 90 general journal ...);
status 5 means rejected.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from functools import partial
from typing import Any

from connectors.base import EntityInfo, Problem
from connectors.oauth_connector import money as api_money
from connectors.oauth_connector import text
from pipeline.errors import ParseError

OPENING_TYPE = 10
REJECTED_STATUS = 5
DELETED_TRANSACTION_LINE = 1  # sync/Deleted EntityType of TransactionLines
_ODATA_DATE = re.compile(r"/Date\((-?\d+)([+-]\d{4})?\)/")

TRANSACTION_SELECT = (
    "ID,Date,FinancialYear,FinancialPeriod,JournalCode,EntryNumber,LineNumber,GLAccountCode,"
    "AmountDC,AmountFC,Currency,Description,CostCenter,CostUnit,YourRef,Type,Status,Division"
)
GL_SELECT = "ID,Code,Description,BalanceType,TypeDescription,Timestamp"


def odata_datetime(value: Any, *, field: str, where: str) -> datetime | None:
    if value is None or value == "":
        return None
    match = _ODATA_DATE.fullmatch(str(value).strip())
    if match:
        moment = datetime.fromtimestamp(int(match.group(1)) / 1000, UTC).replace(tzinfo=None)
        if match.group(2):
            sign = 1 if match.group(2)[0] == "+" else -1
            moment += sign * timedelta(hours=int(match.group(2)[1:3]), minutes=int(match.group(2)[3:]))
        return moment
    try:
        return datetime.fromisoformat(str(value).rstrip("Z"))
    except ValueError:
        raise ParseError(f"{value!r} is not a date", file="Exact Online", where=where, field=field) from None


def odata_date(value: Any, *, field: str, where: str) -> date:
    moment = odata_datetime(value, field=field, where=where)
    if moment is None:
        raise ParseError("the date is missing", file="Exact Online", where=where, field=field)
    return moment.date()


def odata_literal(moment: datetime | date) -> str:
    """A date for an OData filter: datetime'2024-01-31T00:00:00'."""
    if not isinstance(moment, datetime):
        moment = datetime(moment.year, moment.month, moment.day)
    return f"datetime'{moment.replace(microsecond=0, tzinfo=None).isoformat()}'"


money = partial(api_money, file="Exact Online")  # an amount in cents; missing or blank is zero


def divisions(rows: Iterable[Mapping[str, Any]]) -> list[EntityInfo]:
    """system/Divisions rows (Code, Description, Currency, HID) as entities."""
    out = []
    for row in rows:
        number = row.get("Code")
        if number is None:
            continue
        out.append(
            EntityInfo(
                name=text(row.get("Description")) or f"Division {number}",
                external_id=str(int(number)),
                currency=text(row.get("Currency")),
                fiscal_year_start_month=1,
                extra={"exact_hid": text(row.get("HID"))},
            )
        )
    return out


def account_rows(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """sync/Financial/GLAccounts rows: BalanceType B is balance sheet, W profit and loss."""
    out = []
    for row in rows:
        number = text(row.get("Code"))
        if number is None:
            continue
        kind = text(row.get("BalanceType"))
        out.append(
            {
                "code": number,
                "name": text(row.get("Description")),
                "account_type": {"B": "balance", "W": "pnl"}.get(kind or ""),
                "category": text(row.get("TypeDescription")),
            }
        )
    return out


def dimension_rows(rows: Iterable[Mapping[str, Any]], *, axis: str) -> list[dict[str, Any]]:
    return [
        {"axis": axis, "code": text(r.get("Code")), "name": text(r.get("Description"))}
        for r in rows
        if text(r.get("Code"))
    ]


def max_timestamp(rows: Iterable[Mapping[str, Any]], current: int | None) -> int | None:
    best = current
    for row in rows:
        value = row.get("Timestamp")
        if value is not None and (best is None or int(value) > best):
            best = int(value)
    return best


class LineBatch:
    """Transaction lines and opening-balance lines of one division, keyed by Exact's line ID."""

    def __init__(self, *, currency: str | None, division: str):
        self.currency, self.division = currency, division
        self.transactions: dict[str, dict[str, Any]] = {}
        self.opening: dict[str, dict[str, Any]] = {}
        self.rejected = 0

    def add(self, rows: Iterable[Mapping[str, Any]]) -> None:
        for row in rows:
            self._add(row)

    def drop(self, keys: Iterable[str]) -> None:
        """Lines deleted after they were read: the deletion wins."""
        for key in keys:
            self.transactions.pop(key, None)
            self.opening.pop(key, None)

    def problems(self) -> list[Problem]:
        if not self.rejected:
            return []
        return [
            Problem(
                "rejected_lines",
                f"{self.rejected} rejected line(s) (status 5) were left out.",
                f"division {self.division}",
                "info",
            )
        ]

    def _add(self, row: Mapping[str, Any]) -> None:
        key = text(row.get("ID"))
        if key is None:
            raise ParseError("a transaction line has no ID", file="Exact Online", field="ID")
        key = key.lower()
        where = f"transaction line {key}"
        self.transactions.pop(key, None)
        self.opening.pop(key, None)
        if row.get("Status") is not None and int(row["Status"]) == REJECTED_STATUS:
            self.rejected += 1
            return
        day = odata_date(row.get("Date"), field="Date", where=where)
        account = text(row.get("GLAccountCode"))
        if account is None:
            raise ParseError(
                "the line has no G/L account", file="Exact Online", where=where, field="GLAccountCode"
            )
        amount = money(row.get("AmountDC"), field="AmountDC", where=where)
        year = int(row["FinancialYear"]) if row.get("FinancialYear") is not None else day.year
        ref = f"exact:{self.division}:{key}"
        description = text(row.get("Description"))
        if row.get("Type") is not None and int(row["Type"]) == OPENING_TYPE:
            self.opening[key] = {
                "line_key": key,
                "fiscal_year": year,
                "balance_date": day,
                "account_code": account,
                "amount": amount,
                "description": description,
                "source_ref": ref,
            }
            return
        currency = text(row.get("Currency"))
        foreign = currency is not None and self.currency is not None and currency != self.currency
        self.transactions[key] = {
            "line_key": key,
            "journal": text(row.get("JournalCode")),
            "entry": text(row.get("EntryNumber")),
            "line": text(row.get("LineNumber")),
            "tx_date": day,
            "fiscal_year": year,
            "period": int(row["FinancialPeriod"]) if row.get("FinancialPeriod") is not None else day.month,
            "account_code": account,
            "amount": amount,
            "currency": self.currency,
            "amount_fc": money(row.get("AmountFC"), field="AmountFC", where=where) if foreign else None,
            "currency_fc": currency if foreign else None,
            "description": description,
            "cost_centre": text(row.get("CostCenter")),
            "project": text(row.get("CostUnit")),
            "document_no": text(row.get("YourRef")),
            "source_ref": ref,
        }
