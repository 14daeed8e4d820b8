"""The payroll auditfile (XAS 7) as a file-based payroll source: totals per component, no BSN."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from lxml import etree

from connectors.files.xas import looks_like_xas, parse_xas
from pipeline import db, payroll
from pipeline.access import LOCAL_USER
from pipeline.errors import ParseError
from tests.pipeline.payroll.test_source import text_containing

SAMPLE = Path(__file__).resolve().parents[3] / ".." / "shared" / "samples" / "payroll" / "Unit4_XAS_demo.xas"
XAS = "{http://www.auditfiles.nl/XAS/7}"


def file_totals() -> dict[str, Decimal]:
    """Per wage component, the sum of every amount in the file (read here independently)."""
    root = etree.parse(
        str(SAMPLE), etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)
    ).getroot()
    out: dict[str, Decimal] = {}
    for line in root.iter(f"{XAS}LnPrLncmp"):
        code = line.findtext(f"{XAS}IdLncmp")
        out[code] = out.get(code, Decimal("0")) + Decimal(line.findtext(f"{XAS}Bdr"))
    return out


def personal_data() -> set[str]:
    """BSNs, names and addresses of the file's employees (what must never be stored)."""
    root = etree.parse(
        str(SAMPLE), etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)
    ).getroot()
    found = set()
    for employee in root.iter(f"{XAS}Wrknmr"):
        found.add(employee.findtext(f"{XAS}SofiNr"))
        for field in ("Straat", "Wnpl", "Pc"):
            found.add(employee.findtext(f"{XAS}StrAdrNl/{XAS}{field}"))
        # The demo's names are labels ('Fulltime Werknemer (Dag)'); the short ones ('Pensioen')
        # are also words of wage component names, so only the long ones are looked for.
        name = employee.findtext(f"{XAS}SignNm")
        if name and len(name) >= 10:
            found.add(name)
    return {v for v in found if v}


def test_the_sample_parses_into_companies_employees_and_costs():
    assert looks_like_xas(SAMPLE.read_bytes()[:4096])
    extraction = parse_xas(SAMPLE)
    streams = {s.stream: s for s in extraction.streams}
    assert set(streams) == {"payroll_companies", "payroll_employees", "payroll_costs"}
    (company,) = streams["payroll_companies"].rows.iter_rows(named=True)
    assert (company["name"], company["company_number"], company["period_type"]) == (
        "Metaal en Techniek (Metaalnijverheid)",
        "RWMET",
        "mixed",  # monthly, 4-weekly, weekly, daily and quarterly employees
    )
    assert streams["payroll_employees"].rows.height == 43
    costs = streams["payroll_costs"].rows
    assert costs.height == 6120 and costs["component_code"].n_unique() == 47
    assert costs["amount"].sum() == Decimal("91991386.18")
    assert streams["payroll_costs"].ranges and streams["payroll_costs"].replace == "ranges"
    assert extraction.stats["payroll_periods"] == 1371 and extraction.stats["component_amounts"] == 15810
    (control,) = extraction.problems
    assert control.kind == "control_total" and "TotLnLbPh 30,991,161.00" in control.message


def test_the_sample_imports_with_totals_per_component_that_match_the_file(data):
    result = payroll.import_xas(data, LOCAL_USER, SAMPLE, "Metaal en Techniek (payroll)")
    assert result.status == "succeeded", result.error_message
    assert result.inserted == 1 + 43 + 6120
    with db.connect(data) as con:
        stored = dict(
            con.execute(
                "SELECT component_code, sum(amount) FROM payroll_costs GROUP BY component_code"
            ).fetchall()
        )
        assert text_containing(con, personal_data()) == []
        assert text_containing(con, {"111111110"}) == []  # the BSN inside the loonheffingennummer too
    assert stored == file_totals()
    assert stored["100001_Wn"] == Decimal("1324300.00") and stored["150001_Wg"] == Decimal("-5932631.03")
    assert stored["500001_Wn"] == Decimal("15843029.97") and stored["800001_Wn"] == Decimal("15158787.40")
    again = payroll.import_xas(data, LOCAL_USER, SAMPLE, "Metaal en Techniek (payroll)")
    assert (again.status, again.inserted, again.updated, again.deleted) == ("succeeded", 0, 0, 0)
    (entity,) = payroll.payroll_entities(data, LOCAL_USER)
    assert (entity["connector"], entity["components"], entity["unmapped"]) == ("xas", 47, 47)


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "payroll.xas"
    path.write_text(text, encoding="utf-8")
    return path


def test_an_unreadable_amount_names_the_employee_period_and_field(tmp_path):
    text = SAMPLE.read_text(encoding="utf-8").replace("<Bdr>100.00</Bdr>", "<Bdr>1OO.00</Bdr>", 1)
    with pytest.raises(ParseError) as info:
        parse_xas(_write(tmp_path, text))
    assert info.value.where == "Wrknmr 001 / Lntdvk 1 / 100002_Wn" and info.value.field == "Bdr"
    assert "'1OO.00' is not a number" in info.value.message


def test_a_cut_off_file_writes_nothing(data, tmp_path):
    text = SAMPLE.read_text(encoding="utf-8")
    cut = text.index("</Wrknmr>", len(text) // 2) + len("</Wrknmr>")  # the download stopped halfway
    result = payroll.import_xas(data, LOCAL_USER, _write(tmp_path, text[:cut]), "Cut payroll")
    assert (result.status, result.error_kind) == ("failed", "parse")
    assert "looks cut off" in result.error_message
    with db.connect(data) as con:
        assert con.execute("SELECT count(*) FROM payroll_costs").fetchone()[0] == 0


def test_an_xml_file_that_is_not_a_payroll_auditfile_is_refused(tmp_path):
    path = _write(tmp_path, '<?xml version="1.0"?><auditfile xmlns="http://www.auditfiles.nl/XAF/3.2"/>')
    with pytest.raises(ParseError, match="not an XAS payroll auditfile"):
        parse_xas(path)
