"""Uploaded ledger files: keep them, recognise them, check them before anything is written.

The Upload page saves the browser's bytes under data/uploads/, asks what the file is (format,
CSV/Excel preset and how sure the guess is, the columns of a file no preset recognises), then
checks the whole file the way an import would (parse, stage, validate) in a scratch folder:
counts, totals, the first lines and every problem, with nothing written to the warehouse. Only
then does the user import it as a run (`pipeline.imports.import_file`).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl

from connectors import registry
from connectors.base import ExtractRequest, Problem, where_in_source_expr
from connectors.files import detect_format, tabular
from connectors.files.presets import PRESETS, USER_FIELDS
from pipeline import db
from pipeline.errors import ConfigError, ParseError
from pipeline.staging import stage
from pipeline.validate import validate

FORMAT_LABELS = {
    "xaf": "XAF auditfile",
    "saft": "SAF-T Financial",
    "csv": "CSV ledger export",
    "xlsx": "Excel ledger export",
}
# The fields a user can name for a file no preset recognises, most needed first.
COLUMN_FIELDS = (
    "date",
    "account",
    "amount",
    "debit",
    "credit",
    "account_name",
    "description",
    "journal",
    "entry",
    "document_no",
    "cost_centre",
    "project",
    "currency",
)
PREVIEW_ROWS = 20
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._ -]+")


def save_upload(data: str | os.PathLike | None, file_name: str, content: bytes) -> Path:
    """Store uploaded bytes under data/uploads/<sha256 prefix>/<name> and return the path.

    The same file uploaded twice lands in the same place; the name keeps only safe characters.
    """
    if not content:
        raise ParseError("the file is empty (0 bytes)", file=file_name, guidance="Export the ledger again.")
    name = _SAFE_NAME.sub("_", Path(file_name or "upload").name).strip(" .") or "upload"
    digest = hashlib.sha256(content).hexdigest()[:16]
    folder = db.data_dir(data) / "uploads" / digest
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    if not path.exists():
        tmp = folder / f".{name}.part"
        tmp.write_bytes(content)
        tmp.replace(path)
    return path


@dataclass
class Detection:
    """What the file is: format, and for CSV/Excel the preset and the columns found."""

    format: str
    format_label: str
    preset: str | None = None
    preset_label: str | None = None
    preset_notes: str | None = None
    confidence: float = 1.0
    columns: list[str] = field(default_factory=list)  # the header of a CSV/Excel file
    needs_columns: bool = False  # no preset fits: the user names the columns

    def as_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def presets() -> list[dict[str, str]]:
    """The CSV/Excel presets a user can choose, with what each reads."""
    return [
        {"name": p.name, "label": p.label, "notes": p.notes}
        for p in PRESETS.values()
        if p.name not in ("adventureworks",)
    ]


def detect(path: str | os.PathLike) -> Detection:
    """Recognise an uploaded file by its content; raises ParseError for a file that is none of ours."""
    path = Path(path)
    fmt = detect_format(path)
    out = Detection(format=fmt, format_label=FORMAT_LABELS[fmt])
    if fmt not in ("csv", "xlsx"):
        return out
    out.columns = header(path)
    name, score = tabular.detect_preset(path)
    out.confidence = round(float(score), 2)
    if name == "generic" or score <= 0:
        out.needs_columns = True
        out.preset = "generic"
    else:
        out.preset = name
    preset = PRESETS[out.preset]
    out.preset_label, out.preset_notes = preset.label, preset.notes
    return out


def header(path: str | os.PathLike) -> list[str]:
    """The column names of a CSV or Excel file (its first non-empty row after any metadata)."""
    # The tabular reader's own opening (encoding, delimiter, sheet) so the names match what the
    # import will look for.
    table = tabular._open(Path(path), {}, None, 50)
    for row in table.records[table.metadata_lines :]:
        names = [str(c).strip() for c in row if c is not None and str(c).strip()]
        if names:
            return names
    return []


def column_options(columns: dict[str, str | None]) -> dict[str, Any]:
    """Import options for a file whose columns the user named ({field: column})."""
    chosen = {k: v for k, v in columns.items() if v}
    unknown = sorted(set(chosen) - set(USER_FIELDS))
    if unknown:
        raise ConfigError(f"Unknown field(s): {', '.join(unknown)}.")
    if "date" not in chosen or "account" not in chosen:
        raise ConfigError("Name at least the date and the account column.")
    if "amount" not in chosen and not ("debit" in chosen and "credit" in chosen):
        raise ConfigError("Name the amount column, or both the debit and the credit column.")
    return {"columns": chosen}


@dataclass
class FileCheck:
    """The whole file read as an import would read it, nothing written: what would be imported."""

    file_name: str
    format: str
    preset: str | None
    company: str | None
    currency: str | None
    period: str | None
    lines: int
    entries: int
    accounts: int
    opening_lines: int
    debit_total: Decimal
    credit_total: Decimal
    rows: list[dict[str, Any]]
    problems: list[Problem]

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def balanced(self) -> bool:
        return self.debit_total == self.credit_total


def check_file(
    path: str | os.PathLike,
    *,
    fmt: str | None = None,
    preset: str | None = None,
    options: dict[str, Any] | None = None,
    n: int = PREVIEW_ROWS,
) -> FileCheck:
    """Parse, stage and validate the file in a scratch folder; the warehouse is not touched.

    Raises ParseError (naming file, line and field) for a file an import would refuse.
    """
    path = Path(path)
    fmt = fmt or detect_format(path)
    if fmt not in FORMAT_LABELS:
        raise ConfigError(f"Unknown format {fmt!r}; use one of {', '.join(FORMAT_LABELS)}.")
    opts = dict(options or {})
    if preset:
        opts["preset"] = preset
    scratch = Path(tempfile.mkdtemp(prefix="ledgerline_check_"))
    try:
        request = ExtractRequest(
            entity_name=path.stem, path=path, options=opts, scratch_dir=scratch / "scratch"
        )
        request.scratch_dir.mkdir()
        extraction = registry.get(fmt)().extract(request)
        info = extraction.entity
        staged = stage(
            extraction,
            scratch / "staged",
            currency=info.currency,
            fy_start=info.fiscal_year_start_month or 1,
            file_name=path.name,
        )
        totals = validate(staged, file_name=path.name)
        rows: list[dict[str, Any]] = []
        tx = staged.streams.get("transactions")
        if tx is not None and tx.rows:
            head = (
                pl.scan_parquet(tx.path)
                .select(
                    *("tx_date", "journal", "entry", "account_code", "description", "amount"),
                    where_in_source_expr().alias("source_ref"),
                )
                .head(n)
                .collect()
            )
            rows = head.to_dicts()
        extra = info.extra or {}
        period = None
        if extra.get("start_date") and extra.get("end_date"):
            period = f"{extra['start_date']} to {extra['end_date']}"
        return FileCheck(
            file_name=path.name,
            format=fmt,
            preset=opts.get("preset") if fmt in ("csv", "xlsx") else None,
            company=info.name,
            currency=info.currency,
            period=period,
            lines=totals.lines,
            entries=totals.entries,
            accounts=totals.accounts,
            opening_lines=totals.opening_lines,
            debit_total=totals.debit_total,
            credit_total=totals.credit_total,
            rows=rows,
            problems=[*extraction.problems, *totals.problems],
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
