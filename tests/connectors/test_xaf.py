"""XAF auditfile reader: the published samples, encodings, hostile and broken files.

Totals are recomputed here with a plain ElementTree pass over each sample, independent of the
streaming parser, and compared with both the parser's rows and the file's own control totals.
"""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from defusedxml import ElementTree as SafeET

from connectors.base import STREAM_COLUMNS, ExtractRequest
from connectors.files.saft import looks_like_saft
from connectors.files.xaf import XafConnector, looks_like_xaf, parse_xaf
from connectors.files.xmlsafe import Utf8Stream
from pipeline.errors import InputTooLarge, ParseError

SAMPLES = Path(__file__).resolve().parents[2] / ".." / "shared" / "samples"
XAF = SAMPLES / "xaf"

# file -> what a user would check: counts, totals, entity facts, and whether the file's own
# control totals (transactions/totalDebit, totalCredit) agree with its lines.
PINNED = {
    "ExactOnline_V32_2016.xaf": dict(
        accounts=97,
        lines=167,
        transactions=57,
        openings=None,
        debit="999954.06",
        credit="999954.06",
        name="Toro Rosso BV",
        currency="EUR",
        year=2016,
        file_totals_agree=True,
    ),
    "Banana_auditfile_v3.2_nl_20180101_20181231.xaf": dict(
        accounts=131,
        lines=121,
        transactions=44,
        openings=2,
        debit="91275.49",
        credit="91275.49",
        name="Banana.ch SA",
        currency="EUR",
        year=2018,
        file_totals_agree=True,
    ),
    "XmlAuditfileFinancieel3.2_test_original.xml": dict(
        accounts=1,
        lines=1,
        transactions=1,
        openings=1,
        debit="0.00",
        credit="3.14",
        name="String",
        currency="AED",
        year=1967,
        file_totals_agree=False,
    ),
    "XmlAuditfileFinancieel3.2_test_banana-edit.xml": dict(
        accounts=1,
        lines=1,
        transactions=1,
        openings=1,
        debit="0.00",
        credit="3.14",
        name="Voorbeeldbedrijf",
        currency="EUR",
        year=2016,
        file_totals_agree=False,
    ),
}


def local(tag: str) -> str:
    return tag.rpartition("}")[2]


def recount(path: Path, record: str) -> tuple[int, Decimal, Decimal]:
    """Lines and debit/credit sums of every <record> (trLine, obLine), read with ElementTree."""
    count, debit, credit = 0, Decimal("0"), Decimal("0")
    for elem in SafeET.parse(path).getroot().iter():
        if local(elem.tag) != record:
            continue
        values = {local(c.tag): (c.text or "").strip() for c in elem}
        count += 1
        if values["amntTp"] == "D":
            debit += Decimal(values["amnt"])
        else:
            credit += Decimal(values["amnt"])
    return count, debit, credit


def stated_totals(path: Path) -> tuple[int, Decimal, Decimal]:
    """The file's own transactions/linesCount, totalDebit and totalCredit."""
    root = SafeET.parse(path).getroot()
    for elem in root.iter():
        if local(elem.tag) == "transactions":
            values = {local(c.tag): (c.text or "").strip() for c in elem if len(c) == 0}
            return int(values["linesCount"]), Decimal(values["totalDebit"]), Decimal(values["totalCredit"])
    raise AssertionError("no transactions element")


def stream(extraction, name: str) -> pl.DataFrame:
    [data] = [s for s in extraction.streams if s.stream == name]
    return data.rows.collect() if isinstance(data.rows, pl.LazyFrame) else data.rows


def debit_credit(frame: pl.DataFrame) -> tuple[Decimal, Decimal]:
    amounts = frame["amount"].to_list()
    return sum((a for a in amounts if a > 0), Decimal("0.00")), -sum(
        (a for a in amounts if a < 0), Decimal("0.00")
    )


@pytest.mark.parametrize("file_name", sorted(PINNED))
def test_every_sample_parses_with_pinned_counts_and_totals(file_name):
    path = XAF / file_name
    pin = PINNED[file_name]
    ex = parse_xaf(path)

    lines = stream(ex, "transactions")
    accounts = stream(ex, "accounts")
    assert ex.format == "xaf"
    assert accounts.height == pin["accounts"]
    assert lines.height == pin["lines"]
    assert ex.stats["lines"] == pin["lines"]
    assert ex.stats["transactions"] == pin["transactions"]

    count, debit, credit = recount(path, "trLine")
    assert count == pin["lines"]
    assert (debit, credit) == (Decimal(pin["debit"]), Decimal(pin["credit"]))
    assert debit_credit(lines) == (debit, credit)
    assert (ex.stats["debit_total"], ex.stats["credit_total"]) == (debit, credit)

    stated_lines, stated_debit, stated_credit = stated_totals(path)
    assert ex.stats["control_lines_count"] == stated_lines
    assert (ex.stats["control_total_debit"], ex.stats["control_total_credit"]) == (
        stated_debit,
        stated_credit,
    )
    total_problems = [p for p in ex.problems if p.kind == "control_totals" and "total" in p.where]
    assert ((stated_debit, stated_credit) == (debit, credit)) is pin["file_totals_agree"]
    assert (total_problems == []) is pin["file_totals_agree"]

    openings = [s for s in ex.streams if s.stream == "opening_balances"]
    if pin["openings"] is None:
        assert openings == []
    else:
        ob = stream(ex, "opening_balances")
        ob_count, ob_debit, ob_credit = recount(path, "obLine")
        assert ob.height == ob_count == pin["openings"]
        assert debit_credit(ob) == (ob_debit, ob_credit)
        assert set(ob["fiscal_year"].to_list()) == {pin["year"]}

    assert ex.entity.name == pin["name"]
    assert ex.entity.currency == pin["currency"]
    assert ex.entity.extra["fiscal_year"] == pin["year"]
    assert set(lines["fiscal_year"].to_list()) == {pin["year"]}
    assert set(lines["currency"].to_list()) == {pin["currency"]}
    assert lines["line_key"].n_unique() == lines.height
    assert lines.schema == pl.Schema(STREAM_COLUMNS["transactions"])


def test_exact_online_sample_details():
    ex = parse_xaf(XAF / "ExactOnline_V32_2016.xaf")
    accounts = {row["code"]: row for row in stream(ex, "accounts").iter_rows(named=True)}
    assert accounts["1101"]["standard_code"] == "BLimBanRba"
    assert accounts["1101"]["standard_scheme"] == "RGS"
    assert accounts["1101"]["account_type"] == "balance"
    assert accounts["1101"]["category"] == "16 Liquide middelen"
    assert accounts["5110"]["account_type"] == "pnl"
    assert accounts["5110"]["standard_code"] == "WAfsAmvBeg"
    # 3 of the 97 accounts carry no leadReference at all
    assert stream(ex, "accounts")["standard_code"].null_count() == 3

    assert ex.entity.external_id == "1"
    assert ex.entity.fiscal_year_start_month == 1
    [tx] = [s for s in ex.streams if s.stream == "transactions"]
    assert tx.replace == "ranges"
    assert tx.ranges == [(dt.date(2016, 1, 1), dt.date(2016, 12, 31))]

    first = stream(ex, "transactions").row(0, named=True)
    assert first["line_key"] == "2016|10|16100001|1:1"
    assert (first["journal"], first["entry"], first["line"]) == ("10", "16100001", "1:1")
    assert first["account_code"] == "0300"
    assert first["amount"] == Decimal("15000.00")
    assert first["tx_date"] == dt.date(2016, 2, 15)
    assert first["period"] == 1
    assert first["source_ref"] == "journal 10/transaction 16100001/line 1:1"

    # basics of type 02 are cost centres; the type 30 entry (a user's e-mail) is not a dimension
    dims = stream(ex, "dimensions")
    assert sorted(dims["code"].to_list()) == ["15", "20", "25", "30"]
    assert set(dims["axis"].to_list()) == {"cost_centre"}

    # Exact writes negative quantities on credit lines: reported, not refused
    [qty] = [p for p in ex.problems if "quantity" in p.message]
    assert qty.kind == "schema_deviation" and qty.severity == "warning"
    assert "7 times" in qty.message


def test_banana_sample_repeats_line_numbers_and_miscounts_lines():
    ex = parse_xaf(XAF / "Banana_auditfile_v3.2_nl_20180101_20181231.xaf")
    lines = stream(ex, "transactions")
    # every trLine of Banana's first transaction is numbered 1: positions are used instead
    first = lines.filter(pl.col("entry") == "1", pl.col("journal") == "1")
    assert first["line"].to_list() == ["1", "2", "3"]
    assert first["line_key"].to_list() == ["2018|1|1|1", "2018|1|1|2", "2018|1|1|3"]
    assert first["amount"].to_list() == [Decimal("500.00"), Decimal("-413.22"), Decimal("-86.78")]
    # the file's linesCount (44) is its number of transactions, not of lines (121)
    [count] = [p for p in ex.problems if p.where == "transactions / linesCount"]
    assert "44" in count.message and "121" in count.message
    # Banana's leadReference holds its own group numbers, not RGS codes
    assert stream(ex, "accounts")["standard_code"].null_count() == 131
    ob = stream(ex, "opening_balances")
    assert ob.sort("line_key")["amount"].to_list() == [Decimal("5000.00"), Decimal("-5000.00")]
    assert set(ob["balance_date"].to_list()) == {dt.date(2018, 1, 1)}


def test_foreign_currency_line_and_placeholder_header():
    ex = parse_xaf(XAF / "XmlAuditfileFinancieel3.2_test_original.xml")
    line = stream(ex, "transactions").row(0, named=True)
    assert (line["currency_fc"], line["amount_fc"]) == ("AED", Decimal("-3.14"))
    assert line["amount"] == Decimal("-3.14")
    assert (line["cost_centre"], line["project"], line["document_no"]) == ("String", "String", "String")
    # fiscalYear "String" is not a year: the start date's year is used, and the user is told
    assert any(p.kind == "schema_deviation" and "fiscalYear" in p.where for p in ex.problems)
    assert ex.entity.extra["fiscal_year"] == 1967


def test_re_reading_a_file_gives_the_same_keys():
    path = XAF / "Banana_auditfile_v3.2_nl_20180101_20181231.xaf"
    first = stream(parse_xaf(path), "transactions")
    second = stream(parse_xaf(path), "transactions")
    assert first["line_key"].to_list() == second["line_key"].to_list()


def test_format_detection():
    for name in PINNED:
        assert looks_like_xaf((XAF / name).read_bytes()[:4096])
    saft = SAMPLES / "saft" / "ExampleFile_SAF-T_Financial_999999999_20161125213512.xml"
    assert not looks_like_xaf(saft.read_bytes()[:4096])
    assert looks_like_saft(saft.read_bytes()[:4096])
    assert not looks_like_xaf(
        (SAMPLES / "gl-exports" / "csv_bexio_example_format1_20221223.csv").read_bytes()[:4096]
    )


def test_connector_reads_the_uploaded_file_and_honours_the_size_limit():
    path = XAF / "ExactOnline_V32_2016.xaf"
    assert XafConnector.name == "xaf" and XafConnector.kind == "file"
    assert XafConnector.capabilities.opening_balances and XafConnector.capabilities.dimensions
    calls = []
    request = ExtractRequest(
        entity_name="Toro", path=path, max_bytes=10_000_000, progress=lambda msg, done: calls.append(done)
    )
    ex = XafConnector().extract(request)
    assert stream(ex, "transactions").height == 167
    assert calls and calls[-1] == 1.0
    with pytest.raises(InputTooLarge) as err:
        XafConnector().extract(ExtractRequest(entity_name="Toro", path=path, max_bytes=100_000))
    assert err.value.file == "ExactOnline_V32_2016.xaf"
    assert "upload limit" in str(err.value)


# --- small files written for one case each ----------------------------------------------------------

HEADER = """<header><fiscalYear>2023</fiscalYear><startDate>2023-01-01</startDate><endDate>2023-12-31</endDate>
<curCode>EUR</curCode><dateCreated>2024-01-10</dateCreated><softwareDesc>Test</softwareDesc></header>"""

PERIODS = (
    "<periods>"
    + "".join(
        f"<period><periodNumber>{m}</periodNumber><startDatePeriod>2023-{m:02d}-01</startDatePeriod>"
        f"<endDatePeriod>2023-{m:02d}-28</endDatePeriod></period>"
        for m in range(1, 13)
    )
    + "</periods>"
)


def tr_line(nr, acc, amnt, tp, *, eff="2023-03-01", extra=""):
    nr_xml = "" if nr is None else f"<nr>{nr}</nr>"
    acc_xml = "" if acc is None else f"<accID>{acc}</accID>"
    return (
        f"<trLine>{nr_xml}{acc_xml}<docRef>INV-1</docRef><effDate>{eff}</effDate>"
        f"<desc>line</desc><amnt>{amnt}</amnt><amntTp>{tp}</amntTp>{extra}</trLine>"
    )


def transaction(nr, lines, *, period=3, desc="Booking"):
    return (
        f"<transaction><nr>{nr}</nr><desc>{desc}</desc><periodNumber>{period}</periodNumber>"
        f"<trDt>2023-03-01</trDt>{''.join(lines)}</transaction>"
    )


def write_xaf(
    tmp_path: Path,
    journals: str,
    *,
    name: str = "test.xaf",
    company: str = "Testbedrijf BV",
    account_name: str = "Kas",
    encoding: str = "UTF-8",
    codec: str = "utf-8",
    bom: bytes = b"",
    prolog: str = "",
) -> Path:
    text = (
        f'<?xml version="1.0" encoding="{encoding}"?>{prolog}'
        '<auditfile xmlns="http://www.auditfiles.nl/XAF/3.2">'
        f"{HEADER}<company><companyIdent>42</companyIdent><companyName>{company}</companyName>"
        "<taxRegistrationCountry>NL</taxRegistrationCountry><taxRegIdent>NL001</taxRegIdent>"
        "<generalLedger>"
        f"<ledgerAccount><accID>1000</accID><accDesc>{account_name}</accDesc><accTp>B</accTp></ledgerAccount>"
        "<ledgerAccount><accID>8000</accID><accDesc>Omzet</accDesc><accTp>P</accTp>"
        "<leadReference>WOmzNopOlh</leadReference></ledgerAccount>"
        "<basics><basic><basicType>04</basicType><basicID>P1</basicID><basicDesc>Project één</basicDesc></basic></basics>"
        f"</generalLedger>{PERIODS}<transactions><linesCount>0</linesCount><totalDebit>0</totalDebit>"
        f"<totalCredit>0</totalCredit>{journals}</transactions></company></auditfile>"
    )
    path = tmp_path / name
    path.write_bytes(bom + text.encode(codec))
    return path


def journal(jrn, *transactions):
    return f"<journal><jrnID>{jrn}</jrnID><desc>Memoriaal</desc>{''.join(transactions)}</journal>"


BALANCED = journal(
    "70", transaction("12", [tr_line(1, "1000", "100.00", "D"), tr_line(2, "8000", "100.00", "C")])
)


def test_iso_8859_1_file_with_accented_names(tmp_path):
    path = write_xaf(
        tmp_path,
        BALANCED,
        company="Café Ñandú BV",
        account_name="Crème brûlée",
        encoding="ISO-8859-1",
        codec="latin-1",
    )
    assert "é".encode() not in path.read_bytes()  # really single-byte on disk
    ex = parse_xaf(path)
    assert ex.entity.name == "Café Ñandú BV"
    assert stream(ex, "accounts").filter(pl.col("code") == "1000")["name"].item() == "Crème brûlée"
    assert stream(ex, "dimensions").filter(pl.col("axis") == "project")["name"].item() == "Project één"
    assert [p for p in ex.problems if p.kind == "encoding"] == []


def test_latin_1_label_reads_windows_1252_euro_sign(tmp_path):
    path = write_xaf(tmp_path, BALANCED, account_name="Kas €", encoding="ISO-8859-1", codec="cp1252")
    ex = parse_xaf(path)
    assert stream(ex, "accounts").filter(pl.col("code") == "1000")["name"].item() == "Kas €"


def test_utf8_with_and_without_bom(tmp_path):
    with_bom = write_xaf(tmp_path, BALANCED, name="bom.xaf", company="Ærø Søn BV", bom=b"\xef\xbb\xbf")
    without = write_xaf(tmp_path, BALANCED, name="plain.xaf", company="Ærø Søn BV")
    for path in (with_bom, without):
        ex = parse_xaf(path)
        assert ex.entity.name == "Ærø Søn BV"
        assert stream(ex, "transactions").height == 2
        assert looks_like_xaf(path.read_bytes()[:200])


def test_declared_utf8_with_stray_latin1_bytes_is_read_and_reported(tmp_path):
    path = write_xaf(tmp_path, BALANCED)
    path.write_bytes(path.read_bytes().replace(b"Testbedrijf", b"Caf\xe9 Testbedrijf"))
    ex = parse_xaf(path)
    assert ex.entity.name == "Café Testbedrijf BV"
    [problem] = [p for p in ex.problems if p.kind == "encoding"]
    assert "1 bytes" in problem.message


def test_decoding_survives_chunk_boundaries():
    data = "Café € Ærø ".encode() + b"\xe9" + b" ok"
    utf8 = Utf8Stream(io.BytesIO(data), "utf-8", chunk=3)
    out = b"".join(iter(lambda: utf8.read(2), b""))
    assert out.decode("utf-8") == "Café € Ærø é ok"
    assert utf8.replaced == 1


def test_entity_expansion_is_refused(tmp_path):
    lol = (
        '<!DOCTYPE auditfile [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
    )
    path = write_xaf(tmp_path, BALANCED, prolog=lol, company="&lol2;")
    with pytest.raises(ParseError) as err:
        parse_xaf(path)
    assert "entities" in str(err.value) and err.value.file == "test.xaf"
    assert "lollol" not in str(err.value)


def test_truncated_file(tmp_path):
    data = (XAF / "ExactOnline_V32_2016.xaf").read_bytes()
    path = tmp_path / "cut.xaf"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ParseError) as err:
        parse_xaf(path)
    assert err.value.file == "cut.xaf"
    assert "cut off" in str(err.value)
    assert err.value.where and err.value.where.startswith("line ")


def test_empty_file(tmp_path):
    path = tmp_path / "empty.xaf"
    path.write_bytes(b"")
    with pytest.raises(ParseError, match="empty") as err:
        parse_xaf(path)
    assert err.value.file == "empty.xaf"


def test_files_of_another_format(tmp_path):
    with pytest.raises(ParseError, match="not an XML file"):
        parse_xaf(SAMPLES / "gl-exports" / "csv_bexio_example_format1_20221223.csv")
    with pytest.raises(ParseError, match=r"not an XAF auditfile.*<AuditFile>"):
        parse_xaf(SAMPLES / "saft" / "ExampleFile_SAF-T_Financial_999999999_20161125213512.xml")
    v4 = tmp_path / "v4.xaf"
    v4.write_text(
        (XAF / "XmlAuditfileFinancieel3.2_test_banana-edit.xml")
        .read_text(encoding="utf-8")
        .replace("http://www.auditfiles.nl/XAF/3.2", "http://www.odb.belastingdienst.nl/xaf/4.0"),
        encoding="utf-8",
    )
    with pytest.raises(ParseError, match=r"not supported.*XAF 3\.1 and 3\.2"):
        parse_xaf(v4)


def test_xaf_3_1_namespace_reads_the_same(tmp_path):
    path = write_xaf(tmp_path, BALANCED)
    path.write_text(path.read_text().replace("XAF/3.2", "XAF/3.1"))
    ex = parse_xaf(path)
    assert ex.stats["xaf_version"] == "3.1"
    assert stream(ex, "transactions").height == 2


def test_size_limit_is_checked_before_reading(tmp_path):
    path = write_xaf(tmp_path, BALANCED)
    size = path.stat().st_size
    with pytest.raises(InputTooLarge):
        parse_xaf(path, max_bytes=size - 1)
    assert stream(parse_xaf(path, max_bytes=size), "transactions").height == 2


@pytest.mark.parametrize(
    ("line", "field", "says"),
    [
        (tr_line(3, "8000", "12,50", "C"), "amnt", "'12,50' is not a number"),
        (tr_line(3, "8000", "", "C"), "amnt", "missing"),
        (tr_line(3, "8000", "12.50", "X"), "amntTp", "must be D or C"),
        (tr_line(3, "8000", "12.50", "C", eff="31-03-2023"), "effDate", "not a date"),
        (tr_line(3, "8000", "12.50", "C", eff="2023-02-30"), "effDate", "not a valid date"),
        (tr_line(3, None, "12.50", "C"), "accID", "no account"),
    ],
)
def test_a_line_that_cannot_be_read_names_file_element_and_field(tmp_path, line, field, says):
    lines = [tr_line(1, "1000", "12.50", "D"), tr_line(2, "8000", "0.00", "C"), line]
    path = write_xaf(tmp_path, journal("70", transaction("12", lines)), name="bad.xaf")
    with pytest.raises(ParseError) as err:
        parse_xaf(path)
    assert err.value.file == "bad.xaf"
    assert err.value.field == field
    assert err.value.where.startswith("journal 70 / transaction 12 / trLine 3")
    assert says in str(err.value)


def test_schema_deviations_are_reported_and_nothing_is_dropped(tmp_path):
    journals = journal(
        "90",
        transaction("1", [tr_line(1, "1000", "10.00", "D"), tr_line(2, "8000", "10.00", "C")], period=0),
        transaction(
            "2",
            [tr_line(1, "1000", "5.00", "D"), tr_line(2, "8000", "5.00", "C", extra="<qntity>-2</qntity>")],
            period=55,
        ),
        transaction("3", [tr_line(1, "1000", "7.50", "d"), tr_line(2, "8000", "7.555", "C")]),
    )
    ex = parse_xaf(write_xaf(tmp_path, journals))
    lines = stream(ex, "transactions")
    assert lines.height == 6
    assert sorted(set(lines["period"].to_list())) == [0, 3, 55]
    assert lines.filter(pl.col("entry") == "3")["amount"].to_list() == [Decimal("7.50"), Decimal("-7.56")]
    deviations = {p.message.split(" (")[0]: p for p in ex.problems if p.kind == "schema_deviation"}
    assert all(p.severity == "warning" for p in deviations.values())
    periods = next(p for m, p in deviations.items() if m.startswith("Transactions in periods"))
    assert "0, 55" in periods.message
    assert any("negative or fractional quantity" in m for m in deviations)
    assert any("lower case" in m for m in deviations)
    assert any("rounded" in m for m in deviations)


def test_repeated_numbers_keep_every_line_with_unique_keys(tmp_path):
    same_nr = [tr_line(1, "1000", "1.00", "D"), tr_line(1, "8000", "1.00", "C")]
    no_nr = [tr_line(None, "1000", "2.00", "D"), tr_line(None, "8000", "2.00", "C")]
    journals = journal("70", transaction("12", same_nr), transaction("12", no_nr)) + journal(
        "80", transaction("12", same_nr)
    )
    ex = parse_xaf(write_xaf(tmp_path, journals))
    lines = stream(ex, "transactions")
    assert lines["line_key"].to_list() == [
        "2023|70|12|1",
        "2023|70|12|2",
        "2023|70|12#2|1",
        "2023|70|12#2|2",
        "2023|80|12|1",
        "2023|80|12|2",
    ]
    assert set(lines["entry"].to_list()) == {"12"}
    assert any("used twice" in p.message for p in ex.problems)


def test_unbalanced_entry_is_kept_for_the_pipeline_to_judge(tmp_path):
    journals = journal(
        "70", transaction("1", [tr_line(1, "1000", "100.00", "D"), tr_line(2, "8000", "90.00", "C")])
    )
    ex = parse_xaf(write_xaf(tmp_path, journals))
    assert debit_credit(stream(ex, "transactions")) == (Decimal("100.00"), Decimal("90.00"))


def test_dimensions_from_basics_and_from_lines(tmp_path):
    extra = "<costID>KP10</costID><projID>P1</projID>"
    journals = journal(
        "70",
        transaction("1", [tr_line(1, "1000", "1.00", "D", extra=extra), tr_line(2, "8000", "1.00", "C")]),
    )
    ex = parse_xaf(write_xaf(tmp_path, journals))
    dims = {(r["axis"], r["code"]): r["name"] for r in stream(ex, "dimensions").iter_rows(named=True)}
    assert dims == {("project", "P1"): "Project één", ("cost_centre", "KP10"): None}
    line = stream(ex, "transactions").row(0, named=True)
    assert (line["cost_centre"], line["project"]) == ("KP10", "P1")


def test_foreign_currency_keeps_the_sign_of_the_line(tmp_path):
    usd = "<currency><curCode>USD</curCode><curAmnt>110.00</curAmnt></currency>"
    journals = journal(
        "70",
        transaction(
            "1", [tr_line(1, "1000", "100.00", "D", extra=usd), tr_line(2, "8000", "100.00", "C", extra=usd)]
        ),
    )
    lines = stream(parse_xaf(write_xaf(tmp_path, journals)), "transactions")
    assert lines["amount_fc"].to_list() == [Decimal("110.00"), Decimal("-110.00")]
    assert lines["currency_fc"].to_list() == ["USD", "USD"]
