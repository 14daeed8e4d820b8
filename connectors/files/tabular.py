"""CSV and Excel ledger exports -> the transactions and accounts streams.

The flow: sniff the file (kind, encoding, delimiter, header row, preset) and describe every field
as a polars expression over the raw text columns. Then one streaming pass reads the file (a CSV
as text columns, so a multi-gigabyte export streams with bounded memory) and writes the typed
rows to a parquet file in the run's scratch folder: amounts normalised as strings and cast
straight to Decimal(18, 2), never through floats, dates, the flags of skipped and bad rows, and
the physical line of each row. The control totals, the months present, the first bad row, the
accounts and the duplicate check are cheap columnar scans of that copy, and the transactions
handed to the pipeline read it too: the file itself is parsed once.
"""

from __future__ import annotations

import atexit
import codecs
import contextlib
import csv
import hashlib
import io
import re
import shutil
import tempfile
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

import openpyxl
import polars as pl

from connectors.base import (
    MONEY,
    Capabilities,
    Connector,
    EntityInfo,
    Extraction,
    ExtractRequest,
    Problem,
    Stream,
    StreamData,
    conform,
    derived_key_expr,
    frame_from_rows,
    where_in_source_expr,
    with_defaults,
)
from connectors.files import sniff
from connectors.files.presets import (
    CLOSING_HEADINGS,
    CREDIT_TOKENS,
    DEBIT_TOKENS,
    PRESETS,
    SHAPE_FIELDS,
    Preset,
    choose_shape,
    generic_preset,
    match_score,
    resolve_columns,
)
from connectors.files.sniff import normalise_header
from pipeline.errors import ConfigError, InputTooLarge, ParseError

ROW = "_row"
HEADER_SEARCH_ROWS = 30
SNIFF_ROWS = 500
UTF8_CHUNK = 4 * 1024 * 1024

_EXCEL_EPOCH = date(1899, 12, 30)
_EXCEL_SUFFIXES = {".xlsx", ".xlsm"}


# --- public API -------------------------------------------------------------------------------


def parse_tabular(
    path: Path,
    *,
    preset: str | None = None,
    options: Mapping[str, Any] | None = None,
    max_bytes: int | None = None,
    scratch_dir: Path | None = None,
    currency: str | None = None,
    fiscal_year_start_month: int | None = None,
) -> Extraction:
    """Read a CSV or Excel ledger export into stream data.

    `preset` names an entry of PRESETS; None detects it from the header row. `options` may hold
    `columns` (our field -> the file's column, for the generic preset), `delimiter`, `decimal`
    ("," or "."), `date_format` (strptime), `encoding`, `sheet` and `tb_values`
    ("movement" | "closing", trial balances). Raises ParseError naming file, line and field for
    input that cannot be read, InputTooLarge before reading a file over `max_bytes`.

    The file is parsed once into a parquet file in `scratch_dir` (a temporary folder removed at
    exit when None) that the returned transactions read lazily: keep it until they are staged.
    `currency` and `fiscal_year_start_month` are the entity's own (ExtractRequest): with the
    file's, they fill the lines' defaults when that file is the staged one.
    """
    path = Path(path)
    options = options or {}
    plan = _plan(path, preset, options, max_bytes=max_bytes)
    entity = (currency, fiscal_year_start_month)
    try:
        return _extract(plan, scratch_dir, entity)
    except _NotUtf8:
        encoding = _encoding_after_sample(path)
        if encoding is None:
            raise _scan_error(plan, ValueError("invalid utf-8")) from None
        plan = _plan(path, preset, {**options, "encoding": encoding}, max_bytes=max_bytes)
        return _extract(plan, scratch_dir, entity)


def detect_preset(path: Path) -> tuple[str, float]:
    """The preset that fits the file's header best and a confidence 0..1 ("generic", 0.0 if none)."""
    path = Path(path)
    _check_size(path, None)
    table = _open(path, {}, None)
    choice = _detect(table)
    if choice is None:
        return "generic", 0.0
    return choice.preset.name, choice.score


def preview(
    path: Path, preset: str | None = None, options: Mapping[str, Any] | None = None, n: int = 20
) -> tuple[str, pl.DataFrame, list[Problem]]:
    """The preset used, the first `n` normalised lines and the problems found in them.

    Bad values in the previewed rows come back as problems (severity 'error') instead of an
    exception, so the upload page can show them next to the rows; a file whose columns cannot be
    recognised still raises ParseError.
    """
    path = Path(path)
    plan = _plan(path, preset, options or {}, max_bytes=None, limit=max(n * 5, 200))
    problems = list(plan.problems)
    try:
        _raise_first_bad(plan)
    except ParseError as exc:
        problems.append(Problem("parse_error", exc.message, exc.where or "", "error"))
    lines = plan.lines.filter(~pl.col("_skip") & ~pl.col("_bad"))
    if plan.key_mode != "given":
        duplicates = _duplicates(lines, plan.key_mode).collect()["_h"].to_list()
        lines = _with_line_keys(lines, plan.key_mode, duplicates)
    head = (
        conform("transactions", lines.sort([ROW, "_side"]).head(n))
        .with_columns(where_in_source_expr().alias("source_ref"))
        .collect()
    )
    return plan.preset.name, head, problems


class CsvConnector(Connector):
    """Uploaded CSV general-ledger exports (bexio, DATEV, Exact, AFAS, Twinfield, Xero, ...)."""

    name: ClassVar[str] = "csv"
    label: ClassVar[str] = "CSV ledger export"
    kind: ClassVar = "file"
    capabilities: ClassVar[Capabilities] = Capabilities(
        transactions=True,
        accounts=True,
        notes=(
            "An upload replaces the lines of the calendar months it contains.",
            "Account names come from the file when it has them.",
        ),
    )
    streams: ClassVar[tuple[Stream, ...]] = (Stream("accounts"), Stream("transactions"))

    def extract(self, request: ExtractRequest) -> Extraction:
        """Parse the uploaded file named in the request."""
        if request.path is None:
            raise ConfigError("No file was given to the CSV import.", guidance="Upload a file first.")
        return parse_tabular(
            request.path,
            preset=request.options.get("preset"),
            options=request.options,
            max_bytes=request.max_bytes,
            scratch_dir=request.scratch_dir,
            currency=request.currency,
            fiscal_year_start_month=request.fiscal_year_start_month,
        )


class XlsxConnector(CsvConnector):
    """Uploaded Excel (.xlsx) general-ledger exports; same presets as CSV."""

    name: ClassVar[str] = "xlsx"
    label: ClassVar[str] = "Excel ledger export"


# --- the table: raw text columns plus what sniffing found --------------------------------------


@dataclass
class Table:
    """A file opened for reading: its first records as text and how to scan the rest."""

    path: Path
    format: str  # 'csv' | 'xlsx'
    records: list[list[str | None]]  # the first records (csv) or all rows (xlsx), as text
    encoding: str | None = None
    delimiter: str | None = None
    data_path: Path | None = None  # the UTF-8 file polars scans (a transcoded copy if needed)
    record_lines: list[int] = field(default_factory=list)  # csv: first physical line of each record
    sheet: str | None = None
    raw_cells: list[tuple[Any, ...]] = field(default_factory=list)  # xlsx: cell values
    metadata: list[str] = field(default_factory=list)  # DATEV EXTF header fields
    metadata_lines: int = 0
    problems: list[Problem] = field(default_factory=list)
    utf8_from_sample: bool = False  # csv: UTF-8 judged from the sample, the rest not yet read

    @property
    def name(self) -> str:
        return self.path.name


@dataclass
class Choice:
    preset: Preset
    header_index: int  # index into Table.records of the header row; -1 = no header
    found: dict[str, int]
    score: float


@dataclass
class Plan:
    table: Table
    preset: Preset
    found: dict[str, int]
    headers: list[str]
    # One row per data record: the typed fields, _skip/_bad and the _bad_<check> flags, and on bad
    # rows the raw text the first failed check names (`_raw`), for the error message.
    rows: pl.LazyFrame
    # rows (or their parquet copy) -> one row per ledger line, with _skip/_bad/_rounded/_noamount/_side
    build_lines: Callable[[pl.LazyFrame], pl.LazyFrame]
    checks: list[tuple[str, str, str]]  # (flag column, raw column, message template)
    first_data_index: int  # records index of the first data row
    where_prefix: str
    settings: dict[str, Any]
    problems: list[Problem]
    entity: EntityInfo
    key_mode: str  # 'given' (line_key built already), 'source' (journal|entry|line), 'content'
    accounts: pl.DataFrame | None = None  # a chart of accounts from beside the file
    dimensions: pl.DataFrame | None = None
    one_line_per_row: bool = False  # build_lines makes one line of each row, in order

    @property
    def lines(self) -> pl.LazyFrame:
        """The ledger lines read straight from the file (previews; extraction reads a parquet copy)."""
        return self.build_lines(self.rows)

    def where(self, row: int) -> str:
        """The 1-based line (csv) or row (xlsx) of data record `row`."""
        if self.table.format == "csv":
            return f"line {_physical_line(self.table, self.first_data_index + row)}"
        return f"{self.where_prefix}{self.first_data_index + row + 1}"


# --- opening and sniffing ----------------------------------------------------------------------


def _check_size(path: Path, max_bytes: int | None) -> int:
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise ParseError("The file does not exist.", file=path.name) from None
    if max_bytes is not None and size > max_bytes:
        raise InputTooLarge(
            f"The file is {_mb(size)}, over the upload limit of {_mb(max_bytes)}.", file=path.name
        )
    if size == 0:
        raise ParseError("The file is empty (0 bytes).", file=path.name)
    return size


def _mb(n: int) -> str:
    return f"{n / 1_000_000:.1f} MB" if n >= 100_000 else f"{n} bytes"


def _open(path: Path, options: Mapping[str, Any], preset: Preset | None, limit: int | None = None) -> Table:
    sample = sniff.read_sample(path)
    kind = sniff.file_kind(sample)
    if kind == "xlsx" or (kind == "text" and path.suffix.lower() in _EXCEL_SUFFIXES):
        return _open_xlsx(path, options, limit)
    if kind == "xls":
        raise ParseError(
            "This is an old Excel 97-2003 workbook (.xls), which cannot be read.",
            file=path.name,
            guidance="Open it in Excel and save it as .xlsx or CSV, then upload that file.",
        )
    if kind == "xml":
        raise ParseError(
            "This is an XML file, not a CSV or Excel ledger export.",
            file=path.name,
            guidance="XML audit files (XAF, SAF-T) have their own upload type.",
        )
    if kind != "text":
        raise ParseError(
            f"This is not a text CSV file (it looks like a {kind} file).",
            file=path.name,
            guidance="Export the general ledger as CSV or Excel and upload that file.",
        )
    return _open_csv(path, sample, options, preset)


def _open_csv(path: Path, sample: bytes, options: Mapping[str, Any], preset: Preset | None) -> Table:
    problems: list[Problem] = []
    encoding = options.get("encoding")
    utf8_from_sample = False
    if not encoding:
        complete = len(sample) < sniff.SAMPLE_BYTES
        encoding = sniff.detect_encoding(sample, complete=complete)
        # Only the sample was checked: reading the file finds out whether the rest is UTF-8 too
        # (see `parse_tabular`), which spares a pass over the whole file before parsing it.
        utf8_from_sample = encoding in ("utf-8", "utf-8-sig") and not complete
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise ConfigError(
            f"Unknown encoding {encoding!r}.", guidance="Use e.g. utf-8 or windows-1252."
        ) from None
    text = sniff.decode_sample(sample, encoding)
    if not text.strip():
        raise ParseError("The file contains no data (only blank lines).", file=path.name)
    lost = text.count("\ufffd")
    if lost and encoding.startswith("utf-8"):
        problems.append(
            Problem(
                "encoding",
                f"The file contains {lost} '\ufffd' replacement character(s): the exporting program "
                "lost letters such as ü or é before writing the file. They are kept as they are; "
                "export again as UTF-8 for clean names.",
                severity="warning",
            )
        )
    data_path = path
    if codecs.lookup(encoding).name not in ("utf-8", "utf-8-sig"):
        data_path = _transcode(path, encoding)
        problems.append(Problem("encoding", f"The file was read as {encoding}.", severity="info"))

    first_line = text.split("\n", 1)[0].lstrip("\ufeff")
    metadata_lines = preset.metadata_lines if preset else 0
    metadata: list[str] = []
    if re.match(r'^"?(EXTF|DTVF)"?[;,]', first_line):
        metadata_lines = 1  # DATEV: the EXTF line carries fiscal year, date range and currency
        metadata = next(csv.reader([first_line], delimiter=";"))
    delimiter = options.get("delimiter") or (preset.delimiter if preset else None)
    if not delimiter:
        delimiter = sniff.detect_delimiter(text, metadata_lines)
    if delimiter == "\\t":
        delimiter = "\t"
    if len(delimiter) != 1:
        raise ConfigError(f"The delimiter must be one character, not {delimiter!r}.")

    records: list[list[str | None]] = []
    record_lines: list[int] = []
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    previous_end = 0
    for row in reader:
        records.append([c if c != "" else None for c in row])
        record_lines.append(previous_end + 1)
        previous_end = reader.line_num
        if len(records) >= SNIFF_ROWS + HEADER_SEARCH_ROWS:
            break
    return Table(
        path=path,
        format="csv",
        records=records,
        encoding=encoding,
        delimiter=delimiter,
        data_path=data_path,
        record_lines=record_lines,
        metadata=metadata,
        metadata_lines=metadata_lines,
        problems=problems,
        utf8_from_sample=utf8_from_sample,
    )


def _encoding_after_sample(path: Path) -> str | None:
    """The legacy encoding of a file whose sample is UTF-8 but whose later bytes are not; else None."""
    bad_at = _first_invalid_utf8(path)
    if bad_at is None:
        return None
    with path.open("rb") as fh:
        fh.seek(max(0, bad_at - 32_768))
        encoding = sniff.detect_encoding(fh.read(65_536).lstrip(b"\x80\xbf"), complete=True)
    return "cp1252" if encoding.startswith("utf-8") else encoding


def _first_invalid_utf8(path: Path) -> int | None:
    """Byte offset of the first invalid UTF-8 sequence in the file, streaming; None if valid."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0
    with path.open("rb") as fh:
        while chunk := fh.read(UTF8_CHUNK):
            try:
                decoder.decode(chunk, final=False)
            except UnicodeDecodeError as exc:
                return offset + exc.start
            offset += len(chunk)
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return offset
    return None


_TRANSCODED: list[Path] = []


def _transcode(path: Path, encoding: str) -> Path:
    """A UTF-8 copy of a legacy-encoded file for polars, written in chunks (bounded memory)."""
    stat = path.stat()
    digest = hashlib.sha1(
        f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{encoding}".encode()
    ).hexdigest()
    folder = Path(tempfile.gettempdir()) / "ledgerline-transcoded"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{digest[:20]}.csv"
    if not target.exists():
        partial = target.with_suffix(".part")
        with (
            path.open("r", encoding=encoding, errors="replace", newline="") as src,
            partial.open("w", encoding="utf-8", newline="") as dst,
        ):
            shutil.copyfileobj(src, dst, UTF8_CHUNK)
        partial.replace(target)
        _TRANSCODED.append(target)
    return target


_SCRATCH_FOLDERS: list[Path] = []


def _scratch_file(scratch_dir: Path | None) -> Path:
    """A new parquet path for the parsed rows: in the run's scratch folder, else a temporary one."""
    if scratch_dir is None:
        folder = Path(tempfile.mkdtemp(prefix="ledgerline-tabular-"))
        _SCRATCH_FOLDERS.append(folder)
    else:
        folder = Path(scratch_dir)
        folder.mkdir(parents=True, exist_ok=True)
    return folder / f"rows-{uuid.uuid4().hex}.parquet"


@atexit.register
def _cleanup_temporary_files() -> None:
    for p in _TRANSCODED:
        with contextlib.suppress(OSError):
            p.unlink()
    for folder in _SCRATCH_FOLDERS:
        shutil.rmtree(folder, ignore_errors=True)


def _open_xlsx(path: Path, options: Mapping[str, Any], limit: int | None) -> Table:
    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises zipfile/KeyError/InvalidFileException variants
        raise ParseError(
            f"The file cannot be opened as an Excel workbook ({type(exc).__name__}).",
            file=path.name,
            guidance="Check that it is an .xlsx file, or export the ledger as CSV.",
        ) from None
    try:
        sheets = workbook.worksheets
        wanted = options.get("sheet")
        if wanted is not None and wanted != "":
            if isinstance(wanted, int) or (isinstance(wanted, str) and wanted.isdigit()):
                index = int(wanted)
                if not 0 <= index < len(sheets):
                    raise ParseError(f"The workbook has no sheet number {index}.", file=path.name)
                sheet = sheets[index]
            elif wanted in workbook.sheetnames:
                sheet = workbook[wanted]
            else:
                raise ParseError(
                    f"The workbook has no sheet named {wanted!r}; its sheets are: {', '.join(workbook.sheetnames)}.",
                    file=path.name,
                )
        else:
            sheet = _best_sheet(sheets)
        cells: list[tuple[Any, ...]] = []
        for row in sheet.iter_rows(values_only=True):
            cells.append(tuple(row))
            if limit is not None and len(cells) >= limit + HEADER_SEARCH_ROWS:
                break
    finally:
        workbook.close()
    while cells and all(v is None or (isinstance(v, str) and not v.strip()) for v in cells[-1]):
        cells.pop()
    if not cells:
        raise ParseError(f"The sheet {sheet.title!r} is empty.", file=path.name)
    records = [[_cell_text(v) for v in row] for row in cells]
    return Table(path=path, format="xlsx", records=records, sheet=sheet.title, raw_cells=cells)


def _best_sheet(sheets: Sequence[Any]) -> Any:
    if len(sheets) == 1:
        return sheets[0]
    best, best_score = sheets[0], 0.0
    for sheet in sheets:
        head = []
        for row in sheet.iter_rows(max_row=HEADER_SEARCH_ROWS, values_only=True):
            head.append([_cell_text(v) for v in row])
        score = max(
            (match_score(p, r) for r in head for p in PRESETS.values() if p.detectable),
            default=0.0,
        )
        if score > best_score:
            best, best_score = sheet, score
    return best


def _cell_text(value: Any, decimal: str = ".") -> str | None:
    """A cell as text: dates ISO, whole numbers without '.0', other numbers in plain notation."""
    if value is None:
        return None
    if isinstance(value, str):
        return value if value.strip() else None
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time(0) else value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, time):
        return value.isoformat()
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        # repr is the shortest text that reads back as the same double: the digits Excel stored.
        text = format(Decimal(repr(value)), "f")
        return text.replace(".", decimal) if decimal != "." else text
    return str(value)


# --- choosing the preset and header row ---------------------------------------------------------


def _detect(table: Table) -> Choice | None:
    if _looks_like_factfinance(table):
        return Choice(PRESETS["adventureworks"], -1, {}, 0.9)
    best: Choice | None = None
    start = table.metadata_lines
    for index, row in enumerate(table.records[start : start + HEADER_SEARCH_ROWS], start=start):
        for preset in PRESETS.values():
            score = match_score(preset, row)
            if score > 0 and (best is None or score > best.score):
                best = Choice(preset, index, resolve_columns(preset, row), score)
    return best


def _looks_like_factfinance(table: Table) -> bool:
    if table.format != "csv" or table.delimiter != "|":
        return False
    rows = [r for r in table.records[:50] if r]
    if not rows:
        return False
    for r in rows:
        if len(r) != 8 or not all(v and v.isdigit() for v in r[:6]):
            return False
        if not (r[7] and re.match(r"^\d{4}-\d{2}-\d{2}", r[7])):
            return False
    return True


def _choose(table: Table, preset_name: str | None, options: Mapping[str, Any]) -> Choice:
    columns = options.get("columns")
    if preset_name in (None, "", "auto") and columns:
        preset_name = "generic"
    if preset_name in (None, "", "auto"):
        choice = _detect(table)
        if choice is None:
            raise ParseError(
                "The columns were not recognised as any known ledger export. "
                f"Columns found: {_columns_found(table)}. "
                f"Presets tried: {', '.join(p for p in PRESETS if PRESETS[p].detectable)}.",
                file=table.name,
                guidance="Choose the preset of the system the file comes from, or name the columns "
                "(date, account, amount or debit/credit) with the 'Other' preset.",
            )
        return choice
    if preset_name not in PRESETS:
        raise ConfigError(
            f"Unknown preset {preset_name!r}.", guidance=f"Choose one of: {', '.join(PRESETS)}."
        )
    preset = PRESETS[preset_name]
    if preset_name in ("generic", "trial_balance") and columns:
        preset = generic_preset(columns, base=preset)
    elif preset_name == "generic":
        raise ParseError(
            "The 'Other' preset needs the column names: which column holds the date, the account "
            f"and the amount. Columns found: {_columns_found(table)}.",
            file=table.name,
        )
    if not preset.has_header:
        return Choice(preset, -1, {}, 1.0)
    start = table.metadata_lines or preset.metadata_lines
    best: Choice | None = None
    for index, row in enumerate(table.records[start : start + HEADER_SEARCH_ROWS], start=start):
        found = resolve_columns(preset, row)
        if best is None or len(found) > len(best.found):
            best = Choice(preset, index, found, 1.0)
    assert best is not None
    shape = choose_shape(preset, best.found)
    missing_date = not preset.trial_balance and "date" not in best.found
    missing_period = preset.trial_balance and not ({"period", "year_period"} & set(best.found))
    if shape is None or missing_date or missing_period:
        wanted = _wanted_columns(preset)
        raise ParseError(
            f"The file does not have the columns the {preset.label} preset needs ({wanted}). "
            f"Columns found: {_columns_found(table, best.header_index)}.",
            file=table.name,
            guidance="Check that the right preset is chosen, or name the columns with the 'Other' preset.",
        )
    return best


def _wanted_columns(preset: Preset) -> str:
    fields = ["period" if preset.trial_balance else "date"]
    shape = preset.shapes[0]
    fields += list(SHAPE_FIELDS[shape])
    parts = []
    for f in fields:
        names = preset.columns.get(f) or preset.columns.get("amount_base" if f == "amount" else f, ())
        parts.append(f"{f}: {' / '.join(repr(n) for n in names[:3])}" if names else f)
    return "; ".join(parts)


def _columns_found(table: Table, index: int | None = None) -> str:
    if index is None:
        start = table.metadata_lines
        candidates = [r for r in table.records[start : start + 5] if any(r)]
        row = candidates[0] if candidates else []
    else:
        row = table.records[index] if 0 <= index < len(table.records) else []
    names = [repr(c) for c in row if c]
    return ", ".join(names[:40]) if names else "(none)"


# --- planning: raw columns -> typed line expressions --------------------------------------------


def _plan(
    path: Path,
    preset_name: str | None,
    options: Mapping[str, Any],
    *,
    max_bytes: int | None,
    limit: int | None = None,
) -> Plan:
    _check_size(path, max_bytes)
    hint = PRESETS.get(preset_name) if preset_name else None
    table = _open(path, options, hint, limit)
    choice = _choose(table, preset_name, options)
    if choice.preset.name == "adventureworks":
        return _plan_adventureworks(table, choice, options, limit)
    return _plan_generic(table, choice, options, limit)


def _raw_frame(
    table: Table, first_data_index: int, width: int, limit: int | None, decimal: str
) -> pl.LazyFrame:
    names = [f"c{i}" for i in range(width)]
    if table.format == "csv":
        assert table.data_path is not None
        skip = table.record_lines[first_data_index] - 1 if first_data_index < len(table.record_lines) else 0
        if first_data_index >= len(table.record_lines):
            return pl.LazyFrame(schema={ROW: pl.UInt32, **dict.fromkeys(names, pl.Utf8)})
        lf = pl.scan_csv(
            table.data_path,
            has_header=False,
            separator=table.delimiter or ",",
            skip_lines=skip,
            schema=dict.fromkeys(names, pl.Utf8),
            truncate_ragged_lines=True,
            missing_columns="insert",
            n_rows=limit,
            encoding="utf8",
        )
        return lf.with_row_index(ROW)
    rows = [
        [_cell_text(v, decimal) for v in list(r)[:width]] + [None] * max(0, width - len(r))
        for r in table.raw_cells[first_data_index:]
    ]
    if limit is not None:
        rows = rows[:limit]
    frame = pl.DataFrame(rows, schema=dict.fromkeys(names, pl.Utf8), orient="row")
    return frame.lazy().with_row_index(ROW)


def _text(name: str | None) -> pl.Expr:
    """A raw column stripped, with blank cells as null."""
    if name is None:
        return pl.lit(None, dtype=pl.Utf8)
    e = pl.col(name).str.strip_chars()
    return pl.when(e.str.len_bytes() > 0).then(e)  # not `replace("", None)`: it does not stream


# Removed from amounts before they are read: brackets, currency signs, apostrophes and spaces (the
# Unicode White_Space characters, as the regex class \s; thin and no-break spaces group thousands).
_SPACES = (
    "\t", "\n", "\x0b", "\x0c", "\r", " ", "\x85", "\xa0", "\u1680",
    *(chr(c) for c in range(0x2000, 0x200B)), "\u2028", "\u2029", "\u202f", "\u205f", "\u3000",
)  # fmt: skip
_MONEY_JUNK = ("(", ")", "'", "’", "$", "€", "£", *_SPACES)
_VALID_POINT = r"^(\d{1,3}(,\d{3})+(\.\d+)?|\d+(\.\d*)?|\.\d+)$"
_VALID_COMMA = r"^(\d{1,3}(\.\d{3})+(,\d+)?|\d+(,\d*)?|,\d+)$"
_MORE_THAN_CENTS = r"\.\d{2}\d*[1-9]"


# What an export writes for nearly every amount: digits with an optional sign, thousands groups
# and a decimal mark followed by at most two digits that count (zeros may follow). Such values
# are read with literal replaces and one exact cast and need no rounding. The regular expressions
# of `_money_slow` only run where a value is written otherwise, and polars skips them entirely for
# a batch of rows that has no such value.
_PLAIN_NUMBER = {
    ".": r"^[+-]?(([0-9]{1,3}(,[0-9]{3})+(\.[0-9]{1,2}0*)?|[0-9]+(\.[0-9]{0,2}0*)?)|\.[0-9]{1,2}0*)$",
    ",": r"^[+-]?(([0-9]{1,3}(\.[0-9]{3})+(,[0-9]{1,2}0*)?|[0-9]+(,[0-9]{0,2}0*)?)|,[0-9]{1,2}0*)$",
}


def _money_fast(raw: pl.Expr, decimal: str) -> pl.Expr:
    """The Decimal(18, 2) of a plainly written number ("-1,234.56"; "1.234,56"), else null."""
    if decimal == ",":
        text = raw.str.replace_many([".", ","], ["", "."])
    else:
        text = raw.str.replace_all(",", "", literal=True)
    return pl.when(raw.str.contains(_PLAIN_NUMBER[decimal])).then(text.cast(MONEY, strict=False))


def _money_slow(raw: pl.Expr, decimal: str) -> tuple[pl.Expr, pl.Expr, pl.Expr]:
    """(number text without sign and with a decimal point, is-negative, is-invalid) of an amount.

    Built from string operations that cost next to nothing on a column of nulls: this runs on the
    values the fast path could not read, null everywhere else.
    """
    negative = (
        raw.str.starts_with("-")
        | raw.str.ends_with("-")
        | (raw.str.starts_with("(") & raw.str.ends_with(")"))
    )
    core = raw.str.replace_many(list(_MONEY_JUNK), [""] * len(_MONEY_JUNK)).str.strip_chars("+-")
    if decimal == ",":
        valid = core.str.contains(_VALID_COMMA)
        number = core.str.replace_many([".", ","], ["", "."])
    else:
        valid = core.str.contains(_VALID_POINT)
        number = core.str.replace_many([","], [""])
    return number, negative, raw.is_not_null() & ~valid.fill_null(False)


def money_expr(raw: pl.Expr, decimal: str) -> tuple[pl.Expr, pl.Expr, pl.Expr]:
    """(value as Decimal(18,2), is-bad flag, has-more-than-2-decimals flag) for a text column.

    Accepts thousands separators (".", ",", space, apostrophe), a decimal comma or point,
    leading or trailing minus and (parentheses) for negatives. A value that does not fit the
    file's decimal mark ("1234.56" in a decimal-comma file) is bad rather than guessed.
    """
    t = raw.str.strip_chars()
    fast = _money_fast(t, decimal)
    number, negative, invalid = _money_slow(pl.when(fast.is_null()).then(t), decimal)
    value, bad = _slow_value(number, negative, invalid)
    rounded = number.str.contains(_MORE_THAN_CENTS).fill_null(False)  # plain numbers need no rounding
    return pl.coalesce([fast, value]), bad, rounded


def _slow_value(number: pl.Expr, negative: pl.Expr, invalid: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """(value, is-bad) from `_money_slow`'s parts; a number too large for Decimal(18, 2) is bad."""
    magnitude = number.cast(MONEY, strict=False)
    bad = invalid | (number.is_not_null() & magnitude.is_null())
    value = pl.when(bad).then(None).when(negative).then(-magnitude).otherwise(magnitude)
    return value.cast(MONEY), bad


def date_expr(raw: pl.Expr, formats: Sequence[str], year_context: tuple[date, date] | None = None) -> pl.Expr:
    """A Date from text in any of `formats` (strptime patterns or the sniff module's tokens)."""
    parts: list[pl.Expr] = []
    for fmt in formats:
        if fmt == sniff.ISO_DATETIME:
            parts.append(
                pl.when(raw.str.contains(r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}")).then(
                    raw.str.slice(0, 10).str.strptime(pl.Date, "%Y-%m-%d", strict=False)
                )
            )
        elif fmt == sniff.EXCEL_SERIAL:
            serial = raw.str.replace(r"\.0+$", "").cast(pl.Int64, strict=False)
            parts.append(
                pl.when(raw.str.contains(r"^\d{4,5}(\.0+)?$") & serial.is_between(20000, 80000)).then(
                    pl.lit(_EXCEL_EPOCH) + pl.duration(days=serial)
                )
            )
        elif fmt == sniff.DATEV_DDMM:
            parts.append(_datev_date(raw, year_context))
        else:
            if fmt == "%Y%m%d":
                parts.append(
                    pl.when(raw.str.contains(r"^\d{8}$")).then(raw.str.strptime(pl.Date, fmt, strict=False))
                )
            else:
                parts.append(raw.str.strptime(pl.Date, fmt, strict=False))
    if not parts:
        return pl.lit(None, dtype=pl.Date)
    if len(parts) == 1:
        return parts[0].cast(pl.Date)
    return pl.coalesce(parts).cast(pl.Date)


def _datev_date(raw: pl.Expr, context: tuple[date, date] | None) -> pl.Expr:
    """DATEV Belegdatum: DDMM (year from the header's date range) or DDMMYYYY."""
    full = pl.when(raw.str.contains(r"^\d{8}$")).then(raw.str.strptime(pl.Date, "%d%m%Y", strict=False))
    if context is None:
        return full
    start, end = context
    ddmm = raw.str.zfill(4)
    month = ddmm.str.slice(2, 2).cast(pl.Int32, strict=False)
    if start.year == end.year:
        year = pl.lit(str(start.year))
    else:
        year = pl.when(month >= start.month).then(pl.lit(str(start.year))).otherwise(pl.lit(str(end.year)))
    short = pl.when(raw.str.contains(r"^\d{3,4}$")).then(
        pl.concat_str([ddmm, year]).str.strptime(pl.Date, "%d%m%Y", strict=False)
    )
    return pl.coalesce([full, short])


def _indicator_sign(raw: pl.Expr) -> pl.Expr:
    mapping = {**dict.fromkeys(DEBIT_TOKENS, 1), **dict.fromkeys(CREDIT_TOKENS, -1)}
    key = raw.str.strip_chars().str.to_lowercase().str.strip_chars(".")
    return key.replace_strict(mapping, default=None, return_dtype=pl.Int8)


_CODE_DASH_NAME = r"^\s*(\S+)\s+-\s+(.*\S)\s*$"
_NAME_PAREN_CODE = r"^\s*(.*\S)\s+\(([^()\s]+)\)\s*$"


def _split_account(raw: pl.Expr, pattern: str, code_group: int, name_group: int) -> tuple[pl.Expr, pl.Expr]:
    code = raw.str.extract(pattern, code_group)
    name = raw.str.extract(pattern, name_group)
    return pl.coalesce([code, raw]), name


def _sample_values(table: Table, first: int, index: int | None, n: int = SNIFF_ROWS) -> list[str]:
    if index is None:
        return []
    out = []
    for row in table.records[first : first + n]:
        if index < len(row) and row[index] is not None:
            out.append(row[index])
    return out


_SKIP_TEXT = r"(?i)^(opening balance|closing balance|total\b|net movement|balance forward|beginning balance)"


def _plan_generic(table: Table, choice: Choice, options: Mapping[str, Any], limit: int | None) -> Plan:
    preset = choice.preset
    found = dict(choice.found)
    header_index = choice.header_index
    headers = [c or "" for c in table.records[header_index]] if header_index >= 0 else []
    first = header_index + 1
    shape = choose_shape(preset, found)
    assert shape is not None
    problems = list(table.problems)
    settings: dict[str, Any] = {"preset": preset.name, "shape": shape}

    # numbers: the user's choice, else what the amounts show, else the preset's, else "."
    money_fields = [f for f in ("amount", "amount_base", "debit", "credit") if f in found]
    decimal = options.get("decimal")
    if decimal not in (None, "", ",", "."):
        raise ConfigError(f"The decimal mark must be ',' or '.', not {decimal!r}.")
    if not decimal:
        values = [v for f in money_fields for v in _text_cells(table, first, found[f])]
        decimal = sniff.detect_decimal(values) or preset.decimal or "."
    settings["decimal"] = decimal

    width = max((len(r) for r in table.records[max(first - 1, 0) : first + SNIFF_ROWS]), default=0)
    width = max(width, len(headers), max(found.values(), default=0) + 1)
    rows = _raw_frame(table, first, width, limit, decimal)

    # dates
    formats: list[str] = []
    if not preset.trial_balance:
        date_values = _sample_values(table, first, found["date"])
        if options.get("date_format"):
            formats = [options["date_format"]]
        elif preset.date_format == sniff.DATEV_DDMM:
            formats = [sniff.DATEV_DDMM]
        else:
            formats = sniff.date_formats_for(
                [v for v in date_values if not re.match(_SKIP_TEXT, v)], month_first=preset.month_first
            )
            if preset.date_format and preset.date_format not in formats:
                formats.append(preset.date_format)
            if not formats:
                formats = [preset.date_format or "%Y-%m-%d"]
        settings["date_format"] = formats[0] if len(formats) == 1 else formats

    # report layouts: fill down the fields only a transaction's first row carries
    if preset.fill_down and "date" in found:
        starts = _text(f"c{found['date']}").is_not_null()
        fills = []
        for f in preset.fill_down:
            if f in found:
                c = f"c{found[f]}"
                fills.append(
                    pl.when(starts).then(pl.col(c).fill_null("")).otherwise(pl.col(c)).forward_fill().alias(c)
                )
        rows = rows.with_columns(fills)

    # Stage 1: every used column once, stripped, blanks as null. Each later stage refers to
    # columns of the previous one, so no string operation runs twice per row (the streaming
    # engine does not share a subexpression used twice within one step, hence two steps here).
    used = sorted(set(found.values()))
    rows = rows.with_columns([pl.col(f"c{i}").str.strip_chars().alias(f"t{i}") for i in used])
    rows = rows.with_columns(
        [pl.when(pl.col(f"t{i}").str.len_bytes() > 0).then(pl.col(f"t{i}")).alias(f"t{i}") for i in used]
    )

    def col(name: str) -> pl.Expr:
        return pl.col(f"t{found[name]}") if name in found else pl.lit(None, dtype=pl.Utf8)

    date_raw = col("date")
    stage: list[pl.Expr] = []
    if not preset.trial_balance:
        stage.append(date_expr(date_raw, formats, _datev_range(table.metadata)).alias("tx_date"))
    else:
        stage.append(_tb_month(table, first, found, settings).alias("_month"))
        stage.append(pl.lit(None, dtype=pl.Date).alias("tx_date"))
    for f in money_fields:
        stage.extend(_money_stage1(col(f), decimal, f))
    if "amount_fc" in found:
        stage.extend(_money_stage1(col("amount_fc"), decimal, "amount_fc"))
    if shape in ("indicator", "counter_account"):
        stage.append(_indicator_sign(col("indicator")).alias("_sign"))
    rows = rows.with_columns(stage)
    money_cols = [*money_fields, *(["amount_fc"] if "amount_fc" in found else [])]
    rows = rows.with_columns([e for f in money_cols for e in _money_stage2(col(f), decimal, f)])
    rows = rows.with_columns([e for f in money_cols for e in _money_stage3(f)])

    # report layouts: the account named in a heading row above its lines (Xero)
    account_raw = col("account")
    account_name = col("account_name")
    if preset.account_from_sections and "account" not in found and "date" in found:
        heading = (
            date_raw.is_not_null()
            & pl.col("tx_date").is_null()
            & pl.all_horizontal([col(f).is_null() for f in money_fields])
            & ~date_raw.str.contains(_SKIP_TEXT)
        )
        rows = rows.with_columns(pl.when(heading).then(date_raw).forward_fill().alias("_section"))
        section = pl.col("_section")
        code = pl.coalesce(
            [section.str.extract(_NAME_PAREN_CODE, 2), section.str.extract(_CODE_DASH_NAME, 1), section]
        )
        name = pl.coalesce(
            [section.str.extract(_NAME_PAREN_CODE, 1), section.str.extract(_CODE_DASH_NAME, 2)]
        )
        rows = rows.with_columns(code.alias("_section_code"), name.alias("_section_name"))
        account_raw = pl.col("_section_code")
        account_name = pl.coalesce([account_name, pl.col("_section_name")])

    # rows to skip: blank rows, and in report layouts headings, subtotals and balance rows
    skip = pl.all_horizontal([pl.col(f"t{i}").is_null() for i in used]) if used else pl.lit(True)
    if preset.report:
        skip = skip | account_raw.is_null() | pl.col("tx_date").is_null()
        skip = skip | date_raw.fill_null("").str.contains(_SKIP_TEXT)
        if "description" in found:
            skip = skip | col("description").fill_null("").str.contains(_SKIP_TEXT)
    rows = rows.with_columns(skip.fill_null(False).alias("_skip"))
    live = ~pl.col("_skip")

    checks: list[tuple[str, str, str]] = []
    flags: list[pl.Expr] = []

    def flag(name: str, expr: pl.Expr, source: str | None, message: str) -> None:
        flags.append((live & expr).fill_null(False).alias(f"_bad_{name}"))
        checks.append((f"_bad_{name}", source or "", message))

    if preset.trial_balance:
        period_field = "period" if "period" in found else "year_period"
        flag(
            "period",
            pl.col("_month").is_null(),
            f"c{found[period_field]}",
            "{value!r} is not a month or period",
        )
    else:
        source = f"c{found['date']}"
        hint = _date_hint(settings.get("date_format"))
        flag(
            "date",
            date_raw.is_not_null() & pl.col("tx_date").is_null(),
            source,
            "{value!r} is not a date" + hint,
        )
        flag("date_missing", date_raw.is_null(), source, "the date is empty")
    for f in money_cols:
        flag(
            f"amount_{f}",
            pl.col(f"_bad_{f}_value"),
            f"c{found[f]}",
            "{value!r} is not an amount" + _decimal_hint(decimal),
        )
    if shape in ("indicator", "counter_account"):
        flag(
            "indicator",
            pl.col("_sign").is_null(),
            f"c{found['indicator']}",
            "{value!r} is not a debit/credit indicator (expected S/H, D/C, Dr/Cr or Soll/Haben)",
        )

    # the signed amount in the entity's currency
    value = {f: pl.col(f"_v_{f}") for f in money_cols}
    base_value = (
        pl.coalesce([value[f] for f in ("amount_base", "amount") if f in value])
        if ({"amount_base", "amount"} & set(value))
        else pl.lit(None, dtype=MONEY)
    )
    if shape == "debit_credit":
        amount = (value["debit"].fill_null(Decimal(0)) - value["credit"].fill_null(Decimal(0))).cast(MONEY)
        no_amount = col("debit").is_null() & col("credit").is_null()
        if "amount_base" in value:  # a signed column beside debit/credit (Exact): preferred when filled
            amount = pl.when(col("amount_base").is_not_null()).then(value["amount_base"]).otherwise(amount)
            no_amount = no_amount & col("amount_base").is_null()
    else:
        magnitude = base_value.abs() if preset.indicator_on_magnitude else base_value
        sign = pl.col("_sign").cast(pl.Int64) if shape in ("indicator", "counter_account") else pl.lit(1)
        amount = (magnitude * sign).cast(MONEY)
        no_amount = pl.all_horizontal([col(f).is_null() for f in ("amount_base", "amount") if f in found])
    # An empty amount is 0.00 (and reported); a bad one is null and fails the row.
    amount = pl.when(no_amount).then(pl.lit(Decimal(0), dtype=MONEY)).otherwise(amount)
    rounded = (
        pl.any_horizontal([pl.col(f"_rounded_{f}") for f in money_fields]) if money_fields else pl.lit(False)
    )

    # accounts
    if shape == "double_entry":
        accounts = [col("debit_account"), col("credit_account")]
        names: list[pl.Expr] = [pl.lit(None, dtype=pl.Utf8), pl.lit(None, dtype=pl.Utf8)]
        if preset.split_account_name:
            pairs = [_split_account(a, _CODE_DASH_NAME, 1, 2) for a in accounts]
            accounts, names = [p[0] for p in pairs], [p[1] for p in pairs]
        flag(
            "account",
            col("debit_account").is_null() & col("credit_account").is_null(),
            f"c{found['debit_account']}",
            "neither a debit nor a credit account is given",
        )
    elif shape == "counter_account":
        accounts = [account_raw, col("counter_account")]
        names = [account_name, pl.lit(None, dtype=pl.Utf8)]
        flag("account", account_raw.is_null(), f"c{found['account']}", "the account is empty")
    else:
        acct, nm = account_raw, account_name
        if preset.split_account_name:
            acct, split_name = _split_account(account_raw, _CODE_DASH_NAME, 1, 2)
            nm = pl.coalesce([account_name, split_name])
        accounts, names = [acct], [nm]
        flag(
            "account",
            account_raw.is_null(),
            f"c{found['account']}" if "account" in found else "",
            "the account is empty",
        )

    # currencies: the entity's (a column or the file header) and the booking currency
    entity_currency = _header_currency(table.metadata)
    base_currency = col("currency") if "currency" in found else pl.lit(entity_currency, dtype=pl.Utf8)
    booking_currency = col("currency_fc")
    if "amount" in value and "amount_base" in value and "currency_fc" in found:
        # foreign when the booking currency differs from the entity's, or (entity currency
        # unknown) when the two amounts differ
        foreign = booking_currency.is_not_null() & (
            pl.when(base_currency.is_not_null())
            .then(booking_currency != base_currency)
            .otherwise(value["amount"].abs() != value["amount_base"].abs())
        ).fill_null(False)
        amount_fc_abs = pl.when(foreign).then(value["amount"].abs())
        currency_fc = pl.when(foreign).then(booking_currency)
    elif "amount_fc" in value:
        amount_fc_abs = pl.when(value["amount_fc"] != 0).then(value["amount_fc"].abs())
        currency_fc = booking_currency
    else:
        amount_fc_abs = pl.lit(None, dtype=MONEY)
        currency_fc = pl.lit(None, dtype=pl.Utf8)

    description = col("description")
    if "description2" in found:
        description = (
            pl.concat_str([col("description"), col("description2")], separator=" ", ignore_nulls=True)
            .str.strip_chars()
            .replace("", None)
        )

    fiscal_year = col("fiscal_year").cast(pl.Int32, strict=False)
    period = col("period").cast(pl.Int32, strict=False)
    if "year_period" in found:
        parts = col("year_period").str.extract_groups(r"^(\d{4})\s*[/\-.]\s*(\d{1,3})$")
        fiscal_year = parts.struct.field("1").cast(pl.Int32, strict=False)
        period = parts.struct.field("2").cast(pl.Int32, strict=False)

    if table.format == "csv":
        first_line = table.record_lines[first] if first < len(table.record_lines) else first + 1
        prefix, offset = "line ", first_line
    else:
        prefix, offset = f"sheet '{table.sheet}', row ", first + 1

    fields = {
        "_amount": amount,
        "_noamount": no_amount.fill_null(False),
        "_rounded": rounded.fill_null(False),
        "_amount_fc_abs": amount_fc_abs.cast(MONEY),
        "currency_fc": currency_fc,
        "currency": base_currency,
        "journal": col("journal"),
        "entry": col("entry"),
        "line": col("line"),
        "description": description,
        "document_no": col("document_no"),
        "cost_centre": col("cost_centre"),
        "project": col("project"),
        "fiscal_year": fiscal_year,
        "period": period,
        **{f"_account_{i}": a for i, a in enumerate(accounts)},
        **{f"_account_name_{i}": n for i, n in enumerate(names)},
    }
    # Fields the file does not have are constants: added to the lines, not stored per row.
    constants = {k: e.alias(k) for k, e in fields.items() if not e.meta.root_names()}
    computed = {k: e.alias(k) for k, e in fields.items() if k not in constants}
    rows = rows.with_columns(*flags, *computed.values())
    rows = rows.with_columns(pl.any_horizontal([pl.col(c) for c, _, _ in checks]).alias("_bad"))
    rows = rows.select(
        ROW, "tx_date", "_skip", "_bad", *(["_month"] if preset.trial_balance else []),
        *computed, *_bad_columns(checks),
    )  # fmt: skip

    n_sides = len(accounts)
    key_mode = "source" if "entry" in found and "line" in found and n_sides == 1 else "content"
    entity = EntityInfo(currency=entity_currency or _sample_currency(table, first, found.get("currency")))
    if table.metadata:
        entity = _datev_entity(table.metadata, entity)

    settings["columns"] = {f: headers[i] for f, i in found.items() if i < len(headers)}
    closing = False
    if preset.trial_balance:
        closing, extra = _tb_values(options, settings)
        problems.extend(extra)
        key_mode = "given"
    elif preset.fill_down or preset.report:
        problems.append(
            Problem(
                "report_layout",
                "Heading, subtotal and balance rows of the report were skipped.",
                severity="info",
            )
        )

    def build_lines(frame: pl.LazyFrame) -> pl.LazyFrame:
        frame = frame.with_columns(
            *constants.values(),
            pl.lit(prefix).alias("source_ref"),
            (pl.col(ROW).cast(pl.Int32) + offset).alias("source_line"),
        )
        common = [
            ROW, "tx_date", "journal", "entry", "line", "description", "document_no", "cost_centre",
            "project", "fiscal_year", "period", "currency", "currency_fc", "source_ref", "source_line",
            "_skip", "_bad", "_rounded", "_noamount", *(["_month"] if preset.trial_balance else []),
        ]  # fmt: skip
        sides = []
        for i in range(n_sides):
            line_amount = pl.col("_amount") if i == 0 else (-pl.col("_amount")).cast(MONEY)
            fc = pl.when(line_amount < 0).then(-pl.col("_amount_fc_abs")).otherwise(pl.col("_amount_fc_abs"))
            side = frame.select(
                *common,
                pl.col(f"_account_{i}").alias("account_code"),
                pl.col(f"_account_name_{i}").alias("account_name"),
                line_amount.alias("amount"),
                fc.cast(MONEY).alias("amount_fc"),
                pl.lit(i, dtype=pl.Int8).alias("_side"),
            )
            if i > 0:
                side = side.filter(pl.col("account_code").is_not_null() & ~pl.col("_skip"))
            elif n_sides > 1:
                side = side.filter(pl.col("account_code").is_not_null() | pl.col("_bad") | pl.col("_skip"))
            sides.append(side)
        lines = pl.concat(sides, how="vertical") if len(sides) > 1 else sides[0]
        return _trial_balance_lines(lines, closing) if preset.trial_balance else lines

    return Plan(
        table=table,
        preset=preset,
        found=found,
        headers=headers,
        rows=rows,
        build_lines=build_lines,
        checks=checks,
        first_data_index=first,
        where_prefix=f"sheet '{table.sheet}', row ",
        settings=settings,
        problems=problems,
        entity=entity,
        key_mode=key_mode,
        one_line_per_row=n_sides == 1 and not preset.trial_balance,
    )


def _bad_columns(checks: Sequence[tuple[str, str, str]]) -> list[pl.Expr]:
    """The check flags and, on bad rows only, the raw text the first failed check names.

    Kept with the typed rows so that the first bad row can be reported from their parquet copy;
    the text is null on good rows, so it costs next to nothing to store.
    """
    raw: Any = pl.lit(None, dtype=pl.Utf8)
    for flag, src, _ in reversed(checks):
        raw = pl.when(pl.col(flag)).then(pl.col(src) if src else pl.lit(None, dtype=pl.Utf8)).otherwise(raw)
    return [*[pl.col(flag) for flag, _, _ in checks], raw.alias("_raw")]


def _money_stage1(raw: pl.Expr, decimal: str, name: str) -> list[pl.Expr]:
    """The value of one amount column where it is a plain number (see money_expr)."""
    return [_money_fast(raw, decimal).alias(f"_f_{name}")]


def _money_stage2(raw: pl.Expr, decimal: str, name: str) -> list[pl.Expr]:
    """The parts of the values stage 1 could not read (null elsewhere)."""
    number, negative, invalid = _money_slow(pl.when(pl.col(f"_f_{name}").is_null()).then(raw), decimal)
    return [number.alias(f"_n_{name}"), negative.alias(f"_neg_{name}"), invalid.alias(f"_invalid_{name}")]


def _money_stage3(name: str) -> list[pl.Expr]:
    number = pl.col(f"_n_{name}")
    value, bad = _slow_value(number, pl.col(f"_neg_{name}"), pl.col(f"_invalid_{name}"))
    return [
        pl.coalesce([pl.col(f"_f_{name}"), value]).alias(f"_v_{name}"),
        bad.alias(f"_bad_{name}_value"),
        number.str.contains(_MORE_THAN_CENTS).fill_null(False).alias(f"_rounded_{name}"),
    ]


def _text_cells(table: Table, first: int, index: int) -> list[str]:
    """Cells of one column as the file wrote them: for xlsx only text cells say how numbers look."""
    if table.format == "xlsx":
        return [
            r[index]
            for r in table.raw_cells[first : first + SNIFF_ROWS]
            if index < len(r) and isinstance(r[index], str)
        ]
    return _sample_values(table, first, index)


def _date_hint(fmt: Any) -> str:
    if isinstance(fmt, str) and fmt.startswith("%"):
        readable = fmt.replace("%d", "DD").replace("%m", "MM").replace("%Y", "YYYY").replace("%y", "YY")
        return f" (expected {readable})"
    return ""


def _decimal_hint(decimal: str) -> str:
    return " (decimal comma expected)" if decimal == "," else ""


def _key_prefix(mode: str) -> pl.Expr:
    """journal|entry|line for source keys; journal|entry|date|account|amount for content keys."""
    if mode == "source":
        return derived_key_expr()
    parts = [
        pl.col("journal").fill_null(""),
        pl.col("entry").fill_null(""),
        pl.col("tx_date").cast(pl.Utf8).fill_null(""),
        pl.col("account_code").fill_null(""),
        pl.col("amount").cast(pl.Utf8).fill_null(""),
    ]
    return pl.concat_str(parts, separator="|")


def _distinct(lines: pl.LazyFrame, key: pl.Expr) -> bool:
    """Whether no two lines share a hash of `key` (so no two share the key)."""
    # Counting distinct hashes is cheaper than grouping them and answers the usual case.
    counts = lines.select(key.hash().alias("_h")).select(
        pl.len().alias("n"), pl.col("_h").n_unique().alias("u")
    )
    n, unique = counts.collect(engine="streaming").row(0)
    return n == unique


def _duplicate_hashes(lines: pl.LazyFrame, mode: str) -> list[int]:
    """The hashes of key prefixes that occur more than once, usually none (see `_duplicates`)."""
    if _distinct(lines, _key_prefix(mode)):
        return []
    return _duplicates(lines, mode).collect(engine="streaming")["_h"].to_list()


def _duplicates(lines: pl.LazyFrame, mode: str) -> pl.LazyFrame:
    """Hashes of key prefixes that occur more than once (usually none: a small result).

    Counting hashes instead of keys keeps the pass lean on a multi-million-line file; a hash
    collision only sends a few more lines through the exact numbering below.
    """
    return (
        lines.select(_key_prefix(mode).hash().alias("_h"))
        .group_by("_h")
        .agg(pl.len().alias("n"))
        .filter(pl.col("n") > 1)
        .select("_h")
    )


def _with_line_keys(lines: pl.LazyFrame, mode: str, duplicates: Sequence[int]) -> pl.LazyFrame:
    """Stable keys: the source's journal|entry|line (left empty: the warehouse derives it, see
    StreamData.derived_keys), else journal|entry|date|account|amount|n.

    n numbers the lines that share journal, entry, date, account and amount, ordered by their
    description, so re-uploading the same export (in any row order) gives the same keys. Only
    lines whose prefix occurs more than once are numbered with a window, so memory stays bounded
    by the duplicates, not by the file.
    """
    if mode == "source":
        # The warehouse derives these keys from the three columns (StreamData.derived_keys).
        return lines.with_columns(pl.lit(None, dtype=pl.Utf8).alias("line_key"))
    prefix = _key_prefix(mode)
    if not duplicates:
        return lines.with_columns(pl.concat_str([prefix, pl.lit("|1")]).alias("line_key"))
    dup = prefix.hash().is_in(pl.Series(duplicates, dtype=pl.UInt64).implode())
    single = lines.filter(~dup).with_columns(pl.concat_str([prefix, pl.lit("|1")]).alias("line_key"))
    group = ["journal", "entry", "tx_date", "account_code", "amount"]
    n = pl.int_range(1, pl.len() + 1, dtype=pl.UInt32).over(group, order_by="description")
    repeated = lines.filter(dup).with_columns(
        pl.concat_str([prefix, pl.lit("|"), n.cast(pl.Utf8)]).alias("line_key")
    )
    return pl.concat([single, repeated], how="vertical")


# --- trial balances ---------------------------------------------------------------------------

_PERIOD_FORMATS = ("%Y-%m", "%Y/%m", "%m/%Y", "%m.%Y", "%m-%Y", "%Y%m", "%b %Y", "%B %Y", "%b-%Y", "%b-%y")


def _period_format(values: Sequence[str]) -> str | None:
    """How a trial balance writes its months ("2024-03", "03/2024", "Mar 2024", a date ...).

    The format that reads the most sampled values wins, so one bad cell does not hide the
    format of the others (it is reported with its line instead).
    """
    sample = [v.strip() for v in values if v and v.strip()][:200]
    if not sample:
        return None

    def reads(v: str, fmt: str) -> bool:
        try:
            datetime.strptime("01 " + v, "%d " + fmt)
        except ValueError:
            return False
        return True

    scored = [(sum(reads(v, f) for v in sample), f) for f in _PERIOD_FORMATS]
    full = sniff.detect_date_format(sample)
    if full:
        scored.append((sum(sniff.parse_date_value(v, full) is not None for v in sample), "date:" + full))
    count, fmt = max(scored, key=lambda t: t[0])
    return fmt if count else None


def _tb_month(table: Table, first: int, found: Mapping[str, int], settings: dict[str, Any]) -> pl.Expr:
    """The first day of the month a trial-balance row is for (null when unreadable)."""
    col = "period" if "period" in found else "year_period"
    raw = pl.col(f"t{found[col]}")
    values = _sample_values(table, first, found[col])
    numeric_periods = "fiscal_year" in found and all(re.fullmatch(r"\d{1,3}", v.strip()) for v in values if v)
    year = pl.col(f"t{found['fiscal_year']}").cast(pl.Int32, strict=False) if "fiscal_year" in found else None
    if col == "year_period":
        parts = raw.str.extract_groups(r"^(\d{4})\s*[/\-.]\s*(\d{1,3})$")
        month = pl.date(
            parts.struct.field("1").cast(pl.Int32, strict=False),
            parts.struct.field("2").cast(pl.Int32, strict=False).clip(1, 12),
            1,
        )
        settings["period_format"] = "YYYY/PP"
    elif numeric_periods and year is not None:
        month = pl.date(year, raw.cast(pl.Int32, strict=False).clip(1, 12), 1)
        settings["period_format"] = "year + period number"
    else:
        fmt = _period_format(values)
        settings["period_format"] = fmt
        if fmt is None:
            month = pl.lit(None, dtype=pl.Date)
        elif fmt.startswith("date:"):
            month = date_expr(raw, [fmt[5:]]).dt.truncate("1mo")
        else:
            month = pl.concat_str([pl.lit("01 "), raw]).str.strptime(pl.Date, "%d " + fmt, strict=False)
    return month


def _tb_values(options: Mapping[str, Any], settings: dict[str, Any]) -> tuple[bool, list[Problem]]:
    """Whether a trial balance holds closing balances (else movements), and the note saying so."""
    problems: list[Problem] = []
    heading = settings.get("columns", {}).get("amount_base") or ""
    closing_heading = normalise_header(heading) in {normalise_header(h) for h in CLOSING_HEADINGS}
    closing = (options.get("tb_values") or ("closing" if closing_heading else "movement")) == "closing"
    settings["tb_values"] = "closing" if closing else "movement"
    if closing:
        problems.append(
            Problem(
                "trial_balance",
                "Closing balances were turned into monthly movements; the first month in the file "
                "is taken as the movement from zero.",
                severity="info",
            )
        )
    return closing, problems


def _trial_balance_lines(lines: pl.LazyFrame, closing: bool) -> pl.LazyFrame:
    """One line per account and month, dated the month's last day, keyed TB|account|yyyy-mm."""
    lines = lines.with_columns(
        pl.col("fiscal_year").fill_null(pl.col("_month").dt.year().cast(pl.Int32)),
        pl.col("period").fill_null(pl.col("_month").dt.month().cast(pl.Int32)),
    )
    good = lines.filter(~pl.col("_skip") & ~pl.col("_bad"))
    grouped = good.group_by(["account_code", "_month"]).agg(
        pl.col("amount").sum().cast(MONEY),
        pl.col("account_name").drop_nulls().first(),
        pl.col("fiscal_year").first(),
        pl.col("period").first(),
        pl.col("currency").drop_nulls().first(),
        pl.col(ROW).min(),
        pl.col("source_ref").sort_by(ROW).first(),
        pl.col("source_line").sort_by(ROW).first(),
        pl.col("_rounded").any(),
    )
    if closing:
        grouped = grouped.with_columns(
            (
                pl.col("amount")
                - pl.col("amount").shift(1).over("account_code", order_by="_month").fill_null(0)
            )
            .cast(MONEY)
            .alias("amount")
        )
    tb = grouped.with_columns(
        pl.col("_month").dt.month_end().alias("tx_date"),
        pl.lit("TB").alias("journal"),
        pl.lit(None, dtype=pl.Utf8).alias("entry"),
        pl.lit(None, dtype=pl.Utf8).alias("line"),
        pl.lit("Trial balance").alias("description"),
        pl.lit(None, dtype=pl.Utf8).alias("document_no"),
        pl.lit(None, dtype=pl.Utf8).alias("cost_centre"),
        pl.lit(None, dtype=pl.Utf8).alias("project"),
        pl.lit(None, dtype=pl.Utf8).alias("currency_fc"),
        pl.lit(None, dtype=MONEY).alias("amount_fc"),
        pl.lit(False).alias("_skip"),
        pl.lit(False).alias("_bad"),
        pl.lit(False).alias("_noamount"),
        pl.lit(0, dtype=pl.Int8).alias("_side"),
        pl.concat_str(
            [pl.lit("TB|"), pl.col("account_code"), pl.lit("|"), pl.col("_month").dt.strftime("%Y-%m")]
        ).alias("line_key"),
    ).drop("_month")
    # Rows that fail keep their flags in `rows`; lines carry only good, aggregated rows plus one
    # marker per bad row so the validation pass sees them.
    bad_rows = lines.filter(pl.col("_bad") & ~pl.col("_skip")).select(pl.col(ROW), pl.lit(True).alias("_bad"))
    tb = pl.concat([tb, bad_rows], how="diagonal")
    return tb.with_columns(pl.col("_bad").fill_null(True))


# --- DATEV header -------------------------------------------------------------------------------


def _datev_range(metadata: Sequence[str]) -> tuple[date, date] | None:
    """The booking date range of a DATEV EXTF header (fields 15/16), else its fiscal year start."""

    def read(i: int) -> date | None:
        if len(metadata) > i and re.fullmatch(r"\d{8}", (metadata[i] or "").strip()):
            with contextlib.suppress(ValueError):
                return datetime.strptime(metadata[i].strip(), "%Y%m%d").date()
        return None

    start, end = read(14), read(15)
    if start and end:
        return start, end
    fy = read(12)
    if fy:
        return fy, date(fy.year + (1 if fy.month > 1 else 0), (fy.month - 2) % 12 + 1, 1)
    return None


def _header_currency(metadata: Sequence[str]) -> str | None:
    if len(metadata) > 21 and re.fullmatch(r"[A-Z]{3}", (metadata[21] or "").strip()):
        return metadata[21].strip()
    return None


def _datev_entity(metadata: Sequence[str], entity: EntityInfo) -> EntityInfo:
    consultant = metadata[10].strip() if len(metadata) > 10 else ""
    client = metadata[11].strip() if len(metadata) > 11 else ""
    fy = _datev_range([*metadata[:14], "", ""])
    return EntityInfo(
        name=entity.name,
        external_id=f"{consultant}/{client}" if consultant and client else (client or None),
        currency=entity.currency,
        fiscal_year_start_month=fy[0].month if fy else None,
        extra={"datev_consultant": consultant, "datev_client": client},
    )


def _sample_currency(table: Table, first: int, index: int | None) -> str | None:
    values = {v.strip() for v in _sample_values(table, first, index) if v and v.strip()}
    return values.pop() if len(values) == 1 else None


# --- AdventureWorks FactFinance --------------------------------------------------------------------

_AW_CREDIT_TYPES = {"Liabilities", "Revenue"}
_AW_TYPES = {"Assets": "balance", "Liabilities": "balance", "Revenue": "pnl", "Expenditures": "pnl"}


def _plan_adventureworks(table: Table, choice: Choice, options: Mapping[str, Any], limit: int | None) -> Plan:
    preset = choice.preset
    pos = preset.positions
    raw = _raw_frame(table, 0, 8, limit, ".")
    folder = table.path.parent
    problems = list(table.problems)
    chart = _read_pipe(folder / "DimAccount.csv")
    accounts_df: pl.DataFrame | None = None
    if chart:
        by_key = {r[0]: r for r in chart if r and r[0]}
        codes = {k: (r[2] or k) for k, r in by_key.items()}
        signs = {k: (-1 if (r[5] or "") in _AW_CREDIT_TYPES else 1) for k, r in by_key.items()}
        names = {k: r[4] for k, r in by_key.items()}
        units = sorted(k for k, r in by_key.items() if len(r) > 8 and r[8] == "Units")
        accounts_df = frame_from_rows(
            "accounts",
            [
                {
                    "code": r[2] or r[0],
                    "name": r[4],
                    "account_type": _AW_TYPES.get(r[5] or ""),
                    "category": r[5],
                    "parent_code": r[3],
                }
                for r in by_key.values()
            ],
        )
    else:
        codes, signs, names, units = {}, {}, {}, []
        problems.append(
            Problem(
                "missing_chart",
                "DimAccount.csv was not found beside the file: account keys are used as codes and "
                "amounts keep the file's signs.",
                severity="warning",
            )
        )
    key = _text(f"c{pos['account_key']}")
    value, bad_amount, rounded = money_expr(_text(f"c{pos['amount_base']}"), ".")
    sign = key.replace_strict(signs, default=1, return_dtype=pl.Int64) if signs else pl.lit(1)
    date_raw = _text(f"c{pos['date']}")
    tx_date = pl.coalesce(
        [
            date_expr(date_raw, ["%Y-%m-%d", sniff.ISO_DATETIME]),
            date_expr(_text(f"c{pos['date_key']}"), ["%Y%m%d"]),
        ]
    )
    scenario = _text(f"c{pos['scenario']}")
    rows = raw.with_columns(
        (scenario != "1").fill_null(True).alias("_skip"),
        tx_date.alias("tx_date"),
        (value * sign).cast(MONEY).alias("amount"),
        (key.replace_strict(codes, default=key) if codes else key).alias("account_code"),
        (
            key.replace_strict(names, default=None, return_dtype=pl.Utf8)
            if names
            else pl.lit(None, dtype=pl.Utf8)
        ).alias("account_name"),
        _text(f"c{pos['cost_centre']}").alias("cost_centre"),
        _text(f"c{pos['project']}").alias("project"),
        _text(f"c{pos['line']}").alias("line"),
        rounded.alias("_rounded"),
        pl.lit(False).alias("_noamount"),
    )
    checks = [
        ("_bad_date", f"c{pos['date']}", "{value!r} is not a date (expected YYYY-MM-DD)"),
        ("_bad_amount", f"c{pos['amount_base']}", "{value!r} is not an amount"),
        ("_bad_account", f"c{pos['account_key']}", "the account key is empty"),
    ]
    rows = rows.with_columns(
        (~pl.col("_skip") & tx_date.is_null()).alias("_bad_date"),
        (~pl.col("_skip") & (bad_amount | _text(f"c{pos['amount_base']}").is_null())).alias("_bad_amount"),
        (~pl.col("_skip") & key.is_null()).alias("_bad_account"),
    )
    rows = rows.with_columns(pl.any_horizontal("_bad_date", "_bad_amount", "_bad_account").alias("_bad"))
    rows = rows.select(
        ROW, "_skip", "tx_date", "amount", "account_code", "account_name", "cost_centre", "project",
        "line", "_rounded", "_noamount", "_bad", *_bad_columns(checks),
    )  # fmt: skip

    def build_lines(frame: pl.LazyFrame) -> pl.LazyFrame:
        return frame.with_columns(
            pl.lit("line ").alias("source_ref"),
            (pl.col(ROW).cast(pl.Int32) + 1).alias("source_line"),
            pl.lit(None, dtype=pl.Utf8).alias("journal"),
            pl.lit(None, dtype=pl.Utf8).alias("entry"),
            pl.lit(None, dtype=pl.Utf8).alias("description"),
            pl.lit(0, dtype=pl.Int8).alias("_side"),
            pl.concat_str([pl.lit("FF|"), pl.col("line")]).alias("line_key"),
        )

    if units:
        unit_codes = ", ".join(codes.get(k, k) for k in units)
        problems.append(
            Problem(
                "statistical_accounts",
                f"Accounts {unit_codes} hold units (headcount, square footage), not money; they are "
                "imported as they are and should stay unmapped in statements.",
                severity="info",
            )
        )
    dims = _aw_dimensions(folder)
    return Plan(
        table=table,
        preset=preset,
        found={},
        headers=[],
        rows=rows,
        build_lines=build_lines,
        checks=checks,
        first_data_index=0,
        where_prefix="",
        settings={
            "preset": preset.name,
            "shape": "signed",
            "decimal": ".",
            "date_format": "%Y-%m-%d",
            "scenario": "1 (Actual)",
        },
        problems=problems,
        entity=EntityInfo(name="AdventureWorks Cycles"),
        key_mode="given",
        accounts=accounts_df,
        dimensions=dims,
    )


def _read_pipe(path: Path) -> list[list[str | None]]:
    if not path.is_file():
        return []
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return [[c if c != "" else None for c in row] for row in csv.reader(fh, delimiter="|")]


def _aw_dimensions(folder: Path) -> pl.DataFrame | None:
    rows: list[dict[str, Any]] = []
    for r in _read_pipe(folder / "DimOrganization.csv"):
        if len(r) >= 4 and r[0]:
            rows.append({"axis": "cost_centre", "code": r[0], "name": r[3], "parent_code": r[1]})
    for r in _read_pipe(folder / "DimDepartmentGroup.csv"):
        if len(r) >= 3 and r[0]:
            rows.append({"axis": "project", "code": r[0], "name": r[2], "parent_code": r[1]})
    return frame_from_rows("dimensions", rows) if rows else None


# --- extraction: one validating pass, then the streams ----------------------------------------


def _extract(plan: Plan, scratch_dir: Path | None, entity: tuple[str | None, int | None]) -> Extraction:
    path = _scratch_file(scratch_dir)
    try:
        return _extract_via(plan, path, entity)
    except BaseException:
        path.unlink(missing_ok=True)
        raise


# Lines written once, in the staged shape, where the layout allows (see _extract_via).
ONE_PASS = True
# What the checks below read from the one-pass copy beside the stream's columns.
_LINE_FLAGS = ("_skip", "_bad", "_rounded", "_noamount", "_side", "account_name")


def _extract_via(plan: Plan, path: Path, entity: tuple[str | None, int | None]) -> Extraction:
    """Parse the file once into a parquet copy of its typed rows, then check and key the lines from it.

    The one streaming pass over the file does all the per-row work (stripping, dates, amounts,
    flags); the totals, the first bad row, the accounts and the duplicate check are cheap columnar
    scans of the copy, and the transactions handed to the pipeline read it again instead of the file.

    Where each row is one line (no debit and credit account on one row, no trial balance), the
    pass writes the lines themselves in the staged shape, keyed as if no key repeats. When the
    checks then find every row a line and no key repeated, that copy is the staged file
    (StreamData.prestaged) and the lines are written once; otherwise they are keyed and staged
    from the copy as in the general case.
    """
    one_pass = ONE_PASS and plan.one_line_per_row and plan.key_mode != "given"
    if one_pass:
        currency = entity[0] or plan.entity.currency
        fy_start = entity[1] or plan.entity.fiscal_year_start_month or 1
        keyed = _with_line_keys(plan.build_lines(plan.rows), plan.key_mode, [])
        source = with_defaults(
            "transactions",
            conform("transactions", keyed, keep=_LINE_FLAGS),
            currency=currency,
            fy_start=fy_start,
        )
    else:
        source = plan.rows
    try:
        source.sink_parquet(path, compression="lz4", statistics=False, engine="streaming")
    except pl.exceptions.PolarsError as exc:
        if plan.table.utf8_from_sample and "utf-8" in str(exc).lower():
            raise _NotUtf8 from None
        raise _scan_error(plan, exc) from None
    copy = pl.scan_parquet(path)
    lines = copy if one_pass else plan.build_lines(copy)
    money_filter = ~pl.col("_skip") & ~pl.col("_bad")
    month = pl.col("tx_date").dt.truncate("1mo").alias("_month")
    summary = lines.group_by(month).agg(
        money_filter.sum().alias("lines"),
        pl.col("amount").filter(money_filter & (pl.col("amount") > 0)).sum().alias("debit"),
        pl.col("amount").filter(money_filter & (pl.col("amount") < 0)).sum().alias("credit"),
        pl.col("_bad").fill_null(False).sum().alias("bad"),
        (pl.col("_skip") & (pl.col("_side") == 0)).sum().alias("skipped"),
        (pl.col("_rounded").fill_null(False) & ~pl.col("_skip") & (pl.col("_side") == 0))
        .sum()
        .alias("rounded"),
        (pl.col("_noamount").fill_null(False) & ~pl.col("_skip") & (pl.col("_side") == 0))
        .sum()
        .alias("noamount"),
    )
    mode = plan.key_mode
    try:
        summary_df = summary.collect(engine="streaming")
        bad = int(summary_df["bad"].sum() or 0)
        if bad:
            # The one-pass copy holds lines, not the rows with their check flags: read the file.
            _raise_first_bad(plan, None if one_pass else copy, bad)
        account_rows = None
        if plan.accounts is None:
            account_rows = (
                lines.filter(money_filter)
                .group_by("account_code")
                .agg(pl.col("account_name").drop_nulls().first().alias("name"))
                .collect(engine="streaming")
            )
        duplicates: list[int] = []
        # The one-pass copy holds content keys already (prefix|1): they are distinct exactly when
        # the prefixes are, and hashing one column is cheaper than building the prefixes. Source
        # keys are derived, not written (StreamData.derived_keys): their prefixes are hashed.
        if mode != "given" and not (
            one_pass and mode == "content" and _distinct(lines.filter(money_filter), pl.col("line_key"))
        ):
            duplicates = _duplicate_hashes(lines.filter(money_filter), mode)
        if mode == "source" and duplicates:
            plan.problems.append(
                Problem(
                    "duplicate_line_numbers",
                    "The file's entry and line numbers are not unique; lines are identified by "
                    "their content instead.",
                    severity="info",
                )
            )
            mode = "content"
            duplicates = _duplicate_hashes(lines.filter(money_filter), mode)
    except pl.exceptions.PolarsError as exc:
        raise _scan_error(plan, exc) from None
    prestaged = None
    if one_pass and mode == plan.key_mode and not duplicates and _every_row_a_line(summary_df, copy):
        prestaged = path
    elif mode != "given":
        lines = _with_line_keys(lines, mode, duplicates)

    months = sorted(m for m in summary_df["_month"].to_list() if m is not None)
    counts = summary_df.filter(pl.col("_month").is_not_null())
    n_lines = int(counts["lines"].sum() or 0)
    debit = _dec(counts["debit"].sum())
    credit = -_dec(counts["credit"].sum())
    skipped = int(summary_df["skipped"].sum() or 0)
    rounded = int(summary_df["rounded"].sum() or 0)
    noamount = int(summary_df["noamount"].sum() or 0)
    if n_lines == 0:
        raise ParseError(
            "The file has a header but no ledger lines.",
            file=plan.table.name,
            guidance="Check that the export covers a period with bookings.",
        )

    problems = list(plan.problems)
    if rounded:
        problems.append(
            Problem(
                "rounded_amounts",
                f"{rounded} amount(s) had more than two decimals and were rounded to cents (half to even).",
                severity="warning",
            )
        )
    if noamount:
        problems.append(
            Problem(
                "empty_amount", f"{noamount} row(s) have no amount and were read as 0.00.", severity="warning"
            )
        )
    if skipped and plan.preset.name != "adventureworks" and not plan.preset.report:
        problems.append(Problem("skipped_row", f"{skipped} blank row(s) were skipped.", severity="info"))
    if plan.preset.name == "adventureworks" and skipped:
        problems.append(
            Problem(
                "skipped_row",
                f"{skipped} budget/forecast row(s) (scenario 2 and 3) were skipped.",
                severity="info",
            )
        )
    if plan.preset.name != "adventureworks" and debit != credit:
        problems.append(
            Problem(
                "unbalanced_file",
                f"Debits ({debit}) and credits ({credit}) in the file differ by {debit - credit}.",
                severity="warning",
            )
        )

    transactions = conform("transactions", lines.filter(money_filter))
    if plan.accounts is not None:
        accounts = plan.accounts
    else:
        assert account_rows is not None
        acc = account_rows.rename({"account_code": "code"}).filter(pl.col("code").is_not_null()).sort("code")
        accounts = conform("accounts", acc).collect()
    streams = [
        StreamData("accounts", accounts, replace="none"),
        StreamData(
            "transactions",
            transactions,
            replace="ranges",
            ranges=[(m, _month_end(m)) for m in months],
            # Distinct key prefixes were counted above, and repeated ones numbered.
            keys_unique=mode != "given",
            derived_keys=mode == "source",
            prestaged=prestaged,
        ),
    ]
    if plan.dimensions is not None:
        streams.insert(1, StreamData("dimensions", plan.dimensions, replace="none"))
    stats = {
        "lines": n_lines,
        "debit_total": str(debit),
        "credit_total": str(credit),
        "months": [m.strftime("%Y-%m") for m in months],
        "bytes_read": plan.table.path.stat().st_size,
        "encoding": plan.table.encoding,
        "delimiter": plan.table.delimiter,
        "sheet": plan.table.sheet,
        "skipped_rows": skipped,
        **plan.settings,
    }
    return Extraction(
        streams=streams,
        entity=plan.entity,
        problems=problems,
        format=plan.table.format,
        stats=stats,
    )


def _every_row_a_line(summary: pl.DataFrame, copy: pl.LazyFrame) -> bool:
    """Whether every row of the copy passed as a ledger line (none skipped, bad or unread)."""
    return int(summary["lines"].sum() or 0) == copy.select(pl.len()).collect().item()


def _dec(value: Any) -> Decimal:
    return Decimal(value if value is not None else 0).quantize(Decimal("0.01"))


def _month_end(first: date) -> date:
    nxt = date(first.year + (first.month == 12), first.month % 12 + 1, 1)
    return date.fromordinal(nxt.toordinal() - 1)


def _raise_first_bad(plan: Plan, rows: pl.LazyFrame | None = None, total: int | None = None) -> None:
    """Raise ParseError for the first row with a bad value, naming its line and column.

    `rows` is the plan's rows or their parquet copy (default: the rows read from the file).
    """
    flags = [c for c, _, _ in plan.checks]
    if not flags:
        return
    frame = plan.rows if rows is None else rows
    first = (
        frame.filter(pl.any_horizontal([pl.col(f) for f in flags]))
        .select(ROW, *flags, "_raw")
        .bottom_k(1, by=ROW)
        .collect()
    )
    if first.height == 0:
        if total:
            raise ParseError(f"{total} row(s) could not be read.", file=plan.table.name)
        return
    record = first.row(0, named=True)
    for flag_col, src, template in plan.checks:
        if record.get(flag_col):
            value = record["_raw"]
            message = template.format(value=(value or "").strip())
            if total and total > 1:
                message += f" ({total - 1} more row(s) with problems after this one)"
            field_name = None
            if src:
                index = int(src[1:])
                field_name = (
                    plan.headers[index]
                    if index < len(plan.headers) and plan.headers[index]
                    else f"column {index + 1}"
                )
            raise ParseError(
                message, file=plan.table.name, where=plan.where(int(record[ROW])), field=field_name
            )


class _NotUtf8(Exception):
    """A file whose sample was UTF-8 has other bytes further on: read it again as a legacy encoding."""


def _scan_error(plan: Plan, exc: Exception) -> ParseError:
    text = str(exc)
    if "utf-8" in text.lower() or "utf8" in text.lower():
        return ParseError(
            "The file mixes text encodings and cannot be read as UTF-8.",
            file=plan.table.name,
            guidance="Export it again as UTF-8, or set the encoding (e.g. windows-1252) in the options.",
        )
    first_line = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return ParseError(f"The file could not be read as CSV: {first_line}", file=plan.table.name)


def _physical_line(table: Table, record_index: int) -> int:
    """The 1-based line where a record starts, counting quoted line breaks exactly."""
    if record_index < len(table.record_lines):
        return table.record_lines[record_index]
    assert table.data_path is not None
    with table.data_path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh, delimiter=table.delimiter or ",")
        previous_end = 0
        for index, _row in enumerate(reader):
            if index == record_index:
                return previous_end + 1
            previous_end = reader.line_num
    return record_index + 1
