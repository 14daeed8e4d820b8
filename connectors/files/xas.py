"""XAS reader: the Dutch payroll auditfile (Auditfile Salaris, version 7) as a payroll source.

One pass with iterparse. The file holds one payroll administration (Inhpl/Lnadm: employer name,
loonheffingennummer, currency, the wage components it uses in `Lncmp`) and its employees
(`Wrknmr`), each with income relationships (`InkVrhVst`) split into payroll periods (`Lntdvk`:
period number, first and last day) that list amounts per wage component (`LnPrLncmp`).

What Ledgerline keeps is what payroll reporting needs: the company cost per wage component and
payroll period (summed over the employees), the employees' personnel numbers, and the employer.
It never reads the BSN (SofiNr), names, birth dates or addresses. The employer's
loonheffingennummer is not stored either: for a sole trader it contains the owner's BSN, so the
company is keyed by a hash of it instead.

Employees of one file may be paid per month, per 4 weeks, per week or per day; each period is
kept with its own dates, so the month a cost belongs to (that of the period's last day) is right
for every pay frequency.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from connectors.base import (
    Capabilities,
    Connector,
    EntityInfo,
    Extraction,
    ExtractRequest,
    Problem,
    Stream,
    StreamData,
)
from connectors.files.xmlsafe import (
    ColumnBuffer,
    Deviations,
    XmlReader,
    children,
    fields,
    local_name,
    parse_date,
    parse_decimal,
    release,
    root_info,
    to_money,
)
from pipeline.errors import ParseError

NAMESPACE_PREFIX = "http://www.auditfiles.nl/xas/"
SUPPORTED = {"7"}
_TAGS = ("Message", "BrAlg", "Lnadm", "Lncmp", "Inhpl", "Wrknmr")


def looks_like_xas(head: bytes) -> bool:
    """True when the first bytes show a `Message` root in an auditfiles.nl XAS namespace."""
    root = root_info(head)
    return (
        root is not None
        and root.local == "Message"
        and (root.namespace or "").lower().startswith(NAMESPACE_PREFIX)
    )


def company_key(tax_number: str) -> str:
    """A stable key for the employer that does not reveal its loonheffingennummer."""
    return "lh-" + hashlib.sha256(tax_number.strip().upper().encode("utf-8")).hexdigest()[:16]


def period_kind(start: date, end: date) -> str:
    """'day', 'week', '4weeks', 'month', 'quarter' or 'other' from a period's first and last day."""
    days = (end - start).days + 1
    if days == 1:
        return "day"
    if days == 7:
        return "week"
    if days == 28:
        return "4weeks"
    if start.day == 1 and 28 <= days <= 31:
        return "month"
    if start.day == 1 and 90 <= days <= 92:
        return "quarter"
    return "other"


def parse_xas(
    path: Path,
    *,
    max_bytes: int | None = None,
    progress: Callable[[str, float], None] | None = None,
) -> Extraction:
    """Read an XAS 7 payroll auditfile into payroll companies, employees and costs.

    Raises InputTooLarge for a file over `max_bytes` (before reading it) and ParseError for a file
    that is empty, not XML, not an XAS auditfile of a supported version, cut off, or holds an
    amount or date that cannot be read.
    """
    return _XasParser(Path(path), max_bytes, progress).run()


class XasConnector(Connector):
    """Upload of a payroll auditfile (XAS 7, 'Auditfile Salaris') exported by Dutch payroll software."""

    name = "xas"
    label = "Payroll auditfile (XAS)"
    kind = "file"
    capabilities = Capabilities(
        transactions=False,
        accounts=False,
        payroll=True,
        notes=(
            "Company costs per wage component and payroll period; employees by personnel number only.",
            "A later file of the same year replaces that year's periods.",
        ),
    )
    streams = (
        Stream("payroll_companies"),
        Stream("payroll_employees"),
        Stream("payroll_costs"),
    )

    def extract(self, request: ExtractRequest) -> Extraction:
        if request.path is None:
            raise ParseError("no file was given to read")
        return parse_xas(request.path, max_bytes=request.max_bytes, progress=request.progress)


class _XasParser:
    def __init__(self, path: Path, max_bytes: int | None, progress: Callable[[str, float], None] | None):
        self.path = path
        self.name = path.name
        self.reader = XmlReader(path, max_bytes)
        self.progress = progress
        self.deviations = Deviations()
        self.header: dict[str, str | None] = {}
        self.employer: dict[str, str | None] = {}
        self.company_name: str | None = None
        self.key: str | None = None
        self.currency = "EUR"
        self.components: dict[str, str | None] = {}
        self.employees = ColumnBuffer("payroll_employees")
        self.costs: dict[tuple[date, date, int, str], Decimal] = {}
        self.kinds: set[str] = set()
        self.wage_for_tax = Decimal("0.00")
        self.periods_read = 0
        self.amounts_read = 0
        self._seen_employees: set[str] = set()

    def run(self) -> Extraction:
        reader = self.reader
        if not reader.looks_like_xml:
            raise ParseError("this is not an XML file, so not an XAS payroll auditfile", file=self.name)
        root = reader.root
        namespace = (root.namespace or "").lower() if root else ""
        if root is None or root.local != "Message" or not namespace.startswith(NAMESPACE_PREFIX):
            raise ParseError(
                "the file is XML but not an XAS payroll auditfile (Auditfile Salaris)",
                file=self.name,
                where="root element",
            )
        version = namespace[len(NAMESPACE_PREFIX) :].strip("/")
        if version not in SUPPORTED:
            raise ParseError(
                f"XAS version {version} is not supported (only {', '.join(sorted(SUPPORTED))})",
                file=self.name,
                where="root element",
                guidance="Export the payroll auditfile as XAS 7.",
            )
        for event, elem in reader.events(_TAGS):
            if event != "end":
                continue
            tag = local_name(elem.tag)
            if tag == "BrAlg":
                self.header = fields(elem)
            elif tag == "Lncmp":
                row = fields(elem)
                if row.get("IdLncmp"):
                    self.components[row["IdLncmp"]] = row.get("OmsLncmp")
                release(elem)
            elif tag == "Lnadm":
                self._administration(fields(elem))
            elif tag == "Inhpl":
                info = fields(elem)
                self.company_name = "".join(p for p in (info.get("Nm"), info.get("TwDlNm")) if p) or None
            elif tag == "Wrknmr":
                self._employee(elem)
                release(elem)
                if self.progress and reader.size:
                    self.progress("reading", min(1.0, reader.bytes_read / reader.size))
        if self.key is None:
            raise ParseError(
                "the file has no payroll administration (Lnadm with Lhnr)",
                file=self.name,
                where="Inhpl/Lnadm",
            )
        return self._extraction()

    def _administration(self, row: dict[str, str | None]) -> None:
        tax_number = row.get("Lhnr")
        if not tax_number:
            raise ParseError(
                "the payroll administration has no loonheffingennummer",
                file=self.name,
                where="Lnadm",
                field="Lhnr",
            )
        self.key = company_key(tax_number)
        self.employer = {
            "client_number": row.get("KlntnrLsb"),
            "application": row.get("NmAppl"),
            "version": row.get("VerAppl"),
        }
        self.currency = row.get("ValCd") or "EUR"

    def _employee(self, elem) -> None:
        if self.key is None:
            raise ParseError(
                "an employee comes before the payroll administration", file=self.name, where="Wrknmr"
            )
        leaves = fields(elem)
        number = leaves.get("Persnr")
        where = f"Wrknmr {number or '?'}"
        if not number:
            raise ParseError(
                "an employee has no personnel number", file=self.name, where="Wrknmr", field="Persnr"
            )
        if number not in self._seen_employees:
            self._seen_employees.add(number)
            self.employees.add(
                line_key=f"{self.key}|{number}",
                company_key=self.key,
                employee_number=number,
                source_ref=f"{self.name}: {where}",
            )
        for relation in children(elem, "InkVrhVst"):
            for period in children(relation, "Lntdvk"):
                self._period(period, where)

    def _period(self, elem, where: str) -> None:
        nested: dict[str, list[Any]] = {}
        leaves = fields(elem, nested)
        number = leaves.get("Prdnr")
        at = f"{where} / Lntdvk {number or '?'}"
        try:
            start = parse_date(leaves.get("Ingdat"))
            end = parse_date(leaves.get("Enddat"))
        except ValueError as exc:
            raise ParseError(str(exc), file=self.name, where=at, field="Ingdat/Enddat") from None
        try:
            period = int(number or "")
        except ValueError:
            raise ParseError(
                f"{number!r} is not a period number", file=self.name, where=at, field="Prdnr"
            ) from None
        self.periods_read += 1
        self.kinds.add(period_kind(start, end))
        for variables in nested.get("InkVrhVar", []):
            value = fields(variables).get("LnLbPh")
            if value is not None:
                self.wage_for_tax += self._amount(value, at, "LnLbPh")
        for line in nested.get("LnPrLncmp", []):
            row = fields(line)
            code = row.get("IdLncmp")
            if not code:
                raise ParseError(
                    "a wage component line has no component", file=self.name, where=at, field="IdLncmp"
                )
            if code not in self.components:
                self.deviations.note(
                    "undeclared_component",
                    "Wage components are used that the administration does not declare (Lncmp); they are "
                    "imported under their code",
                    at,
                    code,
                )
            amount = self._amount(row.get("Bdr"), f"{at} / {code}", "Bdr")
            key = (start, end, period, code)
            self.costs[key] = self.costs.get(key, Decimal("0.00")) + amount
            self.amounts_read += 1

    def _amount(self, text: str | None, where: str, field: str) -> Decimal:
        try:
            value, rounded = to_money(parse_decimal(text))
        except ValueError as exc:
            raise ParseError(str(exc), file=self.name, where=where, field=field) from None
        if rounded:
            self.deviations.note(
                "rounded", "Amounts with more than two decimals were rounded to cents", where, text
            )
        return value

    def _extraction(self) -> Extraction:
        key = str(self.key)  # set: run() refuses a file without a payroll administration
        year_text = self.header.get("Bljr")
        year = int(year_text) if year_text and year_text.isdigit() else None
        costs = ColumnBuffer("payroll_costs")
        for (start, end, period, code), amount in sorted(self.costs.items()):
            costs.add(
                line_key=f"{key}|{start.isoformat()}|{end.isoformat()}|{code}",
                company_key=key,
                payroll_year=year or end.year,
                period=period,
                period_start=start,
                period_end=end,
                component_code=code,
                component_name=self.components.get(code),
                amount=amount,
                currency=self.currency,
                source_ref=f"{self.name}: Lntdvk {period} {start.isoformat()}..{end.isoformat()}",
            )
        kinds = self.kinds - {"other"}
        period_type = next(iter(kinds)) if len(kinds) == 1 and self.kinds == kinds else "mixed"
        company = ColumnBuffer("payroll_companies")
        company.add(
            line_key=key,
            company_number=self.employer.get("client_number"),
            name=self.company_name,
            period_type=period_type,
            currency=self.currency,
            source_ref=f"{self.name}: Inhpl/Lnadm",
        )
        problems: list[Problem] = self.deviations.problems()
        declared = self.header.get("TotLnLbPh")
        if declared is not None:
            total = self._amount(declared, "BrAlg", "TotLnLbPh")
            if total != self.wage_for_tax:
                problems.append(
                    Problem(
                        "control_total",
                        f"The file's total wage for payroll tax (TotLnLbPh {total:,.2f}) differs from the sum of "
                        f"its payroll periods ({self.wage_for_tax:,.2f}); the periods were imported as they are.",
                        f"{self.name}: BrAlg",
                        "warning",
                    )
                )
        ranges: list[tuple[date, date]] = []
        if self.costs:
            first = min(k[0] for k in self.costs)
            last = max(k[1] for k in self.costs)
            if year is not None:
                first, last = min(first, date(year, 1, 1)), max(last, date(year, 12, 31))
            ranges = [(first, last)]
        totals: dict[str, Decimal] = {}
        for (_, _, _, code), amount in self.costs.items():
            totals[code] = totals.get(code, Decimal("0.00")) + amount
        return Extraction(
            streams=[
                StreamData("payroll_companies", company.frame()),
                StreamData("payroll_employees", self.employees.frame()),
                StreamData("payroll_costs", costs.frame(), replace="ranges", ranges=ranges),
            ],
            entity=EntityInfo(
                name=self.company_name,
                external_id=key,
                currency=self.currency,
                fiscal_year_start_month=1,
                extra={
                    "kind": "payroll",
                    "payroll_year": year,
                    "application": " ".join(
                        p for p in (self.employer.get("application"), self.employer.get("version")) if p
                    ),
                },
            ),
            problems=problems,
            format="xas",
            stats={
                "employees": self.employees.rows,
                "payroll_periods": self.periods_read,
                "component_amounts": self.amounts_read,
                "cost_lines": len(self.costs),
                "components": len(totals),
                "wage_for_tax": self.wage_for_tax,
                "bytes_read": self.reader.bytes_read,
            },
        )
