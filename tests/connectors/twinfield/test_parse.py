"""Twinfield XML to Ledgerline rows, and Ledgerline's own WSDLs against the ones Twinfield publishes."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from lxml import etree

from connectors.twinfield import parse
from connectors.twinfield.client import WSDL
from pipeline.errors import ParseError

PUBLISHED = Path(__file__).resolve().parents[3] / ".." / "shared" / "contracts" / "twinfield"
WSDL_NS = {
    "wsdl": "http://schemas.xmlsoap.org/wsdl/",
    "soap": "http://schemas.xmlsoap.org/wsdl/soap/",
    "s": "http://www.w3.org/2001/XMLSchema",
}


def describe(path: Path, operation: str) -> dict:
    """What a client depends on in a WSDL: namespace, action, and the fields of the messages."""
    tree = etree.parse(str(path), etree.XMLParser(resolve_entities=False, no_network=True))

    def fields(element: str) -> list[str]:
        found = tree.xpath(f"//s:element[@name='{element}']//s:element/@name", namespaces=WSDL_NS)
        return list(found)

    action = tree.xpath(
        f"//wsdl:binding/wsdl:operation[@name='{operation}']/soap:operation/@soapAction", namespaces=WSDL_NS
    )
    return {
        "namespace": tree.getroot().get("targetNamespace"),
        "action": action[0],
        "request": fields(operation),
        "response": fields(f"{operation}Response"),
    }


@pytest.mark.parametrize(
    ("ours", "theirs", "operation"),
    [("processxml.wsdl", "processxml.wsdl", "ProcessXmlString"), ("finder.wsdl", "finder.wsdl", "Search")],
)
def test_our_wsdls_describe_the_operations_as_twinfields_published_wsdls_do(ours, theirs, operation):
    mine, published = describe(WSDL / ours, operation), describe(PUBLISHED / theirs, operation)
    assert mine == published
    # The OAuth header fields are those of Twinfield's current processxml.wsdl.
    header = etree.parse(str(PUBLISHED / "processxml.wsdl")).xpath(
        "//s:complexType[@name='Header']//s:element/@name", namespaces=WSDL_NS
    )
    assert {"AccessToken", "CompanyCode"} <= set(header)


BROWSE = """<browse result="1" first="1" last="3" total="3" office="NL001" code="030_2">
<th><td label="Office">fin.trs.head.office</td></th>
<tr><key><office>NL001</office><code>VRK</code><number>202400017</number><line>1</line></key>
 <td field="fin.trs.head.date">20240305</td><td field="fin.trs.head.year">2024</td><td field="fin.trs.head.period">3</td>
 <td field="fin.trs.head.modified">20240306101500</td><td field="fin.trs.head.curcode">USD</td>
 <td field="fin.trs.line.dim1">1300</td><td field="fin.trs.line.basevaluesigned">110.00</td><td field="fin.trs.line.valuesigned">121.00</td>
 <td field="fin.trs.line.invnumber">F-17</td></tr>
<tr><key><office>NL001</office><code>VRK</code><number>202400017</number><line>2</line></key>
 <td field="fin.trs.head.date">20240305</td><td field="fin.trs.head.year">2024</td><td field="fin.trs.head.period">3</td>
 <td field="fin.trs.head.curcode">USD</td><td field="fin.trs.line.dim1">8000</td><td field="fin.trs.line.basevaluesigned">-110.00</td>
 <td field="fin.trs.line.dim2">CC10</td><td field="fin.trs.line.dim2type">KPL</td><td field="fin.trs.line.dim3">P101</td><td field="fin.trs.line.dim3type">PRJ</td></tr>
<tr><key><office>NL001</office><code>BEGINBAL</code><number>2024</number><line>1</line></key>
 <td field="fin.trs.head.date">20240101</td><td field="fin.trs.head.year">2024</td><td field="fin.trs.head.period">0</td>
 <td field="fin.trs.line.dim1">1100</td><td field="fin.trs.line.basevaluesigned">5000.00</td></tr>
</browse>"""


def test_browse_lines_become_transactions_and_period_zero_the_opening_balance():
    rows = parse.browse_rows(parse.xml(BROWSE, where="test"), where="test")
    batch = parse.LineBatch(office="NL001", currency="EUR")
    batch.add(rows)
    first, second = batch.transactions["NL001|VRK|202400017|1"], batch.transactions["NL001|VRK|202400017|2"]
    assert (first["tx_date"], first["fiscal_year"], first["period"]) == (date(2024, 3, 5), 2024, 3)
    assert (first["amount"], first["amount_fc"], first["currency_fc"]) == (
        Decimal("110.00"),
        Decimal("121.00"),
        "USD",
    )
    assert (second["cost_centre"], second["project"], first["document_no"]) == ("CC10", "P101", "F-17")
    assert batch.opening["NL001|BEGINBAL|2024|1"]["balance_date"] == date(2024, 1, 1)
    assert batch.sizes == {"VRK|202400017": 2, "BEGINBAL|2024": 1}
    assert batch.latest is not None and batch.latest.isoformat() == "2024-03-06T10:15:00"
    assert batch.keys("VRK|202400017", 4, start=3) == ["NL001|VRK|202400017|3", "NL001|VRK|202400017|4"]


def test_a_refused_request_bad_values_and_doctypes_are_clear_errors():
    with pytest.raises(parse.Refused) as refused:
        parse.browse_rows(
            parse.xml('<browse result="0" msg="Geen toegang tot administratie NL9."/>', where="t"), where="t"
        )
    assert refused.value.message == "Geen toegang tot administratie NL9."
    bad = BROWSE.replace(">110.00<", ">elf<", 1)
    with pytest.raises(ParseError) as err:
        parse.LineBatch(office="NL001", currency="EUR").add(
            parse.browse_rows(parse.xml(bad, where="t"), where="t")
        )
    assert "transaction VRK 202400017, line 1" in str(err.value) and "basevaluesigned" in str(err.value)
    with pytest.raises(ParseError):
        parse.xml('<!DOCTYPE x [<!ENTITY a "aaaa">]><browse result="1">&a;</browse>', where="t")


def test_browse_requests_filter_on_the_office_and_show_the_fields_asked():
    request = parse.browse_request(
        "030_2", "NL&1", ["fin.trs.line.dim1"], {"fin.trs.head.yearperiod": ("between", "2024/01", "2024/01")}
    )
    root = etree.fromstring(request.encode())
    columns = {c.findtext("field"): c for c in root.iterfind("column")}
    assert root.get("code") == "030_2"
    assert columns["fin.trs.head.office"].findtext("from") == "NL&1"
    assert columns["fin.trs.head.yearperiod"].findtext("to") == "2024/01"
    assert columns["fin.trs.line.dim1"].findtext("visible") == "true"
    assert columns["fin.trs.head.office"].findtext("visible") == "false"


def test_period_totals_and_the_control_check():
    totals = parse.period_totals(
        [
            {
                "fin.trs.head.yearperiod": "2024/03",
                "fin.trs.line.dim1": "1300",
                "fin.trs.line.basevaluesigned": "110.00",
            },
            {
                "fin.trs.head.yearperiod": "2024/03",
                "fin.trs.line.dim1": "8000",
                "fin.trs.line.basevaluesigned": "-110.00",
            },
            {
                "fin.trs.head.yearperiod": "2024/00",
                "fin.trs.line.dim1": "1100",
                "fin.trs.line.basevaluesigned": "5000.00",
            },
        ],
        where="t",
    )
    batch = parse.LineBatch(office="NL001", currency="EUR")
    batch.add(parse.browse_rows(parse.xml(BROWSE, where="t"), where="t"))
    assert parse.control_problems(batch, totals) == []
    totals[(2024, 3)]["8000"] = Decimal("-100.00")
    assert [p.kind for p in parse.control_problems(batch, totals)] == ["control_total_difference"]
    assert "2024/03" in parse.control_problems(batch, totals)[0].message


def test_offices_and_finder_rows():
    offices = parse.offices(
        parse.xml(
            '<offices result="1"><office name="Demo BV" shortname="Demo">NL001</office></offices>', where="t"
        )
    )
    assert offices == [{"code": "NL001", "name": "Demo BV", "shortname": "Demo"}]
    found = {
        "BAS": [["1100", "Bank"]],
        "PNL": [["8000", "Omzet"]],
        "KPL": [["CC10", "Sales"]],
        "PRJ": [["P1", "Project 1"]],
    }
    assert [(r["code"], r["account_type"]) for r in parse.account_rows(found)] == [
        ("1100", "balance"),
        ("8000", "pnl"),
    ]
    assert [(r["axis"], r["code"]) for r in parse.dimension_rows(found)] == [
        ("cost_centre", "CC10"),
        ("project", "P1"),
    ]
