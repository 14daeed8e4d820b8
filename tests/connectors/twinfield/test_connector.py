"""The Twinfield connector against the Twinfield sandbox over real HTTP and SOAP."""

from __future__ import annotations

import math
import signal
import sys
from datetime import UTC, datetime

import polars as pl
import pytest

from connectors.demo.books import Line
from connectors.http import EntityUnavailable
from connectors.twinfield import TwinfieldConnector
from connectors.twinfield.sandbox import TwinfieldSandbox
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


def test_offices_come_from_the_office_list_on_the_cluster_the_token_names(sandbox, store, connector):
    found = connector.list_entities(request(sandbox, store, None))
    assert [(e.external_id, e.name, e.currency) for e in found] == [
        ("NL001", "Demo Retail BV", "EUR"),
        ("NL002", "Demo Services BV", "EUR"),
        ("US001", "Demo Inc", "USD"),
    ]
    assert sandbox.calls("validation") == 1


def test_a_full_import_reads_the_periods_twinfield_totals_name_and_checks_them(sandbox, store, connector):
    extraction = connector.extract(request(sandbox, store, "NL001"))
    tx, ob = stream(extraction, "transactions").rows, stream(extraction, "opening_balances").rows
    assert tx.height == sandbox.line_count("NL001", opening=False)
    assert ob.height == sandbox.line_count("NL001", opening=True) > 0
    assert tx["amount"].sum() == 0 and ob["amount"].sum() == 0
    assert extraction.problems == []  # every period adds up to Twinfield's own 040_1 totals
    assert extraction.stats["periods_read"] == 3  # 2024/00 (opening), 2024/01, 2024/02
    assert sandbox.calls("browse 030_2") == 3 and sandbox.calls("browse 040_1") == 1
    assert extraction.stats["cluster"] == sandbox.cluster
    # Cost centres sit on profit-and-loss lines (dimension 2, KPL), projects on dimension 3.
    centres = tx.filter(pl.col("cost_centre").is_not_null())
    assert centres.height > 0 and centres["account_code"].str.slice(0, 1).is_in(["4", "7", "8", "9"]).all()
    assert {r["axis"] for r in stream(extraction, "dimensions").rows.iter_rows(named=True)} == {
        "cost_centre",
        "project",
    }
    assert set(stream(extraction, "accounts").rows["account_type"]) == {"balance", "pnl"}


def test_each_period_is_one_page_and_page_boundaries_between_periods_and_finder_pages_lose_nothing(
    clock, connector
):
    clock.advance(datetime(2025, 1, 20, 19, tzinfo=UTC).timestamp() - clock.time())
    with TwinfieldSandbox(
        as_of="2025-01-20", clock=clock, offices={"NL002": "demo-services"}, finder_page=10, credits=10_000
    ) as sb:
        extraction = connector.extract(request(sb, signed_in(sb, clock), "NL002"))
        # 2024/00-12 and 2025/00-01: one browse each, nothing else
        assert extraction.stats["periods_read"] == sb.calls("browse 030_2") == 15
        # finder pages of 10: balance sheet and profit-and-loss accounts, cost centres, projects
        chart = stream(extraction, "accounts").rows
        assert sb.calls("DIM BAS") == math.ceil(chart.filter(pl.col("account_type") == "balance").height / 10)
        assert sb.calls("DIM PNL") == math.ceil(chart.filter(pl.col("account_type") == "pnl").height / 10)
        assert chart["code"].n_unique() == chart.height == 72
        lines = sb.line_count("NL002")
    tx, ob = stream(extraction, "transactions").rows, stream(extraction, "opening_balances").rows
    assert tx.height + ob.height == lines
    assert sorted(set(ob["fiscal_year"])) == [2024, 2025]  # each year's opening balance, period 0
    assert extraction.problems == []
    december = tx.filter(pl.col("tx_date") == pl.date(2024, 12, 31))
    assert december.height == 0 or set(december["period"]) == {12}


def test_incremental_after_new_changed_and_deleted_postings_equals_a_fresh_full_import(
    sandbox, store, connector
):
    full = connector.extract(request(sandbox, store, "NL001"))
    sandbox.advance_to("2024-03-05")
    changes = sandbox.edit("NL001", correct=3, delete=2)
    assert changes["updated"] and changes["deleted"]
    # A provisional sales transaction edited down from four lines to three.
    books = sandbox.offices["NL001"].books.entries
    key = next(k for k, e in books.items() if e.journal == "VRK" and len(e.lines) == 4)
    ar, vat, first, second = books[key].lines
    sandbox.change_entry("NL001", key, (Line(ar.account, ar.amount + second.amount), vat, first))
    incremental = connector.extract(request(sandbox, store, "NL001", full=False, cursor=full.cursor))
    fresh = connector.extract(request(sandbox, store, "NL001"))
    for name in ("transactions", "opening_balances"):
        assert same_rows(
            apply(stream(full, name).rows, stream(incremental, name)), stream(fresh, name).rows
        ), name
    assert incremental.stats["deleted_transactions"] >= 2
    assert stream(incremental, "transactions").rows.height < stream(fresh, "transactions").rows.height / 5
    assert incremental.stats["api_calls"] <= 8  # validation, office, 4 finder types, changed lines, deleted


def test_a_429_storm_waits_as_long_as_retry_after_says_and_loses_nothing(sandbox, store, connector, clock):
    clean = stream(connector.extract(request(sandbox, store, "NL002")), "transactions").rows
    clock.advance(600)
    sandbox.bucket.storm(4, retry_after=30)
    slept = clock.slept
    extraction = connector.extract(request(sandbox, store, "NL002"))
    assert extraction.stats["api_throttled"] == 4
    assert clock.slept - slept >= 4 * 30
    assert same_rows(stream(extraction, "transactions").rows, clean)


def test_an_empty_credit_bucket_is_waited_out_request_by_request(clock, connector):
    with TwinfieldSandbox(
        as_of="2024-02-29", clock=clock, offices={"NL001": "demo-retail"}, credits=8, refill=0.5
    ) as sb:
        extraction = connector.extract(request(sb, signed_in(sb, clock), "NL001"))
        assert sb.bucket.refused > 0
        lines = sb.line_count("NL001")
    assert extraction.stats["api_throttled"] == sb.bucket.refused
    assert (
        stream(extraction, "transactions").rows.height + stream(extraction, "opening_balances").rows.height
        == lines
    )


def test_an_office_that_vanishes_marks_its_entity_instead_of_crashing(sandbox, store, connector):
    sandbox.remove_office("US001")
    with pytest.raises(EntityUnavailable) as err:
        connector.extract(request(sandbox, store, "US001"))
    assert err.value.kind == "entity_unavailable"
    assert "office US001" in err.value.user_message() and "no longer available" in err.value.user_message()
    assert [e.external_id for e in connector.list_entities(request(sandbox, store, None))] == [
        "NL001",
        "NL002",
    ]


def test_a_token_ended_mid_run_is_refreshed_and_the_soap_call_sent_again(sandbox, store, connector):
    clean = stream(connector.extract(request(sandbox, store, "NL001")), "transactions").rows
    refresh = store.load()["refresh_token"]
    sandbox.auth.expire_after(3)
    extraction = connector.extract(request(sandbox, store, "NL001"))
    assert (sandbox.auth.unauthorized, sandbox.auth.refresh_grants) == (1, 1)
    assert store.load()["refresh_token"] == refresh  # Twinfield does not replace it on use
    assert extraction.stats["token_refreshes"] == 1
    assert same_rows(stream(extraction, "transactions").rows, clean)


def test_a_refreshed_token_survives_a_process_kill_before_or_after_it_is_saved(tmp_path):
    with TwinfieldSandbox(as_of="2024-01-31", offices={"NL001": "demo-retail"}) as sb:
        tokens = sb.issue_tokens()
        store = FileStore(tmp_path / "creds.json")
        store.save(
            {"client_secret": sb.client_secret, "refresh_token": tokens["refresh_token"], "expires_at": 0}
        )
        killed = refresh_in_child(
            "connectors.twinfield:TwinfieldConnector", store, config(sb), "oauth_after_save"
        )
        assert killed.returncode == -signal.SIGKILL, killed.stderr
        saved = store.load()
        assert (
            saved["access_token"] in sb.auth.access_tokens
            and saved["refresh_token"] == tokens["refresh_token"]
        )
        # Killed before saving: nothing is lost, the refresh token is still the one Twinfield knows.
        store.save({**saved, "expires_at": 0})
        lost = refresh_in_child(
            "connectors.twinfield:TwinfieldConnector", store, config(sb), "oauth_after_refresh"
        )
        assert lost.returncode == -signal.SIGKILL
        again = refresh_in_child("connectors.twinfield:TwinfieldConnector", store, config(sb))
        assert again.returncode == 0, again.stderr
        assert (sb.auth.refresh_grants, sb.auth.rejected_refreshes) == (3, 0)


def test_the_full_sandbox_suite_is_here_so_the_connector_is_not_beta():
    assert missing_from_suite(sys.modules[__name__]) == []
    assert TwinfieldConnector.beta is False
