"""Settings page: time zone, schedule, manual cap and cooldown; users and roles; who may."""

from __future__ import annotations

import pytest

from pipeline import app_services as svc
from pipeline import db, scheduler
from pipeline.access import User
from pipeline.errors import PermissionDenied

from .conftest import grant, one, open_page, texts


def rules(data) -> scheduler.OrgSchedule:
    with db.connect(data) as con:
        return scheduler.organisation_schedule(con, 1)


def test_the_owner_sets_time_zone_schedule_cap_and_cooldown(warehouse):
    at = open_page("settings")
    assert "Local single-owner mode" in texts(at)
    assert "Imports run **at 00:00 and 05:00 (Europe/Brussels)**." in texts(at)
    one(at.selectbox, "Time zone").set_value("America/New_York")
    one(at.radio, "Schedule").set_value("Every interval")
    one(at.text_input, "Interval", prefix=True).input("3h")
    one(at.number_input, "Cooldown", prefix=True).set_value(15)
    one(at.number_input, "Manual imports", prefix=True).set_value(4)
    one(at.button, "Save").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    stored = rules(warehouse)
    assert stored.schedule.timezone == "America/New_York"
    assert (stored.schedule.interval_minutes, stored.cooldown_minutes, stored.daily_manual_cap) == (
        180,
        15,
        4,
    )
    assert "every 3 hours from 00:00 (America/New_York)" in texts(open_page("settings"))


def test_bad_times_are_refused_and_nothing_changes(warehouse):
    at = open_page("settings")
    one(at.text_input, "Times of day", prefix=True).input("25:00")
    one(at.button, "Save").click().run()
    assert any("'25:00' is not a time of day" in e.value for e in at.error)
    assert rules(warehouse).schedule.describe() == "at 00:00 and 05:00 (Europe/Brussels)"


def test_owners_give_roles_limited_to_entities(warehouse):
    at = open_page("settings")
    one(at.text_input, "E-mail address").input("Ann@Example.com")
    one(at.selectbox, "Role").set_value("accountant")
    with db.connect(warehouse) as con:
        retail = con.execute("SELECT id FROM entities WHERE name = 'Demo Retail BV'").fetchone()[0]
    one(at.multiselect, "Only these entities", prefix=True).set_value([retail])
    one(at.button, "Save role").click().run()
    assert not at.error, [e.value for e in at.error]
    people = at.dataframe[0].value
    row = people[people["User"] == "ann@example.com"].iloc[0]
    assert (row["Role"], row["Entities"]) == ("Accountant", "Demo Retail BV")
    at.selectbox(key="remove_role_pick").set_value("ann@example.com")
    at.button(key="remove_role").click().run()
    assert "Nobody has a role yet." in texts(at)
    log = at.dataframe[-1].value
    assert list(log["What"][:2]) == ["users.remove_role", "users.set_role"]


def test_a_viewer_sees_the_rules_but_changes_nothing(warehouse):
    grant(warehouse, "vera@example.com", "viewer")
    at = open_page("settings", user="vera@example.com")
    assert "Sign-in with your organisation's identity provider" in texts(at)
    assert "Only Owners manage users and roles." in texts(at)
    assert one(at.button, "Save").disabled
    with pytest.raises(PermissionDenied):
        svc.set_import_rules(User("vera@example.com"), 1, cooldown_minutes=0)
    with pytest.raises(PermissionDenied):
        svc.set_user_role(User("vera@example.com"), 1, "vera@example.com", "owner")
    assert rules(warehouse).cooldown_minutes == 60


def test_a_feed_token_is_shown_once_and_works_only_for_its_owner(warehouse):
    at = open_page("settings")
    one(at.text_input, "Label").input("Monthly pack")
    one(at.button, "Create token").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert "Copy this token now; it is not shown again." in texts(at)
    token = at.code[0].value
    with db.connect(warehouse) as con:
        stored = con.execute(
            "SELECT string_agg(CAST(COLUMNS(*) AS VARCHAR), '|') FROM feed_tokens"
        ).fetchall()
    assert token and token not in str(stored), "only a hash of the token is stored"
    again = open_page("settings")
    assert not again.code and "Monthly pack" in texts(again)


def test_a_viewer_gets_no_feed_token(warehouse):
    grant(warehouse, "vera@example.com", "viewer")
    at = open_page("settings", user="vera@example.com")
    assert "Your role cannot export numbers, so it has no feed tokens." in texts(at)
    assert not [b for b in at.button if b.label == "Create token"]
