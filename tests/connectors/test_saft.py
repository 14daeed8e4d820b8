"""SAF-T Financial reader: Skatteetaten's example file, small files per case, broken input.

Totals are recomputed with a plain ElementTree pass, independent of the streaming parser, and
compared with the parser's rows and with the file's own GeneralLedgerEntries control totals.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from defusedxml import ElementTree as SafeET

from connectors.base import STREAM_COLUMNS, ExtractRequest
from connectors.files.saft import SaftConnector, account_type, looks_like_saft, parse_saft
from connectors.files.xaf import looks_like_xaf
from pipeline.errors import InputTooLarge, ParseError

SAMPLES = Path(__file__).resolve().parents[2] / ".." / "shared" / "samples"
EXAMPLE = SAMPLES / "saft" / "ExampleFile_SAF-T_Financial_999999999_20161125213512.xml"


def local(tag: str) -> str:
    return tag.rpartition("}")[2]


def recount(path: Path) -> tuple[int, int, Decimal, Decimal]:
    """Transactions, lines and debit/credit sums of GeneralLedgerEntries, read with ElementTree."""
    transactions = lines = 0
    debit = credit = Decimal("0")
    for elem in SafeET.parse(path).getroot().iter():
        name = local(elem.tag)
        if name == "Transaction":
            transactions += 1
        elif name == "Line":
            lines += 1
            for side in elem:
                if local(side.tag) in ("DebitAmount", "CreditAmount"):
                    amount = Decimal(next(c.text for c in side if local(c.tag) == "Amount"))
                    if local(side.tag) == "DebitAmount":
                        debit += amount
                    else:
                        credit += amount
    return transactions, lines, debit, credit


def stated(path: Path) -> tuple[int, Decimal, Decimal]:
    for elem in SafeET.parse(path).getroot().iter():
        if local(elem.tag) == "GeneralLedgerEntries":
            v = {local(c.tag): c.text for c in elem if len(c) == 0}
            return int(v["NumberOfEntries"]), Decimal(v["TotalDebit"]), Decimal(v["TotalCredit"])
    raise AssertionError("no GeneralLedgerEntries")


def stream(extraction, name: str) -> pl.DataFrame:
    [data] = [s for s in extraction.streams if s.stream == name]
    return data.rows.collect() if isinstance(data.rows, pl.LazyFrame) else data.rows


def test_example_file_counts_and_totals_match_the_file_itself():
    ex = parse_saft(EXAMPLE)
    lines = stream(ex, "transactions")
    transactions, line_count, debit, credit = recount(EXAMPLE)
    entries, total_debit, total_credit = stated(EXAMPLE)

    assert ex.format == "saft"
    assert (transactions, line_count) == (2, 5)
    assert (debit, credit) == (Decimal("25000"), Decimal("25000"))
    assert lines.height == line_count
    assert ex.stats["transactions"] == transactions == entries
    assert sum(lines["amount"].to_list(), Decimal("0")) == 0
    assert sum((a for a in lines["amount"].to_list() if a > 0), Decimal("0")) == debit == total_debit
    assert -sum((a for a in lines["amount"].to_list() if a < 0), Decimal("0")) == credit == total_credit
    assert ex.stats["control_number_of_entries"] == entries
    assert (ex.stats["control_total_debit"], ex.stats["control_total_credit"]) == (total_debit, total_credit)
    assert [p for p in ex.problems if p.kind == "control_totals"] == []
    assert lines["line_key"].n_unique() == lines.height
    assert lines.schema == pl.Schema(STREAM_COLUMNS["transactions"])

    assert stream(ex, "accounts").height == 4
    assert stream(ex, "opening_balances").height == 4
    assert stream(ex, "dimensions").height == 4


def test_example_file_entity_accounts_dimensions_and_lines():
    ex = parse_saft(EXAMPLE)
    assert ex.entity.name == "Selskapet AS"
    assert ex.entity.external_id == "999999999"
    assert ex.entity.currency == "NOK"
    assert ex.entity.fiscal_year_start_month == 1
    assert ex.entity.extra["fiscal_year"] == 2015

    accounts = {r["code"]: r for r in stream(ex, "accounts").iter_rows(named=True)}
    assert accounts["2400"]["name"] == "Leverandørgjeld"
    assert (accounts["2400"]["standard_code"], accounts["2400"]["standard_scheme"]) == ("24", "SAF-T NO")
    assert accounts["1925"]["account_type"] == "balance"
    assert accounts["4000"]["account_type"] == "pnl"

    ob = {r["account_code"]: r["amount"] for r in stream(ex, "opening_balances").iter_rows(named=True)}
    assert ob == {
        "1925": Decimal("1234.56"),
        "2400": Decimal("-1234.56"),
        "2740": Decimal("-1234.56"),
        "4000": Decimal("0.00"),
    }
    assert set(stream(ex, "opening_balances")["balance_date"].to_list()) == {dt.date(2015, 1, 1)}

    dims = {(r["axis"], r["code"]): r["name"] for r in stream(ex, "dimensions").iter_rows(named=True)}
    # 'Avdeling' (department) is the cost-centre axis, 'Prosjekt' the project axis; 'Bilagsart'
    # (voucher type) keeps an axis of its own
    assert dims == {
        ("cost_centre", "100"): "Administrasjon",
        ("project", "2000"): "Kontorbygg Aker Brygge",
        ("analysis:B", "4"): "Bank",
        ("analysis:B", "11"): "Inngående faktura",
    }

    first = stream(ex, "transactions").row(0, named=True)
    assert first["line_key"] == "2015|A|4567|1"
    assert (first["journal"], first["entry"], first["line"]) == ("A", "4567", "1")
    assert first["tx_date"] == dt.date(2015, 10, 31)
    assert (first["fiscal_year"], first["period"]) == (2015, 10)
    assert (first["account_code"], first["amount"]) == ("4000", Decimal("10000.00"))
    assert (first["cost_centre"], first["project"]) == ("100", "2000")
    assert (first["document_no"], first["description"]) == ("1234", "Faktura 123456")
    assert first["source_ref"] == "journal A/transaction 4567/line 1"

    [tx] = [s for s in ex.streams if s.stream == "transactions"]
    assert tx.replace == "ranges"
    assert tx.ranges == [(dt.date(2015, 1, 1), dt.date(2015, 12, 31))]
    # the calendar-month reading of accounting periods is an assumption the user is shown
    assert any(p.kind == "assumption" and "calendar months" in p.message for p in ex.problems)


def test_format_detection():
    head = EXAMPLE.read_bytes()[:4096]
    assert looks_like_saft(head)
    assert not looks_like_xaf(head)
    assert not looks_like_saft((SAMPLES / "xaf" / "ExactOnline_V32_2016.xaf").read_bytes()[:4096])


def test_account_type_assumption():
    assert account_type("19", "1925") == "balance"
    assert account_type("2740", None) == "balance"
    assert account_type("43", "4000") == "pnl"
    assert account_type("8800", None) == "pnl"
    assert account_type(None, "3000") == "pnl"
    assert account_type(None, "9100") is None
    assert account_type(None, "KASSE") is None


def test_connector_and_size_limit():
    assert SaftConnector.name == "saft" and SaftConnector.label == "SAF-T Financial"
    ex = SaftConnector().extract(ExtractRequest(entity_name="Selskapet", path=EXAMPLE, max_bytes=1_000_000))
    assert stream(ex, "transactions").height == 5
    with pytest.raises(InputTooLarge):
        parse_saft(EXAMPLE, max_bytes=EXAMPLE.stat().st_size - 1)


# --- small files written for one case each ----------------------------------------------------------


def line(record, account, side, amount, *, analysis="", currency="", desc="Linje"):
    return (
        f"<Line><RecordID>{record}</RecordID><AccountID>{account}</AccountID>{analysis}"
        f"<Description>{desc}</Description><{side}><Amount>{amount}</Amount>{currency}</{side}></Line>"
    )


def transaction(tid, lines, *, period=3, year=2023, date="2023-03-15"):
    return (
        f"<Transaction><TransactionID>{tid}</TransactionID><Period>{period}</Period><PeriodYear>{year}</PeriodYear>"
        f"<TransactionDate>{date}</TransactionDate><Description>Bilag {tid}</Description>"
        f"<SystemEntryDate>{date}</SystemEntryDate><GLPostingDate>{date}</GLPostingDate>{''.join(lines)}</Transaction>"
    )


SELECT_YEAR = (
    "<SelectionStartDate>2023-01-01</SelectionStartDate><SelectionEndDate>2023-12-31</SelectionEndDate>"
)


def write_saft(
    tmp_path: Path,
    transactions: str,
    *,
    selection: str = SELECT_YEAR,
    account_xml: str = "",
    name: str = "saft.xml",
    encoding: str = "UTF-8",
    codec: str = "utf-8",
    prolog: str = "",
    entries_totals: tuple[str, str, str] = ("1", "100.00", "100.00"),
) -> Path:
    accounts = account_xml or (
        "<Account><AccountID>1920</AccountID><AccountDescription>Bankinnskudd</AccountDescription>"
        "<GroupingCategory>RF-1167</GroupingCategory><GroupingCode>1920</GroupingCode><AccountType>GL</AccountType>"
        "<OpeningDebitBalance>500.00</OpeningDebitBalance><ClosingDebitBalance>600.00</ClosingDebitBalance></Account>"
        "<Account><AccountID>3000</AccountID><AccountDescription>Salgsinntekt</AccountDescription>"
        "<GroupingCategory>RF-1167</GroupingCategory><GroupingCode>3000</GroupingCode><AccountType>GL</AccountType>"
        "<OpeningCreditBalance>0</OpeningCreditBalance><ClosingCreditBalance>100.00</ClosingCreditBalance></Account>"
    )
    count, debit, credit = entries_totals
    text = (
        f'<?xml version="1.0" encoding="{encoding}"?>{prolog}'
        '<AuditFile xmlns="urn:StandardAuditFile-Taxation-Financial:NO"><Header>'
        "<AuditFileVersion>1.30</AuditFileVersion><AuditFileCountry>NO</AuditFileCountry>"
        "<AuditFileDateCreated>2024-01-15</AuditFileDateCreated><SoftwareCompanyName>Test</SoftwareCompanyName>"
        "<SoftwareID>Test</SoftwareID><SoftwareVersion>1</SoftwareVersion>"
        "<Company><RegistrationNumber>123456789</RegistrationNumber><Name>Fjord og Fjære AS</Name></Company>"
        f"<DefaultCurrencyCode>NOK</DefaultCurrencyCode><SelectionCriteria>{selection}</SelectionCriteria>"
        "<TaxAccountingBasis>A</TaxAccountingBasis></Header>"
        f"<MasterFiles><GeneralLedgerAccounts>{accounts}</GeneralLedgerAccounts>"
        "<AnalysisTypeTable><AnalysisTypeTableEntry><AnalysisType>K</AnalysisType>"
        "<AnalysisTypeDescription>Kostnadssted</AnalysisTypeDescription><AnalysisID>K1</AnalysisID>"
        "<AnalysisIDDescription>Salg Øst</AnalysisIDDescription></AnalysisTypeTableEntry></AnalysisTypeTable>"
        "</MasterFiles>"
        f"<GeneralLedgerEntries><NumberOfEntries>{count}</NumberOfEntries><TotalDebit>{debit}</TotalDebit>"
        f"<TotalCredit>{credit}</TotalCredit><Journal><JournalID>GL</JournalID><Description>Hovedbok</Description>"
        f"<Type>GL</Type>{transactions}</Journal></GeneralLedgerEntries></AuditFile>"
    )
    path = tmp_path / name
    path.write_bytes(text.encode(codec))
    return path


BALANCED = transaction(
    "1", [line(1, "1920", "DebitAmount", "100.00"), line(2, "3000", "CreditAmount", "100.00")]
)


def test_version_1_30_grouping_codes_and_date_selection(tmp_path):
    ex = parse_saft(write_saft(tmp_path, BALANCED))
    accounts = {r["code"]: r for r in stream(ex, "accounts").iter_rows(named=True)}
    assert (accounts["1920"]["standard_code"], accounts["1920"]["standard_scheme"]) == (
        "1920",
        "SAF-T NO RF-1167",
    )
    assert accounts["1920"]["category"] == "RF-1167 1920"
    assert (accounts["1920"]["account_type"], accounts["3000"]["account_type"]) == ("balance", "pnl")
    assert ex.entity.name == "Fjord og Fjære AS"
    [tx] = [s for s in ex.streams if s.stream == "transactions"]
    assert tx.ranges == [(dt.date(2023, 1, 1), dt.date(2023, 12, 31))]
    assert [p for p in ex.problems if p.kind == "control_totals"] == []
    assert [p for p in ex.problems if p.kind == "assumption"] == []
    assert stream(ex, "opening_balances")["amount"].to_list() == [Decimal("500.00"), Decimal("0.00")]


def test_foreign_currency_and_cost_centre_on_a_line(tmp_path):
    eur = "<CurrencyCode>EUR</CurrencyCode><CurrencyAmount>9.00</CurrencyAmount><ExchangeRate>11.1111</ExchangeRate>"
    k1 = "<Analysis><AnalysisType>K</AnalysisType><AnalysisID>K1</AnalysisID></Analysis>"
    tx = transaction(
        "1",
        [
            line(1, "1920", "DebitAmount", "100.00", currency=eur),
            line(2, "3000", "CreditAmount", "100.00", currency=eur, analysis=k1),
        ],
    )
    lines = stream(parse_saft(write_saft(tmp_path, tx)), "transactions")
    assert lines["amount_fc"].to_list() == [Decimal("9.00"), Decimal("-9.00")]
    assert lines["currency_fc"].to_list() == ["EUR", "EUR"]
    assert lines["cost_centre"].to_list() == [None, "K1"]


def test_selection_by_periods_mid_year_does_not_import_opening_balances(tmp_path):
    periods = "<PeriodStart>4</PeriodStart><PeriodStartYear>2023</PeriodStartYear><PeriodEnd>6</PeriodEnd><PeriodEndYear>2023</PeriodEndYear>"
    ex = parse_saft(write_saft(tmp_path, BALANCED, selection=periods))
    [tx] = [s for s in ex.streams if s.stream == "transactions"]
    assert tx.ranges == [(dt.date(2023, 4, 1), dt.date(2023, 6, 30))]
    assert [s.stream for s in ex.streams if s.stream == "opening_balances"] == []
    assert any(p.kind == "skipped_opening_balances" for p in ex.problems)
    assert ex.entity.fiscal_year_start_month is None


def test_control_totals_that_disagree_are_reported(tmp_path):
    ex = parse_saft(write_saft(tmp_path, BALANCED, entries_totals=("3", "150.00", "100.00")))
    problems = {p.where: p for p in ex.problems if p.kind == "control_totals"}
    assert set(problems) == {"GeneralLedgerEntries / NumberOfEntries", "GeneralLedgerEntries / TotalDebit"}
    assert "difference 50.00" in problems["GeneralLedgerEntries / TotalDebit"].message
    assert stream(ex, "transactions").height == 2


def test_iso_8859_1_file(tmp_path):
    path = write_saft(tmp_path, BALANCED, encoding="ISO-8859-1", codec="latin-1")
    ex = parse_saft(path)
    assert ex.entity.name == "Fjord og Fjære AS"
    assert stream(ex, "dimensions").row(0, named=True) == {
        "axis": "cost_centre",
        "code": "K1",
        "name": "Salg Øst",
        "parent_code": None,
    }


def test_repeated_record_ids_and_transaction_ids_keep_every_line(tmp_path):
    same = [line(1, "1920", "DebitAmount", "50.00"), line(1, "3000", "CreditAmount", "50.00")]
    ex = parse_saft(write_saft(tmp_path, transaction("7", same) + transaction("7", same)))
    assert stream(ex, "transactions")["line_key"].to_list() == [
        "2023|GL|7|1",
        "2023|GL|7|2",
        "2023|GL|7#2|1",
        "2023|GL|7#2|2",
    ]


@pytest.mark.parametrize(
    ("bad_line", "field", "says"),
    [
        (line(3, "3000", "CreditAmount", "1.234,50"), "CreditAmount/Amount", "is not a number"),
        (line(3, "", "CreditAmount", "10.00"), "AccountID", "no AccountID"),
        (
            "<Line><RecordID>3</RecordID><AccountID>3000</AccountID><Description>x</Description></Line>",
            "DebitAmount/CreditAmount",
            "either a DebitAmount or a CreditAmount",
        ),
    ],
)
def test_a_line_that_cannot_be_read_names_file_element_and_field(tmp_path, bad_line, field, says):
    lines = [line(1, "1920", "DebitAmount", "10.00"), line(2, "3000", "CreditAmount", "10.00"), bad_line]
    path = write_saft(tmp_path, transaction("55", lines), name="bad.xml")
    with pytest.raises(ParseError) as err:
        parse_saft(path)
    assert err.value.file == "bad.xml"
    assert err.value.field == field
    assert err.value.where.startswith("Journal GL / Transaction 55 / Line 3")
    assert says in str(err.value)


def test_unreadable_transaction_date(tmp_path):
    tx = transaction("9", [line(1, "1920", "DebitAmount", "1.00")], date="2023-13-01")
    with pytest.raises(ParseError) as err:
        parse_saft(write_saft(tmp_path, tx))
    assert err.value.field == "TransactionDate"
    assert err.value.where == "Journal GL / Transaction 9"


def test_missing_selection_criteria(tmp_path):
    with pytest.raises(ParseError) as err:
        parse_saft(write_saft(tmp_path, BALANCED, selection=""))
    assert err.value.where == "Header / SelectionCriteria"


def test_bad_input_files(tmp_path):
    empty = tmp_path / "empty.xml"
    empty.write_bytes(b"")
    with pytest.raises(ParseError, match="empty"):
        parse_saft(empty)

    data = EXAMPLE.read_bytes()
    cut = tmp_path / "cut.xml"
    cut.write_bytes(data[: int(len(data) * 0.8)])
    with pytest.raises(ParseError, match="cut off") as err:
        parse_saft(cut)
    assert err.value.file == "cut.xml"

    with pytest.raises(ParseError, match=r"not a SAF-T file.*<auditfile>"):
        parse_saft(SAMPLES / "xaf" / "ExactOnline_V32_2016.xaf")
    with pytest.raises(ParseError, match="not an XML file"):
        parse_saft(SAMPLES / "gl-exports" / "xlsx_bexio_example_format1_20221223.xlsx")

    other = tmp_path / "pt.xml"
    other.write_text('<?xml version="1.0"?><AuditFile xmlns="urn:OECD:StandardAuditFile-Tax:PT_1.04_01"/>')
    with pytest.raises(ParseError, match=r"variant .* is not supported"):
        parse_saft(other)


def test_entity_expansion_is_refused(tmp_path):
    lol = '<!DOCTYPE AuditFile [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
    path = write_saft(tmp_path, BALANCED.replace("Bilag 1", "&b;"), prolog=lol)
    with pytest.raises(ParseError, match="entities"):
        parse_saft(path)
