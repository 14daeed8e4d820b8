"""Pure functions from AFAS Profit GetConnector rows to Ledgerline stream rows.

AFAS sends JSON rows whose field ids are the GetConnector's (see the defaults in connectors.afas).
Date-times carry a trailing `Z` that AFAS says to ignore: they are Amsterdam local time
(OASContent, MarkdownPages/Profit/en/GetConnector.md). Amounts are JSON numbers, read as Decimal.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from connectors.base import EntityInfo, Problem
from pipeline.errors import ParseError

CENT = Decimal("0.01")
OPENING_PERIOD = 0  # assumption: AFAS books the opening balance (beginbalans) in period 0

# Operator types of GetConnector filters (GetConnector.md, "Filtering").
EQ, GE, LE, GT, LT = 1, 2, 3, 4, 5


# ---------------------------------------------------------------- values


def parse_datetime(value: Any, *, field: str, where: str) -> datetime | None:
    """An AFAS date-time ('2024-01-02T00:00:00Z', Amsterdam time) as a naive datetime."""
    if value is None or value == "":
        return None
    text = str(value).strip()
    if text.endswith("Z"):
        text = text[:-1]
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise ParseError(f"{text!r} is not a date", file="AFAS", where=where, field=field) from None


def parse_date(value: Any, *, field: str, where: str) -> date:
    parsed = parse_datetime(value, field=field, where=where)
    if parsed is None:
        raise ParseError("the date is missing", file="AFAS", where=where, field=field)
    return parsed.date()


def amount(value: Any, *, field: str, where: str) -> Decimal:
    """A money value (JSON number or text) as Decimal cents; missing means zero."""
    if value is None or value == "":
        return Decimal("0.00")
    if isinstance(value, float):  # never produced by our JSON reader; refuse silently lossy input
        value = repr(value)
    try:
        return Decimal(str(value)).quantize(CENT)
    except InvalidOperation:
        raise ParseError(f"{value!r} is not an amount", file="AFAS", where=where, field=field) from None


def text(value: Any) -> str | None:
    if value is None:
        return None
    out = str(value).strip()
    return out or None


def code(value: Any) -> str | None:
    """A code field (account, journal, dimension): integers and text alike become text."""
    if isinstance(value, Decimal) and value == value.to_integral_value():
        value = int(value)
    return text(value)


def filter_value(value: date | datetime | int | str) -> str:
    """A value as AFAS filters expect it (dates ISO, without a zone)."""
    if isinstance(value, datetime):
        return value.replace(microsecond=0).isoformat()
    if isinstance(value, date):
        return f"{value.isoformat()}T00:00:00"
    return str(value)


# ---------------------------------------------------------------- filters and query length


Condition = tuple[str, int, Any]  # (field id, operator type, value)


def filter_params(groups: Sequence[Sequence[Condition]]) -> dict[str, str]:
    """GetConnector filter parameters: conditions in a group are ANDed (','), groups ORed (';')."""
    if not groups:
        return {}
    return {
        "filterfieldids": ";".join(",".join(c[0] for c in g) for g in groups),
        "filtervalues": ";".join(",".join(filter_value(c[2]) for c in g) for g in groups),
        "operatortypes": ";".join(",".join(str(c[1]) for c in g) for g in groups),
    }


def day_ranges(days: Iterable[date]) -> list[tuple[date, date]]:
    """Sorted days folded into inclusive ranges of consecutive days."""
    out: list[tuple[date, date]] = []
    for d in sorted(set(days)):
        if out and d == out[-1][1] + timedelta(days=1):
            out[-1] = (out[-1][0], d)
        else:
            out.append((d, d))
    return out


def month_range(year: int, month: int) -> tuple[date, date]:
    first = date(year, month, 1)
    nxt = date(year + (month == 12), month % 12 + 1, 1)
    return first, nxt - timedelta(days=1)


# ---------------------------------------------------------------- rows


def administrations(rows: Iterable[Mapping[str, Any]], *, default_currency: str = "EUR") -> list[EntityInfo]:
    """Profit_Administrations rows (AdminId, AdminNm, AdminCd; CurrencyId when the connector has it)."""
    out = []
    for i, row in enumerate(rows, 1):
        admin_id = code(row.get("AdminId"))
        if admin_id is None:
            raise ParseError(
                "an administration has no AdminId", file="AFAS", where=f"row {i}", field="AdminId"
            )
        out.append(
            EntityInfo(
                name=text(row.get("AdminNm")) or f"Administration {admin_id}",
                external_id=admin_id,
                # Profit_Administrations has no currency field as standard; Dutch administrations
                # keep their books in euros unless a CurrencyId field says otherwise.
                currency=text(row.get("CurrencyId")) or default_currency,
                fiscal_year_start_month=1,
                extra={"afas_code": text(row.get("AdminCd"))},
            )
        )
    return out


def _account_type(row: Mapping[str, Any]) -> str | None:
    kind = (text(row.get("AccountType")) or "").casefold()
    if kind in ("balans", "b", "balance"):
        return "balance"
    if kind in ("resultaat", "winst- en verliesrekening", "w", "v", "pnl", "profit and loss"):
        return "pnl"
    category = (text(row.get("TypeAccount")) or "").casefold()
    if category in ("activa", "passiva"):
        return "balance"
    if category in ("kosten", "opbrengsten"):
        return "pnl"
    return None


def account_rows(rows: Iterable[Mapping[str, Any]], *, admin_id: str | None) -> list[dict[str, Any]]:
    """Profit_Accounts rows (Account, Description; AccountType, TypeAccount, RgsCode when present)."""
    out = []
    for i, row in enumerate(rows, 1):
        unit = code(row.get("UnitId"))
        if admin_id is not None and unit is not None and unit != admin_id:
            continue
        number = code(row.get("Account"))
        if number is None:
            raise ParseError(
                "an account has no number", file="AFAS", where=f"Profit_Accounts row {i}", field="Account"
            )
        rgs = text(row.get("RgsCode"))
        out.append(
            {
                "code": number,
                "name": text(row.get("Description")),
                "account_type": _account_type(row),
                "category": text(row.get("TypeAccount")) or text(row.get("AccountType")),
                "standard_code": rgs,
                "standard_scheme": "RGS" if rgs else None,
            }
        )
    return out


def dimension_rows(
    rows: Iterable[Mapping[str, Any]], *, axis: str, code_field: str, admin_id: str | None
) -> list[dict[str, Any]]:
    out = []
    for row in rows:
        unit = code(row.get("UnitId"))
        if admin_id is not None and unit is not None and unit != admin_id:
            continue
        value = code(row.get(code_field))
        if value is not None:
            out.append({"axis": axis, "code": value, "name": text(row.get("Description"))})
    return out


def changed_days(rows: Iterable[Mapping[str, Any]], *, connector: str) -> tuple[set[date], datetime | None]:
    """Booking days reported as changed (EntryDate, Modified) and the latest change seen."""
    days: set[date] = set()
    latest: datetime | None = None
    for i, row in enumerate(rows, 1):
        where = f"{connector} row {i}"
        days.add(parse_date(row.get("EntryDate"), field="EntryDate", where=where))
        modified = parse_datetime(row.get("Modified"), field="Modified", where=where)
        if modified is not None and (latest is None or modified > latest):
            latest = modified
    return days, latest


class LineBatch:
    """Transaction and opening-balance rows from one or more reads, keyed and de-duplicated."""

    def __init__(self, *, connector: str, currency: str | None):
        self.connector = connector
        self.currency = currency
        self.transactions: dict[str, dict[str, Any]] = {}
        self.opening: dict[str, dict[str, Any]] = {}
        self.latest: datetime | None = None
        self.problems: list[Problem] = []

    def add(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Add one read's rows. A line split over several allocations has one row per part; the
        parts get `|2`, `|3` ... in a stable order of their dimension codes."""
        groups: dict[str, list[Mapping[str, Any]]] = {}
        for row in rows:
            key = f"{code(row.get('EntryNo'))}|{code(row.get('SeqNo'))}"
            groups.setdefault(key, []).append(row)
        for key, parts in groups.items():
            parts = sorted(parts, key=lambda r: tuple(str(r.get(f"DimAx{n}") or "") for n in range(1, 6)))
            for n, row in enumerate(parts, 1):
                self._add_row(key if n == 1 else f"{key}|{n}", row)

    def _add_row(self, key: str, row: Mapping[str, Any]) -> None:
        where = f"{self.connector} entry {key}"
        if code(row.get("EntryNo")) is None or code(row.get("SeqNo")) is None:
            raise ParseError(
                "a line has no entry or sequence number", file="AFAS", where=where, field="EntryNo"
            )
        modified = parse_datetime(row.get("Modified"), field="Modified", where=where)
        if modified is not None and (self.latest is None or modified > self.latest):
            self.latest = modified
        entry_date = parse_date(row.get("EntryDate"), field="EntryDate", where=where)
        net = amount(row.get("AmtDebit"), field="AmtDebit", where=where) - amount(
            row.get("AmtCredit"), field="AmtCredit", where=where
        )
        account = code(row.get("AccountNo"))
        if account is None:
            raise ParseError("the line has no account", file="AFAS", where=where, field="AccountNo")
        period = row.get("Period")
        year = row.get("Year")
        description = text(row.get("Description"))
        ref = f"afas:{code(row.get('UnitId'))}:{key}"
        if period is not None and int(period) == OPENING_PERIOD:
            self.transactions.pop(key, None)
            self.opening[key] = {
                "line_key": key,
                "fiscal_year": int(year) if year is not None else entry_date.year,
                "balance_date": entry_date,
                "account_code": account,
                "amount": net,
                "description": description,
                "source_ref": ref,
            }
            return
        fc_currency = text(row.get("CurrencyId"))
        amount_fc = None
        if (
            fc_currency
            and fc_currency != self.currency
            and (row.get("AmtDebitCur") is not None or row.get("AmtCreditCur") is not None)
        ):
            amount_fc = amount(row.get("AmtDebitCur"), field="AmtDebitCur", where=where) - amount(
                row.get("AmtCreditCur"), field="AmtCreditCur", where=where
            )
        else:
            fc_currency = None
        self.opening.pop(key, None)
        self.transactions[key] = {
            "line_key": key,
            "journal": code(row.get("JournalId")),
            "entry": code(row.get("EntryNo")),
            "line": code(row.get("SeqNo")),
            "tx_date": entry_date,
            "fiscal_year": int(year) if year is not None else entry_date.year,
            "period": int(period) if period is not None else entry_date.month,
            "account_code": account,
            "amount": net,
            "currency": self.currency,
            "amount_fc": amount_fc,
            "currency_fc": fc_currency,
            "description": description,
            "cost_centre": code(row.get("DimAx1")),
            "project": code(row.get("DimAx2")),
            "document_no": text(row.get("VoucherNo")) or text(row.get("InvoiceId")),
            "source_ref": ref,
        }
