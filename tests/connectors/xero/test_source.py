"""A Xero source through the pipeline: PKCE sign-in, imports, run history, warnings, a lost tenant."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from connectors.xero.sandbox import XeroSandbox
from pipeline import db, imports, sources

REDIRECT = "http://127.0.0.1:8501/oauth/callback"


@pytest.fixture
def xero():
    with XeroSandbox(as_of="2024-01-31", minute_limit=10_000) as sb:
        yield sb


def connect(data, xero: XeroSandbox) -> int:
    source = sources.add_source(
        data,
        "xero",
        name="Xero",
        settings={
            "client_id": xero.client_id,
            "client_secret": xero.client_secret,
            "redirect_uri": REDIRECT,
            "base_url": xero.url,
        },
    )
    url = sources.connect_url(data, source["id"])
    query = parse_qs(urlsplit(url).query)
    assert query["code_challenge_method"] == ["S256"] and len(query["code_challenge"][0]) == 43
    answer = httpx.get(url, follow_redirects=False)
    assert answer.status_code == 302
    sources.complete_oauth_url(data, answer.headers["location"])
    return source["id"]


def test_signing_in_with_pkce_then_importing_records_calls_and_token_time(data, xero):
    source_id = connect(data, xero)
    assert xero.auth.code_grants == 1
    creds = sources.SourceCredentialStore(data, source_id).load()
    assert "pkce_verifiers" not in creds  # used once, then forgotten
    tenant = xero.tenant("demo-retail")
    sources.select_entities(data, source_id, [tenant])
    with db.connect(data) as con:
        entity_id = con.execute("SELECT id FROM entities WHERE external_id = ?", [tenant]).fetchone()[0]
    first = imports.sync_entity(data, entity_id, full=True)
    assert first.status == "succeeded", first.error_message
    xero.edit(tenant, correct=2, delete=1)
    second = imports.sync_entity(data, entity_id)
    assert second.status == "succeeded" and second.inserted > 0 and second.deleted == 0
    runs = sources.source_runs(data, source_id)
    assert 0 < runs[0]["api_calls"] < runs[1]["api_calls"]
    assert runs[0]["refresh_token_days_left"] in (None, pytest.approx(60, abs=0.1))
    listed = sources.get_source(data, source_id)
    assert listed["beta"] is False and "refresh_token_warning" not in listed


def test_an_unused_authorisation_is_flagged_two_weeks_before_it_expires(data, xero):
    source_id = connect(data, xero)
    store = sources.SourceCredentialStore(data, source_id)
    store.save({**store.load(), "refresh_token_expires_at": time.time() + 10 * 86400})
    warning = sources.get_source(data, source_id)["refresh_token_warning"]
    assert warning.startswith("The Xero authorisation expires in 10 days unless an import runs")
    store.save({**store.load(), "refresh_token_expires_at": time.time() + 30 * 86400})
    assert "refresh_token_warning" not in sources.get_source(data, source_id)


def test_an_organisation_disconnected_in_xero_marks_its_entity(data, xero):
    source_id = connect(data, xero)
    tenant = xero.tenant("demo-services")
    sources.select_entities(data, source_id, [tenant])
    xero.disconnect(tenant)
    with db.connect(data) as con:
        entity_id = con.execute("SELECT id FROM entities WHERE external_id = ?", [tenant]).fetchone()[0]
    run = imports.sync_entity(data, entity_id, full=True)
    assert (run.status, run.error_kind) == ("failed", "entity_unavailable")
    entity = sources.get_source(data, source_id)["entities"][0]
    assert "no longer connected" in entity["unavailable"]
