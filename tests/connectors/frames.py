"""What a parser's transactions look like to the tests: each line with its merge key and the
place in the source a user is shown."""

from __future__ import annotations

import polars as pl

from connectors.base import derived_key_expr, where_in_source_expr


def merge_key_expr() -> pl.Expr:
    """The key each ledger line is merged on: its line_key, else its derived key."""
    return pl.coalesce(pl.col("line_key"), derived_key_expr())


def transactions_of(extraction) -> pl.DataFrame:
    """The extraction's transactions with `key` (merge key) and `where` (as users read it)."""
    stream = next(s for s in extraction.streams if s.stream == "transactions")
    return (
        stream.rows.lazy()
        .with_columns(where_in_source_expr().alias("where"), merge_key_expr().alias("key"))
        .collect()
    )
