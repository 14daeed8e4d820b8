"""A workbook as a user builds it on a Ledgerline data sheet: their own sheet of formulas over the
rows, a chart, a sparkline, an image, a text box, a defined name, a data validation, a conditional
format and a pivot table over the data (the pivot added at the package level, as Excel stores one).
"""

from __future__ import annotations

import io
import re
import struct
import zipfile
import zlib
from pathlib import Path

import openpyxl
import xlsxwriter

from pipeline.xlsx.datasheet import DATA_NAME, HEADER

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PIVOT_CT = "application/vnd.openxmlformats-officedocument.spreadsheetml"
# (cell, line code, month) the user's sheet sums from the data sheet
USER_CELLS = [
    ("B2", "OMZ", "2025-01"),
    ("B3", "KPR", "2025-01"),
    ("B4", "OMZ", "2025-02"),
    ("B5", "CASH", "2025-02"),
]


def tiny_png() -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    raw = zlib.compress(b"\x00\xff\x00\x00")
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", raw)
        + chunk(b"IEND", b"")
    )


def build_user_workbook(path: Path) -> None:
    """The user's workbook before its first refresh: a Data sheet with only the header row."""
    wb = xlsxwriter.Workbook(str(path))
    mine = wb.add_worksheet("Mine")
    bold = wb.add_format({"bold": True})
    money = wb.add_format({"num_format": "#,##0.00"})
    mine.write_string("A1", "My figures", bold)
    for cell, code, month in USER_CELLS:
        row = int(cell[1:])
        year, mon = month.split("-")
        mine.write_string(f"A{row}", f"{code} {month}")
        mine.write_formula(
            cell, f'=SUMIFS(Data!$F:$F,Data!$C:$C,"{code}",Data!$E:$E,DATE({year},{int(mon)},1))', money, 0
        )
    mine.write_formula("B7", "=SUM(B2:B5)", money, 0)
    mine.write_formula("B8", f"=ROWS({DATA_NAME})-1", None, 0)
    mine.write_string("C1", "Keep?")
    mine.data_validation("C2", {"validate": "list", "source": ["yes", "no"]})
    mine.write_string("C2", "yes")
    mine.conditional_format("B2:B5", {"type": "cell", "criteria": "<", "value": 0, "format": bold})
    mine.add_sparkline("D2", {"range": "Mine!B2:B5"})
    mine.insert_image("F2", "dot.png", {"image_data": io.BytesIO(tiny_png())})
    mine.insert_textbox("F8", "Board pack, do not move", {"width": 200, "height": 40})
    chart = wb.add_chart({"type": "column"})
    chart.add_series({"name": "Mine", "categories": "=Mine!$A$2:$A$5", "values": "=Mine!$B$2:$B$5"})
    mine.insert_chart("H2", chart)
    wb.define_name("MyRevenue", "=Mine!$B$2")
    pivot = wb.add_worksheet("Pivot")
    pivot.write_string("A1", "Amounts by line")
    data = wb.add_worksheet("Data")
    for i, name in enumerate(HEADER):
        data.write_string(0, i, name)
    wb.set_properties({"created": __import__("datetime").datetime(2025, 1, 1)})
    wb.close()


def add_pivot(path: Path) -> None:
    """Add a pivot table on the Pivot sheet: amount summed by line code over the data sheet's rows,
    with the cache Excel would have saved (records of the rows as they are now)."""
    book = openpyxl.load_workbook(path, read_only=True)
    rows = list(book["Data"].iter_rows(min_row=2, max_col=6, values_only=True))
    book.close()
    rows = [r for r in rows if r[0] is not None]
    codes = sorted({r[2] for r in rows})
    totals = {c: sum(r[5] for r in rows if r[2] == c) for c in codes}
    n = len(rows) + 1
    fields = "".join(
        f'<cacheField name="{name}" numFmtId="0">'
        + (
            f'<sharedItems count="{len(codes)}">' + "".join(f'<s v="{c}"/>' for c in codes) + "</sharedItems>"
            if name == "code"
            else '<sharedItems containsSemiMixedTypes="0" containsString="0" containsNumber="1"/>'
            if name in ("month", "amount")
            else "<sharedItems/>"
        )
        + "</cacheField>"
        for name in HEADER
    )
    definition = (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<pivotCacheDefinition xmlns="{MAIN}" '
        f'xmlns:r="{REL}" r:id="rId1" refreshedBy="tester" refreshedDate="45658" createdVersion="3" '
        f'refreshedVersion="3" minRefreshableVersion="3" recordCount="{len(rows)}">'
        f'<cacheSource type="worksheet"><worksheetSource ref="A1:F{n}" sheet="Data"/></cacheSource>'
        f'<cacheFields count="6">{fields}</cacheFields></pivotCacheDefinition>'
    )
    index = {c: i for i, c in enumerate(codes)}
    records = "".join(
        f'<r><s v="{r[0]}"/><s v="{r[1]}"/><x v="{index[r[2]]}"/><s v="{r[3]}"/><n v="{r[4]}"/><n v="{r[5]}"/></r>'
        for r in rows
    )
    records_xml = (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<pivotCacheRecords xmlns="{MAIN}" '
        f'xmlns:r="{REL}" count="{len(rows)}">{records}</pivotCacheRecords>'
    )
    items = "".join(f'<item x="{i}"/>' for i in range(len(codes)))
    row_items = "".join(f'<i><x v="{i}"/></i>' if i else "<i><x/></i>" for i in range(len(codes)))
    table = (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<pivotTableDefinition xmlns="{MAIN}" '
        'name="LinePivot" cacheId="1" applyNumberFormats="0" applyBorderFormats="0" applyFontFormats="0" '
        'applyPatternFormats="0" applyAlignmentFormats="0" applyWidthHeightFormats="1" dataCaption="Values" '
        'updatedVersion="3" minRefreshableVersion="3" createdVersion="3" useAutoFormatting="1" '
        'itemPrintTitles="1" indent="0" outline="1" outlineData="1">'
        f'<location ref="A3:B{4 + len(codes)}" firstHeaderRow="1" firstDataRow="1" firstDataCol="1"/>'
        '<pivotFields count="6"><pivotField showAll="0"/><pivotField showAll="0"/>'
        f'<pivotField axis="axisRow" showAll="0"><items count="{len(codes) + 1}">{items}<item t="default"/>'
        '</items></pivotField><pivotField showAll="0"/><pivotField showAll="0"/>'
        '<pivotField dataField="1" showAll="0"/></pivotFields>'
        '<rowFields count="1"><field x="2"/></rowFields>'
        f'<rowItems count="{len(codes) + 1}">{row_items}<i t="grand"><x/></i></rowItems>'
        '<colItems count="1"><i/></colItems>'
        '<dataFields count="1"><dataField name="Sum of amount" fld="5" baseField="0" baseItem="0"/></dataFields>'
        "</pivotTableDefinition>"
    )
    rels = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">{}</Relationships>'
    rel = '<Relationship Id="{}" Type="{}" Target="{}"/>'
    src = zipfile.ZipFile(path)
    members = {i.filename: src.read(i.filename) for i in src.infolist()}
    src.close()
    wb_xml = members["xl/workbook.xml"].decode()
    sheet_rid = re.search(r'<sheet name="Pivot" sheetId="\d+" r:id="(rId\d+)"', wb_xml).group(1)
    wb_rels = members["xl/_rels/workbook.xml.rels"].decode()
    sheet_target = re.search(
        rf'Id="{sheet_rid}"[^>]*Target="([^"]+)"|Target="([^"]+)"[^>]*Id="{sheet_rid}"', wb_rels
    )
    sheet_part = "xl/" + (sheet_target.group(1) or sheet_target.group(2))
    wb_rels = wb_rels.replace(
        "</Relationships>",
        rel.format("rIdPivot1", f"{REL}/pivotCacheDefinition", "pivotCache/pivotCacheDefinition1.xml")
        + "</Relationships>",
    )
    wb_xml = re.sub(
        r"(<calcPr[^>]*/>)",
        r'\1<pivotCaches><pivotCache cacheId="1" r:id="rIdPivot1"/></pivotCaches>',
        wb_xml,
    )
    # the pivot's output as Excel saved it: one row per line code and a grand total
    sheet_xml = members[sheet_part].decode()
    out_rows = [
        '<row r="3"><c r="A3" t="inlineStr"><is><t>Row Labels</t></is></c>'
        '<c r="B3" t="inlineStr"><is><t>Sum of amount</t></is></c></row>'
    ]
    for i, c in enumerate(codes, start=4):
        out_rows.append(
            f'<row r="{i}"><c r="A{i}" t="inlineStr"><is><t>{c}</t></is></c><c r="B{i}"><v>{totals[c]}</v></c></row>'
        )
    grand = 4 + len(codes)
    out_rows.append(
        f'<row r="{grand}"><c r="A{grand}" t="inlineStr"><is><t>Grand Total</t></is></c>'
        f'<c r="B{grand}"><v>{sum(totals.values())}</v></c></row>'
    )
    sheet_xml = sheet_xml.replace("</row></sheetData>", "</row>" + "".join(out_rows) + "</sheetData>", 1)
    sheet_rels_part = sheet_part.replace("worksheets/", "worksheets/_rels/") + ".rels"
    members[sheet_rels_part] = rels.format(
        rel.format("rId1", f"{REL}/pivotTable", "../pivotTables/pivotTable1.xml")
    ).encode()
    members["xl/pivotTables/pivotTable1.xml"] = table.encode()
    members["xl/pivotTables/_rels/pivotTable1.xml.rels"] = rels.format(
        rel.format("rId1", f"{REL}/pivotCacheDefinition", "../pivotCache/pivotCacheDefinition1.xml")
    ).encode()
    members["xl/pivotCache/pivotCacheDefinition1.xml"] = definition.encode()
    members["xl/pivotCache/_rels/pivotCacheDefinition1.xml.rels"] = rels.format(
        rel.format("rId1", f"{REL}/pivotCacheRecords", "pivotCacheRecords1.xml")
    ).encode()
    members["xl/pivotCache/pivotCacheRecords1.xml"] = records_xml.encode()
    ct = members["[Content_Types].xml"].decode()
    overrides = "".join(
        f'<Override PartName="/{part}" ContentType="{PIVOT_CT}.{kind}+xml"/>'
        for part, kind in (
            ("xl/pivotTables/pivotTable1.xml", "pivotTable"),
            ("xl/pivotCache/pivotCacheDefinition1.xml", "pivotCacheDefinition"),
            ("xl/pivotCache/pivotCacheRecords1.xml", "pivotCacheRecords"),
        )
    )
    members["[Content_Types].xml"] = ct.replace("</Types>", overrides + "</Types>").encode()
    members["xl/workbook.xml"] = wb_xml.encode()
    members["xl/_rels/workbook.xml.rels"] = wb_rels.encode()
    members[sheet_part] = sheet_xml.encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        for name, body in members.items():
            out.writestr(zipfile.ZipInfo(name, (2025, 1, 1, 0, 0, 0)), body, zipfile.ZIP_DEFLATED)


def add_macros(path: Path, out: Path) -> bytes:
    """The same workbook as .xlsm with a VBA project part (bytes a refresh must carry over as is)."""
    vba = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(range(256)) * 64
    src = zipfile.ZipFile(path)
    members = {i.filename: src.read(i.filename) for i in src.infolist()}
    src.close()
    ct = members["[Content_Types].xml"].decode()
    ct = ct.replace(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
        "application/vnd.ms-excel.sheet.macroEnabled.main+xml",
    ).replace(
        "</Types>", '<Default Extension="bin" ContentType="application/vnd.ms-office.vbaProject"/></Types>'
    )
    members["[Content_Types].xml"] = ct.encode()
    members["xl/vbaProject.bin"] = vba
    rels = (
        members["xl/_rels/workbook.xml.rels"]
        .decode()
        .replace(
            "</Relationships>",
            '<Relationship Id="rIdVba" Type="http://schemas.microsoft.com/office/2006/relationships/vbaProject" '
            'Target="vbaProject.bin"/></Relationships>',
        )
    )
    members["xl/_rels/workbook.xml.rels"] = rels.encode()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, body in members.items():
            z.writestr(zipfile.ZipInfo(name, (2025, 1, 1, 0, 0, 0)), body, zipfile.ZIP_DEFLATED)
    return vba
