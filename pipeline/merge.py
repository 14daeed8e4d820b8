"""Applying a run's staged streams to the warehouse, inside the run's one write transaction."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import duckdb

from connectors.base import (
    OPENING_BALANCE_COLUMNS,
    PAYROLL_COMPANY_COLUMNS,
    PAYROLL_COST_COLUMNS,
    PAYROLL_EMPLOYEE_COLUMNS,
    PAYROLL_RUN_COLUMNS,
    TRANSACTION_COLUMNS,
    Problem,
)
from pipeline import sqlfiles
from pipeline.regenerate import Change
from pipeline.sqlfiles import query_file, run_file
from pipeline.staging import Staged, StagedStream

# A replacing stream with at least this share of the entity's stored rows is compared whole.
WHOLE_SHARE = 2
# Changed lines are carried as a delta when they are at most 1/DELTA_SHARE of the stored ones.
DELTA_SHARE = 4

# A ledger line stored without a line_key is keyed by its journal|entry|line, a missing part
# empty (StreamData.derived_keys); concat skips NULLs as the file parser's key does.
DERIVED_KEY = "concat(journal, '|', entry, '|', line)"

# Line tables merged on line_key, with the date column that decides the replace scope (None for
# tables that are only ever replaced whole or upserted: they have no 'ranges' scope).
LINE_TABLES: dict[str, tuple[str | None, list[str]]] = {
    "transactions": ("tx_date", [c for c in TRANSACTION_COLUMNS if c != "line_key"]),
    "opening_balances": ("balance_date", [c for c in OPENING_BALANCE_COLUMNS if c != "line_key"]),
    "payroll_companies": (None, [c for c in PAYROLL_COMPANY_COLUMNS if c != "line_key"]),
    "payroll_runs": ("period_end", [c for c in PAYROLL_RUN_COLUMNS if c != "line_key"]),
    "payroll_employees": (None, [c for c in PAYROLL_EMPLOYEE_COLUMNS if c != "line_key"]),
    "payroll_costs": ("period_end", [c for c in PAYROLL_COST_COLUMNS if c != "line_key"]),
}


@dataclass
class MergeResult:
    inserted: int = 0
    updated: int = 0
    deleted: int = 0
    per_stream: dict[str, dict[str, int]] = field(default_factory=dict)
    months: set[date] | None = field(default_factory=set)  # None: every month may have changed
    ledger_delta: bool = False  # temp view ledger_delta lists the changed transactions
    # The entity's lines are now exactly the staged ones (a first load, or a stream replacing all).
    lines_whole: bool = False
    lines: int = 0  # the entity's ledger lines after the merge
    problems: list[Problem] = field(default_factory=list)

    @property
    def change(self) -> tuple[int, int, int]:
        return self.inserted, self.updated, self.deleted


def merge(con: duckdb.DuckDBPyConnection, staged: Staged, *, entity_id: int, run_id: int) -> MergeResult:
    """Merge every staged stream for one entity. The caller owns the transaction."""
    result = MergeResult()
    for name in ("accounts", "dimensions"):
        stream = staged.streams.get(name)
        if stream is not None and stream.rows:
            run_file(
                con,
                "merge",
                f"{name}.sql",
                params={"entity_id": entity_id, "run_id": run_id, "staged": str(stream.path)},
            )
    for table, (date_col, columns) in LINE_TABLES.items():
        stream = staged.streams.get(table)
        if stream is None:
            continue
        counts, delta, stored = _merge_lines(con, table, date_col, columns, stream, entity_id, run_id)
        if table == "transactions":
            result.lines_whole = stored == 0 or stream.replace == "all"
            result.lines = stored + counts["insert"] - counts["delete"]
        result.per_stream[table] = counts
        result.inserted += counts["insert"]
        result.updated += counts["update"]
        result.deleted += counts["delete"]
        if table == "transactions" and any(counts.values()):
            # The months of changed lines, whose changes are at hand in ledger_delta; a first load
            # or a change of a large part of the entity rebuilds every month instead.
            result.ledger_delta = delta
            result.months = result.months | _touched_months(con) if delta else None
        elif table == "opening_balances" and any(counts.values()):
            # Opening balances carry into every later month of the entity: rebuild them all.
            result.months = None
    unknown = _add_unknown_accounts(con, entity_id, run_id)
    if unknown:
        listed = ", ".join(sorted(unknown)[:20]) + (" ..." if len(unknown) > 20 else "")
        result.problems.append(
            Problem(
                "unknown_account",
                f"{len(unknown)} account(s) used by ledger lines are not in the chart of accounts: "
                f"{listed}. They were added without a name; map them like any other account.",
                "",
            )
        )
    return result


def _add_unknown_accounts(con: duckdb.DuckDBPyConnection, entity_id: int, run_id: int) -> list[str]:
    rows = query_file(
        con, "merge", "unknown_accounts.sql", params={"entity_id": entity_id, "run_id": run_id}
    ).fetchall()
    return [r[0] for r in rows]


def _merge_lines(
    con, table, date_col, columns, stream: StagedStream, entity_id, run_id
) -> tuple[dict[str, int], bool, int]:
    """Merge one staged line stream; returns the counts, whether the changed lines were kept in
    ledger_delta, and how many lines the entity had before."""
    con.execute("CREATE OR REPLACE TEMP TABLE merge_ranges (start_date DATE, end_date DATE)")
    if stream.replace == "ranges" and stream.ranges:
        con.executemany("INSERT INTO merge_ranges VALUES (?, ?)", [list(r) for r in stream.ranges])
    if stream.deleted_path is not None:
        con.execute(
            "CREATE OR REPLACE TEMP TABLE merge_deleted AS SELECT line_key FROM read_parquet(?)",
            [str(stream.deleted_path)],
        )
    else:
        con.execute("CREATE OR REPLACE TEMP TABLE merge_deleted (line_key VARCHAR)")
    # Table names come from LINE_TABLES, never from input.
    stored = con.execute(f"SELECT count(*) FROM {table} WHERE entity_id = ?", [entity_id]).fetchone()[0]  # noqa: S608
    fmt = {
        "table": table,
        "cols": ", ".join(["line_key", *columns]),
        "compared": ", ".join(columns),
        "date_col": date_col or "CAST(NULL AS DATE)",
        **_key_sql(con, table, stream, entity_id),
    }
    params = {"entity_id": entity_id, "run_id": run_id, "staged": str(stream.path), "replace": stream.replace}
    counts = dict.fromkeys(("insert", "update", "delete"), 0)
    whole = compare_whole(stream.replace, stream.rows, stored)
    (stored_rows,) = sqlfiles.statements("merge", "stored_whole.sql" if whole else "stored_keyed.sql")
    fmt["stored"] = stored_rows.format(**fmt)
    in_scope, diff, delete, insert = (
        st.format(**fmt) for st in sqlfiles.statements("merge", "keyed_lines.sql")
    )
    if stored == 0:
        # The entity's first lines: nothing to compare with, every staged row is new.
        con.execute(
            "CREATE OR REPLACE TEMP TABLE merge_diff "
            "(line_key VARCHAR, action VARCHAR, old_date DATE, new_date DATE, rid BIGINT)"
        )
        counts["insert"] = stream.rows
    else:
        if not whole:
            sqlfiles.execute(con, in_scope, params)
        sqlfiles.execute(con, diff, params)
        for action, n in con.execute("SELECT action, count(*) FROM merge_diff GROUP BY action").fetchall():
            counts[action] = n
    # Changed lines are kept to update the ledger-derived rows from, unless they are a large part
    # of the entity: then rebuilding those rows is cheaper than carrying the delta.
    delta = table == "transactions" and 0 < sum(counts.values()) * DELTA_SHARE <= stored
    if delta:
        capture_old, capture_new = sqlfiles.statements("merge", "ledger_delta.sql")
        sqlfiles.execute(con, capture_old, params)
    if counts["update"] or counts["delete"]:
        sqlfiles.execute(con, delete, params)
    if counts["insert"] or counts["update"]:
        # Every staged row is written (a first import, or a change feed that sends only changed
        # lines): insert without probing merge_diff per row.
        every_row = counts["insert"] + counts["update"] == stream.rows
        sqlfiles.execute(con, insert, {**params, "every_row": every_row})
    if delta:
        con.execute(capture_new.format(entity_id=int(entity_id), run_id=int(run_id)))
    return counts, delta, stored


def _key_sql(con, table: str, stream: StagedStream, entity_id: int) -> dict[str, str]:
    """The SQL that keys one merge: the staged and stored key expressions, the filter that lists
    the stored rows in scope, and the key hash the insert stores (ledger lines only)."""
    if table != "transactions":
        return {
            "staged_key": "line_key",
            "stored_key": "line_key",
            "probe": "TRUE" if stream.replace != "none" else "line_key IN (SELECT k FROM merge_keys)",
            "hash_col": "",
            "hash_val": "",
        }
    derived = bool(
        con.execute(
            "SELECT count(*) FROM entities_with_derived_keys WHERE entity_id = ?", [entity_id]
        ).fetchone()[0]
    )
    if stream.derived_keys and not derived:
        con.execute("INSERT INTO entities_with_derived_keys VALUES (?)", [entity_id])
    # Keys are derived only where some are: an entity whose lines all carry their key is probed
    # on their hashes, without reading the key strings of every line (or the three columns a
    # derived key is made of); entities_with_derived_keys lists the others.
    stored_key = f"coalesce(line_key, {DERIVED_KEY})" if derived else "line_key"
    if stream.replace != "none":
        probe = "TRUE"
    elif derived:
        probe = f"{stored_key} IN (SELECT k FROM merge_keys)"  # noqa: S608 (fixed expressions)
    else:
        probe = sqlfiles.statements("merge", "probe_hashed.sql")[0]
    return {
        "staged_key": DERIVED_KEY if stream.derived_keys else "line_key",
        "stored_key": stored_key,
        "probe": probe.format(table=table),
        "hash_col": ", key_hash",
        "hash_val": ", CASE WHEN line_key IS NOT NULL THEN hash(line_key) END",
    }


def compare_whole(replace: str, staged_rows: int, stored_rows: int) -> bool:
    """Whether to compare every stored row in scope as it streams by (stored_whole.sql) instead of
    listing stored keys first (stored_keyed.sql): when a replacing stream sends about as many
    rows as the entity holds, every stored row is read anyway."""
    return replace != "none" and staged_rows * WHOLE_SHARE >= stored_rows


def _touched_months(con) -> set[date]:
    rows = con.execute(
        """SELECT DISTINCT date_trunc('month', d)::DATE FROM (
               SELECT old_date AS d FROM merge_diff WHERE action IN ('update', 'delete')
               UNION ALL SELECT new_date FROM merge_diff WHERE action IN ('insert', 'update')
           ) WHERE d IS NOT NULL"""
    ).fetchall()
    return {r[0] for r in rows}


def changes_for(entity_id: int, result: MergeResult, *, staged_entries_balance: bool = False) -> list[Change]:
    """The regeneration work a merge implies: the months whose lines changed (None: all), and
    whether the changed lines are at hand (temp view ledger_delta) to update rows from.

    `staged_entries_balance`: validation found every staged entry balanced; when those lines
    are now all of the entity's, it has no unbalanced entry to look for.
    """
    months = None if result.months is None else set(result.months)
    balanced = staged_entries_balance and result.lines_whole
    return [Change(entity_id, months, ledger_delta=result.ledger_delta, entries_balanced=balanced)]
