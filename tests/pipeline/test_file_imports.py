"""Every sample file through `ledgerline import`: counts and totals pinned, re-import is a no-op,
bad input fails the run with a message that names the file and writes nothing."""

from __future__ import annotations

import hashlib

import pytest

from pipeline import db

# (sample path under shared/samples, format, lines, debit total, credit total)
SAMPLES = [
    ("xaf/ExactOnline_V32_2016.xaf", "xaf", 167, "999954.06", "999954.06"),
    ("xaf/Banana_auditfile_v3.2_nl_20180101_20181231.xaf", "xaf", 121, "91275.49", "91275.49"),
    ("xaf/XmlAuditfileFinancieel3.2_test_original.xml", "xaf", 1, "0.00", "3.14"),
    ("xaf/XmlAuditfileFinancieel3.2_test_banana-edit.xml", "xaf", 1, "0.00", "3.14"),
    ("saft/ExampleFile_SAF-T_Financial_999999999_20161125213512.xml", "saft", 5, "25000.00", "25000.00"),
    ("gl-exports/csv_bexio_example_format1_20221223.csv", "csv", 438, "935048.86", "935048.86"),
    ("gl-exports/xlsx_bexio_example_format1_20221223.xlsx", "xlsx", 438, "935048.86", "935048.86"),
    ("gl-exports/csv_infoniqa_example_format1_2024.csv", "csv", 1295, "355190.72", "355190.72"),
    ("gl-exports/datev_EXTF_Buchungstapel_test.csv", "csv", 82, "50916.55", "50916.55"),
    # Account-level facts that do not balance by nature (no offsets are invented).
    ("demo-ledger/adventureworks/FactFinance.csv", "csv", 34563, "674104749.06", "682413044.92"),
]


def warehouse_counts(data) -> tuple:
    with db.connect(data) as con:
        return con.execute(
            """SELECT (SELECT count(*) FROM transactions), (SELECT count(*) FROM accounts),
                      (SELECT count(*) FROM opening_balances), (SELECT count(*) FROM rpt_trial_balance)"""
        ).fetchone()


@pytest.mark.parametrize(("sample", "fmt", "lines", "debit", "credit"), SAMPLES, ids=[s[0] for s in SAMPLES])
def test_each_sample_imports_with_the_files_own_totals(cli, samples, sample, fmt, lines, debit, credit):
    first = cli.json("import", str(samples / sample), "--entity", "Sample")
    assert first["status"] == "succeeded"
    assert (first["format"], first["lines"], first["debit_total"], first["credit_total"]) == (
        fmt,
        lines,
        debit,
        credit,
    )
    assert first["inserted"] >= lines and first["updated"] == first["deleted"] == 0

    tb = cli.json("report", "tb", "--entity", "Sample")
    assert (tb["debit_total"], tb["credit_total"]) == (debit, credit)

    again = cli.json("import", str(samples / sample), "--entity", "Sample")
    assert (again["inserted"], again["updated"], again["deleted"]) == (0, 0, 0)
    # Each run records which file it read (its SHA-256, computed beside the parse).
    with db.connect(cli.data) as con:
        recorded = con.execute("SELECT DISTINCT file_sha256 FROM import_runs").fetchall()
    assert recorded == [(hashlib.sha256((samples / sample).read_bytes()).hexdigest(),)]


def entity_facts(data, name: str) -> tuple:
    with db.connect(data) as con:
        return con.execute(
            "SELECT currency, info->>'source_name' FROM entities WHERE name = ?", [name]
        ).fetchone()


def test_the_entity_keeps_its_currency_and_shows_the_company_of_its_latest_file(cli, samples):
    cli.json("import", str(samples / "xaf/ExactOnline_V32_2016.xaf"), "--entity", "Sample")
    assert entity_facts(cli.data, "Sample") == ("EUR", "Toro Rosso BV")
    cli.json("import", str(samples / "xaf/ExactOnline_V32_2016.xaf"), "--entity", "Sample")
    assert entity_facts(cli.data, "Sample") == ("EUR", "Toro Rosso BV")
    cli.json(
        "import", str(samples / "xaf/Banana_auditfile_v3.2_nl_20180101_20181231.xaf"), "--entity", "Sample"
    )
    assert entity_facts(cli.data, "Sample") == ("EUR", "Banana.ch SA")


def test_an_unbalanced_entry_is_reported_with_its_number_and_kept(cli, samples, tmp_path):
    text = (samples / "xaf" / "ExactOnline_V32_2016.xaf").read_text(encoding="utf-8-sig")
    # Change the first credit amount of one transaction: that entry no longer balances.
    marker = "<amntTp>C</amntTp>"
    at = text.index(marker)
    start = text.rindex("<amnt>", 0, at)
    end = text.index("</amnt>", start)
    broken = text[:start] + "<amnt>1.00" + text[end:]
    path = tmp_path / "unbalanced.xaf"
    path.write_text(broken, encoding="utf-8")
    result = cli.json("import", str(path), "--entity", "Toro")
    assert result["status"] == "succeeded" and result["lines"] == 167
    unbalanced = [p for p in result["problems"] if p["kind"] == "unbalanced_entry"]
    assert len(unbalanced) == 1
    assert "does not balance" in unbalanced[0]["message"] and "entry" in unbalanced[0]["where"]


def amounts(tb: dict) -> list[tuple]:
    return [(a["code"], a["opening"], a["debit"], a["credit"], a["balance"]) for a in tb["accounts"]]


def test_a_corrected_auditfile_replaces_that_year_exactly(cli, samples, tmp_path):
    original = samples / "xaf" / "ExactOnline_V32_2016.xaf"
    other_year = samples / "xaf" / "Banana_auditfile_v3.2_nl_20180101_20181231.xaf"
    cli.json("import", str(original), "--entity", "Books")
    cli.json("import", str(other_year), "--entity", "Books")
    before_2018 = amounts(
        cli.json("report", "tb", "--entity", "Books", "--from", "2018-01", "--to", "2018-12")
    )

    text = original.read_text(encoding="utf-8-sig")
    # Drop the last transaction of the year (the corrected export no longer has it).
    last = text.rindex("<transaction>")
    end = text.index("</transaction>", last) + len("</transaction>")
    dropped_lines = text[last:end].count("<trLine>")
    corrected = tmp_path / "corrected.xaf"
    corrected.write_text(text[:last] + text[end:], encoding="utf-8")

    result = cli.json("import", str(corrected), "--entity", "Books")
    assert (result["inserted"], result["updated"], result["deleted"]) == (0, 0, dropped_lines)
    after_2018 = amounts(
        cli.json("report", "tb", "--entity", "Books", "--from", "2018-01", "--to", "2018-12")
    )
    assert after_2018 == before_2018


BAD_INPUT = {
    "empty.xaf": (b"", "empty"),
    "report.pdf": (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n", "not a text ledger export"),
    "truncated.xaf": (None, "truncated.xaf"),
}


@pytest.mark.parametrize("name", sorted(BAD_INPUT))
def test_bad_input_fails_the_run_names_the_file_and_writes_nothing(cli, samples, tmp_path, name):
    cli.json("import", str(samples / "xaf" / "ExactOnline_V32_2016.xaf"), "--entity", "Toro")
    before = warehouse_counts(cli.data)
    content, expected = BAD_INPUT[name]
    if content is None:
        content = (samples / "xaf" / "ExactOnline_V32_2016.xaf").read_bytes()[:120_000]
    path = tmp_path / name
    path.write_bytes(content)

    result = cli("import", str(path), "--entity", "Toro")
    assert result.returncode == 1
    assert name in result.stderr and expected in result.stderr
    assert warehouse_counts(cli.data) == before


def test_a_file_over_the_size_limit_is_refused_before_reading(cli, samples):
    result = cli(
        "import", str(samples / "xaf" / "ExactOnline_V32_2016.xaf"), "--entity", "Toro", "--max-mb", "0"
    )
    assert result.returncode == 1
    assert "ExactOnline_V32_2016.xaf" in result.stderr
    runs = cli.json("runs")
    assert runs[0]["status"] == "failed" and runs[0]["error_kind"] == "too_large"
    assert warehouse_counts(cli.data)[0] == 0


LEDGER_JAN_FEB = """Datum;Dagboek;Boekstuk;Rekening;Omschrijving;Bedrag
03-01-2024;MEM;1;1000;Kas storting;1.250,00
03-01-2024;MEM;1;8000;Omzet;-1.250,00
14-02-2024;MEM;2;1000;Kas storting;300,10
14-02-2024;MEM;2;8000;Omzet;-300,10
"""

FEB_CORRECTED = """Datum;Dagboek;Boekstuk;Rekening;Omschrijving;Bedrag
14-02-2024;MEM;2;1000;Kas storting;310,10
14-02-2024;MEM;2;8000;Omzet;-310,10
"""

COLUMNS = [
    "--column",
    "date=Datum",
    "--column",
    "journal=Dagboek",
    "--column",
    "entry=Boekstuk",
    "--column",
    "account=Rekening",
    "--column",
    "description=Omschrijving",
    "--column",
    "amount=Bedrag",
]


def test_a_corrected_csv_for_one_month_replaces_exactly_that_month(cli, tmp_path):
    full = tmp_path / "jan_feb.csv"
    full.write_text(LEDGER_JAN_FEB, encoding="cp1252")
    first = cli.json("import", str(full), "--entity", "Shop", *COLUMNS)
    assert (first["lines"], first["debit_total"]) == (4, "1550.10")

    february = tmp_path / "feb.csv"
    february.write_text(FEB_CORRECTED, encoding="utf-8")
    second = cli.json("import", str(february), "--entity", "Shop", *COLUMNS)
    assert second["status"] == "succeeded"
    assert second["inserted"] + second["updated"] == 2 and second["deleted"] <= 2

    jan = cli.json("report", "tb", "--entity", "Shop", "--from", "2024-01", "--to", "2024-01")
    feb = cli.json("report", "tb", "--entity", "Shop", "--from", "2024-02", "--to", "2024-02")
    assert jan["debit_total"] == "1250.00"
    assert feb["debit_total"] == "310.10"


def test_an_unparseable_amount_names_file_line_and_column_and_writes_nothing(cli, tmp_path):
    good = tmp_path / "good.csv"
    good.write_text(LEDGER_JAN_FEB, encoding="utf-8")
    cli.json("import", str(good), "--entity", "Shop", *COLUMNS)
    before = warehouse_counts(cli.data)

    bad = tmp_path / "bad.csv"
    bad.write_text(LEDGER_JAN_FEB.replace("300,10", "30O,10", 1), encoding="utf-8")
    result = cli("import", str(bad), "--entity", "Shop", *COLUMNS)
    assert result.returncode == 1
    assert "bad.csv" in result.stderr and "line 4" in result.stderr and "Bedrag" in result.stderr
    assert warehouse_counts(cli.data) == before


def test_a_csv_with_columns_no_preset_knows_lists_what_it_found(cli, tmp_path):
    odd = tmp_path / "odd.csv"
    odd.write_text("foo;bar;baz\n1;2;3\n", encoding="utf-8")
    result = cli("import", str(odd), "--entity", "Shop")
    assert result.returncode == 1
    assert "odd.csv" in result.stderr and "foo" in result.stderr


def test_lines_stored_before_migrations_70_and_80_compare_equal_after_them(cli, tmp_path):
    """Warehouses written before migrations 070 and 080 hold "line 12" whole in source_ref and
    every line's key, also where a file's own journal|entry|line numbers give it: the
    migrations split the one and let the other be derived, and the next upload of the same
    file changes nothing while the drill-down still shows where each line came from."""
    path = tmp_path / "afas.csv"  # AFAS's GL export: journal, entry and line numbers
    path.write_text(
        "Dagboek;Nummer journaalpost;Volgnummer journaalpost;Datum boeking;Rekeningnummer;"
        "Bedrag debet;Bedrag credit\n"
        "50;1;1;31-01-2024;4300;10,00;0,00\n50;1;2;31-01-2024;1600;0,00;10,00\n"
        "50;2;1;29-02-2024;4300;7,50;0,00\n50;2;2;29-02-2024;1600;0,00;7,50\n",
        encoding="utf-8",
    )
    assert cli.json("import", str(path), "--entity", "Numbers")["inserted"] == 4
    shown = "SELECT source_ref || source_line FROM transactions ORDER BY source_line"
    with db.connect(cli.data) as con:
        # The file's own numbers key its lines: no key is stored.
        assert con.execute("SELECT count(line_key) FROM transactions").fetchone() == (0,)
        expected = con.execute(shown).fetchall()
        # The rows as the code before 070 and 080 wrote them, those migrations not yet applied.
        con.execute(
            """UPDATE transactions SET source_ref = source_ref || source_line, source_line = NULL,
                      line_key = concat(journal, '|', entry, '|', line)"""
        )
        con.execute("DELETE FROM schema_migrations WHERE version IN (70, 80)")
        con.execute("ALTER TABLE transactions DROP COLUMN source_line")
        con.execute("ALTER TABLE transactions ALTER COLUMN line_key SET NOT NULL")
        con.execute("DROP TABLE entities_with_derived_keys")
        con.execute("DROP TABLE key_hash_function")
        con.execute("ALTER TABLE transactions DROP COLUMN key_hash")
        assert con.execute("SELECT min(source_ref) FROM transactions").fetchone() == ("line 2",)
        db.migrate(con)
        assert con.execute("SELECT DISTINCT source_ref FROM transactions").fetchall() == [("line ",)]
        assert con.execute(shown).fetchall() == expected == [(f"line {n}",) for n in (2, 3, 4, 5)]
    again = cli.json("import", str(path), "--entity", "Numbers")
    assert (again["inserted"], again["updated"], again["deleted"]) == (0, 0, 0)
    # A corrected file is still compared line by line with the lines stored with their keys.
    path.write_text(path.read_text(encoding="utf-8").replace("7,50", "8,50"), encoding="utf-8")
    corrected = cli.json("import", str(path), "--entity", "Numbers")
    assert (corrected["inserted"], corrected["updated"], corrected["deleted"]) == (0, 2, 0)
