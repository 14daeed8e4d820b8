"""An Exact Online source: sign-in with the redirect, imports, run history and a revoked token."""

from __future__ import annotations

import httpx
import pytest

from pipeline import db, imports, sources
from pipeline.errors import RefusedError
from tests.pipeline.sources.conftest import AS_OF, REDIRECT, add_exact, ledger


def sign_in(data, source_id: int) -> str:
    """Follow the sign-in URL like a browser; return the URL the vendor redirects back to."""
    url = sources.connect_url(data, source_id)
    answer = httpx.get(url, follow_redirects=False)
    assert answer.status_code == 302
    return answer.headers["location"]


def connected(data, exact, divisions=("101",)) -> dict:
    source = add_exact(data, exact)
    sources.complete_oauth_url(data, sign_in(data, source["id"]))
    sources.select_entities(data, source["id"], list(divisions))
    return sources.get_source(data, source["id"])


def entity_id(data, name: str) -> int:
    with db.connect(data) as con:
        return con.execute("SELECT id FROM entities WHERE name = ?", [name]).fetchone()[0]


def test_signing_in_stores_the_tokens_encrypted_and_asks_for_divisions(data, exact):
    source = add_exact(data, exact)
    assert (
        source["status"] == "attention"
        and source["status_message"] == "Sign in at Exact Online to finish connecting."
    )
    callback = sign_in(data, source["id"])
    assert callback.startswith(REDIRECT + "?code=")
    after = sources.complete_oauth_url(data, callback)
    assert after["status"] == "attention" and exact.auth.code_grants == 1
    store = sources.SourceCredentialStore(data, source["id"])
    creds = store.load()
    assert creds["refresh_token"] in exact.auth.refresh_tokens
    with db.connect(data) as con:
        blob = con.execute("SELECT credentials FROM sources WHERE id = ?", [source["id"]]).fetchone()[0]
    assert creds["refresh_token"].encode() not in bytes(blob)
    assert [e["external_id"] for e in sources.available_entities(data, source["id"])] == ["101", "102", "103"]
    with pytest.raises(RefusedError):  # a callback is used once
        sources.complete_oauth_url(data, callback)


def test_full_then_incremental_equals_a_fresh_full_import_with_quota_and_token_time_in_history(
    data, tmp_path, exact
):
    source = connected(data, exact)
    eid = entity_id(data, "Demo Retail BV")
    assert imports.sync_entity(data, eid, full=True).status == "succeeded"
    exact.advance_to("2024-02-27")
    exact.edit(101, correct=4, delete=3, before=AS_OF)
    second = imports.sync_entity(data, eid)
    assert second.status == "succeeded", second.error_message
    assert second.deleted >= 3 * 2 and second.updated > 0 and second.inserted > 0

    fresh = tmp_path / "fresh"
    connected(fresh, exact)
    assert imports.sync_entity(fresh, entity_id(fresh, "Demo Retail BV"), full=True).status == "succeeded"
    for table in ("transactions", "opening_balances"):
        assert ledger(data, "Demo Retail BV", table) == ledger(fresh, "Demo Retail BV", table)

    runs = sources.source_runs(data, source["id"])
    assert [r["status"] for r in runs] == ["succeeded", "succeeded"]
    incremental, full = runs
    assert 0 < incremental["api_calls"] < full["api_calls"]
    assert incremental["quota"]["daily_remaining"] < full["quota"]["daily_remaining"]
    assert incremental["refresh_token_days_left"] == pytest.approx(30, abs=0.1)
    assert sources.list_sources(data)[0]["last_run"]["api_calls"] == incremental["api_calls"]


def test_a_revoked_authorisation_marks_the_source_reconnect_required(data, exact):
    source = connected(data, exact)
    store = sources.SourceCredentialStore(data, source["id"])
    store.save({**store.load(), "expires_at": 0})  # the access token has run out
    exact.auth.revoke()
    first = imports.sync_entity(data, entity_id(data, "Demo Retail BV"))
    assert (first.status, first.error_kind) == ("failed", "auth")
    assert first.error_message.startswith("Reconnect required: Exact Online")
    after = sources.get_source(data, source["id"])
    assert after["status"] == "failed" and after["status_message"].startswith("Reconnect required")
    second = imports.sync_entity(data, entity_id(data, "Demo Retail BV"))
    assert second.status == "failed" and exact.auth.rejected_refreshes == 1  # no new call to Exact
    assert second.error_message.startswith("Reconnect required")
