"""The SOAP API through zeep (WSDL from the repository) against the sandbox over real HTTP."""

from __future__ import annotations

from decimal import Decimal

import pytest

from connectors.http import EntityUnavailable
from connectors.nmbrs import parse
from connectors.nmbrs.client import NmbrsSoap, PermissionMissing, ReportFailed, _ApiTransport
from pipeline.errors import AuthError, ConfigError, RetriableSourceError
from tests.connectors.nmbrs.conftest import SOAP_TOKEN

WAGE_REPORT = "Reports_Accountant_Company_CompanyWageComponentsPerPeriod_Background"


def soap_client(sandbox, clock, user=None, token=SOAP_TOKEN, **kwargs) -> NmbrsSoap:
    return NmbrsSoap({"base_url": sandbox.url}, user or sandbox.email, token, clock=clock, **kwargs)


def test_every_operation_answers_through_zeep(sandbox, clock):
    soap = soap_client(sandbox, clock)
    assert soap.environment() == "demo"  # DebtorService.Environment_Get, with the plain AuthHeader
    companies = soap.companies()
    assert [(c["ID"], c["Name"], c["LoonaangifteTijdvak"]) for c in companies] == [
        (201, "Demo Retail BV", "Month"),
        (202, "Demo Services BV", "Month"),
        (203, "Demo Logistics BV", "4Weeks"),
    ]
    runs = soap.runs(201, 2024)
    assert [r["ID"] for r in runs] == sandbox.run_ids(201, 2024) and [r["PeriodStart"] for r in runs] == [
        1,
        2,
        3,
    ]
    people = soap.personal_infos(201)
    assert len(people) == len(sandbox.companies[201].employees)
    content = soap.wage_components(201, 2023)
    rows = parse.wage_component_rows("201", 2023, "month", content)
    assert {(r["period"], r["component_code"]): r["amount"] for r in rows} == sandbox.costs(201, 2023)
    assert sum(r["amount"] for r in rows if r["component_code"] == "1") > Decimal("100000")
    slips = soap.payslips(201, runs[0]["ID"], 2024)
    assert parse.payslip_employees(slips, run=runs[0]["ID"]) == {
        str(e.id) for e in sandbox.companies[201].employees
    }
    # Background tasks were polled until done: Enqueued, Executing, Success (the sandbox's 2 steps).
    assert soap.stats.report_polls == 6 and soap.stats.reports == 2
    assert clock.slept == pytest.approx(2 * (1 + 2))
    assert sandbox.calls("Environment_Get") == 1  # the domain is asked once and kept


def test_a_call_with_the_wrong_domain_is_refused(sandbox, clock):
    soap = soap_client(sandbox, clock)
    soap.domain = "someone-else"
    with pytest.raises(AuthError, match=r"did not accept the SOAP API token of payroll@demo-retail\.example"):
        soap.companies()


def test_a_wrong_token_says_what_to_check(sandbox, clock):
    soap = soap_client(sandbox, clock, token="not-the-token")
    with pytest.raises(AuthError) as info:
        soap.environment()
    assert "DebtorService.Environment_Get" in info.value.message
    assert "create a new one in Nmbrs" in info.value.user_message()


def test_a_missing_permission_names_the_operation_and_the_permission_to_grant(sandbox, clock):
    sandbox.deny("CompanyService.Run_GetList")
    soap = soap_client(sandbox, clock)
    assert soap.companies()  # other operations still work
    with pytest.raises(PermissionMissing) as info:
        soap.runs(201, 2024)
    assert info.value.permission == "CompanyService.Run_GetList"
    assert info.value.message == (
        "Nmbrs refused CompanyService.Run_GetList: the API user payroll@demo-retail.example does not have "
        "this permission."
    )
    assert "grant CompanyService.Run_GetList to the API user" in info.value.user_message()


def test_a_company_the_user_may_not_see_is_unavailable(sandbox, clock):
    sandbox.restrict([201, 202])
    soap = soap_client(sandbox, clock)
    assert [c["ID"] for c in soap.companies()] == [201, 202]
    with pytest.raises(EntityUnavailable, match="no longer shows this company"):
        soap.runs(203, 2024)


def test_a_background_task_that_errors_fails_with_its_status(sandbox, clock):
    sandbox.report_mode(WAGE_REPORT, "error")
    soap = soap_client(sandbox, clock)
    with pytest.raises(ReportFailed) as info:
        soap.wage_components(201, 2024)
    assert "company wage components per period report of 2024" in info.value.message
    assert "ended with status Error" in info.value.message
    assert soap.stats.report_polls == 3  # Enqueued, Executing, Error
    (task,) = sandbox.tasks.values()
    assert task.polls == 3


def test_a_background_task_that_never_finishes_gives_up_after_the_bounded_wait(sandbox, clock):
    sandbox.report_mode(WAGE_REPORT, "stuck")
    soap = soap_client(sandbox, clock, report_wait=60)
    with pytest.raises(RetriableSourceError) as info:
        soap.wage_components(201, 2024)
    assert (
        "did not finish the company wage components per period report of 2024 within 60 seconds"
        in info.value.message
    )
    assert "still Executing" in info.value.message
    # Pauses of 1, 2, 4, 8, then 10 s: it stopped before a pause would pass the limit.
    assert clock.slept == 55 and soap.stats.report_polls == 9


def test_a_task_nmbrs_does_not_know_fails_clearly(sandbox, clock):
    soap = soap_client(sandbox, clock)
    with pytest.raises(ReportFailed, match="ended with status Unknown"):
        soap.wait("00000000-0000-0000-0000-000000000000", "payslips report of run 1")


def test_a_soap_api_that_was_never_set_up_is_named():
    with pytest.raises(ConfigError) as info:
        NmbrsSoap({}, None, None)
    assert info.value.message == "The Nmbrs SOAP API is not connected yet."
    assert "Create an API token in Nmbrs" in info.value.user_message()


def test_the_wsdl_is_never_fetched_from_the_network(sandbox, clock):
    soap = soap_client(sandbox, clock)
    with pytest.raises(ConfigError, match="must come from the repository"):
        _ApiTransport(soap.api).load("https://api.nmbrs.nl/soap/v3/CompanyService.asmx?WSDL")
