"""QuickBooks entities (shaped by Intuit's v3 schemas) to postings, one rule per transaction type."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from lxml import etree

from connectors.quickbooks import parse
from pipeline.errors import ParseError

XSD = (
    Path(__file__).resolve().parents[3] / ".." / "shared" / "contracts" / "quickbooks-online" / "Finance.xsd"
)

ACCOUNTS = [
    {"Id": "1", "AcctNum": "1100", "AccountType": "Bank", "Classification": "Asset"},
    {"Id": "2", "AcctNum": "1300", "AccountType": "Accounts Receivable", "Classification": "Asset"},
    {"Id": "3", "AcctNum": "1600", "AccountType": "Accounts Payable", "Classification": "Liability"},
    {"Id": "4", "AcctNum": "1510", "AccountType": "Other Current Liability", "Classification": "Liability"},
    {"Id": "5", "AcctNum": "1500", "AccountType": "Other Current Asset", "Classification": "Asset"},
    {"Id": "6", "AcctNum": "8000", "AccountType": "Income", "Classification": "Revenue"},
    {"Id": "7", "AcctNum": "4500", "AccountType": "Expense", "Classification": "Expense"},
    {
        "Id": "8",
        "AccountType": "Other Current Asset",
        "AccountSubType": "UndepositedFunds",
        "Classification": "Asset",
    },
    {
        "Id": "9",
        "AcctNum": "0520",
        "AccountType": "Equity",
        "AccountSubType": "RetainedEarnings",
        "Classification": "Equity",
    },
]
MASTERS = parse.Masters.from_lists(
    {
        "Account": ACCOUNTS,
        "Item": [
            {
                "Id": "20",
                "Type": "Service",
                "IncomeAccountRef": {"value": "6"},
                "ExpenseAccountRef": {"value": "7"},
            },
        ],
        "TaxRate": [{"Id": "30", "AgencyRef": {"value": "40"}}],
        "TaxAgency": [
            {
                "Id": "40",
                "TaxTrackedOnSalesAccountRef": {"value": "4"},
                "TaxOnPurchasesAccountRef": {"value": "5"},
            }
        ],
        "Class": [{"Id": "50", "Name": "Sales"}],
        "Department": [{"Id": "60", "Name": "North"}],
    }
)
TAX = {
    "TxnTaxDetail": {
        "TotalTax": Decimal("21"),
        "TaxLine": [{"Amount": Decimal("21"), "TaxLineDetail": {"TaxRateRef": {"value": "30"}}}],
    }
}


def posted(kind: str, entity: dict) -> list[tuple[str, Decimal]]:
    ledger = parse.Ledger(MASTERS, realm="r", currency="EUR", year_end_month=12)
    ledger.add(kind, [{"Id": "100", "TxnDate": "2024-05-02", **entity}])
    rows = sorted(ledger.rows.values(), key=lambda r: int(r["line"]))
    assert sum(r["amount"] for r in rows) == 0, rows
    return [(r["account_code"], r["amount"]) for r in rows]


def sales_line(amount: str) -> dict:
    return {
        "Amount": Decimal(amount),
        "SalesItemLineDetail": {"ItemRef": {"value": "20"}, "ClassRef": {"value": "50"}},
    }


def expense_line(amount: str) -> dict:
    return {"Amount": Decimal(amount), "AccountBasedExpenseLineDetail": {"AccountRef": {"value": "7"}}}


def test_the_entity_names_used_are_those_of_intuits_schema():
    tree = etree.parse(str(XSD), etree.XMLParser(resolve_entities=False, no_network=True))
    names = set(tree.xpath("//*[local-name()='element' or local-name()='complexType']/@name"))
    used = {"TotalAmt", "ARAccountRef", "APAccountRef", "DepositToAccountRef", "TxnTaxDetail", "TaxLineDetail",
            "SalesItemLineDetail", "AccountBasedExpenseLineDetail", "ItemBasedExpenseLineDetail", "JournalEntryLineDetail",
            "DepositLineDetail", "CheckPayment", "CreditCardPayment", "BankAccountRef", "CCAccountRef", "ToAccountRef",
            "FromAccountRef", "PostingType", "ExchangeRate", "TaxTrackedOnSalesAccountRef", "TaxOnPurchasesAccountRef"}  # fmt: skip
    assert used - names <= {
        "TaxTrackedOnSalesAccountRef",
        "TaxOnPurchasesAccountRef",
    }  # those two are in IntuitNamesTypes.xsd
    assert set(parse.TRANSACTION_TYPES) <= names


def test_an_invoice_debits_receivables_and_credits_item_income_and_the_agencys_tax_account():
    entity = {
        "TotalAmt": Decimal("121"),
        "Line": [sales_line("100"), {"Amount": Decimal("100"), "SubTotalLineDetail": {}}],
        **TAX,
        "DepartmentRef": {"value": "60"},
    }
    assert posted("Invoice", entity) == [
        ("1300", Decimal("121.00")),
        ("8000", Decimal("-100.00")),
        ("1510", Decimal("-21.00")),
    ]
    ledger = parse.Ledger(MASTERS, realm="r", currency="EUR", year_end_month=12)
    ledger.add("Invoice", [{"Id": "7", "TxnDate": "2024-05-02", "DocNumber": "F-9", **entity}])
    income = ledger.rows["Invoice|7|2"]
    assert (income["cost_centre"], income["project"], income["document_no"]) == ("Sales", "North", "F-9")
    assert posted("CreditMemo", entity) == [
        ("1300", Decimal("-121.00")),
        ("8000", Decimal("100.00")),
        ("1510", Decimal("21.00")),
    ]
    receipt = {**entity, "DepositToAccountRef": {"value": "1"}}
    assert posted("SalesReceipt", receipt)[0] == ("1100", Decimal("121.00"))
    assert posted("RefundReceipt", {"TotalAmt": Decimal("5"), "Line": [sales_line("5")]})[0] == (
        "8",
        Decimal("-5.00"),
    )


def test_bills_purchases_and_their_mirror_images():
    bill = {"TotalAmt": Decimal("121"), "Line": [expense_line("100")], **TAX}
    assert posted("Bill", bill) == [
        ("1600", Decimal("-121.00")),
        ("4500", Decimal("100.00")),
        ("1500", Decimal("21.00")),
    ]
    assert posted("VendorCredit", bill)[0] == ("1600", Decimal("121.00"))
    items = {
        "TotalAmt": Decimal("40"),
        "Line": [{"Amount": Decimal("40"), "ItemBasedExpenseLineDetail": {"ItemRef": {"value": "20"}}}],
    }
    assert posted("Bill", items) == [("1600", Decimal("-40.00")), ("4500", Decimal("40.00"))]
    purchase = {"AccountRef": {"value": "1"}, "TotalAmt": Decimal("30"), "Line": [expense_line("30")]}
    assert posted("Purchase", purchase) == [("1100", Decimal("-30.00")), ("4500", Decimal("30.00"))]
    assert posted("Purchase", {**purchase, "Credit": True}) == [
        ("1100", Decimal("30.00")),
        ("4500", Decimal("-30.00")),
    ]


def test_payments_deposits_and_transfers():
    assert posted("Payment", {"TotalAmt": Decimal("50")}) == [
        ("8", Decimal("50.00")),
        ("1300", Decimal("-50.00")),
    ]
    assert posted(
        "BillPayment", {"TotalAmt": Decimal("50"), "CreditCardPayment": {"CCAccountRef": {"value": "1"}}}
    ) == [
        ("1600", Decimal("50.00")),
        ("1100", Decimal("-50.00")),
    ]
    deposit = {
        "DepositToAccountRef": {"value": "1"},
        "TotalAmt": Decimal("80"),
        "Line": [{"Amount": Decimal("80")}],
    }
    assert posted("Deposit", deposit) == [
        ("1100", Decimal("80.00")),
        ("8", Decimal("-80.00")),
    ]  # undeposited funds
    transfer = {"Amount": Decimal("9.99"), "FromAccountRef": {"value": "1"}, "ToAccountRef": {"value": "5"}}
    assert posted("Transfer", transfer) == [("1500", Decimal("9.99")), ("1100", Decimal("-9.99"))]


def test_a_journal_entry_in_a_foreign_currency_is_converted_with_its_rate():
    lines = [
        {
            "Amount": Decimal("100"),
            "JournalEntryLineDetail": {
                "PostingType": "Debit",
                "AccountRef": {"value": "7"},
                "ClassRef": {"value": "50"},
            },
        },
        {
            "Amount": Decimal("100"),
            "JournalEntryLineDetail": {"PostingType": "Credit", "AccountRef": {"value": "1"}},
        },
    ]
    entity = {"Line": lines, "CurrencyRef": {"value": "USD"}, "ExchangeRate": Decimal("0.9234")}
    assert posted("JournalEntry", entity) == [("4500", Decimal("92.34")), ("1100", Decimal("-92.34"))]


def test_what_cannot_be_rebuilt_is_a_problem_and_bad_input_names_the_entity():
    ledger = parse.Ledger(MASTERS, realm="r", currency="EUR", year_end_month=12)
    inventory = {
        "Id": "5",
        "TxnDate": "2024-05-02",
        "TotalAmt": Decimal("10"),
        "Line": [{"Amount": Decimal("10"), "SalesItemLineDetail": {"ItemRef": {"value": "99"}}}],
    }
    with pytest.raises(ParseError) as err:
        ledger.add("Invoice", [inventory])  # the unknown item names no account
    assert "Invoice 5" in str(err.value)
    assert [p.kind for p in ledger.problems()] == ["unresolved_reference"]
    ledger.add(
        "Bill", [{"Id": "6", "TxnDate": "2024-05-02", "TotalAmt": Decimal("10"), "Line": [expense_line("9")]}]
    )
    assert [p.kind for p in ledger.problems()] == ["unbalanced_entry", "unresolved_reference"]
    with pytest.raises(ParseError) as err:
        ledger.add("Transfer", [{"Id": "8", "TxnDate": "May 2", "Amount": Decimal("1")}])
    assert "Transfer 8" in str(err.value) and "'TxnDate'" in str(err.value)


def test_deleted_and_shrunk_entities_give_exactly_the_keys_to_delete():
    ledger = parse.Ledger(MASTERS, realm="r", currency="EUR", year_end_month=12)
    ledger.add(
        "Invoice",
        [{"Id": "1", "TxnDate": "2024-05-02", "TotalAmt": Decimal("100"), "Line": [sales_line("100")]}],
    )
    ledger.add("Payment", [{"Id": "2", "status": "Deleted"}])
    assert ledger.deleted_keys(["Invoice|1", "Payment|2"], 3) == [
        "Payment|2|1",
        "Payment|2|2",
        "Payment|2|3",
        "Invoice|1|3",
    ]


def test_the_trial_balance_report_and_the_rebuilt_ledger_compare_the_way_quickbooks_shows_it():
    report = {"Rows": {"Row": [
        {"ColData": [{"value": "Bank", "id": "1"}, {"value": "150.00"}, {"value": ""}]},
        {"ColData": [{"value": "Retained", "id": "9"}, {"value": ""}, {"value": "100.00"}]},
        {"ColData": [{"value": "Sales", "id": "6"}, {"value": ""}, {"value": "50.00"}]},
        {"Summary": {"ColData": [{"value": "TOTAL"}, {"value": "150.00"}, {"value": "150.00"}]}, "type": "Section"},
    ]}}  # fmt: skip
    theirs = parse.trial_balance(report, MASTERS)
    assert theirs == {"1100": Decimal("150.00"), "0520": Decimal("-100.00"), "8000": Decimal("-50.00")}
    rows = [
        {"tx_date": date(2023, 6, 1), "account_code": "1100", "amount": Decimal("100")},
        {"tx_date": date(2023, 6, 1), "account_code": "8000", "amount": Decimal("-100")},  # last year's sales
        {"tx_date": date(2024, 2, 1), "account_code": "1100", "amount": Decimal("50")},
        {"tx_date": date(2024, 2, 1), "account_code": "8000", "amount": Decimal("-50")},
    ]
    ours = parse.rebuilt_trial_balance(rows, MASTERS, end=date(2024, 2, 29), year_start=date(2024, 1, 1))
    assert parse.compare_trial_balance(ours, theirs) == []
    assert parse.compare_trial_balance({**ours, "1100": Decimal("149")}, theirs) == [
        ("1100", Decimal("149"), Decimal("150.00"))
    ]
