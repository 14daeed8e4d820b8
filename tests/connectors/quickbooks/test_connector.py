"""The QuickBooks Online connector against the QuickBooks sandbox over real HTTP."""

from __future__ import annotations

import signal
import sys
from datetime import UTC, date, datetime
from decimal import Decimal

import polars as pl
import pytest

from connectors.demo.books import Line
from connectors.http import EntityUnavailable
from connectors.quickbooks import QuickBooksConnector
from connectors.quickbooks.parse import TRANSACTION_TYPES
from connectors.quickbooks.sandbox import QuickBooksSandbox
from tests.connectors.intl_suite import (
    FileStore,
    apply,
    missing_from_suite,
    refresh_in_child,
    same_rows,
    stream,
)
from tests.connectors.quickbooks.conftest import config, request, signed_in


def totals(rows: pl.DataFrame) -> dict[str, Decimal]:
    return {k: v for k, v in rows.group_by("account_code").agg(pl.col("amount").sum()).iter_rows() if v != 0}


def test_the_connected_company_is_the_one_entity(sandbox, store, connector, realm):
    found = connector.list_entities(request(sandbox, store, None))
    assert [(e.external_id, e.name, e.currency, e.fiscal_year_start_month) for e in found] == [
        (realm, "Demo Retail BV", "EUR", 1)
    ]


def test_a_full_import_rebuilds_the_ledger_and_it_equals_quickbooks_trial_balance(
    sandbox, store, connector, realm
):
    extraction = connector.extract(request(sandbox, store, realm))
    tx = stream(extraction, "transactions").rows
    assert tx.height == sandbox.line_count(realm) and tx["amount"].sum() == 0
    # Checked against the report QuickBooks computes from its books, not from the entities.
    assert extraction.stats["trial_balance_matches"] is True and extraction.problems == []
    assert totals(tx) == sandbox.book_trial_balance(realm, date(2024, 2, 29))
    kinds = set(tx["journal"])
    assert {"Invoice", "SalesReceipt", "Payment", "Bill", "BillPayment", "Transfer", "JournalEntry"} <= kinds
    assert tx.filter(pl.col("cost_centre").is_not_null()).height > 0  # classes
    assert all(r.arg("minorversion") == "75" for r in sandbox.requests if "/v3/company/" in r.path)
    types = len(TRANSACTION_TYPES)
    # company info, preferences, six lists, one page per transaction type (all < 1000), the report
    assert extraction.stats["api_calls"] == 2 + 6 + types + 1


def test_after_a_year_end_the_rebuilt_ledger_still_equals_the_trial_balance(clock, connector):
    clock.advance(datetime(2025, 1, 20, 19, tzinfo=UTC).timestamp() - clock.time())
    with QuickBooksSandbox(as_of="2025-01-20", clock=clock, realms={"77": "demo-services"}) as sb:
        extraction = connector.extract(request(sb, signed_in(sb, clock, "77"), "77"))
    # 2024's result now sits in retained earnings on QuickBooks' trial balance, and the check knows.
    assert extraction.stats["trial_balance_matches"] is True
    assert extraction.stats["trial_balance_accounts"] > 20


def test_page_boundaries_read_every_entity_once(clock, connector):
    with QuickBooksSandbox(as_of="2024-01-20", clock=clock, realms={"55": "demo-retail"}) as sb:
        extraction = connector.extract(
            request(sb, signed_in(sb, clock, "55"), "55", options={"page_size": 40})
        )
        counts = sb.entity_counts("55")
        pages = {kind: counts.get(kind, 0) // 40 + 1 for kind in TRANSACTION_TYPES}
        for kind, expected in pages.items():
            asked = [
                r
                for r in sb.requests
                if r.path.endswith("/query") and f"from {kind} " in (r.arg("query") or "")
            ]
            assert len(asked) == expected, kind
    keys = stream(extraction, "transactions").rows["line_key"]
    assert keys.n_unique() == keys.len() == sb.line_count("55")


def test_incremental_after_new_changed_and_deleted_postings_equals_a_fresh_full_import(
    sandbox, store, connector, realm
):
    full = connector.extract(request(sandbox, store, realm))
    sandbox.advance_to("2024-03-05")
    changes = sandbox.edit(realm, correct=3, delete=2)
    # An invoice loses one of its two revenue lines: the rebuilt entity has one posting fewer.
    books = sandbox.companies[realm].books.entries
    key = next(
        k
        for k, e in books.items()
        if e.journal == "VRK" and len(e.lines) == 4 and e.lines[0].account == "1300"
    )
    ar, vat, first, second = books[key].lines
    assert changes["updated"] and changes["deleted"]
    sandbox.change_entry(realm, key, (Line(ar.account, ar.amount + second.amount), vat, first))
    incremental = connector.extract(request(sandbox, store, realm, full=False, cursor=full.cursor))
    fresh = connector.extract(request(sandbox, store, realm))
    tx = stream(incremental, "transactions")
    assert incremental.stats["mode"] == "incremental" and incremental.stats["deleted_entities"] > 0
    assert same_rows(apply(stream(full, "transactions").rows, tx), stream(fresh, "transactions").rows)
    assert tx.rows.height < stream(fresh, "transactions").rows.height / 5
    again = connector.extract(request(sandbox, store, realm, full=False, cursor=incremental.cursor))
    assert same_rows(
        apply(apply(stream(full, "transactions").rows, tx), stream(again, "transactions")),
        stream(fresh, "transactions").rows,
    )


def test_after_thirty_days_without_a_successful_import_everything_is_read_again(
    sandbox, store, connector, realm, clock
):
    full = connector.extract(request(sandbox, store, realm))
    clock.advance(31 * 86400)
    later = connector.extract(request(sandbox, store, realm, full=False, cursor=full.cursor))
    assert later.stats["mode"] == "full" and stream(later, "transactions").replace == "all"
    assert [p.kind for p in later.problems] == ["full_sync_cdc_window"]
    assert "more than 30 days ago" in later.problems[0].message


def test_more_changes_than_one_cdc_answer_holds_are_asked_per_kind_then_read_in_full(clock, connector):
    with QuickBooksSandbox(as_of="2024-02-29", clock=clock, realms={"66": "demo-retail"}, cdc_cap=20) as sb:
        store = signed_in(sb, clock, "66")
        full = connector.extract(request(sb, store, "66"))

        def changed_now() -> dict[str, int]:
            out: dict[str, int] = {}
            for (kind, _), stamp in sb.companies["66"].changed.items():
                if stamp == clock.time():
                    out[kind] = out.get(kind, 0) + 1
            return out

        clock.advance(60)  # runs are apart in time: each starts with the company's limits unused
        sb.edit("66", correct=30)
        assert sum(changed_now().values()) > 20 and max(changed_now().values()) < 20
        split = connector.extract(
            request(sb, store, "66", full=False, cursor=full.cursor, options={"cdc_cap": 20})
        )
        assert split.stats["mode"] == "incremental" and split.stats["entities"] == 30
        assert sb.calls("/cdc") == 1 + len(TRANSACTION_TYPES)  # all kinds at once, then each kind
        clock.advance(60)
        sb.edit("66", correct=150)
        assert max(changed_now().values()) >= 20
        capped = connector.extract(
            request(sb, store, "66", full=False, cursor=split.cursor, options={"cdc_cap": 20})
        )
    assert capped.stats["mode"] == "full" and [p.kind for p in capped.problems] == ["full_sync_cdc_cap"]


def test_calls_are_paced_under_ten_a_second_and_500_a_minute(clock, connector):
    with QuickBooksSandbox(as_of="2024-02-29", clock=clock, realms={"88": "demo-retail"}) as sb:
        extraction = connector.extract(
            request(sb, signed_in(sb, clock, "88"), "88", options={"page_size": 2})
        )
        assert sb.calls() > 500
        assert sb.quota.refused == 0
        assert sb.quota.max_used("second") <= 10 and sb.quota.max_used("minute") <= 500
    assert extraction.stats["api_waited_seconds"] > 60


def test_a_429_storm_backs_off_and_loses_nothing(sandbox, store, connector, realm, clock):
    clean = stream(connector.extract(request(sandbox, store, realm)), "transactions").rows
    sandbox.quota.storm(4)
    slept = clock.slept
    extraction = connector.extract(request(sandbox, store, realm))
    assert extraction.stats["api_throttled"] >= 4
    assert clock.slept - slept >= 0.5 + 1 + 2 + 4  # QuickBooks sends no Retry-After: exponential backoff
    assert same_rows(stream(extraction, "transactions").rows, clean)


def test_a_company_that_vanishes_marks_its_entity_instead_of_crashing(sandbox, store, connector, realm):
    sandbox.close_company(realm)
    with pytest.raises(EntityUnavailable) as err:
        connector.extract(request(sandbox, store, realm))
    assert err.value.kind == "entity_unavailable"
    assert "no longer lets Ledgerline in" in err.value.user_message()


def test_a_token_ended_mid_import_is_refreshed_once_and_the_rotated_one_stored(
    sandbox, store, connector, realm
):
    sandbox.auth.expire_after(5)
    extraction = connector.extract(request(sandbox, store, realm))
    assert (sandbox.auth.unauthorized, sandbox.auth.refresh_grants) == (1, 1)
    assert store.load()["refresh_token"] in sandbox.auth.refresh_tokens
    assert extraction.stats["refresh_token_days_left"] == pytest.approx(101, abs=0.1)


def test_a_rotated_token_survives_a_process_kill_after_it_is_saved(tmp_path):
    with QuickBooksSandbox(as_of="2024-01-31", realms={"11": "demo-retail"}) as sb:
        tokens = sb.issue_tokens()
        store = FileStore(tmp_path / "creds.json")
        store.save(
            {
                "client_secret": sb.client_secret,
                "refresh_token": tokens["refresh_token"],
                "expires_at": 0,
                "realm_id": "11",
            }
        )
        killed = refresh_in_child(
            "connectors.quickbooks:QuickBooksConnector", store, config(sb), "oauth_after_save"
        )
        assert killed.returncode == -signal.SIGKILL, killed.stderr
        saved = store.load()
        assert (
            saved["refresh_token"] in sb.auth.refresh_tokens
            and saved["access_token"] in sb.auth.access_tokens
        )
        assert saved["refresh_token_expires_at"] > saved["obtained_at"] + 100 * 86400
        store.save({**saved, "expires_at": 0})
        again = refresh_in_child("connectors.quickbooks:QuickBooksConnector", store, config(sb))
        assert again.returncode == 0, again.stderr
        assert (sb.auth.refresh_grants, sb.auth.rejected_refreshes) == (2, 0)


def test_the_full_sandbox_suite_is_here_so_the_connector_is_not_beta():
    assert missing_from_suite(sys.modules[__name__]) == []
    assert QuickBooksConnector.beta is False
