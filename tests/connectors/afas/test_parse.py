"""AFAS rows to Ledgerline rows: signs, opening balances, allocation parts, filters and query length."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import httpx
import pytest

from connectors.afas import parse
from connectors.afas.client import MAX_QUERY_CHARS, split_groups, token_header
from connectors.afas.parse import EQ, GE, LE, LineBatch
from pipeline.errors import ParseError


def line(**fields):
    base = {
        "UnitId": 1,
        "EntryNo": 2240102001,
        "SeqNo": 1,
        "Year": 2024,
        "Period": 1,
        "JournalId": "VRK",
        "AccountNo": "8000",
        "AmtDebit": Decimal("0"),
        "AmtCredit": Decimal("121.50"),
        "EntryDate": "2024-01-02T00:00:00Z",
        "Modified": "2024-01-02T18:00:00Z",
    }
    base.update(fields)
    return base


def test_credit_is_negative_and_the_trailing_z_is_amsterdam_time():
    batch = LineBatch(connector="Profit_Transactions", currency="EUR")
    batch.add([line(), line(SeqNo=2, AccountNo="1300", AmtDebit=Decimal("121.5"), AmtCredit=None)])
    rows = batch.transactions
    assert rows["2240102001|1"]["amount"] == Decimal("-121.50")
    assert rows["2240102001|2"]["amount"] == Decimal("121.50")
    assert rows["2240102001|1"]["tx_date"] == date(2024, 1, 2)
    assert batch.latest == datetime(2024, 1, 2, 18, 0)  # no zone shift: AFAS says to ignore the Z


def test_period_zero_lines_are_the_opening_balance():
    batch = LineBatch(connector="Profit_Transactions", currency="EUR")
    batch.add(
        [line(EntryNo=92024, SeqNo=100, Period=0, AccountNo="0100", AmtDebit=Decimal("30000"), AmtCredit=0)]
    )
    assert batch.transactions == {}
    opening = batch.opening["92024|100"]
    assert (opening["fiscal_year"], opening["balance_date"], opening["amount"]) == (
        2024,
        date(2024, 1, 2),
        Decimal("30000.00"),
    )


def test_a_line_allocated_to_two_cost_centres_keeps_both_parts_with_stable_keys():
    parts = [
        line(AmtCredit=Decimal("60"), DimAx1="CC20"),
        line(AmtCredit=Decimal("40"), DimAx1="CC10"),
    ]
    first, second = LineBatch(connector="x", currency="EUR"), LineBatch(connector="x", currency="EUR")
    first.add(parts)
    second.add(list(reversed(parts)))  # AFAS gives no order among equal keys
    for batch in (first, second):
        assert {k: (r["cost_centre"], r["amount"]) for k, r in batch.transactions.items()} == {
            "2240102001|1": ("CC10", Decimal("-40.00")),
            "2240102001|1|2": ("CC20", Decimal("-60.00")),
        }


def test_foreign_currency_amounts_only_when_the_line_is_in_another_currency():
    batch = LineBatch(connector="x", currency="USD")
    batch.add(
        [
            line(CurrencyId="EUR", AmtCreditCur=Decimal("100.00"), AmtDebitCur=Decimal("0")),
            line(SeqNo=2, CurrencyId="USD", AmtCreditCur=Decimal("108.00")),
        ]
    )
    assert (
        batch.transactions["2240102001|1"]["amount_fc"],
        batch.transactions["2240102001|1"]["currency_fc"],
    ) == (
        Decimal("-100.00"),
        "EUR",
    )
    assert batch.transactions["2240102001|2"]["currency_fc"] is None


def test_an_unreadable_amount_names_the_entry_and_the_field():
    batch = LineBatch(connector="Profit_Transactions", currency="EUR")
    with pytest.raises(ParseError) as err:
        batch.add([line(AmtDebit="12,50")])
    assert "entry 2240102001|1" in str(err.value)
    assert "AmtDebit" in str(err.value)


def test_account_types_from_afas_wording():
    rows = parse.account_rows(
        [
            {"UnitId": 1, "Account": "0100", "Description": "Software", "AccountType": "Balans"},
            {
                "UnitId": 1,
                "Account": "8000",
                "Description": "Omzet",
                "TypeAccount": "Opbrengsten",
                "RgsCode": "WOmz",
            },
            {"UnitId": 2, "Account": "9999", "Description": "other administration"},
        ],
        admin_id="1",
    )
    assert [(r["code"], r["account_type"], r["standard_code"]) for r in rows] == [
        ("0100", "balance", None),
        ("8000", "pnl", "WOmz"),
    ]


def test_filters_and_within_a_group_or_between_groups():
    params = parse.filter_params(
        [
            [("UnitId", EQ, 1), ("EntryDate", GE, date(2024, 1, 5))],
            [("UnitId", EQ, 1), ("EntryDate", LE, date(2024, 2, 1))],
        ]
    )
    assert params == {
        "filterfieldids": "UnitId,EntryDate;UnitId,EntryDate",
        "filtervalues": "1,2024-01-05T00:00:00;1,2024-02-01T00:00:00",
        "operatortypes": "1,2;1,3",
    }


def test_changed_days_fold_into_ranges():
    days = [date(2024, 1, d) for d in (3, 1, 2, 5, 7, 8)]
    assert parse.day_ranges(days) == [
        (date(2024, 1, 1), date(2024, 1, 3)),
        (date(2024, 1, 5), date(2024, 1, 5)),
        (date(2024, 1, 7), date(2024, 1, 8)),
    ]


def test_many_filter_groups_are_split_to_stay_under_the_query_limit():
    order = ["EntryNo", "SeqNo", "DimAx1", "DimAx2"]
    groups = [
        [
            ("UnitId", EQ, 1),
            ("EntryDate", GE, date(2024, 1, 1 + d % 28)),
            ("EntryDate", LE, date(2024, 1, 1 + d % 28)),
        ]
        for d in range(120)
    ]
    batches = split_groups(groups, order=order)
    assert len(batches) > 1
    assert [g for b in batches for g in b] == groups
    for batch in batches:
        params = {
            "skip": "9999999999",
            "take": "999999",
            **parse.filter_params(batch),
            "orderbyfieldids": ",".join(order),
        }
        assert len(str(httpx.QueryParams(params))) + 1 <= MAX_QUERY_CHARS


def test_the_token_header_wraps_the_token_xml_in_base64():
    assert (
        token_header("ABC")
        == "AfasToken PHRva2VuPjx2ZXJzaW9uPjE8L3ZlcnNpb24+PGRhdGE+QUJDPC9kYXRhPjwvdG9rZW4+"
    )
