"""Pure functions from Nmbrs answers to payroll stream rows (Decimal amounts, dates).

SOAP answers arrive here as plain dicts and lists (zeep objects serialised by the client); the
background reports arrive as the XML text Nmbrs puts in `Reports_BackgroundTask_Result.Content`,
parsed here without expanding entities or touching the network.

What reporting needs is kept; what it does not is dropped on the spot: an employee row holds the
employee's id and number, never the BSN, names, birthday or e-mail that PersonalInfo carries.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from lxml import etree

from connectors.base import EntityInfo
from pipeline.errors import ParseError

CENT = Decimal("0.01")
CURRENCY = "EUR"  # Nmbrs is Dutch payroll: every company pays in euro

# Nmbrs does not document the spellings of a company's payroll period (LoonaangifteTijdvak); both
# the English and the Dutch names seen in the wild are accepted.
_PERIOD_TYPES = {
    "month": "month",
    "maand": "month",
    "monthly": "month",
    "1": "month",
    "4weeks": "4weeks",
    "fourweeks": "4weeks",
    "4weken": "4weeks",
    "vierweken": "4weeks",
    "2": "4weeks",
    "week": "week",
    "weekly": "week",
    "3": "week",
    "quarter": "quarter",
    "kwartaal": "quarter",
    "4": "quarter",
}
PERIODS_PER_YEAR = {"month": 12, "4weeks": 13, "week": 52, "quarter": 4}


def period_type(text: str | None) -> str:
    """'month', '4weeks', 'week' or 'quarter' from Nmbrs' LoonaangifteTijdvak (month when unset)."""
    if not text:
        return "month"
    key = re.sub(r"[\s_-]", "", str(text)).lower()
    if key not in _PERIOD_TYPES:
        raise ParseError(
            f"Nmbrs names the company's payroll period {text!r}, which Ledgerline does not know",
            file="CompanyService.List_GetAll",
            field="LoonaangifteTijdvak",
        )
    return _PERIOD_TYPES[key]


def period_dates(kind: str, year: int, period: int) -> tuple[date, date]:
    """First and last day of a payroll period.

    The Dutch tax periods (loonaangiftetijdvakken): months and quarters of the calendar year;
    4-week periods and weeks counted from 1 January, the last one running to 31 December.
    """
    if kind == "month":
        if not 1 <= period <= 12:
            raise ValueError(f"month period {period} is not 1..12")
        start = date(year, period, 1)
        end = date(year + (period == 12), period % 12 + 1, 1) - timedelta(days=1)
        return start, end
    if kind == "quarter":
        if not 1 <= period <= 4:
            raise ValueError(f"quarter period {period} is not 1..4")
        start = date(year, 3 * period - 2, 1)
        end = date(year + (period == 4), (3 * period) % 12 + 1, 1) - timedelta(days=1)
        return start, end
    days = {"4weeks": 28, "week": 7}.get(kind)
    if days is None:
        raise ValueError(f"unknown period type {kind!r}")
    last = PERIODS_PER_YEAR[kind]
    if not 1 <= period <= last:
        raise ValueError(f"{kind} period {period} is not 1..{last}")
    start = date(year, 1, 1) + timedelta(days=days * (period - 1))
    end = date(year, 12, 31) if period == last else start + timedelta(days=days - 1)
    return start, end


def year_range(year: int) -> tuple[date, date]:
    """The dates every period of a payroll year falls in (a year's periods never leave it)."""
    return date(year, 1, 1), date(year, 12, 31)


# --- companies, runs, employees -------------------------------------------------------------------


def company_key(company_id: Any) -> str:
    return str(int(company_id))


def entity_info(company: Mapping[str, Any]) -> EntityInfo:
    """A company as an entity the Sources page offers."""
    return EntityInfo(
        name=company.get("Name") or f"Nmbrs company {company.get('Number')}",
        external_id=company_key(company["ID"]),
        currency=CURRENCY,
        fiscal_year_start_month=1,
        extra={"company_number": str(company.get("Number") or ""), "kind": "payroll"},
    )


def company_row(company: Mapping[str, Any], rest_id: str | None = None) -> dict[str, Any]:
    """The payroll_companies row of one company from CompanyService.List_GetAll."""
    ref = f"CompanyService.List_GetAll ID {company['ID']}"
    if rest_id:
        ref += f"; REST companyId {rest_id}"
    return {
        "line_key": company_key(company["ID"]),
        "company_number": str(company.get("Number")) if company.get("Number") is not None else None,
        "name": company.get("Name"),
        "period_type": period_type(company.get("LoonaangifteTijdvak")),
        "currency": CURRENCY,
        "source_ref": ref,
    }


def run_rows(
    company: str, kind: str, runs: Iterable[Mapping[str, Any]], employees: Mapping[int, int]
) -> list[dict[str, Any]]:
    """payroll_runs rows from CompanyService.Run_GetList, with the payslip count of each run."""
    out = []
    for run in runs:
        year, first, last = int(run["Year"]), int(run["PeriodStart"]), int(run["PeriodEnd"])
        try:
            start, _ = period_dates(kind, year, first)
            _, end = period_dates(kind, year, last)
        except ValueError as exc:
            raise ParseError(
                f"run {run['ID']} covers a period Ledgerline cannot place: {exc}",
                file="CompanyService.Run_GetList",
                where=f"run {run['ID']}",
                field="PeriodStart",
            ) from None
        run_at = run.get("RunAt")
        out.append(
            {
                "line_key": f"{company}|{int(run['ID'])}",
                "company_key": company,
                "payroll_run_id": str(int(run["ID"])),
                "run_number": int(run["Number"]),
                "payroll_year": year,
                "period_from": first,
                "period_to": last,
                "period_start": start,
                "period_end": end,
                "description": run.get("Description"),
                "run_date": run_at.date() if isinstance(run_at, datetime) else run_at,
                "locked": bool(run.get("IsLocked")),
                "employees": employees.get(int(run["ID"])),
                "source_ref": f"CompanyService.Run_GetList {year} ID {int(run['ID'])}",
            }
        )
    return out


def employee_rows(company: str, items: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """payroll_employees rows: the employee's id and number, nothing personal.

    PersonalInfo_GetAll_AllEmployeesByCompany lists every version of an employee's personal info;
    the number of the latest version (by StartYear, StartPeriod) is the one kept.
    """
    out = []
    for item in items:
        employee = int(item["EmployeeId"])
        infos = item.get("EmployeePersonalInfos") or []
        if isinstance(infos, Mapping):  # a wrapper holding the list, as some SOAP clients hand it
            infos = infos.get("PersonalInfo_V2") or []
        infos = list(infos)
        infos.sort(key=lambda i: (i.get("StartYear") or 0, i.get("StartPeriod") or 0))
        number = infos[-1].get("EmployeeNumber") if infos else None
        out.append(
            {
                "line_key": f"{company}|{employee}",
                "company_key": company,
                "employee_number": str(number) if number is not None else None,
                "source_ref": f"EmployeeService.PersonalInfo_GetAll_AllEmployeesByCompany EmployeeId {employee}",
            }
        )
    return out


# --- background reports ---------------------------------------------------------------------------

_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>", re.S)
_NUMBER = re.compile(r"^-?\d+(?:\.\d+)?$")
_COMMA_NUMBER = re.compile(r"^-?\d+,\d+$")


def report_root(content: str | bytes | None, *, report: str) -> etree._Element:
    """The root element of a background report's XML, parsed safely.

    Nmbrs declares these strings as utf-16 although they reach us as text, so the declaration is
    dropped and the text parsed as what it is. Entities are never expanded, nothing is fetched,
    and a DOCTYPE that declares entities is refused.
    """
    if content is None or not str(content if isinstance(content, str) else content.decode()).strip():
        raise ParseError("Nmbrs sent the report without content", file=report)
    text = content.decode("utf-8") if isinstance(content, bytes) else content
    text = _DECLARATION.sub("", text, count=1)
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=True, remove_comments=True
    )
    try:
        root = etree.fromstring(text.encode("utf-8"), parser)
    except etree.XMLSyntaxError as exc:
        raise ParseError(f"the report is not readable XML ({exc.msg})", file=report) from None
    dtd = root.getroottree().docinfo.internalDTD
    if dtd is not None and any(True for _ in dtd.iterentities()):
        raise ParseError("the report declares XML entities; it was refused for safety", file=report)
    return root


def _local(tag: Any) -> str:
    return tag.rpartition("}")[2].lower() if isinstance(tag, str) else ""


def _child_text(elem: etree._Element, name: str) -> str | None:
    for c in elem:
        if _local(c.tag) == name:
            return (c.text or "").strip() or None
    return None


def _children(elem: etree._Element, name: str) -> list[etree._Element]:
    return [c for c in elem if _local(c.tag) == name]


def money(text: str | None, *, report: str, where: str) -> Decimal:
    """An amount from a report ('1234.56'; '1234,56' from a Dutch-formatted report)."""
    value = (text or "").strip()
    if _COMMA_NUMBER.match(value):
        value = value.replace(",", ".")
    if not _NUMBER.match(value):
        raise ParseError(f"{text!r} is not an amount", file=report, where=where, field="value")
    try:
        return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)
    except InvalidOperation:  # pragma: no cover - the pattern admits only valid numbers
        raise ParseError(f"{text!r} is not an amount", file=report, where=where, field="value") from None


def _int(text: str | None, *, report: str, where: str, field: str) -> int:
    try:
        return int((text or "").strip())
    except ValueError:
        raise ParseError(f"{text!r} is not a whole number", file=report, where=where, field=field) from None


def wage_component_rows(
    company: str, year: int, kind: str, content: str | bytes | None
) -> list[dict[str, Any]]:
    """payroll_costs rows from Reports_Accountant_Company_CompanyWageComponentsPerPeriod.

    The report holds one <report> per period with <lines> of <line> code/description/value; a
    component that appears twice in one period is summed.
    """
    report = f"Nmbrs company wage components per period {year}"
    root = report_root(content, report=report)
    totals: dict[tuple[int, str], dict[str, Any]] = {}
    reports = [root] if _local(root.tag) == "report" else _children(root, "report")
    for n, rep in enumerate(reports, 1):
        where = f"report {n}"
        period = _int(_child_text(rep, "period"), report=report, where=where, field="period")
        rep_year = _child_text(rep, "year")
        if rep_year is not None and _int(rep_year, report=report, where=where, field="year") != year:
            raise ParseError(f"the report for {year} holds a period of {rep_year}", file=report, where=where)
        try:
            start, end = period_dates(kind, year, period)
        except ValueError as exc:
            raise ParseError(str(exc), file=report, where=where, field="period") from None
        lines_parent = next(iter(_children(rep, "lines")), rep)
        for m, line in enumerate(_children(lines_parent, "line"), 1):
            at = f"{where} line {m}"
            code = _child_text(line, "code")
            if code is None:
                raise ParseError("a line has no wage component code", file=report, where=at, field="code")
            amount = money(_child_text(line, "value"), report=report, where=at)
            key = (period, code)
            row = totals.get(key)
            if row is None:
                totals[key] = {
                    "line_key": f"{company}|{year}|{period}|{code}",
                    "company_key": company,
                    "payroll_year": year,
                    "period": period,
                    "period_start": start,
                    "period_end": end,
                    "component_code": code,
                    "component_name": _child_text(line, "description"),
                    "amount": amount,
                    "currency": CURRENCY,
                    "source_ref": f"CompanyWageComponentsPerPeriod {year} period {period}",
                }
            else:
                row["amount"] += amount
    return list(totals.values())


def payslip_employees(content: str | bytes | None, *, run: Any) -> set[str]:
    """The employees with a payslip in a run, from Reports_GetPayslipByRunCompany_v2."""
    report = f"Nmbrs payslips of run {run}"
    root = report_root(content, report=report)
    slips = [root] if _local(root.tag) == "payslip" else _children(root, "payslip")
    out = set()
    for n, slip in enumerate(slips, 1):
        employee = _child_text(slip, "employeeid")
        if employee is None:
            raise ParseError(
                "a payslip names no employee", file=report, where=f"payslip {n}", field="employeeid"
            )
        out.add(employee)
    return out
