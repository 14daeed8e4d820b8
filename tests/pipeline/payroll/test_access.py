"""Only Owners and Accountants see payroll pages and data; the pipeline enforces it."""

from __future__ import annotations

import pytest

from pipeline import access, db, payroll
from pipeline.access import LOCAL_USER, User
from pipeline.errors import PermissionDenied
from tests.pipeline.payroll.conftest import MAPPING, entity_id


def users(data) -> dict[str, User]:
    with db.transaction(data) as con:
        org = con.execute("SELECT id FROM organisations").fetchone()[0]
        for role in access.ROLES:
            access.set_role(con, LOCAL_USER, f"{role}@example.nl", org, role)
        logistics = con.execute("SELECT id FROM entities WHERE name = 'Demo Logistics BV'").fetchone()[0]
        access.set_role(con, LOCAL_USER, "limited@example.nl", org, "accountant", entity_ids=[logistics])
    return {name: User(f"{name}@example.nl") for name in (*access.ROLES, "limited")}


def test_owners_and_accountants_see_payroll_the_others_are_refused(payroll_data):
    people = users(payroll_data)
    retail = entity_id(payroll_data, "Demo Retail BV")
    calls = {
        "overview": lambda u: payroll.overview(payroll_data, u),
        "mapping": lambda u: payroll.mapping(payroll_data, u, retail),
        "save": lambda u: payroll.save_mapping(payroll_data, u, retail, MAPPING),
        "export": lambda u: payroll.export_rows(payroll_data, u),
        "reconcile": lambda u: payroll.reconcile(payroll_data, u),
        "entities": lambda u: payroll.payroll_entities(payroll_data, u),
    }
    for role in ("owner", "accountant"):
        for name, call in calls.items():
            assert call(people[role]) is not None, (role, name)
    for role, label in (("reporting", "Reporting"), ("viewer", "Viewer")):
        for name, call in calls.items():
            with pytest.raises(PermissionDenied) as info:
                call(people[role])
            assert info.value.message == f"A {label} may not see payroll.", name
            assert "Owners and Accountants can" in info.value.user_message()
    with pytest.raises(PermissionDenied, match="has no role in any organisation"):
        payroll.overview(payroll_data, User("stranger@example.nl"))


def test_an_accountant_limited_to_one_entity_sees_only_its_payroll(payroll_data):
    limited = users(payroll_data)["limited"]
    assert [e["name"] for e in payroll.payroll_entities(payroll_data, limited)] == ["Demo Logistics BV"]
    view = payroll.overview(payroll_data, limited)
    assert view.lines == [] and {u["company"] for u in view.unmapped} == {"Demo Logistics BV"}
    with pytest.raises(PermissionDenied, match="may not see this entity"):
        payroll.mapping(payroll_data, limited, entity_id(payroll_data, "Demo Retail BV"))
