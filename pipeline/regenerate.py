"""Regeneration of report-ready (`rpt_`) rows inside the merge transaction of a run.

Each regenerator receives the open transaction and what changed (entity, months); later parts
(mapping, statements) register theirs here so every run and every mapping change keeps all
report-ready data in step with the ledger, in the same transaction.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date

import duckdb

from pipeline.sqlfiles import run_file


@dataclass
class Change:
    """What a run or an edit changed: one entity, and the months touched (None = all)."""

    entity_id: int
    months: set[date] | None = None
    all_months: bool = field(init=False)

    def __post_init__(self):
        self.all_months = self.months is None


Regenerator = Callable[[duckdb.DuckDBPyConnection, Change], None]


def rebuild_trial_balance(
    con: duckdb.DuckDBPyConnection, entity_ids: Iterable[int], months: set[date] | None = None
) -> None:
    """Rebuild rpt_trial_balance for several entities in one pass: the given months, or all (None)."""
    con.execute("CREATE OR REPLACE TEMP TABLE tb_entities (entity_id INTEGER)")
    con.executemany("INSERT INTO tb_entities VALUES (?)", [[e] for e in sorted(set(entity_ids))])
    con.execute("CREATE OR REPLACE TEMP TABLE merge_months (month DATE)")
    if months:
        con.executemany("INSERT INTO merge_months VALUES (?)", [[m] for m in sorted(months)])
    run_file(con, "reports", "rpt_trial_balance.sql", params={"all_months": months is None})


# Regenerators that run after the trial balance (which every other rpt_ table reads).
REGENERATORS: list[Regenerator] = []

# Modules that register regenerators when imported, loaded on first use so that every caller
# of an import (CLI, scheduler, app, plain Python) keeps all report-ready rows in step.
REGENERATOR_MODULES = ("pipeline.mapping",)


def register(regenerator: Regenerator) -> Regenerator:
    """Add a regenerator that runs after the trial balance (usable as a decorator)."""
    if regenerator not in REGENERATORS:
        REGENERATORS.append(regenerator)
    return regenerator


def regenerate(con: duckdb.DuckDBPyConnection, changes: Iterable[Change]) -> None:
    """Run every registered regenerator for each change, inside the caller's transaction."""
    for module in REGENERATOR_MODULES:
        importlib.import_module(module)
    changes = list(changes)
    # The trial balance first: whole-entity rebuilds share one pass over the ledger, the rest go
    # by the months they touched.
    whole = [c.entity_id for c in changes if c.all_months]
    if whole:
        rebuild_trial_balance(con, whole)
    for change in changes:
        if not change.all_months:
            rebuild_trial_balance(con, [change.entity_id], change.months)
    for change in changes:
        for regenerator in REGENERATORS:
            regenerator(con, change)
