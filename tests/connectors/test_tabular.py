"""CSV and Excel ledger exports: the real samples, every number/date/encoding/shape variant, errors."""

from __future__ import annotations

import csv
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import openpyxl
import polars as pl
import pytest

from connectors.base import TRANSACTION_COLUMNS, ExtractRequest
from connectors.files.tabular import CsvConnector, XlsxConnector, detect_preset, parse_tabular, preview
from pipeline.errors import InputTooLarge, ParseError
from tests.connectors.frames import transactions_of

GL = ("gl-exports",)


transactions = transactions_of


def accounts(extraction) -> pl.DataFrame:
    stream = next(s for s in extraction.streams if s.stream == "accounts")
    return stream.rows.collect() if isinstance(stream.rows, pl.LazyFrame) else stream.rows


def totals(amounts) -> tuple[int, Decimal, Decimal]:
    amounts = list(amounts)
    return (
        len(amounts),
        sum((a for a in amounts if a > 0), Decimal("0.00")),
        -sum((a for a in amounts if a < 0), Decimal("0.00")),
    )


def assert_totals(extraction, expected: tuple[int, Decimal, Decimal]) -> None:
    n, debit, credit = expected
    assert extraction.stats["lines"] == n
    assert Decimal(extraction.stats["debit_total"]) == debit
    assert Decimal(extraction.stats["credit_total"]) == credit
    frame = transactions(extraction)
    assert frame.height == n
    assert totals(frame["amount"].to_list()) == expected


def write(tmp_path: Path, name: str, content: str | bytes, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode(encoding))
    return path


# --- the real samples: totals computed here from the files with csv + Decimal -------------------


def bexio_expected(path: Path) -> tuple[int, Decimal, Decimal]:
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter=";"))
    amounts = []
    for row in rows:
        value = Decimal(row["Betrag in Basiswährung"])
        amounts += [value, -value]  # Soll gets +, Haben gets -
    return totals(amounts)


def test_bexio_csv(samples):
    path = samples / "gl-exports" / "csv_bexio_example_format1_20221223.csv"
    expected = bexio_expected(path)
    assert expected == (438, Decimal("935048.86"), Decimal("935048.86"))
    extraction = parse_tabular(path)
    assert extraction.format == "csv"
    assert extraction.stats["preset"] == "bexio"
    assert_totals(extraction, expected)
    frame = transactions(extraction)
    assert frame["key"].n_unique() == frame.height
    first = frame.filter(pl.col("where") == "line 2").sort("amount")
    assert first["account_code"].to_list() == ["2000", "6555"]
    assert first["amount"].to_list() == [Decimal("-18.00"), Decimal("18.00")]
    assert first["tx_date"].to_list() == [date(2022, 8, 22)] * 2
    # 219 bookings over Jan-Aug 2022: one replace range per calendar month
    stream = next(s for s in extraction.streams if s.stream == "transactions")
    assert stream.replace == "ranges"
    assert stream.ranges[0] == (date(2022, 1, 1), date(2022, 1, 31))
    assert stream.ranges[-1] == (date(2022, 8, 1), date(2022, 8, 31))
    assert len(stream.ranges) == 8
    # account names come from "6555 - Uebrige ..." and keep the file's own replacement characters
    chart = accounts(extraction)
    names = dict(zip(chart["code"], chart["name"], strict=True))
    assert names["1020"] == "PostFinance AG"
    assert names["6555"] == "Uebrige B\ufffdro-/Verwaltungsaufwand"
    assert next(s for s in extraction.streams if s.stream == "accounts").replace == "none"
    assert any(p.kind == "encoding" and "42" in p.message for p in extraction.problems)
    # foreign-currency bookings keep the EUR amount beside the CHF one
    eur = frame.filter(pl.col("currency_fc") == "EUR")
    assert eur.height == 2 * 22
    row = eur.filter(pl.col("amount") == Decimal("12.61"))
    assert row["amount_fc"].to_list() == [Decimal("12.01")]
    assert set(frame["currency"].unique()) == {"CHF"}


def test_bexio_xlsx_matches_the_csv(samples):
    csv_path = samples / "gl-exports" / "csv_bexio_example_format1_20221223.csv"
    path = samples / "gl-exports" / "xlsx_bexio_example_format1_20221223.xlsx"
    workbook = openpyxl.load_workbook(path, read_only=True)
    rows = list(workbook.worksheets[0].iter_rows(values_only=True))[1:]
    amounts = []
    for row in rows:
        value = Decimal(repr(row[8])).quantize(Decimal("0.01"))
        amounts += [value, -value]
    expected = totals(amounts)
    assert expected == bexio_expected(csv_path)
    extraction = parse_tabular(path)
    assert extraction.format == "xlsx"
    assert extraction.stats["preset"] == "bexio"
    assert_totals(extraction, expected)
    # the workbook has the umlauts the CSV lost
    names = dict(zip(accounts(extraction)["code"], accounts(extraction)["name"], strict=True))
    assert names["6555"] == "Uebrige Büro-/Verwaltungsaufwand"
    frame = transactions(extraction)
    assert frame["where"].sort()[0].startswith("sheet 'export_part_.csv', row ")


def test_infoniqa(samples):
    path = samples / "gl-exports" / "csv_infoniqa_example_format1_2024.csv"
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    expected = totals(Decimal(r["Netto"]) * (1 if r["S/H"] == "S" else -1) for r in rows)
    assert expected == (1295, Decimal("355190.72"), Decimal("355190.72"))
    extraction = parse_tabular(path)
    assert extraction.stats["preset"] == "infoniqa"
    assert_totals(extraction, expected)
    frame = transactions(extraction)
    booking = frame.filter(pl.col("entry") == "1").sort("amount")
    assert booking["account_code"].to_list() == ["1100", "3450"]
    assert booking["tx_date"].to_list() == [date(2024, 1, 1)] * 2
    assert booking["description"].to_list() == ["Test Test2"] * 2
    assert len(next(s for s in extraction.streams if s.stream == "transactions").ranges) == 12


def test_datev_extf(samples):
    path = samples / "gl-exports" / "datev_EXTF_Buchungstapel_test.csv"
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh, delimiter=";"))[2:]
    amounts = []
    for row in rows:
        value = Decimal(row[0].replace(".", "").replace(",", "."))
        sign = 1 if row[1] == "S" else -1
        amounts += [sign * value, -sign * value]  # Konto gets S/H, Gegenkonto the opposite
    expected = totals(amounts)
    assert expected == (82, Decimal("50916.55"), Decimal("50916.55"))
    extraction = parse_tabular(path)
    assert extraction.stats["preset"] == "datev"
    assert_totals(extraction, expected)
    frame = transactions(extraction)
    first = frame.filter(pl.col("where") == "line 3").sort("amount")
    assert first["account_code"].to_list() == ["8200", "1200"]
    assert first["amount"].to_list() == [Decimal("-18382.86"), Decimal("18382.86")]
    # Belegdatum 0201 + the header's 2022 date range
    assert first["tx_date"].to_list() == [date(2022, 1, 2)] * 2
    assert first["document_no"].to_list() == ["b01", "b01"]
    assert extraction.entity.currency == "EUR"
    assert extraction.entity.external_id == "8888888/99999"
    assert extraction.entity.fiscal_year_start_month == 1


def test_adventureworks_factfinance(samples):
    folder = samples / "demo-ledger" / "adventureworks"
    with (folder / "DimAccount.csv").open(encoding="utf-8", newline="") as fh:
        chart = {r[0]: r for r in csv.reader(fh, delimiter="|")}
    with (folder / "FactFinance.csv").open(encoding="utf-8", newline="") as fh:
        rows = [r for r in csv.reader(fh, delimiter="|") if r[4] == "1"]
    amounts = [Decimal(r[6]) * (-1 if chart[r[5]][5] in ("Liabilities", "Revenue") else 1) for r in rows]
    expected = (len(amounts), *totals(amounts)[1:])
    assert expected == (34563, Decimal("674104749.06"), Decimal("682413044.92"))
    extraction = parse_tabular(folder / "FactFinance.csv")
    assert extraction.stats["preset"] == "adventureworks"
    assert_totals(extraction, expected)
    # totals per account equal the file's (no invented offsets)
    frame = transactions(extraction)
    sales = frame.filter(pl.col("account_code") == "4110")["amount"].sum()
    assert sales == -sum(Decimal(r[6]) for r in rows if r[5] == "51")
    line = frame.filter(pl.col("key") == "FF|1")
    assert line["account_code"].to_list() == ["6000"]
    assert line["cost_centre"].to_list() == ["3"] and line["project"].to_list() == ["1"]
    chart_frame = accounts(extraction)
    assert chart_frame.height == len(chart)
    salaries = chart_frame.filter(pl.col("code") == "6000").row(0, named=True)
    assert (salaries["name"], salaries["account_type"], salaries["parent_code"]) == ("Salaries", "pnl", "600")
    dims = next(s for s in extraction.streams if s.stream == "dimensions").rows
    assert dims.filter(pl.col("axis") == "cost_centre").height == 14
    assert dims.filter(pl.col("axis") == "project").height == 7


def test_csv_transactions_are_lazy(samples):
    extraction = parse_tabular(samples / "gl-exports" / "csv_infoniqa_example_format1_2024.csv")
    stream = next(s for s in extraction.streams if s.stream == "transactions")
    assert isinstance(stream.rows, pl.LazyFrame)
    assert stream.rows.collect_schema() == pl.Schema(TRANSACTION_COLUMNS)


def test_connectors_read_the_request_path(samples):
    path = samples / "gl-exports" / "csv_infoniqa_example_format1_2024.csv"
    extraction = CsvConnector().extract(
        ExtractRequest(entity_name="X", path=path, options={"preset": "infoniqa"})
    )
    assert extraction.stats["lines"] == 1295
    xlsx = samples / "gl-exports" / "xlsx_bexio_example_format1_20221223.xlsx"
    assert XlsxConnector().extract(ExtractRequest(entity_name="X", path=xlsx)).stats["lines"] == 438
    assert (CsvConnector.name, XlsxConnector.name, CsvConnector.kind) == ("csv", "xlsx", "file")


def test_the_file_is_parsed_once_into_the_run_scratch_folder(tmp_path):
    body = "".join(f"2024-02-{d:02d};4000;{d},50\n2024-02-{d:02d};1000;-{d},50\n" for d in range(1, 29))
    path = write(tmp_path, "ledger.csv", "Date;Account;Amount\n" + body)
    scratch = tmp_path / "run" / "scratch"
    extraction = CsvConnector().extract(
        ExtractRequest(
            entity_name="X",
            path=path,
            options={"columns": {"date": "Date", "account": "Account", "amount": "Amount"}},
            scratch_dir=scratch,
        )
    )
    assert [p.suffix for p in scratch.iterdir()] == [".parquet"]
    path.unlink()  # the transactions read the parsed copy, not the upload
    expected = sum(Decimal(f"{d}.50") for d in range(1, 29))
    assert_totals(extraction, (56, expected, expected))


# --- line keys ---------------------------------------------------------------------------------


def test_line_keys_survive_reupload_and_reordering(tmp_path, samples):
    source = samples / "gl-exports" / "csv_bexio_example_format1_20221223.csv"
    lines = source.read_bytes().split(b"\n")
    header, body = lines[0], [ln for ln in lines[1:] if ln]
    reordered = write(tmp_path, "reordered.csv", b"\n".join([header, *reversed(body)]) + b"\n")

    def keyed(path):
        frame = transactions(parse_tabular(path))
        return dict(zip(frame["key"], frame["amount"], strict=True))

    first, again, reversed_keys = keyed(source), keyed(source), keyed(reordered)
    assert len(first) == 438
    assert first == again == reversed_keys


def test_identical_lines_get_numbered_keys(tmp_path):
    path = write(
        tmp_path,
        "dups.csv",
        "Date;Account;Amount;Text\n"
        "2024-01-05;4000;-10.00;coffee\n"
        "2024-01-05;4000;-10.00;coffee\n"
        "2024-01-05;4000;-10.00;tea\n"
        "2024-01-05;1000;30.00;cash\n",
    )
    extraction = parse_tabular(
        path,
        options={
            "columns": {"date": "Date", "account": "Account", "amount": "Amount", "description": "Text"}
        },
    )
    keys = sorted(transactions(extraction)["key"])
    assert keys == [
        "||2024-01-05|1000|30.00|1",
        "||2024-01-05|4000|-10.00|1",
        "||2024-01-05|4000|-10.00|2",
        "||2024-01-05|4000|-10.00|3",
    ]


# --- numbers, dates, encodings, delimiters, amount shapes -----------------------------------------

SIGNED = {"date": "Date", "account": "Account", "amount": "Amount", "description": "Text"}

CASES = [
    # id, file content, options, expected amounts
    (
        "decimal comma, dot thousands",
        "Date;Account;Amount\n01.02.2024;4000;1.234,56\n01.02.2024;1000;-1.234,56\n",
        {},
        ["1234.56", "-1234.56"],
    ),
    (
        "comma thousands, point decimal",
        'Date,Account,Amount\n2024-02-01,4000,"1,234.56"\n2024-02-01,1000,"-1,234.56"\n',
        {},
        ["1234.56", "-1234.56"],
    ),
    (
        "space thousands",
        "Date;Account;Amount\n01.02.2024;4000;1 234,56\n01.02.2024;1000;-1\u00a0234,56\n",
        {},
        ["1234.56", "-1234.56"],
    ),
    (
        "swiss apostrophe",
        "Date;Account;Amount\n01.02.2024;4000;1'234.50\n01.02.2024;1000;-1'234.50\n",
        {},
        ["1234.50", "-1234.50"],
    ),
    (
        "parentheses negative",
        "Date,Account,Amount\n2024-02-01,4000,123.45\n2024-02-01,1000,(123.45)\n",
        {},
        ["123.45", "-123.45"],
    ),
    (
        "trailing minus",
        "Date;Account;Amount\n01.02.2024;4000;123,45\n01.02.2024;1000;123,45-\n",
        {},
        ["123.45", "-123.45"],
    ),
    (
        "tab delimiter",
        "Date\tAccount\tAmount\n2024-02-01\t4000\t5.00\n2024-02-01\t1000\t-5.00\n",
        {},
        ["5.00", "-5.00"],
    ),
    (
        "pipe delimiter",
        "Date|Account|Amount\n2024-02-01|4000|5.00\n2024-02-01|1000|-5.00\n",
        {},
        ["5.00", "-5.00"],
    ),
    (
        "explicit decimal option",
        "Date;Account;Amount\n01.02.2024;4000;1.500\n01.02.2024;1000;-1.500\n",
        {"decimal": ","},
        ["1500.00", "-1500.00"],
    ),
]


@pytest.mark.parametrize(
    ("content", "options", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_number_formats(tmp_path, content, options, expected):
    path = write(tmp_path, "ledger.csv", content)
    extraction = parse_tabular(
        path, options={"columns": {"date": "Date", "account": "Account", "amount": "Amount"}, **options}
    )
    frame = transactions(extraction).sort("where")
    assert frame["amount"].to_list() == [Decimal(v) for v in expected]
    assert frame["tx_date"].to_list() == [date(2024, 2, 1)] * 2


DATE_CASES = [
    ("dd-mm-yyyy", "31-12-2024", {}, date(2024, 12, 31)),
    ("d.m.yyyy", "1.1.2024", {}, date(2024, 1, 1)),
    ("iso", "2024-12-31", {}, date(2024, 12, 31)),
    ("iso with time", "2024-12-31 00:00:00", {}, date(2024, 12, 31)),
    ("excel serial in csv", "45657", {}, date(2024, 12, 31)),
    ("dd/mm/yyyy", "31/12/2024", {}, date(2024, 12, 31)),
    ("yyyymmdd", "20241231", {}, date(2024, 12, 31)),
    ("d mon yyyy", "31 Dec 2024", {}, date(2024, 12, 31)),
    ("explicit US format", "12/31/2024", {"date_format": "%m/%d/%Y"}, date(2024, 12, 31)),
]


@pytest.mark.parametrize(
    ("value", "options", "expected"), [c[1:] for c in DATE_CASES], ids=[c[0] for c in DATE_CASES]
)
def test_date_formats(tmp_path, value, options, expected):
    path = write(tmp_path, "ledger.csv", f"Date;Account;Amount\n{value};4000;1.00\n{value};1000;-1.00\n")
    extraction = parse_tabular(
        path, options={"columns": {"date": "Date", "account": "Account", "amount": "Amount"}, **options}
    )
    assert transactions(extraction)["tx_date"].to_list() == [expected, expected]
    month = date(expected.year, expected.month, 1)
    assert next(s for s in extraction.streams if s.stream == "transactions").ranges == [
        (month, expected.replace(day=31))
    ]


def test_us_dates_are_not_read_day_first_by_default(tmp_path):
    path = write(tmp_path, "ledger.csv", "Date;Account;Amount\n12/31/2024;4000;1.00\n")
    with pytest.raises(ParseError) as info:
        parse_tabular(path, options={"columns": {"date": "Date", "account": "Account", "amount": "Amount"}})
    assert "'12/31/2024' is not a date" in info.value.message
    assert "line 2" in info.value.message


ENCODING_CASES = [
    ("utf-8", "utf-8", b""),
    ("utf-8 with BOM", "utf-8", b"\xef\xbb\xbf"),
    ("windows-1252", "cp1252", b""),
    ("iso-8859-1", "latin-1", b""),
]


@pytest.mark.parametrize(
    ("codec", "prefix"), [c[1:] for c in ENCODING_CASES], ids=[c[0] for c in ENCODING_CASES]
)
def test_encodings(tmp_path, codec, prefix):
    text = "Datum;Konto;Betrag;Text\n01.03.2024;6000;12,50;Bürobedarf Müller\n01.03.2024;1020;-12,50;Café Zürich\n"
    path = write(tmp_path, "ledger.csv", prefix + text.encode(codec))
    extraction = parse_tabular(
        path,
        options={"columns": {"date": "Datum", "account": "Konto", "amount": "Betrag", "description": "Text"}},
    )
    frame = transactions(extraction).sort("where")
    assert frame["description"].to_list() == ["Bürobedarf Müller", "Café Zürich"]
    assert frame["account_code"].to_list() == ["6000", "1020"]
    assert frame["where"].to_list() == ["line 2", "line 3"]


def test_legacy_bytes_after_the_sniffed_sample_are_not_mojibake(tmp_path):
    filler = "".join(f"01.03.2024;6000;1,00;Zeile {i}\n" for i in range(30_000))
    text = "Datum;Konto;Betrag;Text\n" + filler + "02.03.2024;6000;2,00;Gebühr\n"
    path = write(tmp_path, "ledger.csv", text.encode("cp1252"))
    extraction = parse_tabular(
        path,
        options={"columns": {"date": "Datum", "account": "Konto", "amount": "Betrag", "description": "Text"}},
    )
    last = transactions(extraction).filter(pl.col("tx_date") == date(2024, 3, 2))
    assert last["description"].to_list() == ["Gebühr"]


SHAPE_CASES = [
    (
        "debit and credit columns",
        "Date;Account;Debit;Credit\n2024-04-02;6000;100,00;\n2024-04-02;1020;;100,00\n",
        {"date": "Date", "account": "Account", "debit": "Debit", "credit": "Credit"},
        [("6000", "100.00"), ("1020", "-100.00")],
    ),
    (
        "D/C indicator",
        "Date;Account;Amount;DC\n2024-04-02;6000;100,00;D\n2024-04-02;1020;100,00;C\n",
        {"date": "Date", "account": "Account", "amount": "Amount", "indicator": "DC"},
        [("6000", "100.00"), ("1020", "-100.00")],
    ),
    (
        "S/H indicator",
        "Date;Account;Amount;SH\n2024-04-02;6000;100,00;S\n2024-04-02;1020;100,00;H\n",
        {"date": "Date", "account": "Account", "amount": "Amount", "indicator": "SH"},
        [("6000", "100.00"), ("1020", "-100.00")],
    ),
    (
        "Dr/Cr indicator",
        "Date;Account;Amount;Side\n2024-04-02;6000;100,00;Dr\n2024-04-02;1020;100,00;Cr\n",
        {"date": "Date", "account": "Account", "amount": "Amount", "indicator": "Side"},
        [("6000", "100.00"), ("1020", "-100.00")],
    ),
    (
        "debit account, credit account, amount",
        "Date;Soll;Haben;Amount\n2024-04-02;6000 - Office;1020 - Bank;100,00\n",
        {"date": "Date", "debit_account": "Soll", "credit_account": "Haben", "amount": "Amount"},
        [("6000", "100.00"), ("1020", "-100.00")],
    ),
    (
        "account and counter account with indicator",
        "Date;Konto;Gegenkonto;Umsatz;SH\n2024-04-02;1020;6000;100,00;H\n",
        {
            "date": "Date",
            "account": "Konto",
            "counter_account": "Gegenkonto",
            "amount": "Umsatz",
            "indicator": "SH",
        },
        [("1020", "-100.00"), ("6000", "100.00")],
    ),
]


@pytest.mark.parametrize(
    ("content", "columns", "expected"), [c[1:] for c in SHAPE_CASES], ids=[c[0] for c in SHAPE_CASES]
)
def test_amount_shapes(tmp_path, content, columns, expected):
    path = write(tmp_path, "ledger.csv", content)
    extraction = parse_tabular(path, preset="generic", options={"columns": columns})
    frame = transactions(extraction)
    got = sorted(zip(frame["account_code"], frame["amount"], strict=True))
    assert got == sorted((a, Decimal(v)) for a, v in expected)
    assert extraction.stats["debit_total"] == extraction.stats["credit_total"] == "100.00"


def test_double_entry_names_become_accounts(tmp_path):
    path = write(
        tmp_path, "ledger.csv", "Date;Soll;Haben;Amount\n2024-04-02;6000 - Office;1020 - Bank;100,00\n"
    )
    extraction = parse_tabular(
        path,
        options={
            "columns": {
                "date": "Date",
                "debit_account": "Soll",
                "credit_account": "Haben",
                "amount": "Amount",
            }
        },
    )
    chart = accounts(extraction)
    assert dict(zip(chart["code"], chart["name"], strict=True)) == {"1020": "Bank", "6000": "Office"}


def test_more_than_two_decimals_are_rounded_and_reported(tmp_path):
    path = write(
        tmp_path, "ledger.csv", "Date;Account;Amount\n2024-01-02;4000;10.005\n2024-01-02;1000;-10.00\n"
    )
    extraction = parse_tabular(
        path, options={"columns": {"date": "Date", "account": "Account", "amount": "Amount"}}
    )
    assert sorted(transactions(extraction)["amount"]) == [Decimal("-10.00"), Decimal("10.00")]
    assert any(p.kind == "rounded_amounts" and p.message.startswith("1 ") for p in extraction.problems)


def test_unbalanced_file_is_a_problem_not_an_error(tmp_path):
    path = write(tmp_path, "ledger.csv", "Date;Account;Amount\n2024-01-02;4000;10.00\n")
    extraction = parse_tabular(
        path, options={"columns": {"date": "Date", "account": "Account", "amount": "Amount"}}
    )
    assert [p.kind for p in extraction.problems] == ["unbalanced_file"]


# --- Excel ---------------------------------------------------------------------------------------


def test_xlsx_real_dates_text_dates_and_serials(tmp_path):
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "Journal"
    sheet.append(["Report title"])
    sheet.append([])
    sheet.append(["Date", "Account", "Description", "Amount"])
    sheet.append([datetime(2024, 5, 3), 4000, "real date cell", 1234.5])
    sheet.append(["04.05.2024", "1000", "date as text", -1234.5])
    sheet.append([45422, 4000, "serial number", 0.1 + 0.2])
    sheet.append([datetime(2024, 6, 1, 0, 0), 1000, "next month", "-0,30"])
    path = tmp_path / "journal.xlsx"
    workbook.save(path)
    extraction = parse_tabular(
        path,
        options={
            "columns": {
                "date": "Date",
                "account": "Account",
                "amount": "Amount",
                "description": "Description",
            }
        },
    )
    frame = transactions(extraction).sort("where")
    assert frame["tx_date"].to_list() == [
        date(2024, 5, 3),
        date(2024, 5, 4),
        date(2024, 5, 10),
        date(2024, 6, 1),
    ]
    assert frame["account_code"].to_list() == ["4000", "1000", "4000", "1000"]
    assert frame["amount"].to_list() == [
        Decimal("1234.50"),
        Decimal("-1234.50"),
        Decimal("0.30"),
        Decimal("-0.30"),
    ]
    assert frame["where"].to_list() == [f"sheet 'Journal', row {n}" for n in (4, 5, 6, 7)]
    assert extraction.format == "xlsx"
    stream = next(s for s in extraction.streams if s.stream == "transactions")
    assert stream.ranges == [(date(2024, 5, 1), date(2024, 5, 31)), (date(2024, 6, 1), date(2024, 6, 30))]


def test_xlsx_bad_value_names_sheet_row_and_column(tmp_path):
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "GL"
    sheet.append(["Date", "Account", "Bedrag"])
    sheet.append([datetime(2024, 5, 3), 4000, 10])
    sheet.append([datetime(2024, 5, 3), 1000, "tien"])
    path = tmp_path / "gl.xlsx"
    workbook.save(path)
    with pytest.raises(ParseError) as info:
        parse_tabular(path, options={"columns": {"date": "Date", "account": "Account", "amount": "Bedrag"}})
    assert info.value.message == "gl.xlsx, sheet 'GL', row 3, field 'Bedrag': 'tien' is not an amount"


# --- bad input -----------------------------------------------------------------------------------


def test_bad_amount_names_file_line_and_field(tmp_path):
    rows = "".join(f"2024-01-{d:02d};4000;1,00;ok\n" for d in range(1, 20))
    path = write(
        tmp_path, "ledger.csv", "Datum;Rekening;Bedrag;Omschrijving\n" + rows + "2024-01-20;4000;12,3a;bad\n"
    )
    with pytest.raises(ParseError) as info:
        parse_tabular(
            path,
            options={
                "columns": {
                    "date": "Datum",
                    "account": "Rekening",
                    "amount": "Bedrag",
                    "description": "Omschrijving",
                }
            },
        )
    error = info.value
    assert error.message.startswith("ledger.csv, line 21, field 'Bedrag': '12,3a' is not an amount")
    assert (error.file, error.where, error.field) == ("ledger.csv", "line 21", "Bedrag")
    assert "Nothing was imported" in error.user_message()


def test_first_bad_row_far_into_the_file_is_named_with_the_rows_after_it(tmp_path):
    good = "".join(f"2024-03-01;4000;{i}.25\n" for i in range(3000))
    bad = "2024-03-02;4000;1e5\n2024-03-02;4000;1.00\n2024-13-01;4000;1.00\n"
    path = write(tmp_path, "big.csv", "Date;Account;Amount\n" + good + bad)
    with pytest.raises(ParseError) as info:
        parse_tabular(path, options={"columns": {"date": "Date", "account": "Account", "amount": "Amount"}})
    assert info.value.message == (
        "big.csv, line 3002, field 'Amount': '1e5' is not an amount (1 more row(s) with problems after this one)"
    )


@pytest.mark.parametrize(
    ("value", "decimal"),
    [("1e5", "."), ("1,23.40", "."), ("1.23,40", ","), ("12.345.6", ","), ("--", ".")],
)
def test_numbers_that_only_look_like_amounts_are_refused(tmp_path, value, decimal):
    path = write(tmp_path, "n.csv", f"Date;Account;Amount\n2024-03-01;4000;{value}\n")
    with pytest.raises(ParseError, match=rf"line 2, field 'Amount': '{value}' is not an amount"):
        parse_tabular(
            path,
            options={
                "columns": {"date": "Date", "account": "Account", "amount": "Amount"},
                "decimal": decimal,
            },
        )


def test_line_numbers_count_quoted_line_breaks(tmp_path):
    path = write(
        tmp_path,
        "ledger.csv",
        'Date,Account,Amount,Text\n2024-01-02,4000,1.00,"two\nlines"\n2024-01-03,4000,oops,x\n',
    )
    with pytest.raises(ParseError) as info:
        parse_tabular(path, options={"columns": {"date": "Date", "account": "Account", "amount": "Amount"}})
    assert info.value.where == "line 4"


def test_bad_date_bad_indicator_and_missing_account(tmp_path):
    columns = {"date": "Date", "account": "Account", "amount": "Amount", "indicator": "SH"}
    bad_date = write(tmp_path, "a.csv", "Date;Account;Amount;SH\n31.02.2024;4000;1,00;S\n")
    with pytest.raises(ParseError, match=r"a.csv, line 2, field 'Date': '31.02.2024' is not a date"):
        parse_tabular(bad_date, options={"columns": columns})
    bad_sign = write(tmp_path, "b.csv", "Date;Account;Amount;SH\n01.02.2024;4000;1,00;X\n")
    with pytest.raises(ParseError, match=r"b.csv, line 2, field 'SH': 'X' is not a debit/credit indicator"):
        parse_tabular(bad_sign, options={"columns": columns})
    no_account = write(
        tmp_path, "c.csv", "Date;Account;Amount;SH\n01.02.2024;4000;1,00;S\n01.02.2024;;1,00;H\n"
    )
    with pytest.raises(ParseError, match=r"c.csv, line 3, field 'Account': the account is empty"):
        parse_tabular(no_account, options={"columns": columns})


def test_decimal_point_in_a_decimal_comma_file_is_refused(tmp_path):
    path = write(tmp_path, "d.csv", "Date;Account;Amount\n01.02.2024;4000;1.234,50\n01.02.2024;4000;99.5\n")
    with pytest.raises(
        ParseError, match=r"line 3, field 'Amount': '99.5' is not an amount \(decimal comma expected\)"
    ):
        parse_tabular(path, options={"columns": {"date": "Date", "account": "Account", "amount": "Amount"}})


def test_unknown_columns_list_what_was_found_and_tried(tmp_path):
    path = write(tmp_path, "mystery.csv", "Foo;Bar;Baz\n1;2;3\n")
    with pytest.raises(ParseError) as info:
        parse_tabular(path)
    message = info.value.message
    assert "mystery.csv" in message
    assert "'Foo', 'Bar', 'Baz'" in message
    assert "bexio" in message and "datev" in message and "quickbooks" in message
    assert detect_preset(path) == ("generic", 0.0)


def test_preset_without_its_columns(tmp_path):
    path = write(tmp_path, "wrong.csv", "Date;Account;Amount\n2024-01-01;4000;1.00\n")
    with pytest.raises(
        ParseError, match="does not have the columns the DATEV EXTF Buchungsstapel preset needs"
    ):
        parse_tabular(path, preset="datev")


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"", "empty (0 bytes)"),
        (b"\n\n  \n", "no data"),
        (b'<?xml version="1.0"?><auditfile/>', "XML file"),
        (b"\x00\x01\x02\x03binary\x00", "not a text CSV file"),
        (b"%PDF-1.7 ...", "pdf"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", ".xls"),
        (b"Date;Account;Amount\n", "no ledger lines"),
    ],
    ids=["zero bytes", "blank", "xml", "binary", "pdf", "old excel", "header only"],
)
def test_files_that_are_not_ledgers(tmp_path, content, fragment):
    path = write(tmp_path, "upload.csv", content)
    with pytest.raises(ParseError) as info:
        parse_tabular(path, options={"columns": {"date": "Date", "account": "Account", "amount": "Amount"}})
    assert fragment in info.value.message
    assert info.value.file == "upload.csv"


def test_file_over_the_limit_is_refused_before_reading(tmp_path):
    path = write(tmp_path, "big.csv", "x" * 2000)
    with pytest.raises(InputTooLarge) as info:
        parse_tabular(path, max_bytes=1000)
    assert "big.csv" in info.value.message and "upload limit" in info.value.message


# --- preview ---------------------------------------------------------------------------------------


def test_preview_returns_first_rows_and_row_problems(tmp_path, samples):
    name, frame, problems = preview(samples / "gl-exports" / "csv_bexio_example_format1_20221223.csv", n=5)
    assert name == "bexio"
    assert frame.height == 5
    assert frame["source_ref"].to_list()[:2] == ["line 2", "line 2"]
    assert [p.kind for p in problems] == ["encoding"]
    path = write(tmp_path, "p.csv", "Date;Account;Amount\n2024-01-02;4000;1,00\n2024-01-02;4000;x\n")
    name, frame, problems = preview(
        path, options={"columns": {"date": "Date", "account": "Account", "amount": "Amount"}}
    )
    assert name == "generic"
    assert frame.height == 1
    assert problems[-1].severity == "error" and "'x' is not an amount" in problems[-1].message
