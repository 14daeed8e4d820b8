"""Running the SQL files under pipeline/sql/: statement by statement, each with its own params."""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache
from typing import Any

import duckdb

from pipeline.db import sql_text

_PARAM = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")


@cache
def statements(*parts: str) -> tuple[str, ...]:
    """The statements of one SQL file, comments kept, split on semicolons at line ends."""
    text = sql_text(*parts)
    chunks = re.split(r";\s*(?:\n|$)", text)
    out = []
    for chunk in chunks:
        code = "\n".join(line for line in chunk.splitlines() if not line.strip().startswith("--"))
        if code.strip():
            out.append(chunk.strip())
    return tuple(out)


def execute(con: duckdb.DuckDBPyConnection, sql: str, params: Mapping[str, Any] | None = None):
    """Execute one statement with only the `$params` it names."""
    names = set(_PARAM.findall(sql))
    return con.execute(sql, {k: v for k, v in (params or {}).items() if k in names})


def run_file(
    con: duckdb.DuckDBPyConnection,
    *parts: str,
    params: Mapping[str, Any] | None = None,
    fmt: Mapping[str, str] | None = None,
) -> None:
    """Execute every statement of a SQL file. `fmt` fills {placeholders} with identifiers we own."""
    params = params or {}
    for statement in statements(*parts):
        execute(con, statement.format(**fmt) if fmt else statement, params)


def query_file(con: duckdb.DuckDBPyConnection, *parts: str, params: Mapping[str, Any] | None = None):
    """Execute a single-statement SQL file and return the cursor (for fetchall / pl())."""
    (statement,) = statements(*parts)
    return execute(con, statement, params)
