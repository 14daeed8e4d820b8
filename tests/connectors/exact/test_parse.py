"""Exact Online rows to Ledgerline rows: OData dates, currencies, opening balances, rate headers."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import httpx
import pytest

from connectors.exact import parse
from connectors.exact.client import rate_windows
from connectors.exact.parse import LineBatch
from pipeline.errors import ParseError


def line(**fields):
    base = {
        "ID": "5C1E06C2-6A6E-4F0E-9C53-3A8F4E7A1B11",
        "Date": "/Date(1704153600000)/",  # 2024-01-02
        "FinancialYear": 2024,
        "FinancialPeriod": 1,
        "JournalCode": "70",
        "EntryNumber": 24700001,
        "LineNumber": 1,
        "GLAccountCode": "8000",
        "AmountDC": Decimal("-121.50"),
        "AmountFC": Decimal("-121.50"),
        "Currency": "EUR",
        "Type": 20,
        "Status": 50,
    }
    base.update(fields)
    return base


def test_odata_dates_with_and_without_an_offset():
    assert parse.odata_date("/Date(1704153600000)/", field="Date", where="x") == date(2024, 1, 2)
    assert parse.odata_datetime("/Date(1704153600000+0100)/", field="Date", where="x") == datetime(
        2024, 1, 2, 1
    )
    with pytest.raises(ParseError) as err:
        parse.odata_date("2 januari", field="Date", where="transaction line 1")
    assert "transaction line 1" in str(err.value) and "Date" in str(err.value)


def test_lines_keep_exacts_sign_and_id_and_foreign_currency_only_when_foreign():
    batch = LineBatch(currency="EUR", division="101")
    batch.add([line(), line(ID="a2", Currency="USD", AmountDC=Decimal("92.59"), AmountFC=Decimal("100"))])
    home = batch.transactions["5c1e06c2-6a6e-4f0e-9c53-3a8f4e7a1b11"]
    assert (home["amount"], home["amount_fc"], home["currency_fc"]) == (Decimal("-121.50"), None, None)
    foreign = batch.transactions["a2"]
    assert (foreign["amount"], foreign["amount_fc"], foreign["currency_fc"]) == (
        Decimal("92.59"),
        Decimal("100.00"),
        "USD",
    )


def test_opening_balance_lines_and_rejected_lines():
    batch = LineBatch(currency="EUR", division="101")
    batch.add([line(ID="ob", Type=10, AmountDC=Decimal("30000")), line(ID="rejected", Status=5)])
    assert batch.transactions == {}
    assert batch.opening["ob"]["amount"] == Decimal("30000.00")
    assert [p.kind for p in batch.problems()] == ["rejected_lines"]


def test_a_deletion_wins_over_a_line_read_before_it():
    batch = LineBatch(currency="EUR", division="101")
    batch.add([line(ID="gone"), line(ID="stays")])
    batch.drop(["gone"])
    assert list(batch.transactions) == ["stays"]


def test_gl_account_balance_types():
    rows = parse.account_rows(
        [
            {"Code": "0100", "Description": "Software", "BalanceType": "B"},
            {"Code": "8000", "BalanceType": "W"},
        ]
    )
    assert [(r["code"], r["account_type"]) for r in rows] == [("0100", "balance"), ("8000", "pnl")]


def test_rate_limit_headers_become_windows_with_reset_in_seconds():
    headers = httpx.Headers(
        {
            "X-RateLimit-Limit": "5000",
            "X-RateLimit-Remaining": "4990",
            "X-RateLimit-Reset": "1709251200000",
            "X-RateLimit-Minutely-Limit": "60",
            "X-RateLimit-Minutely-Remaining": "0",
            "X-RateLimit-Minutely-Reset": "1709233260000",
        }
    )
    windows = {w.name: w for w in rate_windows(headers, now=1709233230.0)}
    assert (windows["minutely"].remaining, windows["minutely"].reset_at) == (0, 1709233260.0)
    assert (windows["daily"].limit, windows["daily"].remaining) == (5000, 4990)


def test_retry_after_may_be_seconds_or_an_http_date_and_resets_may_be_milliseconds():
    from connectors.http import epoch_seconds, retry_after_seconds

    now = 1709233230.0
    assert retry_after_seconds(httpx.Headers({"Retry-After": "120"}), now) == 120
    assert retry_after_seconds(httpx.Headers({"Retry-After": "Thu, 29 Feb 2024 19:02:30 GMT"}), now) == 120
    assert epoch_seconds("1709233260000", now) == 1709233260.0
    assert epoch_seconds("1709233260", now) == 1709233260.0
    assert epoch_seconds("30", now) == now + 30
