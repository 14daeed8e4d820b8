"""Reading a workbook package (.xlsx / .xlsm) and writing it back with only some parts replaced.

A workbook is a zip of XML parts tied together by relationship files. Ledgerline reads what it
needs (the sheets and defined names of workbook.xml, the first rows of one sheet, shared strings
and cell formats for fallbacks) and writes a new archive in which every member it did not
replace is copied with its compressed bytes unchanged (`ZipWriter.copy_raw`).

Small parts Ledgerline must change (workbook.xml, a pivot cache definition) are edited as text,
one element or attribute at a time, so the rest of each part also stays exactly as it was.
"""

from __future__ import annotations

import io
import posixpath
import re
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from lxml import etree

from pipeline.errors import ConfigError, RefusedError
from pipeline.xlsx.cells import col_letter, split_ref
from pipeline.xlsx.zipcopy import DeflateSink, ZipWriter

MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG_REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
OFFICE_DOCUMENT = REL_NS + "/officeDocument"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True, remove_blank_text=False)


def parse_xml(data: bytes) -> etree._Element:
    """Parse a part safely: no entity expansion, no network."""
    return etree.fromstring(data, _PARSER)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


@dataclass
class Sheet:
    name: str
    sheet_id: int
    rid: str
    part: str
    index: int  # position in the workbook, 0-based (what localSheetId counts)
    state: str | None = None


@dataclass
class Cell:
    value: str | float | bool | None
    style: int


Row = dict[str, Cell]  # column letters -> cell


@dataclass
class SheetParts:
    """A worksheet split around its rows: everything before <sheetData>, the first rows (parsed),
    and everything after </sheetData>; the rows themselves are never held in memory."""

    prefix: str
    head: dict[int, Row]
    suffix: str
    ns_prefix: str  # "x:" when the part writes the main namespace with a prefix


@dataclass
class Package:
    """An open workbook package: its members in archive order and the workbook part, parsed."""

    name: str
    fp: BinaryIO
    zf: zipfile.ZipFile
    infos: list[zipfile.ZipInfo]
    workbook_part: str
    sheets: list[Sheet]
    defined_names: list[tuple[str, str, int | None]]  # (name, text, localSheetId)
    owns_file: bool = False
    _strings: list[str] | None = field(default=None, repr=False)

    @property
    def members(self) -> set[str]:
        return {i.filename for i in self.infos}

    def info(self, name: str) -> zipfile.ZipInfo:
        return self.zf.getinfo(name)

    def read(self, name: str) -> bytes:
        return self.zf.read(name)

    def has(self, name: str) -> bool:
        return name in self.zf.NameToInfo

    def sheet(self, name: str) -> Sheet | None:
        for sheet in self.sheets:
            if sheet.name == name:
                return sheet
        return None

    def defined_name(self, name: str) -> str | None:
        """A workbook-level defined name's text (its formula), or None."""
        for n, text, local in self.defined_names:
            if n.lower() == name.lower() and local is None:
                return text
        return None

    def rels(self, part: str) -> dict[str, tuple[str, str]]:
        """The relationships of a part: id -> (type, target part path inside the archive)."""
        folder, base = posixpath.split(part)
        rels_part = posixpath.join(folder, "_rels", base + ".rels")
        if not self.has(rels_part):
            return {}
        out = {}
        for rel in parse_xml(self.read(rels_part)):
            if rel.get("TargetMode") == "External":
                continue
            target = rel.get("Target", "")
            path = (
                target.lstrip("/")
                if target.startswith("/")
                else posixpath.normpath(posixpath.join(folder, target))
            )
            out[rel.get("Id")] = (rel.get("Type", ""), path)
        return out

    def shared_strings(self) -> list[str]:
        """The shared string table (what Excel writes text cells as when it saves)."""
        if self._strings is None:
            self._strings = []
            for rtype, target in self.rels(self.workbook_part).values():
                if rtype.endswith("/sharedStrings") and self.has(target):
                    with self.zf.open(target) as f:
                        for _, si in etree.iterparse(
                            f, tag=f"{{{MAIN_NS}}}si", resolve_entities=False, huge_tree=True
                        ):
                            self._strings.append("".join(t.text or "" for t in si.iter(f"{{{MAIN_NS}}}t")))
                            si.clear()
        return self._strings

    def close(self) -> None:
        """Close the archive and the file under it (a refresh in place replaces that file)."""
        self.zf.close()
        if self.owns_file and not self.fp.closed:
            self.fp.close()


def open_package(source: str | Path | bytes | BinaryIO, name: str | None = None) -> Package:
    """Open a workbook; a clear error for anything that is not an .xlsx/.xlsm package."""
    if isinstance(source, bytes):
        fp: BinaryIO = io.BytesIO(source)
        label = name or "the workbook"
    elif isinstance(source, str | Path):
        path = Path(source)
        if not path.is_file():
            raise ConfigError(f"There is no file {path}.")
        fp = path.open("rb")  # closed by Package.close()
        label = name or path.name
    else:
        fp = source
        label = name or "the workbook"
    head = fp.read(8)
    fp.seek(0)
    if head == _OLE_MAGIC:
        raise RefusedError(
            f"{label} is password-protected or in the old .xls format; Ledgerline cannot read it.",
            guidance="Save it as an .xlsx or .xlsm workbook without a password to open it, then try again.",
        )
    try:
        zf = zipfile.ZipFile(fp)
    except zipfile.BadZipFile:
        if isinstance(source, str | Path):
            fp.close()
        raise RefusedError(
            f"{label} is not an Excel workbook (.xlsx or .xlsm).",
            guidance="Export or save the workbook in the .xlsx or .xlsm format.",
        ) from None
    try:
        root_part = _office_document(zf)
        pkg = Package(
            label, fp, zf, zf.infolist(), root_part, [], [], owns_file=isinstance(source, str | Path)
        )
        _read_workbook(pkg)
    except (KeyError, etree.XMLSyntaxError) as exc:
        zf.close()
        if isinstance(source, str | Path):
            fp.close()
        raise RefusedError(f"{label} is not a readable Excel workbook ({exc}).") from None
    return pkg


def _office_document(zf: zipfile.ZipFile) -> str:
    rels = parse_xml(zf.read("_rels/.rels"))
    for rel in rels:
        if rel.get("Type") == OFFICE_DOCUMENT:
            return rel.get("Target", "").lstrip("/")
    raise KeyError("no workbook part")


def _read_workbook(pkg: Package) -> None:
    root = parse_xml(pkg.read(pkg.workbook_part))
    if _local(root.tag) != "workbook":
        raise KeyError("the main part is not a spreadsheet")
    targets = pkg.rels(pkg.workbook_part)
    for child in root:
        tag = _local(child.tag) if isinstance(child.tag, str) else ""
        if tag == "sheets":
            for index, sheet in enumerate(child):
                rid = sheet.get(f"{{{REL_NS}}}id")
                target = targets.get(rid, ("", ""))
                pkg.sheets.append(
                    Sheet(
                        sheet.get("name"),
                        int(sheet.get("sheetId", 0)),
                        rid,
                        target[1],
                        index,
                        sheet.get("state"),
                    )
                )
        elif tag == "definedNames":
            for dn in child:
                local = dn.get("localSheetId")
                pkg.defined_names.append(
                    (dn.get("name"), dn.text or "", None if local is None else int(local))
                )


# ---------------------------------------------------------------- a sheet around its rows

_SHEETDATA_OPEN = re.compile(rb"<(\w+:)?sheetData\b[^>]*?(/?)>")
_SHEETDATA_CLOSE = re.compile(rb"</(\w+:)?sheetData\s*>")
_ROW_CLOSE = re.compile(rb"</(?:\w+:)?row\s*>")
_XMLNS = re.compile(r'\sxmlns(?::\w+)?="[^"]*"')


def split_sheet(pkg: Package, part: str, *, head_rows: int = 12, head_limit: int = 1 << 20) -> SheetParts:
    """Read a worksheet once, streaming: keep what surrounds its rows and parse its first rows."""
    with pkg.zf.open(part) as f:
        buf = b""
        while True:  # up to <sheetData>
            chunk = f.read(1 << 16)
            buf += chunk
            opening = _SHEETDATA_OPEN.search(buf)
            if opening or not chunk:
                break
        if not opening:
            raise RefusedError(f"{pkg.name}: the sheet part {part} has no cell data section.")
        prefix, ns = buf[: opening.start()], opening.group(1) or b""
        data = buf[opening.end() :]
        head = b""
        if opening.group(2) == b"/":  # <sheetData/>: no rows at all
            suffix = data + f.read()
        else:
            collecting, searched, carry = True, 0, b""
            while True:
                if collecting:
                    head += data
                    closing = _SHEETDATA_CLOSE.search(head, max(0, searched - 32))
                    if closing:
                        suffix = head[closing.end() :] + f.read()
                        head = head[: closing.start()]
                        break
                    searched = len(head)
                    if len(_ROW_CLOSE.findall(head)) >= head_rows or len(head) > head_limit:
                        collecting, carry = False, head[-32:]
                else:
                    window = carry + data
                    closing = _SHEETDATA_CLOSE.search(window)
                    if closing:
                        suffix = window[closing.end() :] + f.read()
                        break
                    carry = window[-32:]
                data = f.read(1 << 20)
                if not data:
                    raise RefusedError(f"{pkg.name}: the sheet part {part} is cut short.")
    prefix_text = prefix.decode("utf-8")
    return SheetParts(
        prefix_text, _parse_head(pkg, prefix_text, head, head_rows), suffix.decode("utf-8"), ns.decode()
    )


def _parse_head(pkg: Package, prefix: str, head: bytes, limit: int) -> dict[int, Row]:
    """The first rows of a sheet as {row number: {column: Cell}}."""
    closes = [m.end() for m in _ROW_CLOSE.finditer(head)]
    if not closes:
        return {}
    root_tag = re.search(r"<(\w+:)?worksheet\b[^>]*>", prefix)
    decls = " ".join(m.group(0).strip() for m in _XMLNS.finditer(root_tag.group(0))) if root_tag else ""
    if 'xmlns="' not in decls:
        decls += f' xmlns="{MAIN_NS}"'
    wrapped = b"<wrap " + decls.encode() + b">" + head[: closes[-1]] + b"</wrap>"
    rows: dict[int, Row] = {}
    number = 0
    for row in parse_xml(wrapped):
        if not isinstance(row.tag, str) or _local(row.tag) != "row":
            continue
        number = int(row.get("r", number + 1))
        cells: Row = {}
        position = 0
        for c in row:
            if not isinstance(c.tag, str) or _local(c.tag) != "c":
                continue
            ref = c.get("r")
            position = split_ref(ref)[1] if ref else position + 1
            cells[col_letter(position)] = Cell(_cell_value(pkg, c), int(c.get("s", 0)))
        rows[number] = cells
        if len(rows) >= limit:
            break
    return rows


def _cell_value(pkg: Package, c: etree._Element) -> str | float | bool | None:
    kind = c.get("t", "n")
    if kind == "inlineStr":
        node = c.find(f"{{{MAIN_NS}}}is")
        return "".join(t.text or "" for t in node.iter(f"{{{MAIN_NS}}}t")) if node is not None else ""
    v = c.find(f"{{{MAIN_NS}}}v")
    if v is None or v.text is None:
        return None
    if kind == "s":
        strings = pkg.shared_strings()
        index = int(v.text)
        return strings[index] if index < len(strings) else None
    if kind in ("str", "e"):
        return v.text
    if kind == "b":
        return v.text == "1"
    try:
        return float(v.text)
    except ValueError:
        return v.text


# ---------------------------------------------------------------- cell formats


@dataclass
class CellFormats:
    """The workbook's cell formats (cellXfs): which number format each style index shows."""

    formats: list[int]
    codes: dict[int, str]

    def find(self, wanted) -> int:
        """The first style index whose number format passes `wanted(code)`, else 0 (General)."""
        for index, fmt in enumerate(self.formats):
            if wanted(self.codes.get(fmt, BUILTIN_FORMATS.get(fmt, ""))):
                return index
        return 0


BUILTIN_FORMATS = {
    2: "0.00",
    4: "#,##0.00",
    14: "mm-dd-yy",
    15: "d-mmm-yy",
    16: "d-mmm",
    17: "mmm-yy",
    22: "m/d/yy h:mm",
}


def cell_formats(pkg: Package) -> CellFormats:
    for rtype, target in pkg.rels(pkg.workbook_part).values():
        if rtype.endswith("/styles") and pkg.has(target):
            root = parse_xml(pkg.read(target))
            codes = {
                int(n.get("numFmtId")): n.get("formatCode", "") for n in root.iter(f"{{{MAIN_NS}}}numFmt")
            }
            xfs = root.find(f"{{{MAIN_NS}}}cellXfs")
            formats = [int(xf.get("numFmtId", 0)) for xf in (xfs if xfs is not None else [])]
            return CellFormats(formats, codes)
    return CellFormats([], {})


# ---------------------------------------------------------------- text edits of small parts


def root_prefix(xml: str, local_name: str) -> str:
    """The namespace prefix a part writes its root element with ("" or "x:")."""
    m = re.search(rf"<(\w+:)?{local_name}\b", xml)
    return (m.group(1) or "") if m else ""


_ATTR = re.compile(r'([\w:]+)\s*=\s*"([^"]*)"')


def attributes(tag_text: str) -> dict[str, str]:
    """The attributes of one start tag (values still XML-escaped)."""
    return dict(_ATTR.findall(tag_text))


def set_attribute(tag_text: str, name: str, value: str) -> str:
    """A start tag with one attribute set (replaced in place, or added before the tag's end)."""
    pattern = re.compile(rf'(\s{re.escape(name)}\s*=\s*)"[^"]*"')
    if pattern.search(tag_text):
        return pattern.sub(lambda m: f'{m.group(1)}"{value}"', tag_text, count=1)
    end = -2 if tag_text.endswith("/>") else -1
    return f'{tag_text[:end].rstrip()} {name}="{value}"{tag_text[end:]}'


def set_element_ref(text: str, tag: str, ref: str) -> str:
    """A part's text with the `ref` of its first <tag ...> element set (when it has one)."""
    m = re.search(rf"<(?:\w+:)?{tag}\b[^>]*>", text)
    if not m or 'ref="' not in m.group(0):
        return text
    return text[: m.start()] + set_attribute(m.group(0), "ref", ref) + text[m.end() :]


# ---------------------------------------------------------------- writing the package back


def write_package(
    pkg: Package,
    out: BinaryIO,
    replaced: dict[str, bytes | DeflateSink],
    *,
    deleted: set[str] = frozenset(),
    order: Iterable[str] = (),
) -> None:
    """Write the package to `out`: replaced members in their place, deleted ones left out, every
    other member copied raw."""
    writer = ZipWriter(out, comment=pkg.zf.comment)
    done = set(deleted)
    for info in pkg.infos:
        name = info.filename
        if name in done:
            continue
        done.add(name)
        new = replaced.get(name)
        if new is None:
            writer.copy_raw(pkg.fp, info)
        elif isinstance(new, DeflateSink):
            writer.write_sink(name, new, like=info)
        else:
            writer.write_bytes(name, new, like=info)
    for name in [*order, *replaced]:
        if name not in done:
            done.add(name)
            new = replaced[name]
            if isinstance(new, DeflateSink):
                writer.write_sink(name, new)
            else:
                writer.write_bytes(name, new)
    writer.close()
