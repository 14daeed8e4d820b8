"""Roles per organisation, entity limits, the first admin, the local single-owner mode, and the
sign-in gate of the app."""

from __future__ import annotations

import pytest

from pipeline import access, db
from pipeline.access import LOCAL_USER, User
from pipeline.errors import PermissionDenied, RefusedError

from .conftest import APP, AUTH, grant, open_page, texts

# Pinned from the issue: only Owner and Accountant change sources, structures and mappings and
# see payroll; Reporting reads, exports and syncs; a Viewer only reads.
MATRIX = {
    "owner": {
        "view",
        "export",
        "sync",
        "upload",
        "sources.edit",
        "sources.delete_data",
        "structure.edit",
        "mapping.edit",
        "payroll.view",
        "settings.edit",
        "users.manage",
    },
    "accountant": {
        "view",
        "export",
        "sync",
        "upload",
        "sources.edit",
        "structure.edit",
        "mapping.edit",
        "payroll.view",
    },
    "reporting": {"view", "export", "sync"},
    "viewer": {"view"},
}


def ids(data) -> dict[str, int]:
    with db.connect(data) as con:
        return dict(con.execute("SELECT name, id FROM entities").fetchall())


@pytest.mark.parametrize("role", list(MATRIX))
def test_what_each_role_may_do(warehouse, role):
    grant(warehouse, f"{role}@example.com", role)
    user = User(f"{role}@example.com")
    with db.connect(warehouse) as con:
        allowed = {a for a in access.ACTIONS if access.allowed(con, user, a, 1)}
    assert allowed == MATRIX[role]


def test_an_entity_limit_covers_entity_actions_but_no_organisation_wide_change(warehouse):
    grant(warehouse, "ann@example.com", "accountant", entities=["Demo Retail BV"])
    ann = User("ann@example.com")
    e = ids(warehouse)
    with db.connect(warehouse) as con:
        access.require(con, ann, "mapping.edit", entity_id=e["Demo Retail BV"])
        access.require(con, ann, "upload", entity_id=e["Demo Retail BV"])
        with pytest.raises(PermissionDenied, match="may not see this entity"):
            access.require(con, ann, "view", entity_id=e["Demo Inc"])
        with pytest.raises(PermissionDenied, match="only work with some entities"):
            access.require(con, ann, "structure.edit", 1)
        with pytest.raises(PermissionDenied, match="only work with some entities"):
            access.require(con, ann, "sources.edit", 1)
        assert access.visible_entity_ids(con, ann) == [e["Demo Retail BV"]]


def test_someone_without_a_role_sees_nothing(warehouse):
    with db.connect(warehouse) as con:
        assert access.visible_organisations(con, User("nobody@example.com")) == []
        assert access.visible_entity_ids(con, User("nobody@example.com")) == []
        with pytest.raises(PermissionDenied, match="no role in this organisation"):
            access.require(con, User("nobody@example.com"), "view", 1)


def test_the_first_user_to_sign_in_becomes_admin_the_next_one_gets_nothing(warehouse):
    with db.transaction(warehouse) as con:
        first = access.sign_in(con, "Boss@Example.com", "Boss")
        second = access.sign_in(con, "guest@example.com")
        assert first.login == "boss@example.com"
        assert access.grants(con, first).admin
        assert access.role_in(con, first, 1) == "owner"
        assert access.role_in(con, second, 1) is None


def test_the_last_owner_cannot_be_removed_or_demoted(warehouse):
    with db.transaction(warehouse) as con:
        access.set_role(con, LOCAL_USER, "olga@example.com", 1, "owner")
    with pytest.raises(RefusedError, match="without an Owner"), db.transaction(warehouse) as con:
        access.set_role(con, LOCAL_USER, "olga@example.com", 1, "viewer")
    with pytest.raises(RefusedError, match="without an Owner"), db.transaction(warehouse) as con:
        access.remove_role(con, LOCAL_USER, "olga@example.com", 1)
    with db.connect(warehouse) as con:
        assert access.role_in(con, User("olga@example.com"), 1) == "owner"


def test_with_sign_in_configured_the_app_asks_to_sign_in_first(warehouse):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=60)
    at.secrets = AUTH
    at.user = {"is_logged_in": False}
    at.run()
    assert not at.exception
    assert [b.label for b in at.button] == ["Sign in"]
    assert not at.metric  # no page ran


def test_a_signed_in_user_without_a_role_is_told_to_ask_an_owner(warehouse):
    grant(warehouse, "ann@example.com", "accountant")  # makes an admin, so the next user is not one
    at = open_page(user="stranger@example.com")
    assert "No access yet" in texts(at)
    assert "Ask an Owner" in texts(at)


@pytest.mark.parametrize("role", ["reporting", "viewer"])
def test_payroll_is_not_in_the_navigation_of_reporting_users_and_viewers(warehouse, role):
    grant(warehouse, f"{role}@example.com", role)
    at = open_page(user=f"{role}@example.com")
    for page in ("payroll", "payroll_admin", "upload", "mapping", "structure"):
        with pytest.raises(ValueError, match="Could not find a navigation page"):
            at.switch_page(f"pages/{page}.py")
