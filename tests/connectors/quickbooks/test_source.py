"""A QuickBooks source through the pipeline: the company picked at sign-in is the source's entity."""

from __future__ import annotations

import httpx

from connectors.quickbooks.sandbox import QuickBooksSandbox
from pipeline import db, imports, sources

REDIRECT = "http://127.0.0.1:8501/oauth/callback"


def test_the_realm_id_from_the_redirect_is_kept_and_imported(data):
    with QuickBooksSandbox(as_of="2024-01-31", realms={"4620816365": "demo-services"}) as qbo:
        source = sources.add_source(
            data,
            "quickbooks",
            name="QBO",
            settings={
                "client_id": qbo.client_id,
                "client_secret": qbo.client_secret,
                "redirect_uri": REDIRECT,
                "base_url": qbo.url,
            },
        )
        qbo.sign_in_realm("4620816365")
        answer = httpx.get(sources.connect_url(data, source["id"]), follow_redirects=False)
        assert "realmId=4620816365" in answer.headers["location"]
        sources.complete_oauth_url(data, answer.headers["location"])
        assert sources.SourceCredentialStore(data, source["id"]).load()["realm_id"] == "4620816365"
        found = sources.available_entities(data, source["id"])
        assert [(e["external_id"], e["name"], e["currency"]) for e in found] == [
            ("4620816365", "Demo Services BV", "EUR")
        ]
        sources.select_entities(data, source["id"], ["4620816365"])
        with db.connect(data) as con:
            entity_id = con.execute("SELECT id FROM entities WHERE external_id = '4620816365'").fetchone()[0]
        run = imports.sync_entity(data, entity_id, full=True)
        assert run.status == "succeeded", run.error_message
        assert run.inserted == qbo.line_count("4620816365")
        assert not any(p.kind == "trial_balance_difference" for p in run.problems)
