"""Pure functions between Twinfield's XML (ProcessXml browse data, finder rows) and Ledgerline rows.

Browse requests (Twinfield's "browse data" documentation): `<columns code="030_2">` with one
`<column>` per field: `<field>`, `<visible>`, and for filters `<operator>` (equal, between) with
`<from>`/`<to>`. The answer is `<browse result="1" ...>` with a header `<th>` and one `<tr>` per
transaction line: `<key>` (office, code = daybook, number, line) and one `<td field="...">` per
column. Values: dates yyyymmdd, modification times yyyymmddhhmmss, year/period "2024/03",
amounts as decimal text with a sign (basevaluesigned: the office's base currency, debit
positive). A refused request answers with result="0" and the message in `msg` attributes.
Period 0 holds a year's opening balance.

Finder rows (Search with type DIM and option dimtype BAS / PNL / KPL / PRJ) are [code, name].
XML is parsed without entity expansion or network access.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from functools import partial
from typing import Any
from xml.sax.saxutils import escape

from lxml import etree

from connectors.base import EntityInfo, Problem
from connectors.oauth_connector import money as api_money
from pipeline.errors import ParseError

FILE = "Twinfield"
GL_BROWSE = "030_2"  # general ledger transaction lines (V2)
TOTALS_BROWSE = "040_1"  # totals per period and account (annual report)
LINE_FIELDS = (
    "fin.trs.head.office",
    "fin.trs.head.code",
    "fin.trs.head.number",
    "fin.trs.head.year",
    "fin.trs.head.period",
    "fin.trs.head.date",
    "fin.trs.head.modified",
    "fin.trs.head.curcode",
    "fin.trs.head.status",
    "fin.trs.line.dim1",
    "fin.trs.line.dim2",
    "fin.trs.line.dim2type",
    "fin.trs.line.dim3",
    "fin.trs.line.dim3type",
    "fin.trs.line.basevaluesigned",
    "fin.trs.line.valuesigned",
    "fin.trs.line.description",
    "fin.trs.line.invnumber",
)
TOTAL_FIELDS = ("fin.trs.head.yearperiod", "fin.trs.line.dim1", "fin.trs.line.basevaluesigned")
DIMENSION_TYPES = {"BAS": "balance", "PNL": "pnl"}
AXES = {"KPL": "cost_centre", "PRJ": "project"}
SAFE_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True, load_dtd=False)


class Refused(Exception):
    """Twinfield answered result="0": the request was refused (the message says why)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def xml(text: str | bytes, *, where: str) -> etree._Element:
    """A Twinfield XML answer, parsed safely (no DTD, no entities, no network)."""
    data = text.encode("utf-8") if isinstance(text, str) else text
    if b"<!DOCTYPE" in data[:2048].upper():
        raise ParseError("the answer declares a DOCTYPE, which Twinfield never sends", file=FILE, where=where)
    try:
        return etree.fromstring(data, SAFE_PARSER)
    except etree.XMLSyntaxError as exc:
        raise ParseError(f"the answer is not XML ({exc})", file=FILE, where=where) from None


def refused_message(root: etree._Element) -> str | None:
    """The message of a refused request, or None when it succeeded."""
    if root.get("result") != "0":
        return None
    texts = [root.get("msg")] + [e.get("msg") for e in root.iter() if e.get("msgtype") == "error"]
    return "; ".join(dict.fromkeys(t for t in texts if t)) or "Twinfield refused the request."


def browse_request(
    code: str, office: str, fields: Sequence[str], filters: Mapping[str, tuple[str, str, str]]
) -> str:
    """A <columns> browse request: every field shown, `filters` as field -> (operator, from, to)."""
    parts = [f'<columns code="{escape(code)}">']
    office_filter = {"fin.trs.head.office": ("equal", office, "")}
    for field_name in dict.fromkeys([*office_filter, *filters, *fields]):
        operator, start, end = {**office_filter, **filters}.get(field_name, ("", "", ""))
        column = f"<field>{escape(field_name)}</field><visible>{'true' if field_name in fields else 'false'}</visible>"
        if operator:
            column += (
                f"<operator>{escape(operator)}</operator><from>{escape(start)}</from><to>{escape(end)}</to>"
            )
        parts.append(f"<column>{column}</column>")
    parts.append("</columns>")
    return "".join(parts)


def browse_rows(root: etree._Element, *, where: str) -> list[dict[str, str]]:
    """The rows of a browse answer as {field: text}, plus the key as _office/_code/_number/_line."""
    message = refused_message(root)
    if message is not None:
        raise Refused(message)
    if root.tag != "browse":
        raise ParseError(f"expected a <browse> answer, got <{root.tag}>", file=FILE, where=where)
    rows = []
    for tr in root.iterfind("tr"):
        row = {td.get("field") or "": (td.text or "").strip() for td in tr.iterfind("td")}
        key = tr.find("key")
        if key is not None:
            for part in ("office", "code", "number", "line"):
                row[f"_{part}"] = (key.findtext(part) or "").strip()
        rows.append(row)
    return rows


money = partial(api_money, file=FILE)  # an amount in cents; missing or blank is zero


def twf_date(value: str, *, field: str, where: str) -> date:
    try:
        return date(int(value[:4]), int(value[4:6]), int(value[6:8]))
    except ValueError:
        raise ParseError(f"{value!r} is not a date (yyyymmdd)", file=FILE, where=where, field=field) from None


def twf_moment(value: str) -> datetime | None:
    if len(value) < 14 or not value[:14].isdigit():
        return None
    try:
        return datetime(*(int(value[a:b]) for a, b in ((0, 4), (4, 6), (6, 8), (8, 10), (10, 12), (12, 14))))
    except ValueError:
        return None


def offices(root: etree._Element) -> list[dict[str, str]]:
    """The answer to <list><type>offices</type></list>: code, name, short name."""
    message = refused_message(root)
    if message is not None:
        raise Refused(message)
    return [
        {"code": (o.text or "").strip(), "name": o.get("name") or "", "shortname": o.get("shortname") or ""}
        for o in root.iterfind("office")
        if (o.text or "").strip()
    ]


def office_info(root: etree._Element, fallback_name: str | None) -> EntityInfo:
    """The answer to <read><type>office</type>: code, name and base currency."""
    message = refused_message(root)
    if message is not None:
        raise Refused(message)
    code = (root.findtext("code") or "").strip()
    return EntityInfo(
        name=(root.findtext("name") or "").strip() or fallback_name or code,
        external_id=code,
        currency=(root.findtext("basecurrency") or "").strip() or None,
        fiscal_year_start_month=1,
    )


def account_rows(found: Mapping[str, Iterable[Sequence[str]]]) -> list[dict[str, Any]]:
    """Finder rows of dimension types BAS and PNL as accounts."""
    return [
        {
            "code": row[0],
            "name": row[1] if len(row) > 1 else None,
            "account_type": DIMENSION_TYPES[kind],
            "category": kind,
        }
        for kind in DIMENSION_TYPES
        for row in found.get(kind, [])
        if row and row[0]
    ]


def dimension_rows(found: Mapping[str, Iterable[Sequence[str]]]) -> list[dict[str, Any]]:
    """Finder rows of dimension types KPL (cost centres) and PRJ (projects) as dimensions."""
    return [
        {"axis": axis, "code": row[0], "name": row[1] if len(row) > 1 else None}
        for kind, axis in AXES.items()
        for row in found.get(kind, [])
        if row and row[0]
    ]


def period_totals(
    rows: Iterable[Mapping[str, str]], *, where: str
) -> dict[tuple[int, int], dict[str, Decimal]]:
    """Browse 040_1 rows as {(year, period): {account: total}}."""
    out: dict[tuple[int, int], dict[str, Decimal]] = {}
    for row in rows:
        year, _, period = row.get("fin.trs.head.yearperiod", "").partition("/")
        if not (year.isdigit() and period.isdigit()):
            raise ParseError(
                "a total has no year/period", file=FILE, where=where, field="fin.trs.head.yearperiod"
            )
        accounts = out.setdefault((int(year), int(period)), {})
        account = row.get("fin.trs.line.dim1", "")
        accounts[account] = accounts.get(account, Decimal("0.00")) + money(
            row.get("fin.trs.line.basevaluesigned"), field="fin.trs.line.basevaluesigned", where=where
        )
    return out


class LineBatch:
    """Browse 030_2 lines of one office: transaction rows and (period 0) opening balances."""

    def __init__(self, *, office: str, currency: str | None):
        self.office, self.currency = office, currency
        self.transactions: dict[str, dict[str, Any]] = {}
        self.opening: dict[str, dict[str, Any]] = {}
        self.sizes: dict[str, int] = {}  # "daybook|number" -> lines
        self.latest: datetime | None = None

    def add(self, rows: Iterable[Mapping[str, str]]) -> None:
        for row in rows:
            self._add(row)

    def totals(self, year: int, period: int) -> dict[str, Decimal]:
        """What the lines read for one period add up to per account (to check against 040_1)."""
        out: dict[str, Decimal] = {}
        pool = self.opening.values() if period == 0 else self.transactions.values()
        for r in pool:
            if (r.get("fiscal_year"), r.get("period", 0)) == (year, period):
                out[r["account_code"]] = out.get(r["account_code"], Decimal("0.00")) + r["amount"]
        return out

    def keys(self, transaction: str, upto: int, start: int = 1) -> list[str]:
        return [f"{self.office}|{transaction}|{n}" for n in range(start, upto + 1)]

    def _add(self, row: Mapping[str, str]) -> None:
        code, number, line = (
            row.get("_code") or row.get("fin.trs.head.code", ""),
            row.get("_number", ""),
            row.get("_line", ""),
        )
        if not (code and number and line):
            raise ParseError(
                "a line has no daybook, number or line in its key", file=FILE, where="browse 030_2"
            )
        transaction = f"{code}|{number}"
        key = f"{self.office}|{transaction}|{line}"
        where = f"transaction {code} {number}, line {line}"
        self.sizes[transaction] = max(self.sizes.get(transaction, 0), int(line) if line.isdigit() else 0)
        day = twf_date(row.get("fin.trs.head.date", ""), field="fin.trs.head.date", where=where)
        year = int(row.get("fin.trs.head.year") or day.year)
        period = int(row.get("fin.trs.head.period") or day.month)
        modified = twf_moment(row.get("fin.trs.head.modified", ""))
        if modified is not None and (self.latest is None or modified > self.latest):
            self.latest = modified
        account = row.get("fin.trs.line.dim1", "")
        if not account:
            raise ParseError(
                "the line has no general ledger account", file=FILE, where=where, field="fin.trs.line.dim1"
            )
        amount = money(
            row.get("fin.trs.line.basevaluesigned"), field="fin.trs.line.basevaluesigned", where=where
        )
        description = row.get("fin.trs.line.description") or None
        ref = f"twinfield:{self.office}:{code}:{number}"
        self.transactions.pop(key, None)
        self.opening.pop(key, None)
        if period == 0:
            self.opening[key] = {
                "line_key": key,
                "fiscal_year": year,
                "balance_date": date(year, 1, 1),
                "account_code": account,
                "amount": amount,
                "description": description,
                "source_ref": ref,
            }
            return
        currency = row.get("fin.trs.head.curcode") or None
        foreign = currency is not None and self.currency is not None and currency != self.currency
        axes = {
            AXES[t]: v
            for t, v in (
                (row.get("fin.trs.line.dim2type"), row.get("fin.trs.line.dim2")),
                (row.get("fin.trs.line.dim3type"), row.get("fin.trs.line.dim3")),
            )
            if t in AXES and v
        }
        self.transactions[key] = {
            "line_key": key,
            "journal": code,
            "entry": number,
            "line": line,
            "tx_date": day,
            "fiscal_year": year,
            "period": period,
            "account_code": account,
            "amount": amount,
            "currency": self.currency,
            "amount_fc": money(
                row.get("fin.trs.line.valuesigned"), field="fin.trs.line.valuesigned", where=where
            )
            if foreign
            else None,
            "currency_fc": currency if foreign else None,
            "description": description,
            "cost_centre": axes.get("cost_centre"),
            "project": axes.get("project"),
            "document_no": row.get("fin.trs.line.invnumber") or None,
            "source_ref": ref,
        }


def control_problems(
    batch: LineBatch, totals: Mapping[tuple[int, int], Mapping[str, Decimal]]
) -> list[Problem]:
    """Periods whose lines do not add up to Twinfield's own totals (040_1)."""
    off = []
    for (year, period), expected in sorted(totals.items()):
        got = batch.totals(year, period)
        if {k: v for k, v in got.items() if v} != {k: v for k, v in expected.items() if v}:
            off.append(f"{year}/{period:02d}")
    if not off:
        return []
    return [
        Problem(
            "control_total_difference",
            f"The lines read for {len(off)} period(s) do not add up to Twinfield's own totals: {', '.join(off[:12])}.",
            f"office {batch.office}",
        )
    ]
