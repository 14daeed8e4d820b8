"""The demo organisation: a deterministic, balanced, incrementally changing multi-entity ledger."""

from __future__ import annotations

import csv
import time
from datetime import date, timedelta
from decimal import Decimal
from functools import cache

import polars as pl
import pytest

from connectors.base import (
    DIMENSION_COLUMNS,
    OPENING_BALANCE_COLUMNS,
    TRANSACTION_COLUMNS,
    ExtractRequest,
)
from connectors.demo import DemoConnector, generate_entity, organisation_name
from connectors.demo.chart import ACCOUNT_TYPE, ACCOUNTS, RETAINED_EARNINGS
from pipeline.errors import ConfigError

AS_OF = date(2026, 11, 21)
ENTITIES = ("demo-retail", "demo-services", "demo-inc")


@cache
def frames(external_id: str, as_of: date = AS_OF, seed: int = 42) -> dict[str, pl.DataFrame]:
    return generate_entity(external_id, as_of, seed)


def extract(external_id: str, as_of: date, cursor: dict | None = None, full: bool | None = None):
    request = ExtractRequest(
        entity_name="ignored when the external id matches",
        entity_external_id=external_id,
        full=cursor is None if full is None else full,
        cursor=cursor or {},
        options={"as_of": as_of.isoformat()},
    )
    return DemoConnector().extract(request)


def stream(extraction, name: str):
    (data,) = [s for s in extraction.streams if s.stream == name]
    return data


def as_dict(frame: pl.DataFrame) -> dict[str, tuple]:
    return {row[0]: row[1:] for row in frame.iter_rows()}


# --- the organisation -----------------------------------------------------------------------


def test_the_organisation_has_three_entities_one_in_dollars():
    entities = DemoConnector().list_entities(ExtractRequest(entity_name=""))
    assert organisation_name() == "Demo Holding"
    assert [(e.name, e.external_id, e.currency, e.fiscal_year_start_month) for e in entities] == [
        ("Demo Retail BV", "demo-retail", "EUR", 1),
        ("Demo Services BV", "demo-services", "EUR", 1),
        ("Demo Inc", "demo-inc", "USD", 1),
    ]
    declared = DemoConnector.capabilities
    assert (declared.incremental, declared.deletions, declared.dimensions, declared.opening_balances) == (
        True,
        True,
        True,
        True,
    )
    assert declared.multi_entity
    assert DemoConnector.kind == "generator"


def test_an_entity_is_found_by_name_and_an_unknown_one_is_refused_by_name():
    request = ExtractRequest(entity_name="Demo Services BV", options={"as_of": "2024-01-31"})
    extraction = DemoConnector().extract(request)
    assert extraction.entity.name == "Demo Services BV"
    assert extraction.entity.currency == "EUR"

    with pytest.raises(ConfigError, match=r"no entity 'Demo Bakery'.*Demo Retail BV \(demo-retail\)"):
        DemoConnector().extract(ExtractRequest(entity_name="Demo Bakery"))


def test_a_bad_as_of_is_refused_with_the_option_name():
    request = ExtractRequest(entity_name="Demo Inc", options={"as_of": "next tuesday"})
    with pytest.raises(ConfigError, match="'as_of' must be a date like 2025-03-31"):
        DemoConnector().extract(request)
    with pytest.raises(ConfigError, match="starts on 2024-01-01"):
        generate_entity("demo-inc", date(2023, 12, 31))


# --- the chart --------------------------------------------------------------------------------


def test_every_account_carries_an_rgs_code_from_the_published_list(samples):
    with (samples / "rgs" / "rgs2dot0.csv").open(encoding="utf-8", newline="") as fh:
        rgs = {row["Referentiecode"]: row for row in csv.DictReader(fh, delimiter=";")}
    accounts = frames("demo-retail")["accounts"]
    assert 60 <= accounts.height <= 80
    assert accounts["code"].n_unique() == accounts.height
    assert set(accounts["standard_scheme"]) == {"RGS"}
    missing = [code for code in accounts["standard_code"] if code not in rgs]
    assert missing == []
    # RGS balance-sheet codes start with B, profit-and-loss codes with W: the type must agree.
    for row in accounts.iter_rows(named=True):
        assert row["account_type"] == ("balance" if row["standard_code"][0] == "B" else "pnl"), row
        assert rgs[row["standard_code"]]["Niveau"] == "4", row


def test_dimensions_are_four_cost_centres_and_six_projects_used_on_lines():
    data = frames("demo-services")
    dims = data["dimensions"]
    assert dims.schema == pl.Schema(DIMENSION_COLUMNS)
    assert dims.group_by("axis").len().sort("axis").rows() == [("cost_centre", 4), ("project", 6)]
    tx = data["transactions"]
    used_cc = set(tx["cost_centre"].drop_nulls())
    used_projects = set(tx["project"].drop_nulls())
    assert used_cc == set(dims.filter(pl.col("axis") == "cost_centre")["code"])
    assert used_projects == {"P103", "P104", "P105"}  # the services entity's own projects
    # Only profit-and-loss lines carry a cost centre.
    on_bs = tx.filter(pl.col("cost_centre").is_not_null() & pl.col("account_code").is_in(_balance_accounts()))
    assert on_bs.height == 0


# --- the ledger ------------------------------------------------------------------------------


def test_same_seed_and_date_give_identical_rows_and_another_seed_does_not():
    again = generate_entity("demo-inc", AS_OF, 42)
    for name, frame in frames("demo-inc").items():
        assert frame.equals(again[name]), name
    other = generate_entity("demo-inc", AS_OF, 7)["transactions"]
    assert not other.equals(frames("demo-inc")["transactions"])


@pytest.mark.parametrize("external_id", ENTITIES)
def test_every_entry_balances_and_uses_the_chart(external_id):
    tx = frames(external_id)["transactions"]
    assert tx["line_key"].n_unique() == tx.height
    sums = tx.group_by("journal", "entry").agg(pl.col("amount").sum())
    assert sums.filter(pl.col("amount") != 0).height == 0
    assert sums.height > 15 * 700  # at least 15 entries a business day over nearly three years
    assert set(tx["account_code"]) <= {code for code, *_ in ACCOUNTS}
    assert set(tx["journal"]) == {"VRK", "INK", "LON", "BNK", "MEM"}
    assert tx["tx_date"].min() == date(2024, 1, 1)
    assert tx["tx_date"].max() <= AS_OF
    assert (tx["fiscal_year"] == tx["tx_date"].dt.year()).all()
    assert (tx["period"] == tx["tx_date"].dt.month()).all()


def test_three_entities_hold_fifty_to_one_hundred_fifty_thousand_lines_and_the_timing_is_printed(capsys):
    started = time.perf_counter()
    lines = sum(generate_entity(e, AS_OF)["transactions"].height for e in ENTITIES)
    elapsed = time.perf_counter() - started
    with capsys.disabled():
        print(f"\ndemo organisation: {lines} lines for three entities generated in {elapsed:.2f} s")
    assert 50_000 <= lines <= 155_000


def test_the_dollar_entity_books_in_usd_and_some_lines_in_euro():
    tx = frames("demo-inc")["transactions"]
    assert set(tx["currency"]) == {"USD"}
    foreign = tx.filter(pl.col("amount_fc").is_not_null())
    assert set(foreign["currency_fc"]) == {"EUR"}
    assert 0.05 * tx.height < foreign.height < 0.5 * tx.height
    # A euro invoice is converted at a rate between 1.05 and 1.15 dollars per euro.
    invoices = foreign.filter(pl.col("journal").is_in(["VRK", "INK"]) & (pl.col("amount_fc").abs() > 100))
    rates = (invoices["amount"].cast(pl.Float64) / invoices["amount_fc"].cast(pl.Float64)).to_list()
    assert min(rates) > 1.05 and max(rates) < 1.15
    # Euro amounts balance within each euro invoice as the dollar amounts do.
    fc_invoices = foreign.filter(pl.col("journal").is_in(["VRK", "INK"]))
    fc_sums = fc_invoices.group_by("journal", "entry").agg(pl.col("amount_fc").sum())
    assert fc_sums.filter(pl.col("amount_fc") != 0).height == 0
    # Receipts at another day's rate leave exchange differences.
    assert tx.filter(pl.col("account_code") == "9020").height > 100

    for external_id in ("demo-retail", "demo-services"):
        euro = frames(external_id)["transactions"]
        assert set(euro["currency"]) == {"EUR"}
        assert euro["amount_fc"].null_count() == euro.height


@pytest.mark.parametrize("external_id", ENTITIES)
def test_each_opening_balance_is_last_years_closing_with_the_result_in_equity(external_id):
    data = frames(external_id)
    ob, tx = data["opening_balances"], data["transactions"]
    assert ob.schema == pl.Schema(OPENING_BALANCE_COLUMNS)
    assert sorted(set(ob["fiscal_year"])) == [2024, 2025, 2026]
    assert set(ob["balance_date"]) == {date(2024, 1, 1), date(2025, 1, 1), date(2026, 1, 1)}
    for year in (2024, 2025, 2026):
        assert ob.filter(pl.col("fiscal_year") == year)["amount"].sum() == 0
    assert set(ob["account_code"]) <= _balance_accounts()

    for year in (2024, 2025):
        opening = _by_account(ob.filter(pl.col("fiscal_year") == year))
        movements = _by_account(tx.filter(pl.col("fiscal_year") == year))
        result = sum(v for acc, v in movements.items() if ACCOUNT_TYPE[acc] == "pnl")
        assert result != 0
        closing = {acc: opening.get(acc, 0) + movements.get(acc, 0) for acc in _balance_accounts()}
        closing[RETAINED_EARNINGS] += result
        expected = {acc: v for acc, v in closing.items() if v != 0}
        assert _by_account(ob.filter(pl.col("fiscal_year") == year + 1)) == expected


def test_the_first_opening_balance_holds_the_open_items_that_january_settles():
    data = frames("demo-retail")
    opening = _by_account(data["opening_balances"].filter(pl.col("fiscal_year") == 2024))
    assert opening["1300"] > 0  # debtors
    assert opening["1600"] < 0  # creditors
    assert opening["1510"] < 0  # VAT of the fourth quarter, paid in January
    january = data["transactions"].filter(pl.col("tx_date") <= date(2024, 1, 31))
    vat_return = january.filter(pl.col("description") == "VAT return 2023 Q4")
    payable = vat_return.filter(pl.col("account_code") == "1510")["amount"].sum()
    receivable = vat_return.filter(pl.col("account_code") == "1500")["amount"].sum()
    assert payable == -opening["1510"]
    assert receivable == -opening["1500"]


def test_about_one_percent_of_entries_is_corrected_and_a_few_deleted_later():
    data = frames("demo-retail")
    tx = data["transactions"]
    entries = tx.unique(["journal", "entry"])
    corrected = entries.filter(pl.col("modified") != pl.col("tx_date"))
    assert 0.005 * entries.height < corrected.height < 0.02 * entries.height
    delays = (corrected["modified"] - corrected["tx_date"]).dt.total_days()
    assert delays.min() >= 1 and delays.max() <= 6
    deleted_entries = data["deletions"]["line_key"].str.replace(r"\|\d+$", "").n_unique()
    assert 0.001 * entries.height < deleted_entries < 0.006 * entries.height
    assert set(data["deletions"]["line_key"]).isdisjoint(tx["line_key"])


def test_a_later_day_only_adds_or_changes_lines_near_it():
    """Lines last changed on or before d1 read the same at d2: growing as_of never rewrites history."""
    d1, d2 = date(2025, 6, 13), date(2025, 7, 4)
    early = as_dict(frames("demo-services", d1)["transactions"])
    late = as_dict(frames("demo-services", d2)["transactions"].filter(pl.col("modified") <= d1))
    assert late.keys() <= early.keys()
    assert all(early[key] == row for key, row in late.items())


# --- the connector: full and incremental runs -----------------------------------------------


def test_a_full_run_delivers_everything_and_the_cursor():
    extraction = extract("demo-inc", AS_OF)
    tx = stream(extraction, "transactions")
    assert tx.replace == "all"
    assert tx.rows.schema == pl.Schema(TRANSACTION_COLUMNS)
    assert tx.rows.height == frames("demo-inc")["transactions"].height
    assert stream(extraction, "opening_balances").replace == "all"
    assert stream(extraction, "accounts").replace == "none"
    assert stream(extraction, "dimensions").replace == "none"
    assert extraction.cursor == {"as_of": "2026-11-21"}
    assert extraction.format == "demo"
    assert (extraction.entity.name, extraction.entity.currency) == ("Demo Inc", "USD")
    assert extraction.stats["lines"] == tx.rows.height
    assert extraction.stats["mode"] == "full"


@pytest.mark.parametrize("external_id", ENTITIES)
def test_full_then_incremental_runs_equal_a_fresh_full_run_line_for_line(external_id):
    # A full run, then weekly incremental runs: every cursor day splits some entries from their
    # later correction or deletion, which the next run must bring in.
    days = [date(2025, 3, 3) + timedelta(days=7 * week) for week in range(10)]
    first = extract(external_id, days[0])
    state = as_dict(stream(first, "transactions").rows)
    cursor = first.cursor
    changed = deleted = 0
    for as_of in days[1:]:
        run = extract(external_id, as_of, cursor)
        data = stream(run, "transactions")
        assert data.replace == "none"
        for key, *row in data.rows.iter_rows():
            changed += key in state and state[key] != tuple(row)
            state[key] = tuple(row)
        for key in data.deleted_keys:
            deleted += state.pop(key, None) is not None
        cursor = run.cursor
    assert cursor == {"as_of": "2025-05-05"}
    assert changed > 0 and deleted > 0  # the window really held corrections and deletions

    fresh = extract(external_id, days[-1])
    assert state == as_dict(stream(fresh, "transactions").rows)
    assert stream(run, "opening_balances").rows.equals(stream(fresh, "opening_balances").rows)


def test_an_incremental_run_reads_only_its_window():
    full = extract("demo-retail", AS_OF)
    ten = extract("demo-retail", AS_OF, {"as_of": (AS_OF - timedelta(days=10)).isoformat()})
    twenty = extract("demo-retail", AS_OF, {"as_of": (AS_OF - timedelta(days=20)).isoformat()})
    lines = {
        name: stream(run, "transactions").rows.height
        for name, run in (("full", full), ("10", ten), ("20", twenty))
    }
    assert 0 < lines["10"] < 0.03 * lines["full"]
    assert 1.3 < lines["20"] / lines["10"] < 2.3  # proportional to the window (both re-read 3 days)
    window_start = AS_OF - timedelta(days=13)
    assert stream(ten, "transactions").rows["tx_date"].min() >= window_start - timedelta(days=6)
    assert ten.stats["mode"] == "incremental"
    assert ten.stats["since"] == window_start.isoformat()


def test_a_cursor_after_as_of_or_a_full_request_reads_everything_again():
    rewound = extract("demo-inc", date(2025, 1, 31), {"as_of": "2025-02-28"})
    assert stream(rewound, "transactions").replace == "all"
    assert [p.kind for p in rewound.problems] == ["cursor_after_as_of"]
    forced = extract("demo-inc", date(2025, 1, 31), {"as_of": "2025-01-20"}, full=True)
    assert stream(forced, "transactions").replace == "all"
    assert forced.stats["lines"] == frames("demo-inc", date(2025, 1, 31))["transactions"].height


def test_a_repeated_incremental_run_with_no_new_day_changes_nothing():
    first = extract("demo-services", date(2025, 9, 30))
    state = as_dict(stream(first, "transactions").rows)
    again = extract("demo-services", date(2025, 9, 30), first.cursor)
    rows = stream(again, "transactions").rows
    assert rows.height > 0  # the overlap days are read again ...
    assert all(state[key] == tuple(row) for key, *row in rows.iter_rows())  # ... and are identical
    assert all(key not in state for key in stream(again, "transactions").deleted_keys)


# --- helpers ----------------------------------------------------------------------------------


def _balance_accounts() -> set[str]:
    return {code for code, kind in ACCOUNT_TYPE.items() if kind == "balance"}


def _by_account(frame: pl.DataFrame) -> dict[str, Decimal]:
    sums = frame.group_by("account_code").agg(pl.col("amount").sum())
    return {acc: amount for acc, amount in sums.iter_rows() if amount != 0}
