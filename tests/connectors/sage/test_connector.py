"""The Sage Accounting connector against the Sage sandbox over real HTTP."""

from __future__ import annotations

import math
import signal
import sys
from datetime import date

import polars as pl
import pytest

from connectors.demo.books import demo_entries
from connectors.http import EntityUnavailable
from connectors.oauth import RECONNECT_KEY
from connectors.sage import SageConnector
from connectors.sage.sandbox import SageSandbox
from pipeline.errors import AuthError, RetriableSourceError
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
from tests.connectors.sage.conftest import AS_OF


def test_businesses_are_those_the_user_can_open_with_currency_and_year_end(sandbox, store, connector):
    found = connector.list_entities(request(sandbox, store, None))
    assert [(e.name, e.currency, e.fiscal_year_start_month) for e in found] == [
        ("Demo Retail BV", "EUR", 1),
        ("Demo Services BV", "EUR", 1),
        ("Demo Inc", "USD", 1),
    ]


def test_a_full_import_reads_every_ledger_entry_with_nominal_codes(sandbox, store, connector):
    business = sandbox.business("demo-retail")
    extraction = connector.extract(request(sandbox, store, business))
    tx = stream(extraction, "transactions").rows
    entries = demo_entries("demo-retail", date.fromisoformat(AS_OF), 42)
    assert tx.height == sum(len(e.lines) for e in entries.values()) == sandbox.entry_count(business)
    assert tx["amount"].sum() == 0
    by_account = {
        a: sum(ln.amount for e in entries.values() for ln in e.lines if ln.account == a)
        for a in ("1300", "8000")
    }
    totals = dict(tx.group_by("account_code").agg(pl.col("amount").sum()).iter_rows())
    assert {a: totals[a] for a in by_account} == by_account
    assert {"SALES_INVOICE", "PURCHASE_INVOICE", "CUSTOMER_RECEIPT", "VENDOR_PAYMENT", "JOURNAL"} <= set(
        tx["journal"]
    )
    accounts = stream(extraction, "accounts").rows
    assert accounts.filter(pl.col("code") == "8000")["account_type"].to_list() == ["pnl"]
    assert extraction.problems == []
    pages = math.ceil(tx.height / 200)
    assert extraction.stats["api_calls"] == 1 + 1 + pages  # settings, accounts (72 < 200), entries


@pytest.mark.parametrize("page", [50, 37])
def test_page_boundaries_follow_next_and_lose_nothing(clock, connector, page):
    with SageSandbox(as_of="2024-01-20", clock=clock, minute_limit=10_000) as sb:
        business = sb.business("demo-services")
        extraction = connector.extract(
            request(sb, signed_in(sb, clock), business, options={"page_size": page})
        )
        keys = stream(extraction, "transactions").rows["line_key"]
        assert keys.n_unique() == keys.len() == sb.entry_count(business)
        assert sb.calls("/ledger_entries") == math.ceil(sb.entry_count(business) / page)
        assert all(
            r.arg("items_per_page") == str(page) for r in sb.requests if r.path.endswith("/ledger_entries")
        )


def test_incremental_after_new_changed_and_deleted_postings_equals_a_fresh_full_import(
    sandbox, store, connector
):
    business = sandbox.business("demo-retail")
    full = connector.extract(request(sandbox, store, business))
    sandbox.advance_to("2024-03-05")
    changes = sandbox.edit(business, correct=3, delete=2)
    assert changes["updated"] and changes["deleted"]
    incremental = connector.extract(request(sandbox, store, business, full=False, cursor=full.cursor))
    fresh = connector.extract(request(sandbox, store, business))
    tx = stream(incremental, "transactions")
    assert same_rows(apply(stream(full, "transactions").rows, tx), stream(fresh, "transactions").rows)
    assert len(tx.deleted_keys) >= changes["deleted"]
    assert set(tx.deleted_keys).isdisjoint(stream(fresh, "transactions").rows["line_key"])
    assert tx.rows.height < stream(fresh, "transactions").rows.height / 5  # only what changed
    again = connector.extract(request(sandbox, store, business, full=False, cursor=incremental.cursor))
    # The overlap window reads the last run's changes again; the merge makes that a no-op.
    assert same_rows(
        apply(apply(stream(full, "transactions").rows, tx), stream(again, "transactions")),
        stream(fresh, "transactions").rows,
    )


def test_calls_are_paced_under_100_a_minute_instead_of_hitting_429(clock, connector):
    with SageSandbox(as_of="2024-01-31", clock=clock) as sb:
        business = sb.business("demo-retail")
        extraction = connector.extract(request(sb, signed_in(sb, clock), business, options={"page_size": 10}))
        assert sb.calls() > 100
        assert sb.quota.refused == 0 and sb.quota.max_used("minute") <= 100
    assert extraction.stats["api_waited_seconds"] > 0


def test_a_429_storm_waits_as_long_as_retry_after_says_and_loses_nothing(sandbox, store, connector, clock):
    business = sandbox.business("demo-services")
    clean = stream(connector.extract(request(sandbox, store, business)), "transactions").rows
    sandbox.quota.storm(4, retry_after=20)
    slept = clock.slept
    extraction = connector.extract(request(sandbox, store, business))
    assert extraction.stats["api_throttled"] == 4
    assert clock.slept - slept >= 4 * 20
    assert same_rows(stream(extraction, "transactions").rows, clean)


def test_a_used_up_day_ends_the_run_as_retriable(clock, connector):
    with (
        SageSandbox(as_of="2024-01-31", clock=clock, day_limit=3) as sb,
        pytest.raises(RetriableSourceError) as err,
    ):
        connector.extract(request(sb, signed_in(sb, clock), sb.business("demo-retail")))
    assert err.value.retry_after > 3600


def test_five_minute_tokens_are_refreshed_ahead_of_expiry_and_each_refresh_token_is_used_once(
    clock, connector
):
    with SageSandbox(as_of="2024-02-20", clock=clock) as sb:
        store = signed_in(sb, clock)
        # Small pages: at 100 calls a minute the run outlasts its first access token.
        extraction = connector.extract(
            request(sb, store, sb.business("demo-retail"), options={"page_size": 4})
        )
        assert sb.auth.unauthorized == 0 and sb.auth.rejected_refreshes == 0
        assert sb.auth.refresh_grants >= 1 and clock.slept > 300
        assert store.load()["refresh_token"] in sb.auth.refresh_tokens
    assert extraction.stats["token_refreshes"] == sb.auth.refresh_grants
    assert extraction.stats["refresh_token_days_left"] == pytest.approx(31, abs=0.1)


def test_a_business_that_vanishes_marks_its_entity_instead_of_crashing(sandbox, store, connector):
    business = sandbox.business("demo-inc")
    sandbox.revoke_access(business)
    with pytest.raises(EntityUnavailable) as err:
        connector.extract(request(sandbox, store, business))
    assert "no longer available to the signed-in user" in err.value.user_message()
    assert len(connector.list_entities(request(sandbox, store, None))) == 2


def test_a_revoked_authorisation_means_reconnect_and_no_retry_loop(sandbox, store, connector, clock):
    store.save({**store.load(), "expires_at": clock.time() - 1})
    sandbox.auth.revoke()
    with pytest.raises(AuthError) as err:
        connector.extract(request(sandbox, store, sandbox.business("demo-retail")))
    assert err.value.user_message().startswith("Reconnect required: Sage Accounting")
    assert store.load()[RECONNECT_KEY]
    calls = (sandbox.auth.rejected_refreshes, sandbox.calls())
    with pytest.raises(AuthError):
        connector.extract(request(sandbox, store, sandbox.business("demo-retail")))
    assert (sandbox.auth.rejected_refreshes, sandbox.calls()) == calls


def test_a_single_use_refresh_token_survives_a_process_kill_after_it_is_saved(tmp_path):
    with SageSandbox(as_of="2024-01-31") as sb:
        tokens = sb.issue_tokens()
        store = FileStore(tmp_path / "creds.json")
        store.save(
            {"client_secret": sb.client_secret, "refresh_token": tokens["refresh_token"], "expires_at": 0}
        )
        killed = refresh_in_child("connectors.sage:SageConnector", store, config(sb), "oauth_after_save")
        assert killed.returncode == -signal.SIGKILL, killed.stderr
        saved = store.load()
        assert (
            saved["refresh_token"] in sb.auth.refresh_tokens
            and saved["access_token"] in sb.auth.access_tokens
        )
        assert tokens["refresh_token"] not in sb.auth.refresh_tokens  # used once, gone
        store.save({**saved, "expires_at": 0})
        again = refresh_in_child("connectors.sage:SageConnector", store, config(sb))
        assert again.returncode == 0, again.stderr
        assert (sb.auth.refresh_grants, sb.auth.rejected_refreshes) == (2, 0)
        # Killed between Sage's answer and the save: Sage has no grace period, so the stored token
        # is spent and the source asks for a reconnect instead of looping.
        store.save({**store.load(), "expires_at": 0})
        lost = refresh_in_child("connectors.sage:SageConnector", store, config(sb), "oauth_after_refresh")
        assert lost.returncode == -signal.SIGKILL
        after = refresh_in_child("connectors.sage:SageConnector", store, config(sb))
        assert after.returncode != 0 and "Reconnect required" in after.stderr
        assert store.load()[RECONNECT_KEY]


def test_the_full_sandbox_suite_is_here_so_the_connector_is_not_beta():
    assert missing_from_suite(sys.modules[__name__]) == []
    assert SageConnector.beta is False
