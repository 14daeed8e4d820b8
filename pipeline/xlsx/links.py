"""The parts tied to the data sheet, edited in place: the defined name over it, the recalculation
flag, pivot caches and tables that read it, and Excel's calculation chain.

Each edit changes one element or attribute of the part's text and leaves every other byte as it
was: these parts hold the user's own names, settings and pivot layouts.
"""

from __future__ import annotations

import html
import re

from lxml import etree

from pipeline.xlsx.cells import quote_sheet
from pipeline.xlsx.datasheet import DATA_NAME
from pipeline.xlsx.guard import xml_escape
from pipeline.xlsx.package import Package, attributes, parse_xml, root_prefix, set_attribute

CALC_CHAIN = "/calcChain"
PIVOT_CACHE = "/pivotCacheDefinition"
TABLE = "/table"


def sheet_of_reference(text: str) -> str | None:
    """The sheet a defined name's reference is on: "'My data'!$A$1:$F$9" -> "My data"."""
    text = text.strip().lstrip("=")
    if text.startswith("'"):
        m = re.match(r"'((?:[^']|'')*)'!", text)
        return m.group(1).replace("''", "'") if m else None
    m = re.match(r"([^!]+)!", text)
    return m.group(1) if m else None


def names_on_sheet(pkg: Package, sheet: str) -> set[str]:
    """Lower-cased workbook-level names whose reference lies on the sheet."""
    return {
        name.lower()
        for name, text, local in pkg.defined_names
        if local is None and sheet_of_reference(text) == sheet
    }


def link_workbook(xml: bytes, sheet: str, ref: str, sheet_index: int | None = None) -> bytes:
    """workbook.xml with `LedgerlineData` set to the sheet's rows and a full recalculation on load
    (and a filter the user set on the data sheet widened to the rows)."""
    text = xml.decode("utf-8")
    p = root_prefix(text, "workbook")
    body = xml_escape(f"{quote_sheet(sheet)}!{ref}")
    found = False

    def replace(m: re.Match) -> str:
        nonlocal found
        attrs = attributes(m.group(1))
        name = attrs.get("name", "").lower()
        if (
            name == "_xlnm._filterdatabase"
            and sheet_index is not None
            and attrs.get("localSheetId") == str(sheet_index)
        ):
            return f"<{p}definedName{m.group(1)}>{body}</{p}definedName>"
        if found or name != DATA_NAME.lower() or "localSheetId" in attrs:
            return m.group(0)
        found = True
        return f"<{p}definedName{m.group(1)}>{body}</{p}definedName>"

    text = re.sub(rf"<{p}definedName\b([^>]*)>(.*?)</{p}definedName>", replace, text, flags=re.S)
    if not found:
        element = f'<{p}definedName name="{DATA_NAME}">{body}</{p}definedName>'
        if f"</{p}definedNames>" in text:
            text = text.replace(f"</{p}definedNames>", element + f"</{p}definedNames>", 1)
        elif re.search(rf"<{p}definedNames\s*/>", text):
            text = re.sub(
                rf"<{p}definedNames\s*/>", f"<{p}definedNames>{element}</{p}definedNames>", text, count=1
            )
        else:
            # definedNames follows sheets, functionGroups and externalReferences (schema order)
            anchor = None
            for tag in ("sheets", "functionGroups", "externalReferences"):
                for m in re.finditer(rf"</{p}{tag}>|<{p}{tag}\b[^>]*/>", text):
                    anchor = m.end() if anchor is None else max(anchor, m.end())
            if anchor is None:
                raise ValueError("workbook.xml has no sheets element")
            text = text[:anchor] + f"<{p}definedNames>{element}</{p}definedNames>" + text[anchor:]
    calc = re.search(rf"<{p}calcPr\b[^>]*>", text)
    if calc:
        text = text[: calc.start()] + set_attribute(calc.group(0), "fullCalcOnLoad", "1") + text[calc.end() :]
    else:
        end = text.index(f"</{p}definedNames>") + len(f"</{p}definedNames>")
        text = text[:end] + f'<{p}calcPr fullCalcOnLoad="1"/>' + text[end:]
    return text.encode("utf-8")


def pivot_caches(pkg: Package) -> list[str]:
    """The pivot cache definition parts of the workbook."""
    return [
        target
        for rtype, target in pkg.rels(pkg.workbook_part).values()
        if rtype.endswith(PIVOT_CACHE) and pkg.has(target)
    ]


def link_pivot_cache(xml: bytes, sheet: str, names: set[str], ref: str) -> bytes | None:
    """A pivot cache over the data sheet pointed at its new rows and refreshed when the file
    opens; None when the cache reads something else (another sheet, another workbook)."""
    text = xml.decode("utf-8")
    p = root_prefix(text, "pivotCacheDefinition")
    source = re.search(rf"<{p}worksheetSource\b[^>]*>", text)
    if not source:
        return None
    attrs = {k: html.unescape(v) for k, v in attributes(source.group(0)).items()}
    if any(k.endswith(":id") for k in attrs):  # a source in another workbook
        return None
    if "name" in attrs:
        if attrs["name"].lower() not in names:
            return None
        new_source = source.group(0)  # the name itself is updated in workbook.xml
    elif attrs.get("sheet") == sheet:
        new_source = set_attribute(source.group(0), "ref", ref.replace("$", ""))
    else:
        return None
    text = text[: source.start()] + new_source + text[source.end() :]
    root = re.search(rf"<{p}pivotCacheDefinition\b[^>]*>", text)
    text = text[: root.start()] + set_attribute(root.group(0), "refreshOnLoad", "1") + text[root.end() :]
    return text.encode("utf-8")


def tables_on_sheet(pkg: Package, sheet_part: str) -> list[str]:
    return [t for rtype, t in pkg.rels(sheet_part).values() if rtype.endswith(TABLE) and pkg.has(t)]


def link_table(xml: bytes, ref: str) -> bytes | None:
    """An Excel table over the data rows resized to them (None when it sits elsewhere)."""
    text = xml.decode("utf-8")
    p = root_prefix(text, "table")
    root = re.search(rf"<{p}table\b[^>]*>", text)
    if not root or not attributes(root.group(0)).get("ref", "").startswith("A1:"):
        return None
    plain = ref.replace("$", "")
    text = text[: root.start()] + set_attribute(root.group(0), "ref", plain) + text[root.end() :]
    auto = re.search(rf"<{p}autoFilter\b[^>]*>", text)
    if auto:
        text = text[: auto.start()] + set_attribute(auto.group(0), "ref", plain) + text[auto.end() :]
    return text.encode("utf-8")


def calc_chain(pkg: Package) -> str | None:
    for rtype, target in pkg.rels(pkg.workbook_part).values():
        if rtype.endswith(CALC_CHAIN) and pkg.has(target):
            return target
    return None


def drop_from_calc_chain(xml: bytes, sheet_id: int) -> bytes | None:
    """Excel's calculation chain without the cells of one sheet: None when it has none of them,
    b"" when nothing is left (the part must then go). A chain naming cells that hold no formula
    makes Excel report the file as damaged."""
    root = parse_xml(xml)
    current = None
    dropped = 0
    for c in list(root):
        if not isinstance(c.tag, str):
            continue
        if c.get("i") is not None:
            current = int(c.get("i"))
        if current == sheet_id:  # cells without `i` inherit it, so a sheet's cells go together
            root.remove(c)
            dropped += 1
    if not dropped:
        return None
    if not len(root):
        return b""
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", standalone=True)


def remove_relationship(xml: bytes, target_suffix: str) -> bytes:
    """A .rels part without the relationship whose target ends with `target_suffix`."""
    text = xml.decode("utf-8")
    text = re.sub(
        rf'<(\w+:)?Relationship\b[^>]*Target="[^"]*{re.escape(target_suffix)}"[^>]*/>', "", text, count=1
    )
    return text.encode("utf-8")


def remove_override(xml: bytes, part: str) -> bytes:
    """[Content_Types].xml without the override of one part."""
    text = xml.decode("utf-8")
    text = re.sub(rf'<(\w+:)?Override\b[^>]*PartName="/{re.escape(part)}"[^>]*/>', "", text, count=1)
    return text.encode("utf-8")
