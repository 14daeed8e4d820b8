"""Sage Accounting payloads (shaped as Sage's API reference documents them) to Ledgerline rows."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from connectors.sage import parse
from pipeline.errors import ParseError

ACCOUNTS = [
    {"id": "a-sales", "nominal_code": 4000, "name": "Sales Type A", "ledger_account_type": {"id": "SALES"}},
    {
        "id": "a-debtors",
        "nominal_code": 1100,
        "name": "Debtors Control",
        "ledger_account_type": {"id": "CURRENT_ASSETS"},
    },
    {"id": "a-vat", "name": "VAT on Sales", "ledger_account_type": {"id": "CURRENT_LIABILITY"}},
]


def entry(key: str, account: str, debit: str = "0", credit: str = "0", **extra) -> dict:
    return {
        "id": key,
        "date": "2024-04-03",
        "debit": Decimal(debit),
        "credit": Decimal(credit),
        "ledger_account": {"id": account, "displayed_as": "..."},
        "transaction": {"id": "tx-1", "displayed_as": "SI-17"},
        "transaction_type": {"id": "SALES_INVOICE"},
        **extra,
    }


def test_entries_become_signed_lines_with_nominal_codes_and_the_sage_fiscal_period():
    rows, codes = parse.account_rows(ACCOUNTS)
    assert [(r["code"], r["account_type"]) for r in rows] == [
        ("4000", "pnl"),
        ("1100", "balance"),
        ("a-vat", "balance"),
    ]
    batch = parse.EntryBatch(business_id="b1", currency="GBP", year_end_month=3, codes=codes)
    batch.add(
        [
            entry("e1", "a-debtors", debit="120.00"),
            entry("e2", "a-sales", credit="100.00", description="Widgets"),
            entry("e3", "a-vat", credit="20.00"),
        ]
    )
    lines = [batch.rows[k] for k in ("e1", "e2", "e3")]
    assert [(r["account_code"], r["amount"]) for r in lines] == [
        ("1100", Decimal("120.00")),
        ("4000", Decimal("-100.00")),
        ("a-vat", Decimal("-20.00")),
    ]
    assert sum(r["amount"] for r in lines) == 0
    first = lines[0]
    assert (first["journal"], first["entry"], first["document_no"]) == ("SALES_INVOICE", "tx-1", "SI-17")
    assert (first["tx_date"], first["fiscal_year"], first["period"]) == (date(2024, 4, 3), 2025, 1)
    assert lines[1]["description"] == "Widgets" and first["description"] == "SI-17"


def test_deleted_entries_win_over_what_was_read_before_and_unknown_accounts_are_kept():
    batch = parse.EntryBatch(business_id="b1", currency="GBP", year_end_month=12, codes={})
    batch.add([entry("e1", "gone-account", debit="5"), entry("e2", "x", credit="5", deleted=True)])
    batch.delete([{"id": "e1", "deleted_at": "2024-04-04T10:00:00Z"}])
    assert batch.rows == {} and batch.deleted == {"e1", "e2"}
    assert batch.unknown_accounts == {"gone-account"}


def test_a_bad_amount_or_date_names_the_entry_and_the_field():
    batch = parse.EntryBatch(business_id="b1", currency="GBP", year_end_month=12, codes={})
    with pytest.raises(ParseError) as err:
        batch.add([{**entry("e9", "a"), "debit": "lots"}])
    assert "ledger entry e9" in str(err.value) and "'debit'" in str(err.value)
    with pytest.raises(ParseError) as err:
        batch.add([{**entry("e8", "a"), "date": "3 April"}])
    assert "ledger entry e8" in str(err.value) and "'date'" in str(err.value)


def test_a_business_takes_its_currency_and_year_from_the_financial_settings():
    info = parse.business(
        {"id": "b1", "displayed_as": "Acme Ltd"},
        {"year_end_date": "2025-03-31", "base_currency": {"id": "GBP"}},
    )
    assert (info.name, info.external_id, info.currency, info.fiscal_year_start_month) == (
        "Acme Ltd",
        "b1",
        "GBP",
        4,
    )
