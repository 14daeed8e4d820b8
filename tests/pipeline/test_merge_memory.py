"""A full re-sync of a large entity stays within DuckDB's memory cap.

A reset, or a source that always sends everything, compares every stored line with the line
sent again. Listing stored keys first and reading back only the rows sent again (the way a small
delta is merged) built four hash tables over the whole entity at once and ran out of memory on a
five-million-line entity under the 1 GB cap; the whole-entity comparison builds one. The same
failure shows at a smaller scale: 400,000 lines under an 80 MB cap.
"""

from __future__ import annotations

from datetime import date

import polars as pl

from connectors.base import Extraction, StreamData
from pipeline import db, entities
from pipeline.merge import changes_for, merge
from pipeline.regenerate import regenerate
from pipeline.staging import stage

LINES = 400_000


def ledger(lines: int) -> pl.DataFrame:
    """Balanced two-line entries over two years, a debit on 1000 and a credit on 4000 each."""
    i = pl.int_range(lines)
    days = pl.date_range(date(2024, 1, 1), date(2025, 12, 31), eager=True)
    return pl.select(
        pl.format("MEM|{}|{}", i // 2, i % 2).alias("line_key"),
        pl.lit("MEM").alias("journal"),
        (i // 2).cast(pl.Utf8).alias("entry"),
        pl.lit(days).gather(i % 700).alias("tx_date"),
        pl.when(i % 2 == 0).then(pl.lit("1000")).otherwise(pl.lit("4000")).alias("account_code"),
        pl.when(i % 2 == 0).then(1).otherwise(-1).cast(pl.Decimal(18, 2)).alias("amount"),
        pl.format("Invoice {} for the customer", i // 2).alias("description"),
    )


def sync(data, entity_id: int, run_id: int, frame: pl.DataFrame):
    staged = stage(
        Extraction([StreamData("transactions", frame.lazy(), "all")]),
        data / "staging" / str(run_id),
        currency="EUR",
    )
    with db.transaction(data) as con:
        con.execute(
            "INSERT INTO import_runs (id, entity_id, trigger, status) VALUES (?, ?, 'reset', 'running')",
            [run_id, entity_id],
        )
        result = merge(con, staged, entity_id=entity_id, run_id=run_id)
        regenerate(con, changes_for(entity_id, result))
    staged.remove()
    return result


def test_a_full_resync_of_a_large_entity_fits_the_memory_cap(data, monkeypatch):
    monkeypatch.setenv("LEDGERLINE_DUCKDB_MEMORY", "80MB")
    with db.transaction(data) as con:
        # The cap holds even though this process's DuckDB instance started under another one.
        assert con.execute("SELECT current_setting('memory_limit')").fetchone() == ("76.2 MiB",)
        entity_id = entities.ensure_entity(con, "Large")
    frame = ledger(LINES)
    assert sync(data, entity_id, 1, frame).change == (LINES, 0, 0)

    # The source sends everything again: ten entries moved to another account, the last five
    # entries gone.
    moved = pl.int_range(LINES, eager=True).is_in(list(range(0, 20, 2)))
    again = frame.with_columns(
        pl.when(moved).then(pl.lit("1010")).otherwise(pl.col("account_code")).alias("account_code")
    ).head(LINES - 10)
    assert sync(data, entity_id, 2, again).change == (0, 10, 10)

    with db.connect(data) as con:
        lines, total = con.execute(
            "SELECT count(*), sum(amount) FROM transactions WHERE entity_id = ?", [entity_id]
        ).fetchone()
        tb = dict(
            con.execute(
                "SELECT account_code, sum(net) FROM rpt_trial_balance WHERE entity_id = ? GROUP BY 1",
                [entity_id],
            ).fetchall()
        )
    assert lines == LINES - 10
    assert total == 0
    assert tb == {"1000": LINES // 2 - 5 - 10, "1010": 10, "4000": -(LINES // 2 - 5)}
