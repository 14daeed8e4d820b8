"""Xero payloads to Ledgerline rows, starting from the examples in Xero's own OpenAPI description."""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
import yaml

from connectors.xero import parse
from connectors.xero.client import rate_windows
from pipeline.errors import ParseError

SPEC = Path(__file__).resolve().parents[3] / ".." / "shared" / "contracts" / "xero" / "xero_accounting.yaml"


@pytest.fixture(scope="module")
def examples() -> dict:
    """The 200 examples of the spec, with numbers as Decimal (as our JSON reader gives them)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the C loader reads the 1 MB spec in a blink
    spec = yaml.load(SPEC.read_text(encoding="utf-8"), Loader=loader)

    def example(path: str) -> dict:
        raw = spec["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["example"]
        return json.loads(json.dumps(raw), parse_float=Decimal)

    return {
        name: example(f"/{name}") for name in ("Journals", "Accounts", "TrackingCategories", "Organisation")
    }


def test_the_specs_journals_become_balanced_lines_keyed_by_journal_line_id(examples):
    batch = parse.JournalBatch(tenant_id="t1", currency="NZD", year_end_month=3, axes={})
    batch.add(examples["Journals"]["Journals"])
    rows = sorted(batch.rows.values(), key=lambda r: (int(r["entry"]), int(r["line"])))
    assert [(r["entry"], r["account_code"], r["amount"]) for r in rows[:2]] == [
        ("1", "610", Decimal("40.00")),
        ("1", "200", Decimal("-40.00")),
    ]
    assert len(rows) == 9 and sum(r["amount"] for r in rows) == 0
    assert batch.problems() == []
    assert rows[0]["line_key"] == "81e6b1bf-d812-4f87-8dc4-698558ae043e"
    assert rows[0]["tx_date"] == date(2018, 10, 20) and rows[0]["journal"] == "ACCREC"
    # The organisation's year ends in March: October is period 7 of the year ending March 2019.
    assert (rows[0]["fiscal_year"], rows[0]["period"]) == (2019, 7)
    assert rows[0]["document_no"] == "Red Fish, Blue Fish"
    assert (batch.last_number, batch.journals) == (30, 4)


def test_tracking_options_fill_the_axes_they_are_mapped_to():
    journal = {
        "JournalNumber": 5,
        "JournalDate": "/Date(1704153600000+0000)/",
        "JournalLines": [
            {
                "JournalLineID": "A",
                "AccountCode": "400",
                "NetAmount": Decimal("10"),
                "TrackingCategories": [
                    {"Name": "Region", "Option": "North"},
                    {"Name": "Job", "Option": "J-17"},
                ],
            },
            {"JournalLineID": "B", "AccountID": "acc-guid", "NetAmount": Decimal("-10")},
        ],
    }
    axes = parse.tracking_axes(
        [{"Name": "Job"}, {"Name": "Region"}], {"Region": "cost_centre", "Job": "project"}
    )
    batch = parse.JournalBatch(tenant_id="t", currency="EUR", year_end_month=12, axes=axes)
    batch.add([journal])
    first, second = batch.rows["a"], batch.rows["b"]
    assert (first["cost_centre"], first["project"]) == ("North", "J-17")
    assert second["account_code"] == "acc-guid"  # an account without a code keeps its id
    assert parse.tracking_axes([{"Name": "Job"}, {"Name": "Region"}], None) == {
        "Job": "cost_centre",
        "Region": "project",
    }


def test_an_unbalanced_journal_is_a_problem_and_a_bad_amount_names_the_line():
    batch = parse.JournalBatch(tenant_id="t", currency="EUR", year_end_month=12, axes={})
    batch.add(
        [
            {
                "JournalNumber": 8,
                "JournalDate": "/Date(1704153600000)/",
                "JournalLines": [{"JournalLineID": "x", "AccountCode": "1", "NetAmount": Decimal("1.00")}],
            }
        ]
    )
    assert [p.kind for p in batch.problems()] == ["unbalanced_entry"]
    with pytest.raises(ParseError) as err:
        batch.add(
            [
                {
                    "JournalNumber": 9,
                    "JournalDate": "/Date(1704153600000)/",
                    "JournalLines": [{"JournalLineID": "y", "AccountCode": "1", "NetAmount": "ten"}],
                }
            ]
        )
    assert "journal 9, line 1" in str(err.value) and "NetAmount" in str(err.value)


def test_accounts_and_organisation_from_the_spec(examples):
    rows = parse.account_rows(
        [
            {**a, "Class": klass}
            for a, klass in zip(examples["Accounts"]["Accounts"], ("ASSET", "REVENUE"), strict=True)
        ]
    )
    assert [(r["code"], r["account_type"], r["category"]) for r in rows] == [
        ("091", "balance", "BANK"),
        ("200", "pnl", "REVENUE"),
    ]
    info = parse.organisation(examples["Organisation"], "tenant-1")
    assert (info.currency, info.fiscal_year_start_month) == ("NZD", 4)
    assert (
        parse.dimension_rows(examples["TrackingCategories"]["TrackingCategories"], {"BarFoo": "cost_centre"})
        == []
    )


def test_dates_with_and_without_an_offset_and_the_if_modified_since_value():
    assert parse.xero_datetime("/Date(1541176243467+0000)/", field="f", where="w") == datetime(
        2018, 11, 2, 16, 30, 43, 467000
    )
    assert parse.xero_date("2024-01-02T00:00:00", field="f", where="w") == date(2024, 1, 2)
    with pytest.raises(ParseError):
        parse.xero_date("2 januari", field="JournalDate", where="journal 1")
    from datetime import timedelta

    assert (
        parse.since_header(datetime(2024, 3, 1, 12, 0, 5, 999), timedelta(hours=1)) == "2024-03-01T11:00:05"
    )


def test_the_minute_windows_xero_reports_are_read_for_pacing():
    windows = rate_windows(
        httpx.Headers({"X-MinLimit-Remaining": "3", "X-DayLimit-Remaining": "4000"}), 100.0
    )
    assert [(w.name, w.remaining, w.reset_at) for w in windows] == [("minute", 3, 160.0)]
