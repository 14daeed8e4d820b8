"""Nmbrs answers -> payroll rows: periods, the wage-component report, runs, employees (no BSN)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest

from connectors.nmbrs import parse
from connectors.nmbrs.client import fault_code
from pipeline.errors import ParseError


@pytest.mark.parametrize(
    ("kind", "year", "period", "expected"),
    [
        ("month", 2024, 2, (date(2024, 2, 1), date(2024, 2, 29))),
        ("month", 2023, 12, (date(2023, 12, 1), date(2023, 12, 31))),
        ("4weeks", 2024, 1, (date(2024, 1, 1), date(2024, 1, 28))),
        ("4weeks", 2024, 2, (date(2024, 1, 29), date(2024, 2, 25))),
        ("4weeks", 2024, 13, (date(2024, 12, 2), date(2024, 12, 31))),
        ("quarter", 2024, 4, (date(2024, 10, 1), date(2024, 12, 31))),
        ("week", 2023, 52, (date(2023, 12, 24), date(2023, 12, 31))),
    ],
)
def test_payroll_periods_follow_the_dutch_tax_periods(kind, year, period, expected):
    assert parse.period_dates(kind, year, period) == expected


def test_a_period_outside_the_year_is_refused():
    with pytest.raises(ValueError, match=r"period 13 is not 1\.\.12"):
        parse.period_dates("month", 2024, 13)


@pytest.mark.parametrize(
    ("text", "kind"),
    [("Month", "month"), ("Maand", "month"), ("4 weken", "4weeks"), ("4Weeks", "4weeks"), (None, "month")],
)
def test_period_type_spellings(text, kind):
    assert parse.period_type(text) == kind


def test_an_unknown_period_type_names_the_field():
    with pytest.raises(ParseError, match="LoonaangifteTijdvak") as info:
        parse.period_type("Fortnight")
    assert "Fortnight" in str(info.value)


REPORT = """<?xml version="1.0" encoding="utf-16"?>
<reports>
  <report><companyid>201</companyid><period>1</period><year>2024</year>
    <lines>
      <line><code>1</code><description>Salaris</description><value>10000.00</value></line>
      <line><code>500</code><description>Loonheffing</description><value>2700,50</value></line>
      <line><code>1</code><description>Salaris</description><value>250.25</value></line>
    </lines>
  </report>
  <report><companyid>201</companyid><period>2</period><year>2024</year>
    <lines><line><code>1</code><description>Salaris</description><value>-10.10</value></line></lines>
  </report>
</reports>"""


def test_the_wage_component_report_becomes_one_row_per_period_and_component():
    rows = parse.wage_component_rows("201", 2024, "month", REPORT)
    got = {(r["period"], r["component_code"]): r["amount"] for r in rows}
    # A component listed twice in a period is summed; a Dutch decimal comma is read.
    assert got == {(1, "1"): Decimal("10250.25"), (1, "500"): Decimal("2700.50"), (2, "1"): Decimal("-10.10")}
    first = next(r for r in rows if r["period"] == 1 and r["component_code"] == "1")
    assert (first["period_start"], first["period_end"]) == (date(2024, 1, 1), date(2024, 1, 31))
    assert first["line_key"] == "201|2024|1|1" and first["component_name"] == "Salaris"


def test_an_unreadable_amount_names_report_line_and_field():
    bad = REPORT.replace("2700,50", "2.700,50")
    with pytest.raises(ParseError) as info:
        parse.wage_component_rows("201", 2024, "month", bad)
    assert info.value.where == "report 1 line 2" and info.value.field == "value"
    assert "'2.700,50' is not an amount" in str(info.value)


def test_a_report_that_declares_entities_is_refused():
    evil = '<!DOCTYPE r [<!ENTITY x "boom">]><reports><report><period>1</period></report></reports>'
    with pytest.raises(ParseError, match="declares XML entities"):
        parse.wage_component_rows("201", 2024, "month", evil)


def test_a_report_that_is_not_xml_is_refused():
    with pytest.raises(ParseError, match="not readable XML"):
        parse.payslip_employees("Error: report failed", run=5001)


def test_employee_rows_keep_the_number_and_nothing_personal():
    items = [
        {
            "EmployeeId": 9001,
            "EmployeePersonalInfos": [
                {
                    "Id": 1,
                    "EmployeeNumber": "7",
                    "BSN": "123456782",
                    "FirstName": "Anna",
                    "LastName": "Jansen",
                    "Birthday": datetime(1990, 1, 1),
                    "StartYear": 2020,
                    "StartPeriod": 1,
                },
                {
                    "Id": 2,
                    "EmployeeNumber": "17",
                    "BSN": "123456782",
                    "FirstName": "Anna",
                    "LastName": "de Vries",
                    "Birthday": datetime(1990, 1, 1),
                    "StartYear": 2023,
                    "StartPeriod": 5,
                },
            ],
        }
    ]
    (row,) = parse.employee_rows("201", items)
    assert row == {
        "line_key": "201|9001",
        "company_key": "201",
        "employee_number": "17",  # the latest version of the personal info
        "source_ref": "EmployeeService.PersonalInfo_GetAll_AllEmployeesByCompany EmployeeId 9001",
    }


def test_run_rows_place_the_run_in_its_periods():
    runs = [
        {
            "ID": 5050,
            "Number": 2,
            "Year": 2024,
            "PeriodStart": 2,
            "PeriodEnd": 3,
            "Description": "Run 2",
            "RunAt": datetime(2024, 3, 20, 10, 0),
            "IsLocked": False,
        }
    ]
    (row,) = parse.run_rows("203", "4weeks", runs, {5050: 6})
    assert (row["period_start"], row["period_end"]) == (date(2024, 1, 29), date(2024, 3, 24))
    assert (row["employees"], row["run_date"], row["locked"]) == (6, date(2024, 3, 20), False)


def test_payslips_name_the_employees_paid():
    content = "<payslips><payslip><employeeid>9001</employeeid></payslip><payslip><employeeid>9002</employeeid></payslip></payslips>"
    assert parse.payslip_employees(content, run=1) == {"9001", "9002"}


@pytest.mark.parametrize(
    ("text", "code"),
    [
        (
            "System.Web.Services.Protocols.SoapException: Server was unable to process request. ---> 1002: Unauthorized Access",
            1002,
        ),
        ("Server was unable to process request. ---> 1001: Invalid Authentication", 1001),
        ("Something else broke", None),
    ],
)
def test_fault_codes_are_read_from_the_fault_text(text, code):
    assert fault_code(text)[0] == code
