"""Every preset read from its own tiny export, detected from its header without being named."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from connectors.base import TRANSACTION_COLUMNS
from connectors.files import tabular
from connectors.files.presets import PRESETS
from connectors.files.tabular import detect_preset, parse_tabular
from pipeline.staging import stage
from tests.connectors.frames import merge_key_expr, transactions_of

D = Decimal

# name -> (file name, bytes, expected lines as (account, date, amount) sorted, extra checks)
FIXTURES: dict[str, tuple[str, bytes]] = {
    "bexio": (
        "bexio.csv",
        (
            "Datum;Referenz;Soll;Haben;Beschreibung;Betrag;Buchungswährung;Umrechnungsfaktor;"
            "Betrag in Basiswährung;Währung in Basiswährung;MWST\n"
            "03.01.2024;R-1;6500 - Büromaterial;1020 - Bank;Papier;120.00;CHF;1;120.00;CHF;\n"
            "04.01.2024;R-2;1025 - Bank EUR;3200 - Erlöse;Rechnung;100.00;EUR;0.95;95.00;CHF;\n"
        ).encode(),
    ),
    "infoniqa": (
        "infoniqa.csv",
        (
            b"Blg,Datum,Kto,S/H,Grp,GKto,SId,SIdx,KIdx,BTyp,MTyp,Code,Netto,Steuer,FW-Betrag,Tx1,Tx2,PkKey,OpId,Flag\n"
            b'7,5.2.2024,6500,S, ,1020,,0,0,0,1,,120.00,0.00,0.00,"Papier","",0,,0\n'
            b'7,5.2.2024,1020,H, ,6500,,0,0,0,1,,120.00,0.00,0.00,"Papier","",0,,0\n'
        ),
    ),
    "datev": (
        "EXTF_Buchungsstapel.csv",
        (
            '"EXTF";700;21;"Buchungsstapel";13;20240205120000000;;"RE";"";"";1001;20002;20230101;4;'
            '20231201;20240131;"Dezember/Januar";"";1;0;0;"EUR";;"";;;"";;;"";;;\n'
            "Umsatz (ohne Soll/Haben-Kz);Soll/Haben-Kennzeichen;WKZ Umsatz;Kurs;Basis-Umsatz;WKZ Basis-Umsatz;"
            "Konto;Gegenkonto (ohne BU-Schlüssel);BU-Schlüssel;Belegdatum;Belegfeld 1;Belegfeld 2;Skonto;"
            "Buchungstext;KOST1 - Kostenstelle;KOST2 - Kostenstelle\n"
            '1.190,00;"S";"";;;"";1200;8400;"";3112;"RE-99";"";;"Erlös Dezember";"100";"P7"\n'
            '110,00;"H";"USD";1,1;100,00;"EUR";1200;4930;"";0501;"K-1";"";;"Bürobedarf";"";""\n'
        ).encode("cp1252"),
    ),
    "exact_online": (
        "exact.csv",
        (
            b"Journal,Journal description,Entry number,Date,Financial year,Period,G/L account,"
            b"G/L account description,Description,Amount,Currency,Amount FC,Cost center\n"
            b'70,Memorial,24700001,15-01-2024,2024,1,4000,Rent,January rent,"1,500.00",EUR,,100\n'
            b'70,Memorial,24700001,15-01-2024,2024,1,1100,Bank,January rent,"-1,500.00",EUR,,\n'
        ),
    ),
    "afas": (
        "afas.csv",
        (
            b"Dagboek;Nummer journaalpost;Volgnummer journaalpost;Datum boeking;Jaar;Periode;Rekeningnummer;"
            b"Omschrijving boeking;Bedrag debet;Bedrag credit;Kostenplaats\n"
            b"50;1234;1;05-02-2024;2024;2;4300;Kantoorartikelen;250,00;0,00;K01\n"
            b"50;1234;2;05-02-2024;2024;2;1600;Kantoorartikelen;0,00;250,00;\n"
        ),
    ),
    "twinfield": (
        "twinfield.csv",
        (
            b"Jaar/periode (JJJJ/PP);Dagboek;Boekingsnummer;Boekdatum;Grootboekrek.;Grootboekrek.naam;"
            b"Kpl./rel.;Valuta;Bedrag;Basisbedrag;D/C;Omschrijving\n"
            b"2024/03;MEMO;202400012;15-03-2024;4000;Huur;KPL1;USD;110,00;100,00;debit;Huur maart\n"
            b"2024/03;MEMO;202400012;15-03-2024;1100;Bank;;USD;-110,00;-100,00;credit;Huur maart\n"
        ),
    ),
    "xero": (
        "xero_general_ledger.csv",
        (
            b"General Ledger Detail\n"
            b"Demo Company (UK)\n"
            b"For the period 1 January 2024 to 31 January 2024\n"
            b"\n"
            b"Date,Source,Description,Reference,Debit (GBP),Credit (GBP),Running Balance (GBP)\n"
            b"Sales (200)\n"
            b"Opening Balance,,,,,,0.00\n"
            b'15 Jan 2024,Receivable Invoice,Invoice INV-0001,INV-0001,,"1,200.00",-1200.00\n'
            b"20 Jan 2024,Receivable Invoice,Invoice INV-0002,INV-0002,,300.00,-1500.00\n"
            b'Total Sales,,,,0.00,"1,500.00",\n'
            b"Closing Balance,,,,,,-1500.00\n"
            b"Business Bank Account (090)\n"
            b'15 Jan 2024,Receive Money,Payment INV-0001,,"1,200.00",,1200.00\n'
            b"20 Jan 2024,Receive Money,Payment INV-0002,,300.00,,1500.00\n"
            b'Total Business Bank Account,,,,"1,500.00",0.00,\n'
        ),
    ),
    "quickbooks": (
        "Journal.csv",
        (
            b"Craig's Design and Landscaping Services\n"
            b"Journal\n"
            b"January 2024\n"
            b"\n"
            b",Date,Transaction Type,Num,Name,Memo/Description,Account,Debit,Credit\n"
            b',01/15/2024,Invoice,1001,Amy\'s Bird Sanctuary,,Accounts Receivable (A/R),"$1,250.00",\n'
            b',,,,Amy\'s Bird Sanctuary,Design work,Design income,,"$1,250.00"\n'
            b',,,,,,,"$1,250.00","$1,250.00"\n'
            b",01/20/2024,Payment,,Amy's Bird Sanctuary,,Checking,500.00,\n"
            b",,,,Amy's Bird Sanctuary,,Accounts Receivable (A/R),,500.00\n"
            b",,,,,,,500.00,500.00\n"
            b'TOTAL,,,,,,,"$1,750.00","$1,750.00"\n'
            b"\n"
            b"\n"
            b"Accrual basis Monday, February 5, 2024 10:00 AM GMT-08:00\n"
        ),
    ),
    "trial_balance": (
        "tb.csv",
        (
            b"Account;Name;Period;Debit;Credit\n"
            b"1000;Bank;2024-01;1.000,00;\n"
            b"4000;Sales;2024-01;;1.000,00\n"
            b"1000;Bank;2024-02;500,00;\n"
            b"4000;Sales;2024-02;;200,00\n"
            b"4000;Sales;2024-02;;300,00\n"
        ),
    ),
    "adventureworks": ("FactFinance.csv", b""),  # written with its DimAccount.csv below
    "standard": (
        "ledger.csv",
        (
            b"date,journal,entry,line,account,account_name,description,amount,currency,cost_centre\n"
            b"2024-01-31,MEM,7,1,4000,Rent,January rent,1500.00,EUR,100\n"
            b"2024-01-31,MEM,7,2,1100,Bank,January rent,-1500.00,EUR,\n"
        ),
    ),
}

EXPECTED: dict[str, list[tuple[str, date, str]]] = {
    "bexio": [
        ("1020", date(2024, 1, 3), "-120.00"),
        ("1025", date(2024, 1, 4), "95.00"),
        ("3200", date(2024, 1, 4), "-95.00"),
        ("6500", date(2024, 1, 3), "120.00"),
    ],
    "infoniqa": [("1020", date(2024, 2, 5), "-120.00"), ("6500", date(2024, 2, 5), "120.00")],
    "datev": [
        ("1200", date(2023, 12, 31), "1190.00"),
        ("1200", date(2024, 1, 5), "-100.00"),
        ("4930", date(2024, 1, 5), "100.00"),
        ("8400", date(2023, 12, 31), "-1190.00"),
    ],
    "exact_online": [("1100", date(2024, 1, 15), "-1500.00"), ("4000", date(2024, 1, 15), "1500.00")],
    "standard": [("1100", date(2024, 1, 31), "-1500.00"), ("4000", date(2024, 1, 31), "1500.00")],
    "afas": [("1600", date(2024, 2, 5), "-250.00"), ("4300", date(2024, 2, 5), "250.00")],
    "twinfield": [("1100", date(2024, 3, 15), "-100.00"), ("4000", date(2024, 3, 15), "100.00")],
    "xero": [
        ("090", date(2024, 1, 15), "1200.00"),
        ("090", date(2024, 1, 20), "300.00"),
        ("200", date(2024, 1, 15), "-1200.00"),
        ("200", date(2024, 1, 20), "-300.00"),
    ],
    "quickbooks": [
        ("Accounts Receivable (A/R)", date(2024, 1, 15), "1250.00"),
        ("Accounts Receivable (A/R)", date(2024, 1, 20), "-500.00"),
        ("Checking", date(2024, 1, 20), "500.00"),
        ("Design income", date(2024, 1, 15), "-1250.00"),
    ],
    "trial_balance": [
        ("1000", date(2024, 1, 31), "1000.00"),
        ("1000", date(2024, 2, 29), "500.00"),
        ("4000", date(2024, 1, 31), "-1000.00"),
        ("4000", date(2024, 2, 29), "-500.00"),
    ],
    "adventureworks": [
        ("4110", date(2011, 1, 29), "-500.00"),
        ("6000", date(2010, 12, 29), "220.50"),
    ],
}


def fixture_path(tmp_path: Path, name: str) -> Path:
    if name == "adventureworks":
        (tmp_path / "DimAccount.csv").write_text(
            "47||4||Net Income|Revenue|+||Currency|\n"
            "51|47|4110|4|Gross Sales|Revenue|+||Currency|\n"
            "60|47|6000|4|Salaries|Expenditures|+||Currency|\n"
        )
        path = tmp_path / "FactFinance.csv"
        path.write_text(
            "1|20101229|3|1|1|60|220.5|2010-12-29\n"
            "2|20101229|3|1|2|60|999.0|2010-12-29\n"
            "3|20110129|5|2|1|51|500.0|2011-01-29\n"
        )
        return path
    file_name, content = FIXTURES[name]
    path = tmp_path / file_name
    path.write_bytes(content)
    return path


def lines(extraction) -> list[tuple[str, date, Decimal]]:
    stream = next(s for s in extraction.streams if s.stream == "transactions")
    frame = stream.rows.collect() if isinstance(stream.rows, pl.LazyFrame) else stream.rows
    return sorted(zip(frame["account_code"], frame["tx_date"], frame["amount"], strict=True))


frame_of = transactions_of


def test_every_preset_has_a_fixture():
    assert set(FIXTURES) == set(PRESETS) - {"generic"}
    for preset in PRESETS.values():
        assert preset.describe().startswith(preset.label)


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_preset_reads_its_fixture(tmp_path, name):
    path = fixture_path(tmp_path, name)
    expected = [(a, d, D(v)) for a, d, v in EXPECTED[name]]
    assert lines(parse_tabular(path, preset=name)) == expected
    # and the same without naming the preset
    assert detect_preset(path)[0] == name
    extraction = parse_tabular(path)
    assert extraction.stats["preset"] == name
    assert lines(extraction) == expected
    assert frame_of(extraction)["key"].n_unique() == len(expected)


def test_datev_header_year_range_currency_and_cost_centres(tmp_path):
    extraction = parse_tabular(fixture_path(tmp_path, "datev"))
    frame = frame_of(extraction).sort(["tx_date", "amount"])
    assert frame["cost_centre"].to_list() == ["100", "100", None, None]
    assert frame["project"].to_list() == ["P7", "P7", None, None]
    assert frame["description"].to_list()[2:] == ["Bürobedarf", "Bürobedarf"]  # read as windows-1252
    usd = frame.filter(pl.col("currency_fc") == "USD").sort("amount")
    assert usd["amount_fc"].to_list() == [D("-110.00"), D("110.00")]
    assert extraction.entity.currency == "EUR"
    assert extraction.entity.external_id == "1001/20002"
    stream = next(s for s in extraction.streams if s.stream == "transactions")
    assert stream.ranges == [(date(2023, 12, 1), date(2023, 12, 31)), (date(2024, 1, 1), date(2024, 1, 31))]


def test_plain_headings_keep_journal_entry_and_line_numbers(tmp_path):
    # Headings named after the fields: before the standard preset this file was read as a
    # QuickBooks report, which has no line numbers, and its journal, entry and lines were lost.
    path = tmp_path / "home-made.csv"
    path.write_bytes(
        b"Date;Journal;Entry;Line;Account;Description;Debit;Credit\n"
        b"02/01/2024;VK;12;1;1300;Invoice 12;121,00;\n"
        b"02/01/2024;VK;12;2;8000;Invoice 12;;100,00\n"
        b"02/01/2024;VK;12;3;1500;Invoice 12;;21,00\n"
    )
    assert detect_preset(path)[0] == "standard"
    extraction = parse_tabular(path)
    frame = frame_of(extraction).sort("line")
    assert frame["key"].to_list() == ["VK|12|1", "VK|12|2", "VK|12|3"]
    assert frame["amount"].to_list() == [D("121.00"), D("-100.00"), D("-21.00")]
    # Day first, as the decimal comma says: not QuickBooks' US month-first dates.
    assert set(frame["tx_date"]) == {date(2024, 1, 2)}
    stream = next(s for s in extraction.streams if s.stream == "transactions")
    assert stream.derived_keys and frame["line_key"].null_count() == frame.height


def test_afas_uses_journal_entry_and_line_numbers_as_keys(tmp_path):
    frame = frame_of(parse_tabular(fixture_path(tmp_path, "afas"))).sort("key")
    assert frame["key"].to_list() == ["50|1234|1", "50|1234|2"]
    assert frame["fiscal_year"].to_list() == [2024, 2024] and frame["period"].to_list() == [2, 2]
    assert frame["cost_centre"].to_list() == ["K01", None]


def test_twinfield_year_period_and_foreign_currency(tmp_path):
    frame = frame_of(parse_tabular(fixture_path(tmp_path, "twinfield"))).sort("amount")
    assert frame["fiscal_year"].to_list() == [2024, 2024] and frame["period"].to_list() == [3, 3]
    assert frame["amount_fc"].to_list() == [D("-110.00"), D("110.00")]
    assert frame["currency_fc"].to_list() == ["USD", "USD"]
    assert frame["journal"].to_list() == ["MEMO", "MEMO"] and frame["entry"].to_list() == ["202400012"] * 2


def test_twinfield_unsigned_amounts_take_the_sign_of_dc(tmp_path):
    path = tmp_path / "tw.csv"
    path.write_text(
        "Dagboek;Boekingsnummer;Boekdatum;Grootboekrek.;Basisbedrag;D/C;Omschrijving\n"
        "MEMO;1;15-03-2024;4000;100,00;debit;x\n"
        "MEMO;1;15-03-2024;1100;100,00;credit;x\n"
    )
    assert [a for _, _, a in lines(parse_tabular(path, preset="twinfield"))] == [D("-100.00"), D("100.00")]


def test_xero_accounts_from_headings(tmp_path):
    extraction = parse_tabular(fixture_path(tmp_path, "xero"))
    stream = next(s for s in extraction.streams if s.stream == "accounts")
    assert dict(zip(stream.rows["code"], stream.rows["name"], strict=True)) == {
        "090": "Business Bank Account",
        "200": "Sales",
    }
    first = frame_of(extraction).filter(pl.col("where") == "line 8")
    assert first["journal"].to_list() == ["Receivable Invoice"]
    assert first["document_no"].to_list() == ["INV-0001"]
    assert any(p.kind == "report_layout" for p in extraction.problems)


def test_quickbooks_fills_the_transaction_down_but_not_across(tmp_path):
    frame = frame_of(parse_tabular(fixture_path(tmp_path, "quickbooks"))).sort(["tx_date", "amount"])
    assert frame["journal"].to_list() == ["Invoice", "Invoice", "Payment", "Payment"]
    assert frame["entry"].to_list() == ["1001", "1001", None, None]
    assert frame["description"].to_list()[0] == "Design work"


def test_trial_balance_lines_per_account_and_month(tmp_path):
    frame = frame_of(parse_tabular(fixture_path(tmp_path, "trial_balance"))).sort("key")
    assert frame["key"].to_list() == [
        "TB|1000|2024-01",
        "TB|1000|2024-02",
        "TB|4000|2024-01",
        "TB|4000|2024-02",
    ]
    assert set(frame["journal"]) == {"TB"}
    assert frame["fiscal_year"].to_list() == [2024] * 4
    assert frame["period"].to_list() == [1, 2, 1, 2]


def test_trial_balance_closing_balances_become_movements(tmp_path):
    path = tmp_path / "closing.csv"
    path.write_text(
        "Account,Name,Period,Closing balance\n"
        "1000,Bank,01/2024,1000.00\n"
        "1000,Bank,02/2024,1500.00\n"
        "3000,Equity,01/2024,-1000.00\n"
        "3000,Equity,02/2024,-1500.00\n"
    )
    extraction = parse_tabular(path)
    assert extraction.stats["preset"] == "trial_balance"
    assert extraction.stats["tb_values"] == "closing"
    assert lines(extraction) == [
        ("1000", date(2024, 1, 31), D("1000.00")),
        ("1000", date(2024, 2, 29), D("500.00")),
        ("3000", date(2024, 1, 31), D("-1000.00")),
        ("3000", date(2024, 2, 29), D("-500.00")),
    ]


def test_trial_balance_with_year_and_period_numbers(tmp_path):
    path = tmp_path / "tb.csv"
    path.write_text(
        "Rekening;Omschrijving;Jaar;Periode;Saldo\n4000;Omzet;2024;3;-10,00\n1000;Kas;2024;3;10,00\n"
    )
    extraction = parse_tabular(path, preset="trial_balance")
    assert lines(extraction) == [
        ("1000", date(2024, 3, 31), D("10.00")),
        ("4000", date(2024, 3, 31), D("-10.00")),
    ]


def test_trial_balance_bad_period_names_the_line(tmp_path):
    path = tmp_path / "tb.csv"
    path.write_text("Account;Name;Period;Balance\n1000;Bank;2024-01;1,00\n1000;Bank;soon;1,00\n")
    with pytest.raises(Exception, match=r"tb.csv, line 3, field 'Period': 'soon' is not a month or period"):
        parse_tabular(path, preset="trial_balance")


def test_adventureworks_keeps_actuals_and_signs_by_account_type(tmp_path):
    extraction = parse_tabular(fixture_path(tmp_path, "adventureworks"))
    assert extraction.stats["lines"] == 2
    assert extraction.stats["debit_total"] == "220.50" and extraction.stats["credit_total"] == "500.00"
    assert not any(p.kind == "unbalanced_file" for p in extraction.problems)


def test_generic_with_user_columns(tmp_path):
    path = tmp_path / "mine.csv"
    path.write_text("When|GL|Value|Memo\n2024-07-01|7000|-5.00|fee\n2024-07-01|1000|5.00|fee\n")
    extraction = parse_tabular(
        path,
        preset="generic",
        options={"columns": {"date": "When", "account": "GL", "amount": "Value", "description": "Memo"}},
    )
    assert lines(extraction) == [
        ("1000", date(2024, 7, 1), D("5.00")),
        ("7000", date(2024, 7, 1), D("-5.00")),
    ]
    assert extraction.stats["columns"] == {
        "date": "When",
        "account": "GL",
        "amount": "Value",
        "description": "Memo",
    }


# --- the one-pass parse writes the staged file itself: it must stage exactly what the general path does


def staged_lines(path: Path, tmp_path: Path, one_pass: bool, **kwargs) -> tuple[pl.DataFrame, bool]:
    """The staged transactions of a file, and whether the parser's own copy was the staged file."""
    folder = tmp_path / f"run-{one_pass}"
    (folder / "scratch").mkdir(parents=True)
    saved = tabular.ONE_PASS
    tabular.ONE_PASS = one_pass
    try:
        extraction = parse_tabular(path, scratch_dir=folder / "scratch", **kwargs)
    finally:
        tabular.ONE_PASS = saved
    tx = next(s for s in extraction.streams if s.stream == "transactions")
    staged = stage(
        extraction,
        folder,
        currency=kwargs.get("currency") or extraction.entity.currency,
        fy_start=kwargs.get("fiscal_year_start_month") or extraction.entity.fiscal_year_start_month or 1,
    )
    frame = pl.read_parquet(staged.streams["transactions"].path).select(list(TRANSACTION_COLUMNS))
    return frame.sort(merge_key_expr()), tx.prestaged is not None


ONE_PASS_FILES = {
    # name: (file content, expected to be staged by the parser itself)
    "plain": (
        b"date,journal,entry,line,account,amount\n2024-01-31,MEM,1,1,1000,10.00\n2024-01-31,MEM,1,2,4000,-10.00\n",
        True,
    ),
    "blank rows": (
        b"date,journal,entry,line,account,amount\n2024-01-31,MEM,1,1,1000,10.00\n,,,,,\n2024-01-31,MEM,1,2,4000,-10.00\n",
        False,
    ),
    "repeated line numbers": (
        b"date,journal,entry,line,account,amount\n2024-01-31,MEM,1,1,1000,10.00\n2024-01-31,MEM,1,1,4000,-10.00\n",
        False,
    ),
    "no line numbers": (
        b"date,journal,entry,account,amount\n2024-01-31,MEM,1,1000,10.00\n2024-01-31,MEM,1,1000,10.00\n2024-01-31,MEM,1,4000,-20.00\n",
        False,
    ),
}


@pytest.mark.parametrize("name", sorted(ONE_PASS_FILES))
def test_one_pass_stages_what_the_general_path_stages(tmp_path, name):
    content, expected_prestaged = ONE_PASS_FILES[name]
    path = tmp_path / "ledger.csv"
    path.write_bytes(content)
    options = {
        "preset": "generic",
        "options": {"columns": {f: f for f in content.decode().split("\n")[0].split(",")}},
    }
    one, prestaged = staged_lines(path, tmp_path, True, currency="EUR", fiscal_year_start_month=4, **options)
    general, _ = staged_lines(path, tmp_path, False, currency="EUR", fiscal_year_start_month=4, **options)
    assert prestaged is expected_prestaged
    assert one.equals(general)
    # the entity's fiscal year (April) and currency filled in
    assert one["fiscal_year"].to_list() == [2023] * one.height
    assert one["period"].to_list() == [10] * one.height
    assert set(one["currency"]) == {"EUR"}


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_one_pass_stages_every_preset_as_the_general_path_does(tmp_path, name):
    path = fixture_path(tmp_path, name)
    one, _ = staged_lines(path, tmp_path, True, preset=name)
    general, _ = staged_lines(path, tmp_path, False, preset=name)
    assert one.height > 0
    assert one.equals(general)


@pytest.mark.parametrize(
    "sample",
    [
        "gl-exports/csv_bexio_example_format1_20221223.csv",
        "gl-exports/csv_infoniqa_example_format1_2024.csv",
        "gl-exports/datev_EXTF_Buchungstapel_test.csv",
        "gl-exports/xlsx_bexio_example_format1_20221223.xlsx",
    ],
)
def test_one_pass_stages_the_real_exports_as_the_general_path_does(tmp_path, samples, sample):
    one, _ = staged_lines(samples / sample, tmp_path, True)
    general, _ = staged_lines(samples / sample, tmp_path, False)
    assert one.height > 0
    assert one.equals(general)
