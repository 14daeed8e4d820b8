"""Sources page: the catalogue, adding a token source (a wrong token adds nothing), choosing its
entities, Start import, disconnecting (the data stays) and deleting the data, and who may."""

from __future__ import annotations

import pytest

from connectors.afas.sandbox import AfasSandbox
from pipeline import app_services as svc
from pipeline import db, imports
from pipeline.access import User
from pipeline.errors import PermissionDenied

from .conftest import grant, one, open_page, texts

TOKEN = "F00DFACE0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF01234567"


@pytest.fixture
def afas():
    with AfasSandbox(token=TOKEN, as_of="2024-02-15") as sandbox:
        yield sandbox


def fill_afas(at, sandbox, *, token: str, name: str = "AFAS") -> None:
    at.selectbox(key="add_connector").set_value("afas").run()
    at.text_input(key="add_afas_name").input(name)
    at.text_input(key="add_afas_environment").input("12345")
    at.text_input(key="add_afas_token_name").input("Ledgerline")
    at.text_input(key="add_afas_token").input(token)
    at.text_input(key="add_afas_base_url").input(sandbox.url)
    one(at.button, "Add and test connection").click().run()


def source_rows(data, connector: str = "afas") -> list[tuple]:
    with db.connect(data) as con:
        return con.execute(
            "SELECT name, status FROM sources WHERE connector = ? ORDER BY id", [connector]
        ).fetchall()


def test_the_catalogue_says_what_each_source_can_and_cannot_provide(warehouse):
    at = open_page("sources")
    page = texts(at)
    for label in ("AFAS Profit", "Exact Online", "XAF auditfile", "SAF-T", "CSV ledger export"):
        assert label in page
    assert "Detects deleted lines" in page and "Payroll" in page
    betas = [c for c in svc.connector_catalog(svc.access.LOCAL_USER) if c["beta"]]
    assert page.count("Beta") == len(betas)
    assert "Demo ledger" in page  # the demo generator, with Start import


def test_a_wrong_token_shows_a_clear_error_and_adds_nothing(warehouse, afas):
    at = open_page("sources")
    fill_afas(at, afas, token="not-the-token")
    assert not at.exception
    errors = " ".join(e.value for e in at.error)
    assert "token" in errors.lower() and "nothing was saved" in errors
    assert source_rows(warehouse) == []


def test_a_token_source_from_requires_attention_to_available_and_start_import(warehouse, afas):
    at = open_page("sources")
    fill_afas(at, afas, token=TOKEN)
    assert "Connected: 3 companies visible" in texts(at)
    assert source_rows(warehouse) == [("AFAS", "attention")]

    at = open_page("sources")
    assert "Requires attention" in texts(at)
    load = one(at.button, "Load the companies", prefix=True)
    load.click().run()
    source_id = svc.list_sources(svc.access.LOCAL_USER)[0]["id"]
    at.multiselect(key=f"pick_{source_id}").set_value(["1", "2"])
    at.button(key=f"save_pick_{source_id}").click().run()
    assert not at.exception
    assert source_rows(warehouse) == [("AFAS", "available")]
    at = open_page("sources")
    assert "Available" in texts(at)
    at.button(key=f"start_{source_id}").click().run()
    with db.connect(warehouse) as con:
        queued = con.execute(
            "SELECT e.external_id, r.trigger FROM import_runs r JOIN entities e ON e.id = r.entity_id "
            "WHERE r.status = 'waiting' AND e.source_id = ? ORDER BY 1",
            [source_id],
        ).fetchall()
    assert queued == [("1", "manual"), ("2", "manual")]


def test_disconnecting_keeps_the_data_and_deleting_it_is_a_separate_confirmed_step(warehouse, afas):
    added = svc.connect_token_source(
        svc.access.LOCAL_USER,
        "afas",
        "AFAS",
        {"environment": "1", "token_name": "x", "token": TOKEN, "base_url": afas.url},
        1,
    )
    source_id = added["source"]["id"]
    svc.select_entities(svc.access.LOCAL_USER, source_id, ["1"])
    with db.connect(warehouse) as con:
        entity_id = con.execute("SELECT id FROM entities WHERE source_id = ?", [source_id]).fetchone()[0]
    assert imports.sync_entity(warehouse, entity_id).status == "succeeded"

    def lines() -> int:
        with db.connect(warehouse) as con:
            return con.execute(
                "SELECT count(*) FROM transactions WHERE entity_id = ?", [entity_id]
            ).fetchone()[0]

    before = lines()
    assert before > 0
    at = open_page("sources")
    at.button(key=f"disc_{source_id}").click().run()
    assert source_rows(warehouse) == [("AFAS", "disconnected")]
    assert lines() == before
    at = open_page("sources")
    assert "Disconnected: its data stays, read-only" in texts(at)
    assert at.button(key=f"del_{source_id}").disabled  # until the name is typed
    at.text_input(key=f"confirm_{source_id}").input("AFAS").run()
    at.button(key=f"del_{source_id}").click().run()
    assert not at.exception
    assert lines() == 0


def test_only_owners_and_accountants_change_sources(warehouse, afas):
    grant(warehouse, "vic@example.com", "viewer")
    grant(warehouse, "ann@example.com", "accountant")
    at = open_page("sources", user="vic@example.com")
    assert "Only Owners and Accountants add sources." in texts(at)
    settings = {"environment": "1", "token_name": "x", "token": TOKEN, "base_url": afas.url}
    with pytest.raises(PermissionDenied):
        svc.add_source(User("vic@example.com"), "afas", "AFAS", settings, 1)
    assert source_rows(warehouse) == []
    svc.add_source(User("ann@example.com"), "afas", "AFAS", settings, 1)
    assert source_rows(warehouse) == [("AFAS", "attention")]


def test_an_oauth_source_signs_in_through_the_vendor_redirect(warehouse):
    import httpx

    from connectors.exact.sandbox import ExactSandbox

    with ExactSandbox(as_of="2024-02-15", minutely_limit=10_000, daily_limit=100_000) as exact:
        at = open_page("sources")
        at.selectbox(key="add_connector").set_value("exact").run()
        at.selectbox(key="add_exact_region").set_value("nl")
        at.text_input(key="add_exact_client_id").input(exact.client_id)
        at.text_input(key="add_exact_client_secret").input(exact.client_secret)
        at.text_input(key="add_exact_base_url").input(exact.url)
        one(at.button, "Add and sign in").click().run()
        assert not at.exception and not at.error, [e.value for e in at.error]
        assert "Sign in to finish connecting" in texts(at)
        (link,) = at.get("link_button")
        assert source_rows(warehouse, "exact") == [("Exact Online", "attention")]
        # The browser follows the link; the vendor sends it back to the Sources page.
        back = httpx.get(link.proto.url, follow_redirects=False).headers["location"]
        query = dict(item.split("=", 1) for item in back.split("?", 1)[1].split("&"))
        at = open_page()
        at.switch_page("pages/sources.py")
        at.query_params = {"code": query["code"], "state": query["state"]}
        at.run()
        assert not at.exception
        assert "Signed in: Exact Online is connected." in texts(at)
        assert "Choose the Exact Online entities to import." in texts(at)


def test_the_payroll_tab_is_there_for_owners_and_not_for_reporting_users(warehouse):
    at = open_page("sources")
    assert [t.label for t in at.tabs][-1] == "Payroll"
    assert "same e-mail address" in texts(at) and "No payroll source connected yet." in texts(at)
    grant(warehouse, "rita@example.com", "reporting")
    reporting = open_page("sources", user="rita@example.com")
    assert "Payroll" not in [t.label for t in reporting.tabs]
