"""An AFAS source through the service layer and real import runs, against the AFAS sandbox."""

from __future__ import annotations

import logging

import pytest

from pipeline import db, imports, sources
from pipeline.errors import ConfigError, RefusedError
from tests.pipeline.sources.conftest import AFAS_TOKEN, AS_OF, add_afas, ledger


def entity_id(data, name: str) -> int:
    with db.connect(data) as con:
        return con.execute("SELECT id FROM entities WHERE name = ?", [name]).fetchone()[0]


def test_the_form_needs_environment_and_token(data, afas):
    with pytest.raises(ConfigError) as err:
        sources.add_source(data, "afas", name="AFAS", settings={"token_name": "x"})
    assert err.value.user_message() == "AFAS Profit needs: Environment (Omgevingsnaam), Token value."


def test_from_attention_to_available_once_administrations_are_chosen(data, afas):
    source = add_afas(data, afas)
    assert (source["status"], source["has_credentials"]) == ("attention", True)
    assert "credentials" not in source and "token" not in source["config"]
    result = sources.check_connection(data, source["id"])
    assert result["ok"] and result["status"] == "attention"
    assert [e["external_id"] for e in result["entities"]] == ["1", "2", "3"]
    chosen = sources.select_entities(data, source["id"], ["1", "3"])
    assert [(e["name"], e["external_id"], e["active"]) for e in chosen] == [
        ("Demo Inc", "3", True),
        ("Demo Retail BV", "1", True),
    ]
    assert sources.get_source(data, source["id"])["status"] == "available"
    listed = sources.available_entities(data, source["id"])
    assert [(e["external_id"], e["selected"]) for e in listed] == [("1", True), ("2", False), ("3", True)]
    sources.select_entities(data, source["id"], ["1"])
    assert [e["active"] for e in sources.get_source(data, source["id"])["entities"]] == [False, True]


def test_a_refused_token_marks_the_source_failed_until_a_new_token(data, afas):
    source = add_afas(data, afas, token="expired-token")
    result = sources.check_connection(data, source["id"])
    assert (result["ok"], result["status"]) == (False, "failed")
    assert "Reconnect with a new token" in sources.get_source(data, source["id"])["status_message"]
    after = sources.update_credentials(data, source["id"], {"token": AFAS_TOKEN})
    assert after["status"] == "attention" and after["status_message"].startswith("Choose the AFAS Profit")


def test_missing_getconnectors_leave_the_source_half_way_with_the_steps(data):
    from connectors.afas.sandbox import AfasSandbox

    with AfasSandbox(token=AFAS_TOKEN, as_of=AS_OF, missing_connectors=["Profit_Accounts"]) as sb:
        source = add_afas(data, sb)
        result = sources.check_connection(data, source["id"])
    assert result["status"] == "attention"
    assert "Profit_Accounts" in result["message"] and "Importeren > Map" in result["message"]


def test_full_then_incremental_equals_a_fresh_full_import_line_for_line(data, tmp_path, afas):
    source = add_afas(data, afas)
    sources.select_entities(data, source["id"], ["1"])
    first = imports.sync_entity(data, entity_id(data, "Demo Retail BV"), full=True)
    assert first.status == "succeeded", first.error_message
    adv = afas.advance_to("2024-02-27")
    edits = afas.edit(1, correct=4, delete=3, before=AS_OF)
    second = imports.sync_entity(data, entity_id(data, "Demo Retail BV"))
    assert second.status == "succeeded", second.error_message
    assert second.deleted >= edits["deleted"] and second.inserted > 0 and second.updated > 0
    assert adv["inserted"] > 0

    fresh = tmp_path / "fresh"
    other = add_afas(fresh, afas)
    sources.select_entities(fresh, other["id"], ["1"])
    assert imports.sync_entity(fresh, entity_id(fresh, "Demo Retail BV"), full=True).status == "succeeded"
    for table in ("transactions", "opening_balances"):
        assert ledger(data, "Demo Retail BV", table) == ledger(fresh, "Demo Retail BV", table)

    third = imports.sync_entity(data, entity_id(data, "Demo Retail BV"))
    assert (third.status, third.inserted, third.updated, third.deleted) == ("succeeded", 0, 0, 0)
    runs = sources.source_runs(data, source["id"])
    assert [r["api_calls"] > 0 for r in runs] == [True, True, True]
    assert runs[0]["api_calls"] < runs[-1]["api_calls"]  # incremental costs less than full


def test_disconnect_keeps_the_data_and_stops_imports_delete_needs_confirmation(data, afas):
    source = add_afas(data, afas)
    sources.select_entities(data, source["id"], ["2"])
    eid = entity_id(data, "Demo Services BV")
    assert imports.sync_entity(data, eid, full=True).status == "succeeded"
    lines = len(ledger(data, "Demo Services BV"))
    after = sources.disconnect(data, source["id"])
    assert (after["status"], after["has_credentials"]) == ("disconnected", False)
    assert len(ledger(data, "Demo Services BV")) == lines
    blocked = imports.sync_entity(data, eid)
    assert blocked.status == "failed" and "Reconnect with a new token" in blocked.error_message
    with pytest.raises(RefusedError):
        sources.delete_source_data(data, source["id"], confirm="afas")
    counts = sources.delete_source_data(data, source["id"], confirm="AFAS")
    assert counts["transactions"] == lines
    assert ledger(data, "Demo Services BV") == []
    with db.connect(data) as con:
        assert (
            con.execute("SELECT count(*) FROM rpt_trial_balance WHERE entity_id = ?", [eid]).fetchone()[0]
            == 0
        )


def test_the_token_never_shows_in_logs_records_or_audit(data, afas, caplog):
    caplog.set_level(logging.DEBUG)
    source = add_afas(data, afas)
    sources.check_connection(data, source["id"])
    sources.select_entities(data, source["id"], ["1"])
    imports.sync_entity(data, entity_id(data, "Demo Retail BV"), full=True)
    bad = add_afas(data, afas, name="AFAS 2", token=AFAS_TOKEN[::-1])
    sources.check_connection(data, bad["id"])
    assert AFAS_TOKEN not in caplog.text
    with db.connect(data) as con:
        for table in ("sources", "import_runs", "audit_log", "problems", "entities", "entity_cursors"):
            for row in con.execute(f"SELECT * FROM {table}").fetchall():
                for value in row:
                    text = value.decode("latin-1") if isinstance(value, bytes) else str(value)
                    assert AFAS_TOKEN not in text and AFAS_TOKEN[::-1] not in text, table
    assert AFAS_TOKEN not in str(sources.list_sources(data))
