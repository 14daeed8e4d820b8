"""The Exact Online connector against the Exact sandbox over real HTTP."""

from __future__ import annotations

import math

import polars as pl
import pytest

from connectors.demo.generate import generate_entity
from connectors.exact import ExactConnector
from connectors.exact.sandbox import ExactSandbox
from connectors.oauth import RECONNECT_KEY
from pipeline.errors import AuthError, RetriableSourceError
from tests.connectors.exact.conftest import AS_OF, request, signed_in


def stream(extraction, name):
    return next(s for s in extraction.streams if s.stream == name)


def apply(before: pl.DataFrame, data) -> pl.DataFrame:
    """What the pipeline merge does with an incremental stream: upsert, then delete."""
    kept = before.filter(~pl.col("line_key").is_in(data.rows["line_key"].implode()))
    merged = pl.concat([kept, data.rows])
    return merged.filter(~pl.col("line_key").is_in(list(data.deleted_keys)))


def test_divisions_come_from_the_current_user_and_the_system_divisions(sandbox, store, connector):
    found = connector.list_entities(request(sandbox, store, None))
    assert [(e.external_id, e.name, e.currency) for e in found] == [
        ("101", "Demo Retail BV", "EUR"),
        ("102", "Demo Services BV", "EUR"),
        ("103", "Demo Inc", "USD"),
    ]


def test_a_full_import_reads_the_bulk_endpoint_page_by_page(sandbox, store, connector):
    extraction = connector.extract(request(sandbox, store, "101"))
    frames = generate_entity("demo-retail", AS_OF, 42)
    tx = stream(extraction, "transactions").rows
    assert tx.height == frames["transactions"].height
    assert tx["amount"].sum() == 0
    assert (
        tx.filter(pl.col("amount") > 0)["amount"].sum()
        == frames["transactions"].filter(pl.col("amount") > 0)["amount"].sum()
    )
    assert stream(extraction, "opening_balances").rows.height == frames["opening_balances"].height
    lines = sandbox.line_count(101)
    assert (
        sandbox.api_calls[101] == math.ceil(lines / 1000) + 4
    )  # + division, G/L accounts, cost centres, units
    assert extraction.stats["api_calls"] == sandbox.api_calls[101]
    assert extraction.stats["quota"]["daily_remaining"] == 5000 - sandbox.api_calls[101]


def test_incremental_sync_and_deletions_equal_a_fresh_full_import(sandbox, store, connector):
    full = connector.extract(request(sandbox, store, "101"))
    sandbox.advance_to("2024-03-05")
    changes = sandbox.edit(101, correct=3, delete=2)
    incremental = connector.extract(request(sandbox, store, "101", full=False, cursor=full.cursor))
    fresh = connector.extract(request(sandbox, store, "101"))
    for name in ("transactions", "opening_balances"):
        merged = apply(stream(full, name).rows, stream(incremental, name))
        assert merged.sort("line_key").equals(stream(fresh, name).rows.sort("line_key"))
    gone = set(stream(full, "transactions").rows["line_key"]) - set(
        stream(fresh, "transactions").rows["line_key"]
    )
    deleted = set(stream(incremental, "transactions").deleted_keys)
    assert gone <= deleted and changes["deleted"] > 0
    assert not deleted & set(stream(fresh, "transactions").rows["line_key"])
    assert incremental.stats["api_calls"] <= 8
    again = connector.extract(request(sandbox, store, "101", full=False, cursor=incremental.cursor))
    assert stream(again, "transactions").rows.height == 0
    assert stream(again, "transactions").deleted_keys == []
    assert again.cursor["tx"] == incremental.cursor["tx"]


def test_calls_are_paced_under_the_minute_limit_instead_of_hitting_429(clock, connector):
    with ExactSandbox(as_of=AS_OF, clock=clock, page_size=40) as sb:
        store = signed_in(sb, clock)
        extraction = connector.extract(request(sb, store, "101"))
        assert sb.api_calls[101] > 60
        assert sb.throttled == 0
        assert max(n for key, n in sb._usage.items() if key[1] == "m") <= 60
    assert extraction.stats["api_waited_seconds"] > 0
    assert (
        stream(extraction, "transactions").rows.height
        == generate_entity("demo-retail", AS_OF, 42)["transactions"].height
    )


def test_a_429_storm_waits_for_the_reset_and_loses_nothing(sandbox, store, connector, clock):
    clean = stream(connector.extract(request(sandbox, store, "102")), "transactions").rows
    sandbox.storm(5)
    slept = clock.slept
    extraction = connector.extract(request(sandbox, store, "102"))
    assert extraction.stats["api_throttled"] == 5
    assert clock.slept - slept >= 5 * 1  # every 429 waited for the window's reset
    assert stream(extraction, "transactions").rows.sort("line_key").equals(clean.sort("line_key"))


def test_a_used_up_daily_quota_ends_the_run_as_retriable(clock, connector):
    with ExactSandbox(as_of=AS_OF, clock=clock, daily_limit=6) as sb:
        store = signed_in(sb, clock)
        with pytest.raises(RetriableSourceError) as err:
            connector.extract(request(sb, store, "101"))
    assert "quota" in err.value.user_message()
    assert err.value.retry_after > 3600


def test_a_token_ended_in_the_middle_of_an_import_is_refreshed_once(sandbox, store, connector):
    clean = stream(connector.extract(request(sandbox, store, "101")), "transactions").rows
    sandbox.auth.expire_after(4)
    extraction = connector.extract(request(sandbox, store, "101"))
    assert sandbox.auth.unauthorized == 1
    assert sandbox.auth.refresh_grants == 1
    assert store.load()["refresh_token"] in sandbox.auth.refresh_tokens  # the rotated token was stored
    assert stream(extraction, "transactions").rows.sort("line_key").equals(clean.sort("line_key"))
    assert extraction.stats["token_refreshes"] == 1


def test_tokens_are_refreshed_ahead_of_expiry_while_the_run_waits(clock, connector):
    with ExactSandbox(as_of=AS_OF, clock=clock, page_size=40, access_lifetime=90) as sb:
        store = signed_in(sb, clock)
        extraction = connector.extract(request(sb, store, "101"))
        assert sb.auth.unauthorized == 0  # never used an expired token
        assert sb.auth.refresh_grants >= 1
    assert extraction.stats["refresh_token_days_left"] == pytest.approx(30, abs=0.1)


def test_a_revoked_refresh_token_means_reconnect_and_no_retry_loop(sandbox, store, connector, clock):
    store.save({**store.load(), "expires_at": clock.time() - 1})
    sandbox.auth.revoke()
    with pytest.raises(AuthError) as err:
        connector.extract(request(sandbox, store, "101"))
    assert err.value.user_message().startswith("Reconnect required: Exact Online")
    assert store.load()[RECONNECT_KEY]
    assert store.load()["refresh_token"] is None
    attempts = (sandbox.auth.rejected_refreshes, dict(sandbox.api_calls))
    with pytest.raises(AuthError):
        connector.extract(request(sandbox, store, "101"))
    assert (sandbox.auth.rejected_refreshes, dict(sandbox.api_calls)) == attempts  # nobody was called again


def test_a_permanent_401_fails_fast_with_the_reconnect_message(sandbox, store, connector):
    sandbox.auth.access_lifetime = 0  # every token Exact hands out is refused
    sandbox.auth.expire_access_tokens()
    with pytest.raises(AuthError) as err:
        connector.extract(request(sandbox, store, "101"))
    assert "Reconnect the source" in err.value.user_message()
    assert sandbox.auth.unauthorized == 2  # the first answer, and once more after a fresh token


def test_connector_is_registered_as_an_oauth_source():
    from connectors import registry

    cls = registry.get("exact")
    assert cls is ExactConnector and cls.oauth and cls.capabilities.deletions
