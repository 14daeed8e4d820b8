"""Format detection for ledger exports: file kind, encoding, delimiter, header row, decimal mark, dates.

Everything here works on a small sample (the first few hundred kilobytes or a few hundred values),
never on the whole file, so it is cheap for a 700 MB export.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from pathlib import Path

import charset_normalizer

SAMPLE_BYTES = 256 * 1024
DELIMITERS = (",", ";", "\t", "|")

# Candidate 8-bit encodings for exports that are not UTF-8: the Windows and ISO Western European
# code pages cover the German, Dutch, French and Swiss vendors we read; cp850 is the old DOS
# code page some Swiss/German desktop packages still write.
LEGACY_ENCODINGS = ("cp1252", "iso8859_15", "latin_1", "cp850", "mac_roman")

_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"PK\x03\x04", "xlsx"),
    (b"\xd0\xcf\x11\xe0", "xls"),
    (b"%PDF", "pdf"),
    (b"\x89PNG", "image"),
    (b"\xff\xd8\xff", "image"),
    (b"\x1f\x8b", "gzip"),
)


def read_sample(path: Path, size: int = SAMPLE_BYTES) -> bytes:
    """The first `size` bytes of a file."""
    with path.open("rb") as fh:
        return fh.read(size)


def file_kind(sample: bytes) -> str:
    """'xlsx', 'xls', 'pdf', 'image', 'gzip', 'xml', 'binary' or 'text' from the first bytes."""
    for magic, kind in _MAGIC:
        if sample.startswith(magic):
            return kind
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "text"
    head = sample.lstrip(codecs.BOM_UTF8).lstrip()
    if head.startswith((b"<?xml", b"<!DOCTYPE", b"<html", b"<HTML")) or re.match(rb"<[A-Za-z]", head):
        return "xml"
    if b"\x00" in sample[:8192]:
        return "binary"
    return "text"


def detect_encoding(sample: bytes, complete: bool = False) -> str:
    """The Python codec name to decode a text export with.

    UTF-8 (with or without BOM) wins whenever the sample is valid UTF-8: a file that already
    contains U+FFFD replacement characters is valid UTF-8 whose text was lost before export, and
    decoding it as anything else would only add mojibake. Otherwise charset-normalizer chooses
    among the Western European code pages.
    """
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if _valid_utf8(sample, complete):
        return "utf-8"
    best = charset_normalizer.from_bytes(sample, cp_isolation=list(LEGACY_ENCODINGS)).best()
    if best is None:
        return "cp1252"
    return codecs.lookup(best.encoding).name


def _valid_utf8(sample: bytes, complete: bool) -> bool:
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        decoder.decode(sample, final=complete)
    except UnicodeDecodeError:
        return False
    return True


def decode_sample(sample: bytes, encoding: str) -> str:
    """Decode a sample that may end in the middle of a character or a line."""
    text = codecs.getincrementaldecoder(encoding)(errors="replace").decode(sample, final=False)
    if len(sample) >= SAMPLE_BYTES and "\n" in text:
        text = text[: text.rindex("\n") + 1]  # the last line may be cut off
    return text


def detect_delimiter(text: str, metadata_lines: int = 0) -> str:
    """The field separator that splits the sample's lines into the most, and most regular, fields."""
    lines = [ln for ln in text.splitlines()[metadata_lines : metadata_lines + 50] if ln.strip()]
    if not lines:
        return ","
    best, best_score = ",", -1.0
    for delim in DELIMITERS:
        counts = [len(row) for row in csv.reader(lines, delimiter=delim)]
        mode, freq = Counter(counts).most_common(1)[0]
        if mode < 2:
            continue
        score = freq / len(counts) * 10 + min(mode, 50) / 50
        if score > best_score:
            best, best_score = delim, score
    return best


def read_rows(text: str, delimiter: str, limit: int = 200) -> list[list[str]]:
    """The first `limit` records of a decoded sample, split with the csv module."""
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    rows = []
    for row in reader:
        rows.append(row)
        if len(rows) >= limit:
            break
    return rows


def normalise_header(name: object) -> str:
    """A header cell folded for matching: case, accents kept, spacing and underscores collapsed."""
    text = "" if name is None else str(name)
    text = text.replace("\ufeff", "").replace("_", " ").replace("\xa0", " ")
    return re.sub(r"\s+", " ", text).strip().casefold()


# --- decimal mark -----------------------------------------------------------------------------

_NUMBERISH = re.compile(r"^[\s(+\-]*[$€£]?\s*\d[\d.,'\s\u00a0\u202f]*[\s)\-]*$")


def detect_decimal(values: Iterable[str | None]) -> str | None:
    """',' or '.' from how amounts are written, or None when no value settles it.

    The last separator followed by one, two or four-plus digits is the decimal mark; a separator
    repeated within one number ("1.234.567") or followed by exactly three digits after the other
    separator ("1.234,56") is a thousands separator.
    """
    votes: Counter[str] = Counter()
    for raw in values:
        if raw is None:
            continue
        value = str(raw).strip()
        if not value or not _NUMBERISH.match(value):
            continue
        digits = re.sub(r"[^\d.,]", "", value)
        last = max(digits.rfind("."), digits.rfind(","))
        if last < 0:
            continue
        mark = digits[last]
        other = "," if mark == "." else "."
        tail = len(digits) - last - 1
        if digits.count(mark) > 1:
            votes[other] += 1  # "1.234.567": repeated, so a thousands separator
        elif other in digits[:last]:
            votes[mark] += 1  # "1.234,56" / "1,234.56"
        elif tail != 3:
            votes[mark] += 1  # "12,5" / "18382,86" / "3916.85"
    if not votes:
        return None
    if votes[","] and votes["."]:
        return max(votes, key=lambda k: votes[k])
    return next(iter(votes))


# --- dates ------------------------------------------------------------------------------------

EXCEL_SERIAL = "excel_serial"
DATEV_DDMM = "datev_ddmm"
ISO_DATETIME = "iso_datetime"

# Tried in this order; the first that reads every sampled value wins. Month-first dates are only
# offered to presets of US software: a day-first reading is never silently swapped.
DAY_FIRST_FORMATS = (
    "%Y-%m-%d",
    ISO_DATETIME,
    "%d.%m.%Y",
    "%d-%m-%Y",
    "%d/%m/%Y",
    "%Y%m%d",
    "%Y/%m/%d",
    "%d %b %Y",
    "%d-%b-%Y",
    "%d %B %Y",
    "%d.%m.%y",
    "%d-%m-%y",
    "%d/%m/%y",
    EXCEL_SERIAL,
)
MONTH_FIRST_FORMATS = (
    "%m/%d/%Y",
    "%m/%d/%y",
    "%m-%d-%Y",
    "%b %d, %Y",
    "%Y-%m-%d",
    ISO_DATETIME,
    EXCEL_SERIAL,
)

_ISO_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?$")
_SERIAL = re.compile(r"^\d{4,5}(\.0+)?$")
EXCEL_EPOCH = date(1899, 12, 30)  # serial 1 = 1900-01-01 after Excel's fictitious 1900-02-29


def parse_date_value(value: str, fmt: str) -> date | None:
    """One value read with one format token (Python side; used for sniffing and small files)."""
    value = value.strip()
    try:
        if fmt == ISO_DATETIME:
            return datetime.fromisoformat(value).date() if _ISO_DATETIME.match(value) else None
        if fmt == EXCEL_SERIAL:
            if not _SERIAL.match(value):
                return None
            serial = int(float(value))
            return EXCEL_EPOCH + timedelta(days=serial) if 20000 <= serial <= 80000 else None
        if fmt == "%Y%m%d" and not re.fullmatch(r"\d{8}", value):
            return None
        return datetime.strptime(value, fmt).date()
    except ValueError:
        return None


def detect_date_format(
    values: Sequence[str | None], *, month_first: bool = False, preferred: str | None = None
) -> str | None:
    """The first format (see DAY_FIRST_FORMATS) that reads every non-empty sampled value."""
    sample = [str(v).strip() for v in values if v is not None and str(v).strip()][:500]
    if not sample:
        return preferred
    candidates = list(MONTH_FIRST_FORMATS if month_first else DAY_FIRST_FORMATS)
    if preferred:
        candidates.insert(0, preferred)
    for fmt in candidates:
        if all(parse_date_value(v, fmt) is not None for v in sample):
            return fmt
    # Mixed formats in one column (a workbook with real date cells and text dates): the caller
    # tries several; return the format that reads most values.
    scored = [(sum(parse_date_value(v, f) is not None for v in sample), f) for f in candidates]
    count, fmt = max(scored, key=lambda t: t[0])
    return fmt if count else None


def date_formats_for(values: Sequence[str | None], *, month_first: bool = False) -> list[str]:
    """All formats needed to read a column whose cells may mix formats (xlsx), most common first."""
    sample = [str(v).strip() for v in values if v is not None and str(v).strip()][:2000]
    remaining = sample
    formats: list[str] = []
    candidates = MONTH_FIRST_FORMATS if month_first else DAY_FIRST_FORMATS
    while remaining:
        fmt = detect_date_format(remaining, month_first=month_first)
        if fmt is None or fmt in formats:
            break
        formats.append(fmt)
        remaining = [v for v in remaining if parse_date_value(v, fmt) is None]
        if len(formats) >= len(candidates):
            break
    return formats
