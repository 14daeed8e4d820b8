"""The AFAS connector against the AFAS sandbox over real HTTP: setup check, paging, errors, limits."""

from __future__ import annotations

import math
import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import httpx
import polars as pl
import pytest

from connectors.afas import AfasConnector
from connectors.afas.client import AfasClient, token_header
from connectors.afas.sandbox import AfasSandbox, afas_error
from connectors.demo.generate import generate_entity
from connectors.http import HttpPolicy
from pipeline.errors import AuthError, ConfigError, FatalSourceError, RetriableSourceError
from tests.connectors.afas.conftest import AS_OF, TOKEN, request


def stream(extraction, name):
    return next(s for s in extraction.streams if s.stream == name)


def demo_totals(entity: str) -> tuple[int, Decimal, int]:
    frames = generate_entity(entity, AS_OF, 42)
    tx = frames["transactions"]
    return tx.height, tx.filter(pl.col("amount") > 0)["amount"].sum(), frames["opening_balances"].height


def test_full_import_reads_every_line_of_the_administration(sandbox, connector):
    extraction = connector.extract(request(sandbox, "1"))
    tx = stream(extraction, "transactions").rows
    lines, debit, opening = demo_totals("demo-retail")
    assert tx.height == lines
    assert tx.filter(pl.col("amount") > 0)["amount"].sum() == debit
    assert tx["amount"].sum() == 0  # the ledger balances
    assert stream(extraction, "opening_balances").rows.height == opening
    assert stream(extraction, "transactions").replace == "all"
    assert extraction.entity.name == "Demo Retail BV" and extraction.entity.currency == "EUR"
    assert {r["axis"] for r in stream(extraction, "dimensions").rows.iter_rows(named=True)} == {
        "cost_centre",
        "project",
    }
    assert extraction.stats["api_calls"] == sandbox.calls()


def test_pages_are_ordered_and_as_few_as_the_page_size_allows(sandbox, connector):
    extraction = connector.extract(request(sandbox, "2", options={"take": 500}))
    rows = sandbox.line_count(2)
    pages = math.floor(rows / 500) + 1  # the last page is short (or empty when it divides)
    assert sandbox.calls("Profit_Transactions_Allocated") == pages
    assert all(r.arg("orderbyfieldids") for r in sandbox.requests if "/connectors/" in r.path)
    keys = stream(extraction, "transactions").rows["line_key"]
    assert keys.n_unique() + stream(extraction, "opening_balances").rows.height == rows


def test_without_an_order_afas_gives_no_stable_order_so_the_sandbox_neither(sandbox):
    client = AfasClient(sandbox.url, TOKEN)
    try:
        first = client.page("Profit_Accounts", skip=0, take=1000, order=[])
        second = client.page("Profit_Accounts", skip=0, take=1000, order=[])
    finally:
        client.close()
    assert sorted(r["Account"] for r in first) == sorted(r["Account"] for r in second)
    assert [r["Account"] for r in first] != [r["Account"] for r in second]


def test_administrations_are_those_the_token_can_see_narrowed_by_the_filter(clock, connector):
    with AfasSandbox(token=TOKEN, as_of=AS_OF, clock=clock, visible=[1, 3]) as sb:
        seen = connector.list_entities(request(sb, None))
        narrowed = connector.list_entities(request(sb, None, config={"administrations": "3"}))
    assert [(e.external_id, e.name, e.currency) for e in seen] == [
        ("1", "Demo Retail BV", "EUR"),
        ("3", "Demo Inc", "USD"),
    ]
    assert [e.external_id for e in narrowed] == ["3"]


def test_setup_check_lists_exactly_the_missing_connectors_and_fields(clock, connector):
    with (
        AfasSandbox(
            token=TOKEN,
            as_of=AS_OF,
            clock=clock,
            missing_connectors=["Profit_Accounts"],
            missing_fields={"Profit_Transactions_Allocated": ["DimAx1", "Modified"]},
        ) as sb,
        pytest.raises(ConfigError) as err,
    ):
        connector.list_entities(request(sb, None))
    message = err.value.user_message()
    assert "GetConnector Profit_Accounts (the chart of accounts) is not available to this token." in message
    assert "GetConnector Profit_Transactions_Allocated lacks the field(s) Modified, DimAx1." in message
    assert "Algemeen > Uitvoer > Beheer > GetConnector" in message  # how to import them
    assert "Wijzigen GetConnector > Gegevens" in message  # how to add fields
    assert "Profit_Transactions " not in message.replace("Profit_Transactions_Allocated", "")


def test_without_the_allocated_connector_the_plain_lines_are_read(clock, connector):
    with AfasSandbox(
        token=TOKEN, as_of=AS_OF, clock=clock, missing_connectors=["Profit_Transactions_Allocated"]
    ) as sb:
        extraction = connector.extract(request(sb, "3"))
        assert sb.calls("Profit_Transactions") >= 1
    tx = stream(extraction, "transactions").rows
    assert tx.height == demo_totals("demo-inc")[0]
    assert tx["cost_centre"].null_count() == tx.height
    assert tx.filter(pl.col("amount_fc").is_not_null())["currency_fc"].unique().to_list() == ["EUR"]


def test_a_bad_token_fails_at_once_with_the_reconnect_message(sandbox, connector):
    with pytest.raises(AuthError) as err:
        connector.extract(request(sandbox, "1", credentials={"token": "wrong"}))
    assert "Reconnect with a new token" in err.value.user_message()
    assert sandbox.calls() == 1  # no retries on a 401


def test_ip_restriction_says_what_to_allow(sandbox, connector):
    sandbox.ip_blocked = True
    with pytest.raises(FatalSourceError) as err:
        connector.extract(request(sandbox, "1"))
    assert "IP restriction" in err.value.user_message()
    assert "Allow this server's IP address" in err.value.user_message()


def test_afas_error_bodies_show_the_message_and_the_log_reference(sandbox, connector):
    sandbox.fail_next(afas_error("Er is een onverwachte fout opgetreden."))
    with pytest.raises(FatalSourceError) as err:
        connector.extract(request(sandbox, "1"))
    reference = afas_error("Er is een onverwachte fout opgetreden.").body.decode()
    assert "Er is een onverwachte fout opgetreden." in err.value.user_message()
    assert reference.split('"profitLogReference": "')[1].split('"')[0] in err.value.user_message()


def test_maintenance_waits_for_retry_after_and_completes_with_nothing_lost(sandbox, connector, clock):
    clean = stream(connector.extract(request(sandbox, "1")), "transactions").rows
    sandbox.maintenance(times=3, retry_after=300)
    extraction = connector.extract(request(sandbox, "1"))
    assert clock.slept >= 3 * 300
    assert extraction.stats["api_unavailable"] == 3
    assert stream(extraction, "transactions").rows.sort("line_key").equals(clean.sort("line_key"))


def test_maintenance_longer_than_a_run_can_wait_is_retried_later(sandbox, connector):
    sandbox.maintenance(times=1, retry_after=7200)
    with pytest.raises(RetriableSourceError) as err:
        connector.extract(request(sandbox, "1"))
    assert err.value.retry_after == 7200
    assert "maintenance" in err.value.user_message()


def test_never_more_than_eight_calls_at_once(clock):
    with AfasSandbox(token=TOKEN, as_of=AS_OF, clock=clock, latency=0.2) as sb:
        client = AfasClient(
            sb.url, TOKEN, policy=HttpPolicy(max_parallel=32)
        )  # asks for more than AFAS allows
        try:
            with ThreadPoolExecutor(20) as pool:
                pages = list(
                    pool.map(
                        lambda n: client.page("Profit_Accounts", skip=n, take=1, order=["Account"]), range(20)
                    )
                )
        finally:
            client.close()
        assert len(pages) == 20
        # Never above AFAS's eight; well above one (the exact peak depends on how fast threads start).
        assert 4 <= sb.server.peak_in_flight <= 8
        # The sandbox enforces AFAS's limit: a client that ignores it gets errors. The twelve calls
        # leave together (a barrier), so they overlap however slowly a loaded machine starts threads.
        header = {"Authorization": token_header(TOKEN)}
        together = threading.Barrier(12)

        def call(_):
            together.wait()
            return raw.get("connectors/Profit_Accounts").status_code

        with httpx.Client(base_url=sb.url, headers=header) as raw, ThreadPoolExecutor(12) as pool:
            statuses = list(pool.map(call, range(12)))
        assert 500 in statuses


def test_incremental_reads_changed_days_again_so_deletions_disappear(sandbox, connector):
    full = connector.extract(request(sandbox, "1"))
    changes = sandbox.edit(1, correct=3, delete=2)
    incremental = connector.extract(request(sandbox, "1", full=False, cursor=full.cursor))
    tx = stream(incremental, "transactions")
    assert tx.replace == "ranges" and tx.ranges
    assert incremental.stats["changed_days"] >= 1
    fresh = stream(connector.extract(request(sandbox, "1")), "transactions").rows
    before = stream(full, "transactions").rows
    # What the merge will do: replace the re-read days, upsert the rest.
    in_ranges = pl.any_horizontal([pl.col("tx_date").is_between(a, b) for a, b in tx.ranges])
    merged = pl.concat([before.filter(~in_ranges), tx.rows.filter(in_ranges)])
    merged = pl.concat([merged.filter(~pl.col("line_key").is_in(tx.rows["line_key"].implode())), tx.rows])
    assert merged.sort("line_key").equals(fresh.sort("line_key"))
    assert before.height - fresh.height == changes["deleted"]


def test_rows_sharing_the_cursor_value_across_page_boundaries_are_read_once(sandbox, connector):
    full = connector.extract(request(sandbox, "1"))
    sandbox.edit(1, correct=40)  # one stamp for every changed line: many rows share the cursor value
    lines = sandbox.admins[1].lines
    newest = max(r["Modified"] for r in lines.values())
    changed = {f"{e}|{s}" for (e, s), r in lines.items() if r["Modified"] == newest}
    assert len(changed) > 7 * 3
    incremental = connector.extract(
        request(sandbox, "1", full=False, cursor=full.cursor, options={"take": 7})
    )
    since = incremental.stats["since"]
    expected = {f"{e}|{s}" for (e, s), r in lines.items() if r["Modified"].rstrip("Z") >= since}
    assert incremental.stats["modified_lines"] == len(expected)  # none lost, none twice
    keys = stream(incremental, "transactions").rows["line_key"].to_list()
    assert len(keys) == len(set(keys))
    assert changed <= expected <= set(keys)


def test_without_the_changed_days_connector_changed_months_are_read_again(clock, connector):
    with AfasSandbox(
        token=TOKEN, as_of=AS_OF, clock=clock, missing_connectors=["Profit_Fin_ChangedEntrydate"]
    ) as sb:
        full = connector.extract(request(sb, "2"))
        changes = sb.edit(2, delete=1)
        incremental = connector.extract(request(sb, "2", full=False, cursor=full.cursor))
    tx = stream(incremental, "transactions")
    assert changes["deleted"] >= 1
    assert any(p.kind == "afas_deletions_by_month" for p in incremental.problems)
    assert all(a.day == 1 for a, _ in tx.ranges)
    deleted = set(stream(full, "transactions").rows["line_key"]) - set(tx.rows["line_key"])
    in_ranges = stream(full, "transactions").rows.filter(
        pl.any_horizontal([pl.col("tx_date").is_between(a, b) for a, b in tx.ranges])
    )
    assert len(set(in_ranges["line_key"]) - set(tx.rows["line_key"])) == changes["deleted"]
    assert deleted


def test_long_lists_of_changed_days_are_split_over_several_queries(sandbox, connector):
    full = connector.extract(request(sandbox, "1"))
    admin = sandbox.admins[1]
    # Change one line on every other booking day: many separate ranges to read again.
    days = sorted({r["EntryDate"] for r in admin.lines.values() if r["Period"] != 0})[::2]
    stamp = sandbox.now().isoformat() + "Z"
    for day in days:
        admin.changed[day[:10]] = stamp
    sandbox._cache.clear()
    incremental = connector.extract(request(sandbox, "1", full=False, cursor=full.cursor))
    assert incremental.stats["reread_ranges"] == len(days)
    assert incremental.stats["reread_queries"] > 1
    assert all(len(r.raw_query) + 1 <= 2049 for r in sandbox.requests)
    reread = stream(incremental, "transactions").rows
    on_days = reread.filter(pl.col("tx_date").cast(pl.Utf8).is_in([d[:10] for d in days]))
    assert on_days.height == sum(
        1 for r in admin.lines.values() if r["EntryDate"] in set(days) and r["Period"] != 0
    )


def test_connector_is_registered_with_its_capabilities():
    from connectors import registry

    cls = registry.get("afas")
    assert cls is AfasConnector
    assert cls.kind == "api" and cls.capabilities.incremental and cls.capabilities.deletions
