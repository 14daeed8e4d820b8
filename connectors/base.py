"""The connector contract: what a source declares and what an extraction hands the pipeline.

A connector reads a source (a file, an ERP API, a generator) and returns polars frames with the
columns below; it never touches the warehouse. The pipeline stages the frames, validates them and
merges them in one transaction. Frames may be lazy so that large files stream with bounded memory.

Sign convention, written down once: `amount` is in the entity's currency, debit positive and
credit negative. Money is Decimal(18, 2) from the first byte parsed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, ClassVar, Literal, Protocol

import polars as pl

MONEY = pl.Decimal(18, 2)

# Column contracts per stream. Connectors must produce exactly these names; `conform` casts and
# fills missing optional columns so a parser only has to produce what its source has.
TRANSACTION_COLUMNS: dict[str, pl.DataType] = {
    "line_key": pl.Utf8,  # unique per entity and stable across imports, e.g. "journal|entry|line"
    "journal": pl.Utf8,
    "entry": pl.Utf8,  # entry (booking) number within the journal
    "line": pl.Utf8,
    "tx_date": pl.Date,
    "fiscal_year": pl.Int32,
    "period": pl.Int32,  # the source's period number (may be 0 or 13+ for closing entries)
    "account_code": pl.Utf8,
    "amount": MONEY,
    "currency": pl.Utf8,  # the entity's currency
    "amount_fc": MONEY,  # amount in foreign currency, when the line was booked in one
    "currency_fc": pl.Utf8,
    "description": pl.Utf8,
    "cost_centre": pl.Utf8,
    "project": pl.Utf8,
    "axes": pl.Utf8,  # further analytical axes as a JSON object {"cost_unit": "K12", ...}
    "document_no": pl.Utf8,
    "source_ref": pl.Utf8,  # where the line is in the source: file line, element path, API id
    # A file's line or row number, kept apart from source_ref ("line ", "sheet 'GL', row "): five
    # million distinct strings like "line 4711" cost DuckDB about 0.4 s to compress, a number
    # almost nothing. Users see the two joined (`where_in_source`).
    "source_line": pl.Int32,
}

ACCOUNT_COLUMNS: dict[str, pl.DataType] = {
    "code": pl.Utf8,
    "name": pl.Utf8,
    "account_type": pl.Utf8,  # 'balance' | 'pnl' | None when the source does not say
    "category": pl.Utf8,  # the source's own class or group text
    "standard_code": pl.Utf8,  # RGS code (XAF leadReference), SAF-T standard account ...
    "standard_scheme": pl.Utf8,  # 'RGS', 'SAF-T NO', ...
    "parent_code": pl.Utf8,
}

DIMENSION_COLUMNS: dict[str, pl.DataType] = {
    "axis": pl.Utf8,  # 'cost_centre', 'project', or a source-specific axis name
    "code": pl.Utf8,
    "name": pl.Utf8,
    "parent_code": pl.Utf8,
}

OPENING_BALANCE_COLUMNS: dict[str, pl.DataType] = {
    "line_key": pl.Utf8,
    "fiscal_year": pl.Int32,
    "balance_date": pl.Date,  # the first day of the fiscal year
    "account_code": pl.Utf8,
    "amount": MONEY,  # debit positive
    "description": pl.Utf8,
    "source_ref": pl.Utf8,
}

# Payroll streams (Nmbrs, the XAS payroll auditfile). Each is keyed on `line_key` and merged like
# ledger lines. Amounts are as the payroll system reports them (a cost is positive); the payroll
# wage-component mapping gives them a GL account and a debit/credit sign. Personal data that
# reporting does not need (BSN, names, birth dates, addresses) has no column here on purpose.
PAYROLL_COMPANY_COLUMNS: dict[str, pl.DataType] = {
    "line_key": pl.Utf8,  # the company's key in the source
    "company_number": pl.Utf8,
    "name": pl.Utf8,
    "period_type": pl.Utf8,  # 'month' | '4weeks' | 'week' | 'quarter' | 'mixed'
    "currency": pl.Utf8,
    "source_ref": pl.Utf8,
}

PAYROLL_RUN_COLUMNS: dict[str, pl.DataType] = {
    "line_key": pl.Utf8,  # "company|run"
    "company_key": pl.Utf8,
    "payroll_run_id": pl.Utf8,  # the run's id in the source
    "run_number": pl.Int32,
    "payroll_year": pl.Int32,
    "period_from": pl.Int32,
    "period_to": pl.Int32,
    "period_start": pl.Date,
    "period_end": pl.Date,
    "description": pl.Utf8,
    "run_date": pl.Date,
    "locked": pl.Boolean,
    "employees": pl.Int32,  # payslips in the run
    "source_ref": pl.Utf8,
}

PAYROLL_EMPLOYEE_COLUMNS: dict[str, pl.DataType] = {
    "line_key": pl.Utf8,  # "company|employee"
    "company_key": pl.Utf8,
    "employee_number": pl.Utf8,
    "source_ref": pl.Utf8,
}

PAYROLL_COST_COLUMNS: dict[str, pl.DataType] = {
    "line_key": pl.Utf8,  # "company|year|period|component" (or the period's dates)
    "company_key": pl.Utf8,
    "payroll_year": pl.Int32,
    "period": pl.Int32,
    "period_start": pl.Date,
    "period_end": pl.Date,  # decides the month a cost belongs to
    "component_code": pl.Utf8,
    "component_name": pl.Utf8,
    "amount": MONEY,  # company total of the wage component in the period, as the payroll reports it
    "currency": pl.Utf8,
    "source_ref": pl.Utf8,
}

STREAM_COLUMNS: dict[str, dict[str, pl.DataType]] = {
    "accounts": ACCOUNT_COLUMNS,
    "dimensions": DIMENSION_COLUMNS,
    "transactions": TRANSACTION_COLUMNS,
    "opening_balances": OPENING_BALANCE_COLUMNS,
    "payroll_companies": PAYROLL_COMPANY_COLUMNS,
    "payroll_runs": PAYROLL_RUN_COLUMNS,
    "payroll_employees": PAYROLL_EMPLOYEE_COLUMNS,
    "payroll_costs": PAYROLL_COST_COLUMNS,
}

STREAM_KEYS: dict[str, tuple[str, ...]] = {
    "accounts": ("code",),
    "dimensions": ("axis", "code"),
    "transactions": ("line_key",),
    "opening_balances": ("line_key",),
    "payroll_companies": ("line_key",),
    "payroll_runs": ("line_key",),
    "payroll_employees": ("line_key",),
    "payroll_costs": ("line_key",),
}

REQUIRED: dict[str, tuple[str, ...]] = {
    "accounts": ("code",),
    "dimensions": ("axis", "code"),
    "transactions": ("line_key", "tx_date", "account_code", "amount"),
    "opening_balances": ("line_key", "fiscal_year", "account_code", "amount"),
    "payroll_companies": ("line_key",),
    "payroll_runs": ("line_key", "company_key", "period_end"),
    "payroll_employees": ("line_key", "company_key"),
    "payroll_costs": ("line_key", "company_key", "period_end", "component_code", "amount"),
}


@dataclass(frozen=True)
class Stream:
    """A stream a connector declares: its name, key and the field its cursor follows."""

    name: str
    cursor: str | None = None

    @property
    def key(self) -> tuple[str, ...]:
        return STREAM_KEYS[self.name]


@dataclass(frozen=True)
class Problem:
    """A data problem found while reading or validating: shown to the user, counted per run."""

    kind: str  # 'unbalanced_entry', 'unknown_account', 'schema_deviation', 'skipped_row' ...
    message: str
    where: str = ""
    severity: Literal["info", "warning", "error"] = "warning"


Replace = Literal["none", "all", "ranges"]


@dataclass
class StreamData:
    """What an extraction delivers for one stream.

    replace='all': rows are the complete set for the entity; keys not in rows are deleted.
    replace='ranges': rows are complete for the date ranges given (inclusive); keys dated inside
        them but missing from rows are deleted. Used by files that cover some periods.
    replace='none': rows are upserts; `deleted_keys` lists keys deleted at the source.
    keys_unique: the connector has itself checked that no line_key occurs twice in rows (the
        file parser does, while it numbers repeated lines), so validation need not count them
        again.
    derived_keys: rows leave line_key empty, and each line's key is its journal|entry|line (a
        missing part empty), as a file's own entry and line numbers make it. The warehouse
        derives such keys instead of storing them: five million distinct key strings cost
        DuckDB about 0.4 s to compress on an import, on top of building and staging them.
    prestaged: a parquet file the connector wrote in the staged shape (the stream's columns
        conformed, defaults applied as with_defaults does, every row a row of
        the stream; other columns are ignored), and that `rows` reads: staging takes it as it
        is instead of writing the rows again.
    """

    stream: str
    rows: pl.LazyFrame | pl.DataFrame
    replace: Replace = "none"
    ranges: list[tuple[date, date]] = field(default_factory=list)
    deleted_keys: list[str] = field(default_factory=list)
    keys_unique: bool = False
    derived_keys: bool = False
    prestaged: Path | None = None


@dataclass
class EntityInfo:
    """Facts about the entity that the source states (company name, currency, fiscal year)."""

    name: str | None = None
    external_id: str | None = None
    currency: str | None = None
    fiscal_year_start_month: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Extraction:
    """The result of one extraction: stream data, the cursor to store on success, problems."""

    streams: list[StreamData]
    cursor: dict[str, Any] = field(default_factory=dict)
    entity: EntityInfo = field(default_factory=EntityInfo)
    problems: list[Problem] = field(default_factory=list)
    format: str = ""
    stats: dict[str, Any] = field(default_factory=dict)  # api_calls, bytes_read, control totals ...


class CredentialStore(Protocol):
    """Where a connector reads and writes its source's secrets (the pipeline encrypts them).

    OAuth refresh tokens rotate on every use: a connector must `save` the new pair before it uses
    the new access token, holding `lock()` (a lock across processes, so the app and the scheduler
    never refresh the same token at once) from reading the old token to saving the new one.
    """

    def load(self) -> dict[str, Any]: ...

    def save(self, credentials: dict[str, Any]) -> None: ...

    def lock(self) -> AbstractContextManager[None]: ...


@dataclass
class ExtractRequest:
    """What the pipeline hands a connector for one run of one entity."""

    entity_name: str
    entity_external_id: str | None = None
    full: bool = True
    cursor: Mapping[str, Any] = field(default_factory=dict)
    config: Mapping[str, Any] = field(default_factory=dict)  # source settings (non-secret)
    credentials: Mapping[str, Any] = field(default_factory=dict)  # decrypted, never logged
    credential_store: CredentialStore | None = None  # for sources whose tokens rotate
    path: Path | None = None  # the uploaded file, for file connectors
    options: Mapping[str, Any] = field(default_factory=dict)  # preset, column names, ...
    max_bytes: int | None = None
    progress: Callable[[str, float], None] | None = None
    # A folder of the run's own (removed when the run ends) for a connector that wants to write
    # an intermediate file once, e.g. a parsed CSV as parquet, instead of reading its input twice.
    scratch_dir: Path | None = None
    # The entity's own currency and first month of the fiscal year, when set: with the source's,
    # the defaults of staged lines (with_defaults), for a connector that writes
    # its staged file itself (StreamData.prestaged).
    currency: str | None = None
    fiscal_year_start_month: int | None = None


@dataclass(frozen=True)
class Capabilities:
    """What a source can and cannot provide; shown on the Sources page."""

    transactions: bool = True
    accounts: bool = True
    dimensions: bool = False
    opening_balances: bool = False
    incremental: bool = False
    deletions: bool = False
    multi_entity: bool = False
    payroll: bool = False
    notes: tuple[str, ...] = ()


class Connector:
    """Base of every connector: a declaration plus `extract`. Subclasses set the class vars."""

    name: ClassVar[str]
    label: ClassVar[str]
    kind: ClassVar[Literal["file", "api", "generator"]]
    beta: ClassVar[bool] = False
    capabilities: ClassVar[Capabilities] = Capabilities()
    streams: ClassVar[tuple[Stream, ...]] = ()
    # True when an OAuth sign-in alone does not make the source usable (a second API must work
    # too): the sources service then runs the connection check before showing it as Available.
    verify_after_signin: ClassVar[bool] = False

    def extract(self, request: ExtractRequest) -> Extraction:
        """Read the source for one entity and return its stream data."""
        raise NotImplementedError

    def list_entities(self, request: ExtractRequest) -> list[EntityInfo]:
        """The entities (administrations, companies) the credentials can see."""
        return [EntityInfo(name=request.entity_name, external_id=request.entity_external_id)]


def derived_key_expr() -> pl.Expr:
    """journal|entry|line, a missing part empty: the key of a line that leaves line_key empty
    (StreamData.derived_keys; the warehouse derives it alike, pipeline.merge.DERIVED_KEY)."""
    return pl.concat_str([pl.col(c).fill_null("") for c in ("journal", "entry", "line")], separator="|")


def where_in_source(source_ref: str | None, source_line: int | None) -> str | None:
    """Where a line is in its source as users read it: "line 12", "sheet 'GL', row 7", an element path."""
    if source_line is None:
        return source_ref
    return f"{source_ref or ''}{source_line}"


def where_in_source_expr() -> pl.Expr:
    """`where_in_source` over a frame's source_ref and source_line columns."""
    return pl.concat_str([pl.col("source_ref").fill_null(""), pl.col("source_line").cast(pl.Utf8)]).fill_null(
        pl.col("source_ref")
    )


def conform(stream: str, frame: pl.LazyFrame | pl.DataFrame, keep: Sequence[str] = ()) -> pl.LazyFrame:
    """Cast a parser's frame to the stream's column contract, adding missing columns as nulls.

    Columns named in `keep` follow the contract's columns unchanged; all others are dropped.
    """
    columns = STREAM_COLUMNS[stream]
    lf = frame.lazy()
    present = set(lf.collect_schema().names())
    exprs = []
    for name, dtype in columns.items():
        if name in present:
            exprs.append(pl.col(name).cast(dtype, strict=True).alias(name))
        else:
            exprs.append(pl.lit(None, dtype=dtype).alias(name))
    return lf.select(*exprs, *keep)


def with_defaults(stream: str, lf: pl.LazyFrame, *, currency: str | None, fy_start: int) -> pl.LazyFrame:
    """Fill what a source may leave out, so stored rows compare equal across runs."""
    if stream == "transactions":
        month = pl.col("tx_date").dt.month()
        year = pl.col("tx_date").dt.year()
        derived_fy = pl.when(month >= fy_start).then(year).otherwise(year - 1) if fy_start > 1 else year
        derived_period = ((month - fy_start + 12) % 12) + 1
        lf = lf.with_columns(
            pl.coalesce(pl.col("fiscal_year"), derived_fy.cast(pl.Int32)).alias("fiscal_year"),
            pl.coalesce(pl.col("period"), derived_period.cast(pl.Int32)).alias("period"),
            pl.coalesce(pl.col("currency"), pl.lit(currency, dtype=pl.Utf8)).alias("currency"),
        )
    elif stream == "opening_balances":
        lf = lf.with_columns(
            pl.coalesce(
                pl.col("balance_date"),
                pl.date(pl.col("fiscal_year"), pl.lit(fy_start), pl.lit(1)),
            ).alias("balance_date")
        )
    return lf


def axes_json(axes: Mapping[str, str | None]) -> str | None:
    """The `axes` value for a line: JSON with sorted keys (stable across runs), None when empty."""
    import json

    present = {k: v for k, v in sorted(axes.items()) if v}
    return json.dumps(present, ensure_ascii=False, separators=(",", ":")) if present else None


def frame_from_rows(stream: str, rows: list[dict[str, Any]]) -> pl.DataFrame:
    """Build a stream frame from Python row dicts (Decimal money, date dates)."""
    schema = STREAM_COLUMNS[stream]
    return pl.DataFrame(rows, schema=schema, orient="row") if rows else pl.DataFrame(schema=schema)
