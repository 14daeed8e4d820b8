"""The Xero connector against the Xero sandbox over real HTTP."""

from __future__ import annotations

import math
import signal
import sys
from datetime import date

import polars as pl
import pytest

from connectors.demo.books import demo_entries
from connectors.http import EntityUnavailable, HttpPolicy
from connectors.oauth import RECONNECT_KEY, TokenManager
from connectors.xero import XeroConnector
from connectors.xero.client import XeroClient
from connectors.xero.sandbox import XeroSandbox
from pipeline.errors import AuthError, ConfigError, RetriableSourceError
from tests.connectors.intl_suite import (
    FileStore,
    apply,
    config,
    missing_from_suite,
    refresh_in_child,
    request,
    same_rows,
    signed_in,
    stream,
)
from tests.connectors.xero.conftest import AS_OF


def test_organisations_come_from_the_connections_the_user_ticked(sandbox, store, connector):
    found = connector.list_entities(request(sandbox, store, None))
    assert [(e.name, e.currency, e.fiscal_year_start_month) for e in found] == [
        ("Demo Retail BV", "EUR", 1),
        ("Demo Services BV", "EUR", 1),
        ("Demo Inc", "USD", 1),
    ]
    assert found[0].external_id == sandbox.tenant("demo-retail")


def test_a_full_import_reads_every_journal_and_the_ledger_balances(sandbox, store, connector):
    tenant = sandbox.tenant("demo-retail")
    extraction = connector.extract(request(sandbox, store, tenant))
    tx = stream(extraction, "transactions").rows
    entries = demo_entries("demo-retail", date.fromisoformat(AS_OF), 42)
    assert tx.height == sum(len(e.lines) for e in entries.values()) == sandbox.line_count(tenant)
    assert tx["amount"].sum() == 0
    debit = sum(ln.amount for e in entries.values() for ln in e.lines if ln.amount > 0)
    assert tx.filter(pl.col("amount") > 0)["amount"].sum() == debit
    assert stream(extraction, "transactions").replace == "all"
    assert set(tx["journal"]) == {"ACCREC", "ACCPAY", "CASHREC", "CASHPAID", "MANJOURNAL"}
    # Tracking categories fill the axes, in Xero's order.
    assert tx.filter(pl.col("cost_centre").is_not_null()).height > 0
    dims = stream(extraction, "dimensions").rows
    assert set(dims["axis"]) == {"cost_centre", "project"}
    journals = sandbox.journal_count(tenant)
    assert extraction.stats["journals"] == journals
    assert extraction.stats["api_calls"] == 3 + math.ceil(journals / 100)  # organisation, accounts, tracking
    assert extraction.cursor["journal_number"] == journals


@pytest.mark.parametrize("page", [7, 13])
def test_page_boundaries_lose_and_repeat_nothing(clock, connector, page):
    with XeroSandbox(as_of="2024-01-20", clock=clock, page_size=page, minute_limit=10_000) as sb:
        tenant = sb.tenant("demo-services")
        journals = sb.journal_count(tenant)
        store = signed_in(sb, clock)
        extraction = connector.extract(request(sb, store, tenant, options={"page_size": page}))
        keys = stream(extraction, "transactions").rows["line_key"]
        assert keys.n_unique() == keys.len() == sb.line_count(tenant)
        # A page shorter than the page size ends the read; a full last page costs one empty call.
        assert sb.calls("Journals") == journals // page + 1
        offsets = [int(r.arg("offset")) for r in sb.requests if r.path.endswith("/Journals")]
        assert offsets == [n * page for n in range(journals // page + 1)]


def test_incremental_after_new_changed_and_deleted_postings_equals_a_fresh_full_import(
    sandbox, store, connector
):
    tenant = sandbox.tenant("demo-retail")
    full = connector.extract(request(sandbox, store, tenant))
    sandbox.advance_to("2024-03-05")  # new entries, and the demo's own corrections and deletions
    changes = sandbox.edit(tenant, correct=3, delete=2)
    assert changes["updated"] and changes["deleted"]
    incremental = connector.extract(request(sandbox, store, tenant, full=False, cursor=full.cursor))
    fresh = connector.extract(request(sandbox, store, tenant))
    merged = apply(stream(full, "transactions").rows, stream(incremental, "transactions"))
    assert same_rows(merged, stream(fresh, "transactions").rows)
    assert incremental.stats["from_journal"] == full.cursor["journal_number"]
    # Corrections and voids arrive as reversing journals: the ledger still balances, nothing is rewritten.
    assert stream(incremental, "transactions").deleted_keys == []
    assert set(stream(incremental, "transactions").rows["line_key"]).isdisjoint(
        stream(full, "transactions").rows["line_key"]
    )
    by_account = merged.group_by("account_code").agg(pl.col("amount").sum()).sort("account_code")
    fresh_totals = stream(fresh, "transactions").rows.group_by("account_code").agg(pl.col("amount").sum())
    assert by_account.equals(fresh_totals.sort("account_code"))
    again = connector.extract(request(sandbox, store, tenant, full=False, cursor=incremental.cursor))
    assert stream(again, "transactions").rows.height == 0
    assert again.stats["api_calls"] == 4  # organisation, accounts, tracking, one empty page of journals
    assert again.cursor["journal_number"] == incremental.cursor["journal_number"]


def test_calls_are_paced_under_60_a_minute_instead_of_hitting_429(clock, connector):
    with XeroSandbox(as_of="2024-01-31", clock=clock, page_size=10) as sb:
        tenant = sb.tenant("demo-retail")
        extraction = connector.extract(request(sb, signed_in(sb, clock), tenant, options={"page_size": 10}))
        assert sb.calls() > 60
        assert sb.quota.refused == 0
        assert sb.quota.max_used("minute") <= 60
    assert extraction.stats["api_waited_seconds"] > 0
    assert stream(extraction, "transactions").rows.height == sb.line_count(tenant)


def test_a_429_storm_waits_as_long_as_retry_after_says_and_loses_nothing(sandbox, store, connector, clock):
    tenant = sandbox.tenant("demo-services")
    clean = stream(connector.extract(request(sandbox, store, tenant)), "transactions").rows
    sandbox.quota.storm(5, retry_after=30)
    slept = clock.slept
    extraction = connector.extract(request(sandbox, store, tenant))
    assert extraction.stats["api_throttled"] == 5
    assert clock.slept - slept >= 5 * 30
    assert same_rows(stream(extraction, "transactions").rows, clean)


def test_a_day_limit_429_ends_the_run_as_retriable_with_the_wait(clock, connector):
    with XeroSandbox(as_of="2024-01-31", clock=clock, day_limit=4) as sb:
        tenant = sb.tenant("demo-retail")
        with pytest.raises(RetriableSourceError) as err:
            connector.extract(request(sb, signed_in(sb, clock), tenant))
    assert err.value.kind == "retriable"
    assert "day limit" in err.value.user_message()
    assert err.value.retry_after > 3600


def test_never_more_than_five_calls_at_once(sandbox, store):
    client = XeroClient(
        sandbox.url,
        TokenManager(XeroConnector.oauth_app(config(sandbox), store.load()), store, vendor="Xero"),
        policy=HttpPolicy(max_parallel=32),
    )
    try:
        assert client.api.policy.max_parallel == 5
    finally:
        client.close()


def test_an_organisation_that_vanishes_marks_its_entity_instead_of_crashing(sandbox, store, connector):
    tenant = sandbox.tenant("demo-inc")
    sandbox.disconnect(tenant)
    with pytest.raises(EntityUnavailable) as err:
        connector.extract(request(sandbox, store, tenant))
    assert err.value.kind == "entity_unavailable"
    assert "no longer connected" in err.value.user_message()
    assert "tick the organisation again" in err.value.user_message()
    assert [e.name for e in connector.list_entities(request(sandbox, store, None))] == [
        "Demo Retail BV",
        "Demo Services BV",
    ]


def test_without_the_journals_permission_the_user_is_told_what_to_do_instead(clock, connector):
    with XeroSandbox(as_of="2024-01-31", clock=clock, journals_scope=False) as sb:
        store = signed_in(sb, clock)
        with pytest.raises(ConfigError) as listing:
            connector.list_entities(request(sb, store, None))
        with pytest.raises(ConfigError) as run:
            connector.extract(request(sb, store, sb.tenant("demo-retail")))
    for err in (listing, run):
        message = err.value.user_message()
        assert "accounting.journals.read" in message
        assert "General Ledger Detail" in message and "Xero preset" in message


def test_a_token_ended_in_the_middle_of_an_import_is_refreshed_once(sandbox, store, connector):
    tenant = sandbox.tenant("demo-retail")
    clean = stream(connector.extract(request(sandbox, store, tenant)), "transactions").rows
    sandbox.auth.expire_after(6)
    extraction = connector.extract(request(sandbox, store, tenant))
    assert (sandbox.auth.unauthorized, sandbox.auth.refresh_grants) == (1, 1)
    assert store.load()["refresh_token"] in sandbox.auth.refresh_tokens
    assert extraction.stats["token_refreshes"] == 1
    assert extraction.stats["refresh_token_days_left"] == pytest.approx(60, abs=0.1)
    assert same_rows(stream(extraction, "transactions").rows, clean)


def test_a_revoked_authorisation_means_reconnect_and_no_retry_loop(sandbox, store, connector, clock):
    store.save({**store.load(), "expires_at": clock.time() - 1})
    sandbox.auth.revoke()
    with pytest.raises(AuthError) as err:
        connector.extract(request(sandbox, store, sandbox.tenant("demo-retail")))
    assert err.value.user_message().startswith("Reconnect required: Xero")
    assert store.load()[RECONNECT_KEY]
    calls = (sandbox.auth.rejected_refreshes, sandbox.calls())
    with pytest.raises(AuthError):
        connector.extract(request(sandbox, store, sandbox.tenant("demo-retail")))
    assert (sandbox.auth.rejected_refreshes, sandbox.calls()) == calls


def test_a_rotated_token_survives_a_process_kill_before_or_after_it_is_saved(tmp_path):
    with XeroSandbox(as_of="2024-01-31") as sb:  # the real clock: the child process has its own
        tokens = sb.issue_tokens()
        store = FileStore(tmp_path / "creds.json")
        store.save(
            {"client_secret": sb.client_secret, "refresh_token": tokens["refresh_token"], "expires_at": 0}
        )
        first = store.load()["refresh_token"]
        # Killed after saving: the new pair is stored and works.
        killed = refresh_in_child("connectors.xero:XeroConnector", store, config(sb), "oauth_after_save")
        assert killed.returncode == -signal.SIGKILL, killed.stderr
        saved = store.load()
        assert saved["refresh_token"] != first and saved["access_token"] in sb.auth.access_tokens
        # Killed after Xero answered but before saving: the used token still works in Xero's
        # 30-minute grace period, so the next process recovers without a reconnect.
        store.save({**saved, "expires_at": 0})
        lost = refresh_in_child("connectors.xero:XeroConnector", store, config(sb), "oauth_after_refresh")
        assert lost.returncode == -signal.SIGKILL
        assert store.load()["refresh_token"] == saved["refresh_token"]
        recovered = refresh_in_child("connectors.xero:XeroConnector", store, config(sb))
        assert recovered.returncode == 0, recovered.stderr
        assert recovered.stdout.strip() in sb.auth.access_tokens
        assert (sb.auth.refresh_grants, sb.auth.rejected_refreshes) == (3, 0)


def test_the_full_sandbox_suite_is_here_so_the_connector_is_not_beta():
    assert missing_from_suite(sys.modules[__name__]) == []
    assert XeroConnector.beta is False
