"""Per-run staging: an extraction's frames written to parquet files outside the warehouse.

The slow part of a run (reading a 700 MB file, paging an API) writes here with no lock on the
warehouse; polars streams lazy frames to disk so memory stays bounded. The merge then reads
these files inside one short warehouse transaction.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import polars as pl

from connectors.base import STREAM_COLUMNS, Extraction, StreamData, conform, with_defaults
from pipeline.errors import ParseError


@dataclass
class StagedStream:
    """One stream on disk, with what the merge needs to know about it."""

    stream: str
    path: Path
    replace: str
    ranges: list[tuple[date, date]]
    deleted_path: Path | None
    rows: int
    keys_unique: bool = False
    derived_keys: bool = False  # StreamData.derived_keys


@dataclass
class Staged:
    folder: Path
    streams: dict[str, StagedStream] = field(default_factory=dict)

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def staging_folder(data: Path, run_id: int) -> Path:
    return data / "staging" / f"run_{run_id}"


def stage(
    extraction: Extraction,
    folder: Path,
    *,
    currency: str | None,
    fy_start: int = 1,
    file_name: str | None = None,
) -> Staged:
    """Write every stream of an extraction to parquet in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    staged = Staged(folder)
    for data in extraction.streams:
        staged.streams[data.stream] = _stage_stream(data, folder, currency, fy_start, file_name)
    return staged


def _stage_stream(
    data: StreamData, folder: Path, currency: str | None, fy_start: int, file_name: str | None
) -> StagedStream:
    if data.stream not in STREAM_COLUMNS:
        raise ValueError(f"unknown stream {data.stream!r}")
    if data.prestaged is not None:
        # The connector wrote its rows in the staged shape already (a large file parsed in one
        # pass): writing them again would cost as much as the parse.
        path = data.prestaged
    else:
        path = folder / f"{data.stream}.parquet"
        lf = with_defaults(data.stream, conform(data.stream, data.rows), currency=currency, fy_start=fy_start)
        try:
            # Staging files live for one run: fast compression beats small files here.
            lf.sink_parquet(path, compression="lz4", **_row_groups(data.rows))
        except pl.exceptions.PolarsError as exc:
            # A lazy parser's cast fails only here, while streaming: name what failed.
            raise ParseError(f"could not read the {data.stream}: {exc}", file=file_name) from exc
    rows = pl.scan_parquet(path).select(pl.len()).collect().item()
    deleted_path = None
    if data.deleted_keys:
        deleted_path = folder / f"{data.stream}.deleted.parquet"
        pl.DataFrame({"line_key": list(data.deleted_keys)}, schema={"line_key": pl.Utf8}).write_parquet(
            deleted_path
        )
    return StagedStream(
        data.stream,
        path,
        data.replace,
        list(data.ranges),
        deleted_path,
        rows,
        data.keys_unique,
        data.derived_keys and data.stream == "transactions",
    )


# DuckDB reads a parquet file one row group per thread, and writes what it read as fast.
MAX_ROW_GROUP = 122_880  # DuckDB's own row group
MIN_ROW_GROUP = 2_048  # one DuckDB vector


def _row_groups(rows: pl.LazyFrame | pl.DataFrame) -> dict[str, int]:
    """The sink option that splits rows already in memory (an API connector's page of changes)
    into a row group per DuckDB thread: a 20k-line sync in one row group is read and inserted by
    one thread. Lazy frames keep polars' own row groups (their length is unknown before the
    write, and a large file's parse is streamed)."""
    if not isinstance(rows, pl.DataFrame):
        return {}
    per_thread = -(-rows.height // (os.cpu_count() or 1))
    return {"row_group_size": min(MAX_ROW_GROUP, max(MIN_ROW_GROUP, per_thread))}
