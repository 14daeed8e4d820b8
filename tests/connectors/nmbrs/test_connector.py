"""The Nmbrs connector against the sandbox: the connection check, full and incremental imports."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import polars as pl
import pytest

from connectors.base import STREAM_COLUMNS
from connectors.http import EntityUnavailable
from connectors.nmbrs.client import PERMISSIONS, PermissionMissing
from pipeline.errors import ConfigError
from tests.connectors.nmbrs.conftest import request, signed_in


def stream(extraction, name):
    found = [s for s in extraction.streams if s.stream == name]
    return found[0] if found else None


def test_the_check_signs_in_and_tries_every_permitted_operation(sandbox, store, connector):
    found = connector.check(request(sandbox, store, None))
    assert (found.email, found.soap_username, found.domain) == (sandbox.email, sandbox.email, "demo")
    assert sorted(found.verified) == sorted(PERMISSIONS) and found.notes == []
    entities = connector.list_entities(request(sandbox, store, None))
    assert [(e.external_id, e.name, e.currency) for e in entities] == [
        ("201", "Demo Retail BV", "EUR"),
        ("202", "Demo Services BV", "EUR"),
        ("203", "Demo Logistics BV", "EUR"),
    ]


def test_without_the_soap_api_the_check_says_what_is_missing(sandbox, clock, connector):
    store = signed_in(sandbox, clock, soap=False)
    with pytest.raises(ConfigError) as info:
        connector.list_entities(request(sandbox, store, None))
    assert info.value.message == "The Nmbrs SOAP API is not connected yet."
    assert (
        "for the e-mail address you signed in with (payroll@demo-retail.example)" in info.value.user_message()
    )


def test_a_soap_token_of_another_user_is_refused(sandbox, clock, connector):
    sandbox.add_soap_user("boekhouding@demo-retail.example", "other-token")
    store = signed_in(
        sandbox, clock, soap_username="boekhouding@demo-retail.example", soap_token="other-token"
    )
    with pytest.raises(ConfigError) as info:
        connector.list_entities(request(sandbox, store, None))
    assert info.value.message == (
        "The SOAP API token belongs to boekhouding@demo-retail.example, but Nmbrs was signed in as "
        "payroll@demo-retail.example."
    )
    assert "Use the same e-mail address for both" in info.value.user_message()
    assert sandbox.soap_calls == {}  # refused before any SOAP call


def test_the_check_names_a_missing_report_permission(sandbox, store, connector):
    sandbox.deny("ReportService.Reports_GetPayslipByRunCompany_v2_Background")
    with pytest.raises(PermissionMissing) as info:
        connector.check(request(sandbox, store, None))
    assert info.value.permission == "ReportService.Reports_GetPayslipByRunCompany_v2_Background"


def test_a_full_import_reads_every_run_its_payslips_employees_and_costs(sandbox, store, connector):
    extraction = connector.extract(request(sandbox, store, "201"))
    runs = stream(extraction, "payroll_runs")
    assert runs.rows["payroll_run_id"].to_list() == [str(i) for i in sandbox.run_ids(201)]  # 2023 and 2024
    assert runs.rows.height == 15 and runs.replace == "all"
    employees = len(sandbox.companies[201].employees)
    assert set(runs.rows["employees"].to_list()) == {employees}
    costs = stream(extraction, "payroll_costs")
    assert costs.replace == "ranges"
    assert costs.ranges == [(date(2023, 1, 1), date(2023, 12, 31)), (date(2024, 1, 1), date(2024, 12, 31))]
    expected = {(2023, p, c): a for (p, c), a in sandbox.costs(201, 2023).items()}
    expected |= {(2024, p, c): a for (p, c), a in sandbox.costs(201, 2024).items()}
    got = {
        (r["payroll_year"], r["period"], r["component_code"]): r["amount"]
        for r in costs.rows.iter_rows(named=True)
    }
    assert got == expected and costs.rows.height == 15 * 10
    march = costs.rows.filter((pl.col("payroll_year") == 2024) & (pl.col("period") == 3)).row(0, named=True)
    assert (march["period_start"], march["period_end"]) == (date(2024, 3, 1), date(2024, 3, 31))
    people = stream(extraction, "payroll_employees")
    assert people.rows.height == employees and people.replace == "all"
    (company,) = stream(extraction, "payroll_companies").rows.iter_rows(named=True)
    assert (company["name"], company["company_number"], company["period_type"]) == (
        "Demo Retail BV",
        "1",
        "month",
    )
    assert extraction.cursor["runs"] == {
        "2023": sandbox.run_ids(201, 2023),
        "2024": sandbox.run_ids(201, 2024),
    }
    assert extraction.stats["new_runs"] == 15 and extraction.stats["reports"] == 15 + 2


def test_no_personal_data_leaves_the_connector(sandbox, store, connector):
    extraction = connector.extract(request(sandbox, store, "202"))
    people = sandbox.companies[202].employees
    secrets = {e.bsn for e in people} | {e.first_name for e in people} | {e.last_name for e in people}
    secrets |= {e.birthday.isoformat() for e in people}
    for data in extraction.streams:
        assert set(data.rows.columns) == set(STREAM_COLUMNS[data.stream])
        for column in data.rows.columns:
            values = {str(v) for v in data.rows[column].to_list() if v is not None}
            assert not any(s in v for v in values for s in secrets), (data.stream, column)


def test_an_incremental_import_reads_only_the_new_run_and_its_year(sandbox, store, connector):
    first = connector.extract(request(sandbox, store, "203"))
    before = dict(sandbox.soap_calls)
    run_id = sandbox.add_run(203)
    second = connector.extract(request(sandbox, store, "203", full=False, cursor=first.cursor))
    calls = {k: v - before.get(k, 0) for k, v in sandbox.soap_calls.items() if v != before.get(k, 0)}
    assert calls["Reports_GetPayslipByRunCompany_v2_Background"] == 1
    assert calls["Reports_Accountant_Company_CompanyWageComponentsPerPeriod_Background"] == 1
    assert calls["Run_GetList"] == 2  # last year and this year
    runs = stream(second, "payroll_runs")
    assert runs.rows["payroll_run_id"].to_list() == [str(run_id)] and runs.replace == "none"
    assert runs.rows["employees"].to_list() == [len(sandbox.companies[203].employees)]  # the new hire too
    costs = stream(second, "payroll_costs")
    assert costs.ranges == [(date(2024, 1, 1), date(2024, 12, 31))]
    new_period = costs.rows.filter(pl.col("period") == 4)
    assert new_period.height == 10
    assert (
        new_period.filter(pl.col("component_code") == "1")["amount"].sum()
        == sandbox.costs(203, 2024)[(4, "1")]
    )
    assert second.cursor["runs"]["2024"][-1] == run_id
    # Nothing new: only the run lists are read, and no stream would change anything.
    before = dict(sandbox.soap_calls)
    third = connector.extract(request(sandbox, store, "203", full=False, cursor=second.cursor))
    calls = {k: v - before.get(k, 0) for k, v in sandbox.soap_calls.items() if v != before.get(k, 0)}
    assert calls == {"Environment_Get": 1, "List_GetAll": 1, "Run_GetList": 2}
    assert [s.stream for s in third.streams] == ["payroll_companies", "payroll_runs"]
    assert stream(third, "payroll_runs").rows.height == 0


def test_a_company_that_disappeared_makes_the_entity_unavailable(sandbox, store, connector):
    sandbox.restrict([201])
    with pytest.raises(EntityUnavailable, match="no longer shows company 203"):
        connector.extract(request(sandbox, store, "203"))


def test_costs_total_the_employees_payslips(sandbox, store, connector):
    extraction = connector.extract(request(sandbox, store, "202"))
    costs = stream(extraction, "payroll_costs").rows
    slips = [run.slips for run in sandbox.companies[202].runs]
    salary = sum((a["1"] for run in slips for a in run.values()), Decimal("0.00"))
    assert costs.filter(pl.col("component_code") == "1")["amount"].sum() == salary
