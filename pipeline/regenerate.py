"""Regeneration of report-ready (`rpt_`) rows inside the merge transaction of a run.

The rows derived from the ledger alone come first: the trial balance and the unbalanced entries.
A first load (or a change of opening balances) rebuilds them from the entity's lines; any other
run updates them from the few lines it changed (temp view `ledger_delta`, made by the merge),
so a 20k-line change to a 5M-line entity costs what 20k lines cost. Later parts (mapping,
statements) register their regenerators here, so every run and every mapping change keeps all
report-ready data in step with the ledger, in the same transaction.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date

import duckdb

from pipeline import sqlfiles
from pipeline.sqlfiles import run_file


@dataclass
class Change:
    """What a run or an edit changed: one entity, and the months touched (None = all).

    ledger_delta: the temp view ledger_delta lists this entity's changed lines (the merge of a
    run that was not the entity's first), so ledger-derived rows are updated, not rebuilt.
    entries_balanced: every entry of the entity's lines is known to balance (validation checked
    them all before a first load), so a rebuild need not look for unbalanced ones.
    """

    entity_id: int
    months: set[date] | None = None
    ledger_delta: bool = False
    entries_balanced: bool = False
    all_months: bool = field(init=False)

    def __post_init__(self):
        self.all_months = self.months is None

    @property
    def as_delta(self) -> bool:
        """Whether its changed lines are applied from ledger_delta (apply_ledger_delta)."""
        return self.ledger_delta and bool(self.months)


Regenerator = Callable[[duckdb.DuckDBPyConnection, Change], None]


def _entities_table(con: duckdb.DuckDBPyConnection, entity_ids: Iterable[int]) -> None:
    con.execute("CREATE OR REPLACE TEMP TABLE ledger_entities (entity_id INTEGER)")
    con.executemany("INSERT INTO ledger_entities VALUES (?)", [[e] for e in sorted(set(entity_ids))])


def rebuild_trial_balance(con: duckdb.DuckDBPyConnection, entity_ids: Iterable[int]) -> None:
    """Rebuild rpt_trial_balance of several entities from their lines, in one pass over the ledger."""
    _entities_table(con, entity_ids)
    run_file(con, "reports", "rpt_trial_balance.sql")


def rebuild_unbalanced(con: duckdb.DuckDBPyConnection, entity_ids: Iterable[int]) -> None:
    """Rebuild rpt_unbalanced_entries of several entities from their lines.

    Grouping millions of lines by entry is the expensive part, so a one-pass screen first finds
    the entities that have an unbalanced entry at all; only those are grouped.
    """
    _entities_table(con, entity_ids)
    run_file(con, "reports", "rpt_unbalanced_entries.sql")


def rebuild_ledger_rows(
    con: duckdb.DuckDBPyConnection, entity_ids: Iterable[int], *, balanced: Iterable[int] = ()
) -> None:
    """Rebuild every ledger-derived rpt_ row (trial balance, unbalanced entries) of these entities.

    Entities in `balanced` are known to have no unbalanced entry: theirs are only cleared.
    """
    entity_ids = list(entity_ids)
    balanced = set(balanced)
    rebuild_trial_balance(con, entity_ids)
    unknown = [e for e in entity_ids if e not in balanced]
    if unknown:
        rebuild_unbalanced(con, unknown)
    for entity_id in sorted(balanced & set(entity_ids)):
        con.execute("DELETE FROM rpt_unbalanced_entries WHERE entity_id = ?", [entity_id])


def apply_ledger_delta(con: duckdb.DuckDBPyConnection, entity_id: int) -> None:
    """Update one entity's trial balance and unbalanced entries from the lines in ledger_delta."""
    run_file(con, "reports", "rpt_trial_balance_delta.sql", params={"entity_id": entity_id})
    touched, delete, insert = sqlfiles.statements("reports", "rpt_unbalanced_entries_delta.sql")
    sqlfiles.execute(con, touched, {"entity_id": entity_id})
    sqlfiles.execute(con, delete, {"entity_id": entity_id})
    # Reading the entries' lines pays only when some entry is unbalanced after the change.
    unbalanced, shortest, longest = con.execute(
        "SELECT count(*), min(strlen(entry)), max(strlen(entry)) FROM entry_delta WHERE amount <> 0"
    ).fetchone()
    if unbalanced:
        sqlfiles.execute(con, insert, {"entity_id": entity_id, "shortest": shortest, "longest": longest})


def unbalanced_after(con: duckdb.DuckDBPyConnection, change: Change, limit: int) -> tuple[int, list[tuple]]:
    """The entity's entries that do not balance after `change` was regenerated: how many, and
    the first `limit` as (journal, entry, month, debit minus credit). Only entries whose lines
    the change touched when it was applied as a delta (they are in entry_delta), else all."""
    touched = ""
    if change.as_delta:
        touched = """AND EXISTS (SELECT 1 FROM entry_delta d
                                 WHERE d.journal IS NOT DISTINCT FROM u.journal AND d.entry = u.entry)"""
    # The scope is one of two fixed texts; the entity and limit are parameters.
    rows = con.execute(
        f"""SELECT u.journal, u.entry, strftime(u.month, '%Y-%m'), u.amount, count(*) OVER ()
            FROM rpt_unbalanced_entries u WHERE u.entity_id = ? {touched}
            ORDER BY u.journal NULLS FIRST, u.entry LIMIT ?""",  # noqa: S608
        [change.entity_id, limit],
    ).fetchall()
    return (rows[0][4] if rows else 0), [r[:4] for r in rows]


# Regenerators that run after the ledger-derived rows (which every other rpt_ table reads).
REGENERATORS: list[Regenerator] = []

# Modules that register regenerators when imported, loaded on first use so that every caller
# of an import (CLI, scheduler, app, plain Python) keeps all report-ready rows in step.
REGENERATOR_MODULES = ("pipeline.mapping",)


def register(regenerator: Regenerator) -> Regenerator:
    """Add a regenerator that runs after the ledger-derived rows (usable as a decorator)."""
    if regenerator not in REGENERATORS:
        REGENERATORS.append(regenerator)
    return regenerator


def regenerate(con: duckdb.DuckDBPyConnection, changes: Iterable[Change]) -> None:
    """Run every registered regenerator for each change, inside the caller's transaction."""
    for module in REGENERATOR_MODULES:
        importlib.import_module(module)
    changes = list(changes)
    # Whole-entity rebuilds share one pass over the ledger; runs with their changed lines at hand
    # apply them; a change of some months without them rebuilds the entity (nothing else
    # produces one today, and a rebuild is always right).
    rebuild = [c.entity_id for c in changes if c.all_months or (c.months and not c.ledger_delta)]
    if rebuild:
        rebuild_ledger_rows(con, rebuild, balanced=[c.entity_id for c in changes if c.entries_balanced])
    for change in changes:
        if change.entity_id not in rebuild and change.as_delta:
            apply_ledger_delta(con, change.entity_id)
    for change in changes:
        for regenerator in REGENERATORS:
            regenerator(con, change)
