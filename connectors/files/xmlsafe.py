"""Safe, streaming reading of XML ledger files (XAF auditfiles, SAF-T), shared by their parsers.

What it guarantees:
- a file over the size limit is refused before a byte is read; an empty file gets a clear error;
- the encoding comes from the byte-order mark or the XML declaration (UTF-8 with or without BOM,
  UTF-16, ISO-8859-1 read as Windows-1252); bytes that do not fit the declared encoding are read as
  Windows-1252 and counted instead of stopping the import;
- entities are never expanded, nothing is fetched from the network, and a file that declares
  entities in a DOCTYPE is refused (ledger exports never do; "billion laughs" files always do);
- elements are visited with `iterparse` and released after use, so memory stays bounded;
- tags are compared by local name, so the namespace version (XAF 3.1/3.2, SAF-T NO 1.10/1.30)
  does not matter to the parsers.

It also holds what both parsers need around the XML: xsd:decimal / xsd:date parsing, a column
buffer that turns records into polars frames in batches, and a collector that folds repeated
schema deviations into one Problem each.
"""

from __future__ import annotations

import codecs
import re
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path
from typing import Any, BinaryIO

import polars as pl
from lxml import etree

from connectors.base import STREAM_COLUMNS, Problem
from pipeline.errors import InputTooLarge, ParseError

HEAD_BYTES = 8192
CHUNK_BYTES = 1 << 20
CENT = Decimal("0.01")
MAX_MONEY = Decimal("9999999999999999.99")  # what DECIMAL(18,2) holds

_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_DECLARED = re.compile(rb"""^\s*<\?xml[^>]*?\bencoding\s*=\s*["']([A-Za-z][A-Za-z0-9._:-]*)["']""")
# Files labelled Latin-1 are nearly always Windows-1252 in practice (euro sign at 0x80); the
# WHATWG encoding standard makes the same choice, and it decodes every true Latin-1 letter alike.
_AS_CP1252 = {"latin_1", "iso8859-1", "ascii", "cp1252"}
_LOCAL: dict[str, str] = {}  # Clark tag -> local name; a file has only a few hundred distinct tags


def local_name(tag: Any) -> str:
    """The tag without its namespace: '{http://www.auditfiles.nl/XAF/3.2}trLine' -> 'trLine'."""
    name = _LOCAL.get(tag) if isinstance(tag, str) else ""
    if name is None:
        name = _LOCAL[tag] = tag.rpartition("}")[2]
    return name


def namespace_of(tag: str) -> str | None:
    """The namespace URI of a Clark-notation tag, or None."""
    return tag[1:].partition("}")[0] if tag.startswith("{") else None


def text_of(elem: etree._Element | None) -> str | None:
    """Stripped text of an element; None when absent or blank (`<docRef />`)."""
    if elem is None or elem.text is None:
        return None
    value = elem.text.strip()
    return value or None


def fields(
    elem: etree._Element, nested: dict[str, list[etree._Element]] | None = None
) -> dict[str, str | None]:
    """Text of the leaf children by local name; the first occurrence of a name wins.

    Children that have children of their own are collected by name into `nested` when given.
    """
    out: dict[str, str | None] = {}
    for c in elem:
        tag = c.tag
        name = _LOCAL.get(tag) if isinstance(tag, str) else ""
        if name is None:
            name = local_name(tag)
        if len(c) == 0:
            if name not in out:
                text = c.text
                out[name] = (text.strip() or None) if text is not None else None
        elif nested is not None:
            nested.setdefault(name, []).append(c)
    return out


def child(elem: etree._Element, name: str) -> etree._Element | None:
    """The first child with this local name."""
    for c in elem:
        if local_name(c.tag) == name:
            return c
    return None


def children(elem: etree._Element, name: str) -> list[etree._Element]:
    """All children with this local name, in document order."""
    return [c for c in elem if local_name(c.tag) == name]


def release(elem: etree._Element) -> None:
    """Free a processed record and the records before it, keeping iterparse memory flat.

    Leaf siblings (a journal's jrnID, a section's linesCount and totals) stay: they are few, and
    the parser reads them from the parent when it needs them.
    """
    elem.clear(keep_tail=False)
    parent = elem.getparent()
    if parent is None:
        return
    prev = elem.getprevious()
    while prev is not None:
        before = prev.getprevious()
        if len(prev) or prev.tag == elem.tag:
            parent.remove(prev)
        prev = before


# --- opening the file -------------------------------------------------------------------------


def check_file(path: Path, max_bytes: int | None) -> int:
    """Refuse a missing, empty or oversized file before reading it; return its size in bytes."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise ParseError(f"the file cannot be opened ({exc.strerror or exc})", file=path.name) from exc
    if max_bytes is not None and size > max_bytes:
        raise InputTooLarge(
            f"the file is {_mb(size)}, over the upload limit of {_mb(max_bytes)}", file=path.name
        )
    if size == 0:
        raise ParseError("the file is empty (0 bytes)", file=path.name, guidance="Export the file again.")
    return size


def _mb(n: int) -> str:
    return f"{n / 1_000_000:.1f} MB" if n >= 100_000 else f"{n:,} bytes"


def read_head(path: Path, n: int = HEAD_BYTES) -> bytes:
    """The first bytes of a file, for format detection."""
    with path.open("rb") as fh:
        return fh.read(n)


def detect_encoding(head: bytes, *, file: str | None = None) -> str:
    """Python codec name for the file: byte-order mark first, then the XML declaration, else UTF-8."""
    for bom, codec in _BOMS:
        if head.startswith(bom):
            return codec
    if head.startswith(b"<\x00") or head.startswith(b"\x00<"):
        return "utf-16-le" if head.startswith(b"<\x00") else "utf-16-be"
    match = _DECLARED.match(head)
    if not match:
        return "utf-8"
    label = match.group(1).decode("ascii")
    try:
        codec = codecs.lookup(label).name
    except LookupError:
        raise ParseError(
            f"the XML declaration names the encoding {label!r}, which is not supported",
            file=file,
            where="line 1",
            field="encoding",
            guidance="Export the file as UTF-8 or ISO-8859-1.",
        ) from None
    if codec in _AS_CP1252:
        return "cp1252"
    if codec.startswith("utf-16") or codec.startswith("utf-32"):
        # Declared UTF-16 without a BOM but readable as ASCII: the declaration is wrong.
        return "utf-8"
    return codec


@dataclass(frozen=True)
class RootInfo:
    """The root element as found in the first bytes: local name and namespace URI."""

    local: str
    namespace: str | None


_PROLOG_JUNK = re.compile(r"\A(?:\s+|<\?.*?\?>|<!--.*?-->|<!DOCTYPE[^\[>]*(?:\[.*?\])?\s*>)", re.S)
_START_TAG = re.compile(r"\A<([A-Za-z_][\w.-]*:)?([A-Za-z_][\w.-]*)([^>]*)")
_XMLNS = re.compile(r"""\bxmlns(?::([\w.-]+))?\s*=\s*["']([^"']*)["']""")


def root_info(head: bytes) -> RootInfo | None:
    """Name and namespace of the root element, read from the first bytes; None if not XML."""
    try:
        text = head.decode(detect_encoding(head), errors="replace")
    except ParseError:
        text = head.decode("utf-8", errors="replace")
    text = text.lstrip("\ufeff")
    while True:
        junk = _PROLOG_JUNK.match(text)
        if not junk or not junk.group(0):
            break
        text = text[junk.end() :]
    tag = _START_TAG.match(text)
    if not tag:
        return None
    prefix = (tag.group(1) or "")[:-1] or None
    namespaces = {p or None: uri for p, uri in _XMLNS.findall(tag.group(3))}
    return RootInfo(local=tag.group(2), namespace=namespaces.get(prefix))


class _Fallback(threading.local):
    count = 0


_fallback = _Fallback()


def _cp1252_fallback(exc: UnicodeError) -> tuple[str, int]:
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    bad = exc.object[exc.start : exc.end]
    _fallback.count += len(bad)
    out = []
    for b in bad:
        try:
            out.append(bytes([b]).decode("cp1252"))
        except UnicodeDecodeError:
            out.append(chr(b))  # the five bytes cp1252 leaves undefined: keep them as Latin-1
    return "".join(out), exc.end


codecs.register_error("ledgerline-cp1252", _cp1252_fallback)


class Utf8Stream:
    """A read()-able view of a file as UTF-8 bytes, whatever its own encoding.

    lxml is told the stream is UTF-8, so a wrong declaration in the file cannot mislead it; bytes
    invalid in the file's encoding are read as Windows-1252 and counted in `replaced`.
    """

    def __init__(self, fh: BinaryIO, encoding: str, chunk: int = CHUNK_BYTES):
        self._fh = fh
        self._decoder = codecs.getincrementaldecoder(encoding)(errors="ledgerline-cp1252")
        self._chunk = chunk
        self._buf = b""
        self._pos = 0
        self._eof = False
        self.encoding = encoding
        self.replaced = 0
        self.bytes_read = 0

    def _fill(self) -> None:
        while not self._eof and self._pos >= len(self._buf):
            raw = self._fh.read(self._chunk)
            self.bytes_read += len(raw)
            self._eof = not raw
            _fallback.count = 0
            self._buf = self._decoder.decode(raw, final=self._eof).encode("utf-8")
            self._pos = 0
            self.replaced += _fallback.count

    def read(self, size: int = -1) -> bytes:
        """Up to `size` bytes of UTF-8 (fewer at a chunk boundary); b"" at the end."""
        if size < 0:
            parts = []
            while True:
                self._fill()
                if self._pos >= len(self._buf):
                    return b"".join(parts)
                parts.append(self._buf[self._pos :])
                self._pos = len(self._buf)
        self._fill()
        out = self._buf[self._pos : self._pos + size]
        self._pos += len(out)
        return out


@dataclass
class XmlReader:
    """One pass over an XML file: `events()` yields (event, element, path) with the local-name path."""

    path: Path
    max_bytes: int | None = None
    size: int = 0
    encoding: str = "utf-8"
    root: RootInfo | None = None
    looks_like_xml: bool = False
    root_tag: str = ""
    _stream: Utf8Stream | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.size = check_file(self.path, self.max_bytes)
        head = read_head(self.path)
        self.encoding = detect_encoding(head, file=self.path.name)
        self.root = root_info(head)
        start = head.lstrip(b"\xef\xbb\xbf\xff\xfe\x00 \t\r\n")
        self.looks_like_xml = self.root is not None or start.startswith(b"<")

    @property
    def bytes_read(self) -> int:
        return self._stream.bytes_read if self._stream else 0

    @property
    def replaced_bytes(self) -> int:
        return self._stream.replaced if self._stream else 0

    def events(self, tags: Iterable[str]) -> Iterator[tuple[str, etree._Element]]:
        """Stream ('start'|'end', element) for the elements with these local names, any namespace.

        Only the named elements cost a Python round trip; the others are still built into the
        tree, so a record's children are there when its 'end' arrives. The first event is
        always the root's 'start', where a DOCTYPE with entity declarations is refused.
        """
        name = self.path.name
        started = False
        with self.path.open("rb") as fh:
            self._stream = Utf8Stream(fh, self.encoding)
            parser = etree.iterparse(
                self._stream,
                events=("start", "end"),
                tag=[f"{{*}}{t}" for t in tags],
                encoding="utf-8",
                resolve_entities=False,
                no_network=True,
                load_dtd=False,
                dtd_validation=False,
                huge_tree=True,
                remove_comments=True,
                remove_pis=True,
            )
            try:
                for event, elem in parser:
                    if not started:
                        started = True
                        _refuse_entities(elem, name)
                    yield event, elem
            except etree.XMLSyntaxError as exc:
                raise _syntax_error(exc, name, started=started) from None
            if parser.root is not None:
                self.root_tag = parser.root.tag
                if not started:
                    _refuse_entities(parser.root, name)


def _refuse_entities(root: etree._Element, name: str) -> None:
    dtd = root.getroottree().docinfo.internalDTD
    if dtd is not None and any(True for _ in dtd.iterentities()):
        raise ParseError(
            "the file declares its own XML entities in a DOCTYPE; ledger exports never do, so it "
            "was refused for safety",
            file=name,
            where="DOCTYPE",
            guidance="Upload the file exactly as the accounting software exported it.",
        )


def _syntax_error(exc: etree.XMLSyntaxError, name: str, *, started: bool) -> ParseError:
    line = getattr(exc, "lineno", 0) or 0
    msg = str(getattr(exc, "msg", "") or exc)
    msg = re.sub(r",? line \d+, column \d+.*$", "", msg).strip()
    where = f"line {line}" if line else None
    if line <= 1 and ("Start tag expected" in msg or "Document is empty" in msg or not started):
        return ParseError("this is not an XML file", file=name, where=where)
    if "Premature end" in msg or "EndTag" in msg or "end of data" in msg.lower():
        return ParseError(
            f"the XML stops before it is complete ({msg}); the file looks cut off",
            file=name,
            where=where,
            guidance="Export or download the file again; nothing was imported.",
        )
    return ParseError(f"the XML is damaged: {msg}", file=name, where=where)


# --- XML Schema values --------------------------------------------------------------------------

_DECIMAL = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)$")
_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:Z|[+-]\d{2}:\d{2}|T[0-9:.]+(?:Z|[+-]\d{2}:\d{2})?)?$")


def parse_decimal(text: str | None) -> Decimal:
    """An xsd:decimal from its text; ValueError for anything else (commas, blanks, exponents)."""
    if text is None or not _DECIMAL.match(text):
        raise ValueError(f"{text!r} is not a number" if text else "the value is missing")
    try:
        return Decimal(text)
    except InvalidOperation as exc:  # pragma: no cover - the pattern admits only valid decimals
        raise ValueError(f"{text!r} is not a number") from exc


def to_money(value: Decimal) -> tuple[Decimal, bool]:
    """Round to cents; the flag says whether rounding changed the value. ValueError if too large."""
    cents = value.quantize(CENT, rounding=ROUND_HALF_UP)
    if abs(cents) > MAX_MONEY:
        raise ValueError(f"{value} is too large for an amount")
    return cents, cents != value


def parse_date(text: str | None) -> date:
    """An xsd:date (a time or zone suffix is tolerated); ValueError otherwise."""
    if text is None:
        raise ValueError("the date is missing")
    m = _DATE.match(text)
    if not m:
        raise ValueError(f"{text!r} is not a date (expected YYYY-MM-DD)")
    try:
        return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        raise ValueError(f"{text!r} is not a valid date") from None


def parse_int(text: str | None) -> int | None:
    """A whole number, or None when it is missing or not one."""
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        return None


# --- rows and problems --------------------------------------------------------------------------


class ColumnBuffer:
    """Collects rows of one stream and turns them into polars frames in batches."""

    def __init__(self, stream: str, batch: int = 100_000):
        self.stream = stream
        self.schema = STREAM_COLUMNS[stream]
        self._names = list(self.schema)
        self._batch = batch
        self._rows: list[tuple[Any, ...]] = []
        self._frames: list[pl.DataFrame] = []
        self.rows = 0

    def add(self, **row: Any) -> None:
        self._rows.append(tuple(map(row.get, self._names)))
        self.rows += 1
        if len(self._rows) >= self._batch:
            self._flush()

    def _flush(self) -> None:
        if self._rows:
            columns = dict(zip(self._names, map(list, zip(*self._rows, strict=True)), strict=True))
            self._frames.append(pl.DataFrame(columns, schema=self.schema))
            self._rows = []

    def frame(self) -> pl.DataFrame:
        """All rows added so far, as one frame with the stream's column contract."""
        self._flush()
        if not self._frames:
            return pl.DataFrame(schema=self.schema)
        if len(self._frames) > 1:
            self._frames = [pl.concat(self._frames, rechunk=False)]
        return self._frames[0]


@dataclass
class _Seen:
    message: str
    where: str
    severity: str
    count: int = 0
    values: list[str] = field(default_factory=list)


class Deviations:
    """Folds repeated data oddities into one Problem per code, with a count and the first place."""

    def __init__(self) -> None:
        self._seen: dict[str, _Seen] = {}
        self._kinds: dict[str, str] = {}

    def note(
        self,
        code: str,
        message: str,
        where: str,
        value: Any = None,
        *,
        severity: str = "warning",
        kind: str = "schema_deviation",
    ) -> None:
        seen = self._seen.get(code)
        if seen is None:
            seen = self._seen[code] = _Seen(message, where, severity)
            self._kinds[code] = kind
        seen.count += 1
        if value is not None and len(seen.values) < 6 and str(value) not in seen.values:
            seen.values.append(str(value))

    def codes(self) -> set[str]:
        return set(self._seen)

    def problems(self) -> list[Problem]:
        out = []
        for code, seen in self._seen.items():
            parts = []
            if seen.values:
                more = ", ..." if len(seen.values) > 5 else ""
                parts.append(f"found {', '.join(seen.values[:5])}{more}")
            if seen.count > 1:
                parts.append(f"{seen.count} times, first at {seen.where}")
            message = f"{seen.message} ({'; '.join(parts)})" if parts else seen.message
            out.append(Problem(self._kinds[code], message, seen.where, seen.severity))  # type: ignore[arg-type]
        return out
