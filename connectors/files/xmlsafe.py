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
buffer that turns records into polars frames in batches, a collector that folds repeated
schema deviations into one Problem each, and what the XAF and SAF-T readers share beyond that:
`AuditFileParser` (the pass over a ledger file: journals, transaction keys, line numbers, control
totals, the result) and `AuditFileConnector` (the upload connector around a parser).
"""

from __future__ import annotations

import codecs
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path
from typing import Any, BinaryIO, ClassVar

import polars as pl
from lxml import etree

from connectors.base import (
    STREAM_COLUMNS,
    Connector,
    EntityInfo,
    Extraction,
    ExtractRequest,
    Problem,
    Stream,
    StreamData,
)
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


# --- the pass over a ledger file ----------------------------------------------------------------


def root_is(head: bytes, local: str, namespace_prefix: str) -> bool:
    """True when the first bytes show a `local` root in a namespace starting with the prefix."""
    root = root_info(head)
    return (
        root is not None
        and root.local == local
        and (root.namespace or "").lower().startswith(namespace_prefix)
    )


class AuditFileConnector(Connector):
    """Upload of an XML ledger file (`parse` reads it): accounts, dimensions and lines."""

    kind = "file"
    streams = (
        Stream("accounts"),
        Stream("dimensions"),
        Stream("transactions"),
        Stream("opening_balances"),
    )
    upload_guidance: ClassVar[str]  # what to upload, when no file was given

    @staticmethod
    def parse(
        path: Path, *, max_bytes: int | None = None, progress: Callable[[str, float], None] | None = None
    ) -> Extraction:
        raise NotImplementedError

    def extract(self, request: ExtractRequest) -> Extraction:
        """Parse the uploaded file named in `request.path`."""
        if request.path is None:
            raise ParseError("no file was given to read", guidance=self.upload_guidance)
        return self.parse(request.path, max_bytes=request.max_bytes, progress=request.progress)


class AuditFileParser:
    """What the XAF and SAF-T parsers share: the file, the streams they fill, journal and
    transaction bookkeeping, and the pieces of the result.

    A subclass names its format (`what`, `reading`, `header_tag`), checks the root element
    (`_check_root`) and reads the records `_records` hands it.
    """

    what: ClassVar[str]  # "an XAF auditfile", for "this is not an XML file, so it cannot be ..."
    reading: ClassVar[str]  # the progress label
    header_tag: ClassVar[str]  # the header element, which must come before the ledger

    def __init__(self, path: Path, max_bytes: int | None, progress: Callable[[str, float], None] | None):
        self.path = path
        self.file = path.name
        self.progress = progress
        self.reader = XmlReader(path, max_bytes)
        self.dev = Deviations()
        self.problems: list[Problem] = []
        self.header_done = False
        self.header: dict[str, str | None] = {}
        self.company: dict[str, str | None] = {}
        self._journal_elem: etree._Element | None = None
        self.start: date | None = None
        self.end: date | None = None
        self.fiscal_year: int | None = None
        self.currency: str | None = None
        self.accounts = ColumnBuffer("accounts")
        self.dimensions = ColumnBuffer("dimensions")
        self.lines = ColumnBuffer("transactions")
        self.openings = ColumnBuffer("opening_balances")
        self.account_codes: set[str] = set()
        self.dimension_keys: set[tuple[str, str]] = set()
        self.used: dict[str, set[str]] = {}
        self.seen_transactions: dict[tuple[Any, ...], int] = {}
        self.journals = 0
        self.journal_id = ""
        self.tx_in_journal = 0
        self.transactions = 0
        self.debit = Decimal("0.00")
        self.credit = Decimal("0.00")

    def _check_root(self, name: str, namespace: str | None) -> None:
        raise NotImplementedError

    # --- the pass over the file ---------------------------------------------------------------

    def _records(
        self, tags: Iterable[str], *, keep: set[str], after_header: tuple[str, ...]
    ) -> Iterator[tuple[str, etree._Element]]:
        """(local name, element) at the end of each element named in `tags`, released once the
        caller is done with it unless named in `keep`. The root is checked before any record,
        and the containers in `after_header` must come after the header."""
        if not self.reader.looks_like_xml:
            raise ParseError(
                f"this is not an XML file, so it cannot be {self.what}",
                file=self.file,
                guidance="Choose the importer that matches the file.",
            )
        if self.reader.root is not None:
            self._check_root(self.reader.root.local, self.reader.root.namespace)
        for event, elem in self.reader.events(tags):
            name = local_name(elem.tag)
            if event == "start":
                if elem.getparent() is None:
                    self._check_root(name, namespace_of(elem.tag))
                elif name in after_header:
                    self._need_header(elem)
                continue
            yield name, elem
            if name not in keep:
                release(elem)

    def _need_header(self, elem: etree._Element) -> None:
        if not self.header_done:
            name = local_name(elem.tag)
            raise ParseError(
                f"<{name}> comes before the <{self.header_tag}>, or the header is missing",
                file=self.file,
                where=f"{name} (XML line {elem.sourceline})",
                field=self.header_tag,
            )

    def _report(self) -> None:
        if self.progress and self.reader.size:
            self.progress(self.reading, min(1.0, self.reader.bytes_read / self.reader.size))

    # --- values -------------------------------------------------------------------------------

    def _date(self, text: str | None, where: str, field_name: str) -> date:
        try:
            return parse_date(text)
        except ValueError as exc:
            raise ParseError(str(exc), file=self.file, where=where, field=field_name) from None

    def _money(self, text: str | None, where: str, field_name: str) -> Decimal:
        try:
            value, rounded = to_money(parse_decimal(text))
        except ValueError as exc:
            raise ParseError(
                f"the amount cannot be read: {exc}", file=self.file, where=where, field=field_name
            ) from None
        if rounded:
            self.dev.note("rounded", "Amounts with more than two decimals were rounded to cents", where, text)
        return value

    # --- journals and transactions ------------------------------------------------------------

    def _transaction_fields(
        self, elem: etree._Element, *, journal_field: str, journal_tag: str, code: str, message: str
    ) -> tuple[dict[str, str | None], dict[str, list[etree._Element]]]:
        """Count a transaction, follow its journal (one without an id is named by position, noted
        as `code`), and read its fields: (leaf fields, nested elements by name)."""
        self.transactions += 1
        if self.transactions % 2000 == 0:
            self._report()
        parent = elem.getparent()
        if parent is not self._journal_elem:
            self._journal_elem = parent
            self.journals += 1
            self.tx_in_journal = 0
            self.journal_id = (fields(parent) if parent is not None else {}).get(journal_field) or ""
            if not self.journal_id:
                self.journal_id = f"#{self.journals}"
                self.dev.note(code, message, f"{journal_tag} {self.journal_id}")
        self.tx_in_journal += 1
        nested: dict[str, list[etree._Element]] = {}
        return fields(elem, nested), nested

    def _entry_key(self, seen: tuple[Any, ...], nr: str, message: str, where: str, value: str) -> str:
        """The transaction number in line keys; a number seen before in the journal (`seen`) gets
        `#2`, `#3`... so both transactions are kept."""
        occurrence = self.seen_transactions.get(seen, 0) + 1
        self.seen_transactions[seen] = occurrence
        if occurrence == 1:
            return nr
        self.dev.note("duplicate_transaction", message, where, value)
        return f"{nr}#{occurrence}"

    def _numbered_lines(
        self, lines: list[etree._Element], number_field: str, code: str, message: str, where: str
    ) -> list[tuple[str, etree._Element, dict[str, str | None], dict[str, list[etree._Element]]]]:
        """(line number, element, leaf fields, nested elements) of a transaction's lines. When the
        numbers are missing or repeated, every line is numbered by its position (noted as `code`)."""
        nested: list[dict[str, list[etree._Element]]] = [{} for _ in lines]
        line_fields = [fields(line, sub) for line, sub in zip(lines, nested, strict=True)]
        numbers = [f.get(number_field) for f in line_fields]
        by_position = any(not n for n in numbers) or len(set(numbers)) != len(numbers)
        if by_position and lines:
            self.dev.note(code, message, where, severity="info")
        return [
            (str(position) if by_position else str(f[number_field]), line, f, sub)
            for position, (line, f, sub) in enumerate(zip(lines, line_fields, nested, strict=True), start=1)
        ]

    # --- result -------------------------------------------------------------------------------

    def _add_used_dimensions(self) -> None:
        """Codes used on lines but not listed in the file become dimensions without a name."""
        for axis, codes in self.used.items():
            for code in sorted(codes):
                if (axis, code) not in self.dimension_keys:
                    self.dimension_keys.add((axis, code))
                    self.dimensions.add(axis=axis, code=code)

    def _note_encoding(self) -> None:
        if self.reader.replaced_bytes:
            self.problems.append(
                Problem(
                    "encoding",
                    f"{self.reader.replaced_bytes} bytes did not fit the file's declared encoding "
                    f"({self.reader.encoding}) and were read as Windows-1252; check names with accents.",
                    self.file,
                    "warning",
                )
            )

    def _streams(self, *, transactions: bool, openings: bool) -> list[StreamData]:
        """The streams of the file; lines replace those of the period the file covers."""
        assert self.start is not None and self.end is not None
        ranges = [(self.start, self.end)]
        streams = [
            StreamData("accounts", self.accounts.frame()),
            StreamData("dimensions", self.dimensions.frame()),
        ]
        if transactions:
            streams.append(StreamData("transactions", self.lines.frame(), replace="ranges", ranges=ranges))
        if openings:
            streams.append(
                StreamData("opening_balances", self.openings.frame(), replace="ranges", ranges=ranges)
            )
        return streams

    def _counts(self) -> dict[str, Any]:
        """What was read, for the run's stats."""
        return {
            "bytes_read": self.reader.size,
            "accounts": self.accounts.rows,
            "dimensions": self.dimensions.rows,
            "transactions": self.transactions,
            "lines": self.lines.rows,
            "debit_total": self.debit,
            "credit_total": self.credit,
            "opening_balance_lines": self.openings.rows,
        }

    def _control_problem(self, message: str, where: str) -> None:
        self.problems.append(Problem("control_totals", message, where, "warning"))

    def _check_total(
        self,
        stats: dict[str, Any],
        key: str,
        stated_text: str | None,
        computed: Decimal,
        what: str,
        where: str,
    ) -> None:
        """Compare a total the file states (when readable; kept in `stats` under `key`) with the
        sum of the lines read: a control_totals Problem when they differ."""
        try:
            stated = parse_decimal(stated_text)
        except ValueError:
            return
        stats[key] = stated
        if stated != computed:
            self._control_problem(
                f"The file's {what} is {stated} but its lines add up to {computed} "
                f"(difference {stated - computed}).",
                where,
            )

    def _result(
        self, streams: list[StreamData], entity: EntityInfo, stats: dict[str, Any], format_name: str
    ) -> Extraction:
        if self.progress:
            self.progress(self.reading, 1.0)
        return Extraction(
            streams=streams,
            entity=entity,
            problems=self.dev.problems() + self.problems,
            format=format_name,
            stats=stats,
        )
