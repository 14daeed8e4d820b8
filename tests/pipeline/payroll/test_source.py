"""Connecting Nmbrs through the pipeline: both APIs before Active, exact errors, imports by run."""

from __future__ import annotations

import httpx
import pytest

from pipeline import db, imports, payroll, sources
from pipeline.access import LOCAL_USER
from tests.pipeline.payroll.conftest import SOAP_TOKEN, add_source, connect, entity_id, sandbox, sign_in


@pytest.fixture
def own_nmbrs():
    """A sandbox of this test's own, which the test may change."""
    with sandbox() as sb:
        yield sb


def status(data, source_id) -> tuple[str, str | None]:
    src = sources.get_source(data, source_id)
    return src["status"], src["status_message"]


def test_the_connection_is_not_active_until_both_apis_work_for_the_same_user(data, own_nmbrs):
    source_id = add_source(data, own_nmbrs)
    assert status(data, source_id) == ("attention", "Sign in at Nmbrs to finish connecting.")
    checked = sign_in(data, source_id)
    assert (checked["ok"], checked["status"]) == (False, "attention")
    assert checked["message"].startswith("The Nmbrs SOAP API is not connected yet.")
    assert "for the e-mail address you signed in with (payroll@demo-retail.example)" in checked["message"]
    own_nmbrs.add_soap_user("boekhouding@demo-retail.example", "token-2")
    checked = payroll.connect_soap(data, LOCAL_USER, source_id, "boekhouding@demo-retail.example", "token-2")
    assert (checked["ok"], checked["status"]) == (False, "attention")
    assert checked["message"].startswith(
        "The SOAP API token belongs to boekhouding@demo-retail.example, but Nmbrs was signed in as "
        "payroll@demo-retail.example."
    )
    checked = payroll.connect_soap(data, LOCAL_USER, source_id, own_nmbrs.email, SOAP_TOKEN)
    assert checked["ok"] and [e["external_id"] for e in checked["entities"]] == ["201", "202", "203"]
    assert status(data, source_id) == ("attention", "Choose the Nmbrs entities to import.")
    sources.select_entities(data, source_id, ["201"])
    assert status(data, source_id) == ("available", None)
    listed = payroll.payroll_sources(data, LOCAL_USER)
    assert [(s["name"], s["soap_connected"], s["soap_username"], s["rest_signed_in"]) for s in listed] == [
        ("Nmbrs", True, "payroll@demo-retail.example", True)
    ]
    assert "soap_token" not in str(listed) and SOAP_TOKEN not in str(listed)
    # A permission taken away in Nmbrs: the source fails, naming the operation and the permission.
    own_nmbrs.deny("EmployeeService.PersonalInfo_GetAll_AllEmployeesByCompany")
    checked = payroll.check_connection(data, LOCAL_USER, source_id)
    assert (checked["ok"], checked["status"]) == (False, "failed")
    assert checked["message"] == (
        "Nmbrs refused EmployeeService.PersonalInfo_GetAll_AllEmployeesByCompany: the API user "
        "payroll@demo-retail.example does not have this permission. In Nmbrs, grant "
        "EmployeeService.PersonalInfo_GetAll_AllEmployeesByCompany to the API user (API user template), "
        "then test the connection again."
    )
    assert status(data, source_id)[0] == "failed"
    own_nmbrs.grant("EmployeeService.PersonalInfo_GetAll_AllEmployeesByCompany")
    assert payroll.check_connection(data, LOCAL_USER, source_id)["status"] == "available"
    # The SOAP token forgotten: no longer Active, and an import says why it cannot run.
    checked = payroll.disconnect_soap(data, LOCAL_USER, source_id)
    assert checked["status"] == "attention" and "SOAP API is not connected yet" in checked["message"]
    run = imports.sync_entity(data, entity_id(data, "Demo Retail BV"), full=True)
    assert (run.status, run.error_kind) == ("failed", "config")
    assert "The Nmbrs SOAP API is not connected yet." in run.error_message


def test_imports_follow_the_payroll_runs(data, own_nmbrs):
    connect(data, own_nmbrs, companies=("201",))
    retail = entity_id(data, "Demo Retail BV")
    first = imports.sync_entity(data, retail, full=True)
    assert first.status == "succeeded", first.error_message
    runs = len(own_nmbrs.run_ids(201))
    employees = len(own_nmbrs.companies[201].employees)
    # a company row, the runs, the employees, and 10 components for each run's period
    assert first.inserted == 1 + runs + employees + 10 * runs
    again = imports.sync_entity(data, retail)
    assert (again.status, again.inserted, again.updated, again.deleted) == ("succeeded", 0, 0, 0)
    run_id = own_nmbrs.add_run(201)
    third = imports.sync_entity(data, retail)
    assert (third.inserted, third.updated, third.deleted) == (1 + 10 + 1, 0, 0)  # run, its costs, a new hire
    with db.connect(data) as con:
        stored = con.execute(
            "SELECT count(*), max(payroll_run_id::INTEGER) FROM payroll_runs WHERE entity_id = ?", [retail]
        ).fetchone()
        assert stored == (runs + 1, run_id)
        year_total = con.execute(
            "SELECT sum(amount) FROM payroll_costs WHERE entity_id = ? AND component_code = '1' AND payroll_year = ?",
            [retail, own_nmbrs.companies[201].runs[-1].year],
        ).fetchone()[0]
    expected = sum(
        a
        for (_, code), a in own_nmbrs.costs(201, own_nmbrs.companies[201].runs[-1].year).items()
        if code == "1"
    )
    assert year_total == expected


def test_no_bsn_names_birthdays_or_addresses_are_stored(payroll_data, nmbrs):
    people = nmbrs.companies[201].employees + nmbrs.companies[203].employees
    secrets = {e.bsn for e in people} | {f"{e.first_name}@" for e in people} | {e.last_name for e in people}
    with db.connect(payroll_data) as con:
        found = text_containing(con, secrets)
        assert found == []
        assert con.execute("SELECT count(*) FROM payroll_employees").fetchone()[0] == len(people)
        columns = {
            r[0]
            for r in con.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = 'payroll_employees'"
            ).fetchall()
        }
        assert columns == {"entity_id", "line_key", "company_key", "employee_number", "source_ref", "run_id"}


def text_containing(con, needles: set[str]) -> list[str]:
    """Every table and text column of the warehouse that holds one of the needles."""
    found = []
    columns = con.execute(
        """SELECT table_name, column_name FROM information_schema.columns
           WHERE table_schema = 'main' AND data_type IN ('VARCHAR', 'JSON')"""
    ).fetchall()
    for table, column in columns:
        values = con.execute(f'SELECT DISTINCT CAST("{column}" AS VARCHAR) FROM "{table}"').fetchall()
        for (value,) in values:
            if value and any(n in value for n in needles):
                found.append(f"{table}.{column}")
                break
    return found


def test_a_re_sign_in_through_the_generic_oauth_path_is_not_active_without_soap(data, own_nmbrs):
    source_id = connect(data, own_nmbrs, companies=("201",))
    assert status(data, source_id)[0] == "available"
    payroll.disconnect_soap(data, LOCAL_USER, source_id)
    # The Sources page's generic redirect handler (not payroll.complete_signin) finishes a re-sign-in.
    url = payroll.connect_url(data, LOCAL_USER, source_id)
    answer = httpx.get(url, follow_redirects=False)
    source = sources.complete_oauth_url(data, answer.headers["location"])
    assert source["status"] == "attention"
    assert "SOAP API is not connected yet" in source["status_message"]
