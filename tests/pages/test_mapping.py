"""Mapping page: suggestions with reasons, accept, the grid, bulk assign, preview, save; the badge."""

from __future__ import annotations

import pytest

from pipeline import app_services as svc
from pipeline import db
from pipeline.access import LOCAL_USER, User
from pipeline.errors import PermissionDenied

from .conftest import grant, one, open_page, texts

ENTITY = "Demo Retail BV"


def entity_id(data, name: str = ENTITY) -> int:
    with db.connect(data) as con:
        return con.execute("SELECT id FROM entities WHERE name = ?", [name]).fetchone()[0]


def resolved(data, account: str) -> tuple[str, str]:
    with db.connect(data) as con:
        return con.execute(
            """SELECT m.status, m.line_code FROM map_accounts m JOIN structures s ON s.id = m.structure_id
               JOIN entities e ON e.id = m.entity_id WHERE e.name = ? AND m.account_code = ?""",
            [ENTITY, account],
        ).fetchone()


def open_mapping(data):
    at = open_page("mapping")
    at.selectbox(key="mapping_entity").set_value(entity_id(data)).run()
    assert not at.exception
    return at


def save(at):
    one(at.button, "Save ", prefix=True).click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]


def test_accepting_every_suggestion_previews_the_totals_then_maps_every_account(warehouse):
    grid = svc.mapping_grid(LOCAL_USER, entity_id(warehouse))
    unmapped = grid["unmapped"]
    assert unmapped > 0
    badge = svc.unmapped_badge(LOCAL_USER)
    at = open_mapping(warehouse)
    assert f"{unmapped:,} unmapped" in texts(at)
    assert "RGS code" in texts(at)  # reasons are shown with each suggestion
    at.button(key="accept_all").click().run()
    assert f"{unmapped} unsaved changes" in texts(at)
    at.button(key="mapping_preview").click().run()
    preview = at.dataframe[-1].value
    changed = dict(zip(preview["Line"], preview["After"], strict=True))
    assert changed["PL_UNMAPPED · Niet gemapt"] == "0.00"
    save(at)
    assert svc.mapping_grid(LOCAL_USER, entity_id(warehouse))["unmapped"] == 0
    assert svc.unmapped_badge(LOCAL_USER) == badge - unmapped
    with db.connect(warehouse) as con:
        actors = con.execute(
            "SELECT DISTINCT actor, action FROM audit_log WHERE action LIKE 'mapping.%'"
        ).fetchall()
    assert actors == [("local", "mapping.grid")]


def test_editing_a_line_in_the_grid_and_changing_it_again(warehouse):
    at = open_mapping(warehouse)
    key = at.data_editor[0].key
    accounts = list(at.data_editor[0].value["Account"])
    first = accounts[0]
    at.session_state[key] = {
        "edited_rows": {0: {"Line": "OMZ · Netto-omzet"}},
        "added_rows": [],
        "deleted_rows": [],
    }
    at.run()
    assert "1 unsaved changes" in texts(at)
    save(at)
    assert resolved(warehouse, first) == ("mapped", "OMZ")
    # A second change updates the entity's own rule instead of adding a conflicting one.
    at = open_mapping(warehouse)
    at.text_input(key="mapping_search").input(first).run()
    key = at.data_editor[0].key
    at.session_state[key] = {
        "edited_rows": {0: {"Line": "OBO · Overige bedrijfsopbrengsten"}},
        "added_rows": [],
        "deleted_rows": [],
    }
    at.run()
    save(at)
    assert resolved(warehouse, first) == ("mapped", "OBO")
    with db.connect(warehouse) as con:
        rules = con.execute("SELECT count(*) FROM mapping_rules WHERE account_from = ?", [first]).fetchone()[
            0
        ]
    assert rules == 1


def test_bulk_assign_and_exclude(warehouse):
    at = open_mapping(warehouse)
    key = at.data_editor[0].key
    accounts = list(at.data_editor[0].value["Account"])[:3]
    at.session_state[key] = {
        "edited_rows": {0: {"Pick": True}, 1: {"Pick": True}, 2: {"Pick": True}},
        "added_rows": [],
        "deleted_rows": [],
    }
    at.run()
    at.selectbox(key="bulk_line").set_value("Excluded (left out on purpose)")
    at.button(key="bulk_assign").click().run()
    assert "3 unsaved changes" in texts(at)
    save(at)
    assert [resolved(warehouse, a)[0] for a in accounts] == ["excluded"] * 3


def test_reporting_users_cannot_change_mappings(warehouse):
    grant(warehouse, "rob@example.com", "reporting")
    at = open_page(user="rob@example.com")
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page("pages/mapping.py")
    account = svc.mapping_grid(LOCAL_USER, entity_id(warehouse))["rows"][0]["code"]
    with pytest.raises(PermissionDenied):
        svc.save_mapping(User("rob@example.com"), entity_id(warehouse), None, {account: "OMZ"})
    assert resolved(warehouse, account)[0] == "unmapped"
