"""Mapping rules (accounts -> structure lines), their resolution, and report-ready regeneration.

A rule maps one account or a range of accounts, of one entity or of every entity of the
organisation, optionally only the lines with one cost centre or project, onto a mapped line of
a structure; or it excludes the accounts on purpose. Higher priority wins, then an
entity-specific rule over an all-entities rule, then a cost-centre/project rule over a plain
one, then the narrowest account span. Rules tied at the top that disagree are a conflict: the
amounts stay on the Unmapped line and the conflict is listed until a priority settles it.

Every change here regenerates the report-ready rows of the affected entities in the same
transaction, so a mapping change applies to history and new data at once. The same regenerator
runs inside every import (registered with `pipeline.regenerate`).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import yaml

from pipeline import audit, entities
from pipeline import regenerate as regen
from pipeline.db import atomic, rows_as_dicts
from pipeline.errors import ConfigError, NotFoundError, ParseError
from pipeline.sqlfiles import run_file
from pipeline.structure import (
    Structure,
    create_structure,
    find_structure,
    resolve_structure,
    save_structure,
    structure_by_id,
    structure_from_dict,
    structure_to_dict,
    structures_from_csv,
    structures_to_csv,
)

AXES = ("cost_centre", "project")


# ---------------------------------------------------------------- regeneration


def _org_entities(con, organisation_id: int) -> list[int]:
    return [
        r[0]
        for r in con.execute(
            "SELECT id FROM entities WHERE organisation_id = ? ORDER BY id", [organisation_id]
        ).fetchall()
    ]


def regenerate_statements(
    con: duckdb.DuckDBPyConnection,
    *,
    entity_ids: Iterable[int] | None = None,
    structure_ids: Iterable[int] | None = None,
    organisation_id: int | None = None,
    ranges: list[tuple[int | None, str, str]] | None = None,
    data_only: bool = False,
) -> None:
    """Rebuild resolved mappings and `rpt_statement_month` rows (caller's transaction).

    entity_ids None: every entity of each structure's organisation. structure_ids None: every
    structure of the entities' organisations. ranges: the (entity id or None, account from, to)
    of the rules a mapping change added or removed; only accounts inside them are re-resolved and
    only the lines they leave or join are rebuilt. data_only: the ledger changed but no rule or
    structure did, so only accounts not resolved yet are resolved (and every row is rebuilt).
    Neither: everything is rebuilt (a changed structure).
    """
    plan: dict[int, tuple[set[int], set[int]]] = {}  # organisation -> (entities, structures)
    if entity_ids is not None:
        for eid in set(entity_ids):
            org = entities.entity(con, eid)["organisation_id"]
            plan.setdefault(org, (set(), set()))[0].add(eid)
    if structure_ids is not None:
        for sid in set(structure_ids):
            row = con.execute("SELECT organisation_id FROM structures WHERE id = ?", [sid]).fetchone()
            if row is None:
                raise NotFoundError(f"No structure with id {sid}.")
            plan.setdefault(row[0], (set(), set()))[1].add(sid)
    if organisation_id is not None:
        plan.setdefault(organisation_id, (set(), set()))
    for org, (ents, structs) in plan.items():
        ent_list = sorted(ents) if entity_ids is not None else _org_entities(con, org)
        if structure_ids is not None:
            struct_list = sorted(structs)
        else:
            struct_list = [
                r[0]
                for r in con.execute(
                    "SELECT id FROM structures WHERE organisation_id = ? ORDER BY id", [org]
                ).fetchall()
            ]
        if not ent_list or not struct_list:
            continue
        # one statement, not a row per entity: 100 single-row inserts cost more than the rest
        con.execute(
            "CREATE OR REPLACE TEMP TABLE regen_entities AS SELECT unnest($ids::INTEGER[]) AS entity_id",
            {"ids": ent_list},
        )
        con.execute(
            "CREATE OR REPLACE TEMP TABLE regen_ranges (entity_id INTEGER, account_from VARCHAR, account_to VARCHAR)"
        )
        if ranges:
            con.executemany("INSERT INTO regen_ranges VALUES (?, ?, ?)", [list(r) for r in set(ranges)])
        mode = "rules" if ranges is not None else "data" if data_only else "full"
        for sid in struct_list:
            _regenerate_structure(con, structure_by_id(con, sid), mode=mode, entity_ids=ent_list)


def _regenerate_structure(
    con: duckdb.DuckDBPyConnection, structure: Structure, *, mode: str, entity_ids: list[int]
) -> None:
    """Regenerate one structure for the entities in regen_entities (entity_ids, sorted)."""
    full = mode != "rules"  # every row of the entities is rebuilt
    params = {
        "structure_id": structure.id,
        "mode": mode,
        "full": full,
        "all_accounts": mode == "full",  # regen_accounts is every account of the entities
        "pnl_unmapped": structure.reserved("pnl", "unmapped").code,
        "bs_unmapped": structure.reserved("bs", "unmapped").code,
        "pnl_excluded": structure.reserved("pnl", "excluded").code,
        "bs_excluded": structure.reserved("bs", "excluded").code,
    }
    in_entities = _entity_test(entity_ids)
    entities_fmt = {"entities": in_entities}
    run_file(con, "mapping", "regen_accounts.sql", params=params, fmt=entities_fmt)
    if not full:
        run_file(con, "mapping", "map_before.sql", params=params)
    # After an import that brought no new account (and has no account in conflict or split by
    # cost centre or project) every resolved row stands: only the statement rows follow the data.
    if mode == "full" or con.execute("SELECT count(*) FROM regen_accounts").fetchone()[0]:
        _resolve_accounts(con, structure.id, params, in_entities)
    if full:  # every row is rebuilt: no need to work out which lines moved
        con.execute("CREATE OR REPLACE TEMP TABLE regen_lines (entity_id INTEGER, line_code VARCHAR)")
    else:
        run_file(con, "mapping", "regen_lines.sql", params=params)
    # a full rebuild takes every row; after a mapping change only the (entity, line) pairs that moved
    scope = (
        "TRUE"
        if full
        else (
            "EXISTS (SELECT 1 FROM regen_lines g WHERE g.entity_id = c.entity_id AND g.line_code = c.line_code)"
        )
    )
    tb_scope = "TRUE"
    if not full:
        # only the trial-balance rows of accounts on the lines that moved are aggregated again
        con.execute(
            """CREATE OR REPLACE TEMP TABLE regen_tb_accounts AS
               SELECT m.entity_id, m.account_code FROM map_accounts m
               JOIN regen_lines g ON g.entity_id = m.entity_id AND g.line_code = m.line_code
               WHERE m.structure_id = ?""",
            [structure.id],
        )
        tb_scope = "(r.entity_id, r.account_code) IN (SELECT entity_id, account_code FROM regen_tb_accounts)"
        if con.execute(
            "SELECT count(*) FROM regen_lines WHERE line_code = ?", [params["bs_unmapped"]]
        ).fetchone()[0]:
            tb_scope = f"({tb_scope} OR m.account_code IS NULL)"  # ledger accounts missing from the chart
    run_file(
        con, "reports", "rpt_statement_month.sql", params=params, fmt={"tb_scope": tb_scope, **entities_fmt}
    )
    split = con.execute(
        f"SELECT count(*) FROM map_axis_lines WHERE structure_id = ? AND entity_id {in_entities}",  # noqa: S608
        [structure.id],
    ).fetchone()[0]
    if split:  # accounts split by cost centre or project: move their groups off the default line
        run_file(con, "reports", "rpt_statement_month_axis.sql", params=params, fmt={"scope": scope})
    con.execute(
        f"DELETE FROM map_state WHERE structure_id = ? AND entity_id {in_entities}",  # noqa: S608
        [structure.id],
    )
    con.execute(
        """INSERT INTO map_state (structure_id, entity_id, run_id)
           SELECT ?, e.entity_id, (SELECT max(id) FROM import_runs r WHERE r.entity_id = e.entity_id
                                   AND r.status IN ('running', 'succeeded'))
           FROM regen_entities e""",
        [structure.id],
    )


def _resolve_accounts(
    con: duckdb.DuckDBPyConnection, structure_id: int, params: dict, in_entities: str
) -> None:
    """Resolve the accounts in regen_accounts again: their map_accounts rows, the lines that
    cost-centre or project rules take elsewhere (map_axis_lines) and their conflicts."""
    entities_fmt = {"entities": in_entities}
    for table in ("map_accounts", "map_axis_rules", "map_conflicts"):
        run_file(con, "mapping", "drop_regenerated.sql", params=params, fmt={"table": table, **entities_fmt})
    run_file(con, "mapping", "map_accounts.sql", params=params, fmt=entities_fmt)
    if params["mode"] == "full":
        con.execute(
            f"DELETE FROM map_axis_lines x WHERE x.structure_id = ? AND x.entity_id {in_entities}",  # noqa: S608
            [structure_id],
        )
    else:
        con.execute(
            """DELETE FROM map_axis_lines x WHERE x.structure_id = ? AND EXISTS
               (SELECT 1 FROM regen_accounts g WHERE g.entity_id = x.entity_id AND g.account_code = x.account_code)""",
            [structure_id],
        )
    # skip scanning the ledger lines when no cost-centre/project rule applies
    params["axis_split"] = _axis_split(con, structure_id)
    if params["axis_split"]:
        run_file(con, "mapping", "map_axis_rules.sql", params=params)
        run_file(con, "mapping", "map_axis_lines.sql", params=params)
    params["unit_conflicts"] = bool(
        con.execute("SELECT count(*) FROM map_top WHERE targets > 1").fetchone()[0]
    )
    run_file(con, "mapping", "map_conflicts.sql", params=params, fmt=entities_fmt)


def _entity_test(entity_ids: list[int]) -> str:
    """SQL testing an entity id against regen_entities (sorted ids): a range when they are
    consecutive, which DuckDB applies while scanning instead of joining every row to the list."""
    first, last = int(entity_ids[0]), int(entity_ids[-1])
    if last - first + 1 == len(entity_ids):
        return f"BETWEEN {first} AND {last}"
    return "IN (SELECT entity_id FROM regen_entities)"


def _axis_split(con: duckdb.DuckDBPyConnection, structure_id: int) -> bool:
    """Whether a re-resolved account has lines a cost-centre or project rule may take elsewhere.

    The candidates (a few rows per account code) answer no at once in the usual case, without
    looking through map_accounts (a row per entity and account).
    """
    if not con.execute("SELECT count(*) FROM map_candidates WHERE axis IS NOT NULL").fetchone()[0]:
        return False
    return bool(
        con.execute(
            """SELECT count(*) FROM map_accounts m
               JOIN regen_accounts g ON g.entity_id = m.entity_id AND g.account_code = m.account_code
               WHERE m.structure_id = ? AND m.has_axis""",
            [structure_id],
        ).fetchone()[0]
    )


@regen.register
def regenerate_after_import(con: duckdb.DuckDBPyConnection, change: regen.Change) -> None:
    """The import-run regenerator: the default structure and the statement rows."""
    from pipeline.structure import default_structure

    if change.months is not None and not change.months:
        # the run changed no ledger line: the rows stand, and are as fresh as this run
        con.execute(
            """UPDATE map_state SET run_id = (SELECT max(id) FROM import_runs
                                              WHERE entity_id = ? AND status IN ('running', 'succeeded'))
               WHERE entity_id = ?""",
            [change.entity_id, change.entity_id],
        )
        return
    default_structure(con, change.entity_id, actor="system")
    regenerate_statements(con, entity_ids=[change.entity_id], data_only=True)


def ensure_fresh(con: duckdb.DuckDBPyConnection, structure: Structure, entity_ids: Iterable[int]) -> bool:
    """Regenerate entities whose statement rows are missing or older than their last import.

    Returns True when something was regenerated. Needs a writable connection only then.
    """
    rows = con.execute(
        """SELECT e.id, s.entity_id IS NOT NULL, s.run_id,
                  (SELECT max(r.id) FROM import_runs r WHERE r.entity_id = e.id AND r.status = 'succeeded')
           FROM (SELECT unnest($ids) AS id) e
           LEFT JOIN map_state s ON s.structure_id = $s AND s.entity_id = e.id""",
        {"ids": list(entity_ids), "s": structure.id},
    ).fetchall()
    stale = [
        eid
        for eid, has_state, state_run, last_run in rows
        if not has_state or (last_run is not None and (state_run is None or state_run < last_run))
    ]
    if not stale:
        return False
    with atomic(con):
        regen.rebuild_unbalanced(con, stale)
        regenerate_statements(con, entity_ids=stale, structure_ids=[structure.id], data_only=True)
    return True


def delete_rows_of_structure(con: duckdb.DuckDBPyConnection, structure_id: int) -> None:
    for table in (
        "mapping_rules",
        "map_accounts",
        "map_axis_rules",
        "map_conflicts",
        "rpt_statement_month",
        "map_state",
    ):
        con.execute(f"DELETE FROM {table} WHERE structure_id = ?", [structure_id])  # noqa: S608 - fixed names


# ---------------------------------------------------------------- rules


@dataclass
class Rule:
    """A mapping rule in the form users read and write (entity by name)."""

    account_from: str
    account_to: str
    line: str | None = None
    exclude: bool = False
    entity: str | None = None
    axis: str | None = None
    axis_value: str | None = None
    priority: int = 0
    note: str | None = None
    id: int | None = None

    def key(self) -> tuple:
        return (
            self.account_from,
            self.account_to,
            self.entity,
            self.axis,
            self.axis_value,
            self.line,
            self.exclude,
            self.priority,
        )

    def describe(self) -> str:
        accounts = (
            self.account_from
            if self.account_from == self.account_to
            else f"{self.account_from}-{self.account_to}"
        )
        axis = f" with {self.axis.replace('_', ' ')} {self.axis_value}" if self.axis else ""
        scope = f" of {self.entity}" if self.entity else ""
        target = "excluded" if self.exclude else f"-> {self.line}"
        prio = f" (priority {self.priority})" if self.priority else ""
        return f"{accounts}{axis}{scope} {target}{prio}"

    def as_dict(self) -> dict[str, Any]:
        """The YAML form: `account` or `range`, then only what is set."""
        out: dict[str, Any] = {}
        if self.account_from == self.account_to:
            out["account"] = self.account_from
        else:
            out["range"] = (
                f"{self.account_from}-{self.account_to}"
                if "-" not in self.account_from + self.account_to
                else [self.account_from, self.account_to]
            )
        if self.entity:
            out["entity"] = self.entity
        if self.axis:
            out[self.axis] = self.axis_value
        if self.exclude:
            out["exclude"] = True
        else:
            out["line"] = self.line
        if self.priority:
            out["priority"] = self.priority
        if self.note:
            out["note"] = self.note
        return out


def rule_from_dict(item: dict[str, Any], *, where: str = "", file: str | None = None) -> Rule:
    """Parse one rule of a YAML/CSV file: account or range, line or exclude, scope, priority."""

    def fail(message: str, field: str | None = None):
        raise ParseError(message, file=file, where=where or None, field=field)

    if not isinstance(item, dict):
        fail("a rule must be a mapping with `account` (or `range`) and `line` (or `exclude: true`)")
    account = item.get("account")
    rng = item.get("range")
    if account is not None and rng is not None:
        fail("give either `account` or `range`, not both", "range")
    if account is not None:
        lo = hi = str(account).strip()
    elif rng is not None:
        if isinstance(rng, list | tuple) and len(rng) == 2:
            lo, hi = (str(v).strip() for v in rng)
        else:
            text = str(rng)
            lo, sep, hi = text.partition("-")
            lo, hi = lo.strip(), hi.strip()
            if not sep or not lo or not hi:
                fail(f"the range {text!r} must look like 4000-4999", "range")
    else:
        fail("a rule needs `account` or `range`", "account")
    if not lo:
        fail("the account code is empty", "account")
    exclude = _truthy(item.get("exclude"))
    line = str(item["line"]).strip() if item.get("line") not in (None, "") else None
    if exclude and line:
        fail("a rule either maps to a line or excludes, not both", "exclude")
    if not exclude and not line:
        fail("a rule needs a `line` (or `exclude: true`)", "line")
    axes = [(a, item.get(a)) for a in AXES if item.get(a) not in (None, "")]
    if item.get("axis") not in (None, ""):
        axes.append((str(item["axis"]), item.get("axis_value")))
    if len(axes) > 1:
        fail("a rule can name one cost centre or one project, not both", "cost_centre")
    axis, axis_value = (axes[0][0], str(axes[0][1]).strip()) if axes else (None, None)
    if axis is not None and axis not in AXES:
        fail(f"unknown axis {axis!r}; use cost_centre or project", "axis")
    if axis is not None and not axis_value:
        fail(f"the {axis} value is empty", axis)
    try:
        priority = int(item.get("priority") or 0)
    except (TypeError, ValueError):
        fail("the priority must be a whole number", "priority")
    return Rule(
        account_from=lo,
        account_to=hi,
        line=line,
        exclude=exclude,
        entity=(str(item["entity"]).strip() if item.get("entity") not in (None, "") else None),
        axis=axis,
        axis_value=axis_value,
        priority=priority,
        note=item.get("note") or None,
    )


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "y", "x")
    return bool(value)


def list_rules(con: duckdb.DuckDBPyConnection, structure: Structure) -> list[Rule]:
    """The structure's rules, with entity names, in id order."""
    rows = rows_as_dicts(
        con.execute(
            """SELECT r.*, e.name AS entity_name FROM mapping_rules r LEFT JOIN entities e ON e.id = r.entity_id
               WHERE r.structure_id = ? ORDER BY r.id""",
            [structure.id],
        )
    )
    return [_rule_of_row(r) for r in rows]


def _check_rule(con, structure: Structure, rule: Rule) -> int | None:
    """Validate a rule against the structure; return its entity id (None = all entities)."""
    if not rule.exclude:
        if not structure.has_line(rule.line or ""):
            raise NotFoundError(f"The structure {structure.name!r} has no line {rule.line!r}.")
        line = structure.line(rule.line)
        if line.kind != "mapped" or line.statement == "cf":
            raise ConfigError(
                f"Line {line.code} ({line.name}) is a {line.kind} line of the "
                f"{'cash flow' if line.statement == 'cf' else line.statement.upper()}; only mapped lines of the "
                "P&L and balance sheet receive accounts."
            )
    if rule.axis is not None and rule.axis not in AXES:
        raise ConfigError(f"Unknown axis {rule.axis!r}; use cost_centre or project.")
    if _sort_key(rule.account_from) > _sort_key(rule.account_to):
        raise ConfigError(f"The range {rule.account_from}-{rule.account_to} ends before it starts.")
    if rule.entity is None:
        return None
    ent = entities.entity_by_name(con, rule.entity)
    if ent["organisation_id"] != structure.organisation_id:
        raise ConfigError(
            f"Entity {rule.entity!r} is not in the organisation of structure {structure.name!r}."
        )
    return ent["id"]


def _sort_key(code: str) -> tuple:
    return (0, int(code), code) if code.isdigit() else (1, 0, code)


def _insert_rule(con, structure: Structure, rule: Rule, entity_id: int | None, actor: str | None) -> int:
    return con.execute(
        """INSERT INTO mapping_rules (structure_id, entity_id, account_from, account_to, axis, axis_value,
                                      line_code, exclude, priority, note, created_by)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id""",
        [
            structure.id,
            entity_id,
            rule.account_from,
            rule.account_to,
            rule.axis,
            rule.axis_value,
            None if rule.exclude else rule.line,
            rule.exclude,
            rule.priority,
            rule.note,
            actor or audit.default_actor(),
        ],
    ).fetchone()[0]


def _regenerate_rules(con, structure: Structure, scopes: list[tuple[int | None, str, str]]) -> None:
    """Regenerate after rules covering these (entity or None, account from, account to) changed."""
    if scopes:
        regenerate_statements(
            con,
            entity_ids=_affected(con, structure, [s[0] for s in scopes]),
            structure_ids=[structure.id],
            ranges=scopes,
        )


def _affected(con, structure: Structure, entity_ids: Iterable[int | None]) -> list[int]:
    ids = set(entity_ids)
    if None in ids:
        return _org_entities(con, structure.organisation_id)
    return sorted(ids)


def add_rule(
    con: duckdb.DuckDBPyConnection,
    structure: Structure,
    rule: Rule,
    *,
    actor: str | None = None,
) -> int:
    """Store a rule, regenerate the affected entities and record the change; returns its id."""
    with atomic(con):
        entity_id = _check_rule(con, structure, rule)
        rule_id = _insert_rule(con, structure, rule, entity_id, actor)
        audit.record(
            con,
            "mapping.add",
            "mapping_rule",
            rule_id,
            after={"structure": structure.name, **rule.as_dict()},
            actor=actor,
        )
        _regenerate_rules(con, structure, [(entity_id, rule.account_from, rule.account_to)])
    return rule_id


def add_rules(
    con: duckdb.DuckDBPyConnection,
    structure: Structure,
    rules: list[Rule],
    *,
    actor: str | None = None,
    action: str = "mapping.add",
) -> list[int]:
    """Store several rules in one transaction with one regeneration."""
    ids, scopes = [], []
    with atomic(con):
        for rule in rules:
            entity_id = _check_rule(con, structure, rule)
            scopes.append((entity_id, rule.account_from, rule.account_to))
            rule_id = _insert_rule(con, structure, rule, entity_id, actor)
            ids.append(rule_id)
            audit.record(
                con,
                action,
                "mapping_rule",
                rule_id,
                after={"structure": structure.name, **rule.as_dict()},
                actor=actor,
            )
        _regenerate_rules(con, structure, scopes)
    return ids


def _rule_row(con, rule_id: int) -> dict:
    rows = rows_as_dicts(
        con.execute(
            "SELECT r.*, e.name AS entity_name FROM mapping_rules r LEFT JOIN entities e ON e.id = r.entity_id "
            "WHERE r.id = ?",
            [rule_id],
        )
    )
    if not rows:
        raise NotFoundError(f"No mapping rule with id {rule_id}.")
    return rows[0]


def _rule_of_row(r: dict) -> Rule:
    return Rule(
        r["account_from"],
        r["account_to"],
        r["line_code"],
        r["exclude"],
        r["entity_name"],
        r["axis"],
        r["axis_value"],
        r["priority"],
        r["note"],
        r["id"],
    )


def delete_rule(con: duckdb.DuckDBPyConnection, rule_id: int, *, actor: str | None = None) -> None:
    """Delete a rule; its accounts fall back to the next rule or to Unmapped at once."""
    with atomic(con):
        row = _rule_row(con, rule_id)
        structure = structure_by_id(con, row["structure_id"])
        con.execute("DELETE FROM mapping_rules WHERE id = ?", [rule_id])
        audit.record(
            con,
            "mapping.delete",
            "mapping_rule",
            rule_id,
            before={"structure": structure.name, **_rule_of_row(row).as_dict()},
            actor=actor,
        )
        _regenerate_rules(con, structure, [(row["entity_id"], row["account_from"], row["account_to"])])


def update_rule(
    con: duckdb.DuckDBPyConnection, rule_id: int, *, actor: str | None = None, **changes: Any
) -> None:
    """Change a rule's line, exclude flag, priority or note (e.g. to settle a conflict)."""
    allowed = {"line", "exclude", "priority", "note"}
    unknown = set(changes) - allowed
    if unknown:
        raise ConfigError(
            f"A rule's {', '.join(sorted(unknown))} cannot be changed; delete it and add a new one."
        )
    with atomic(con):
        row = _rule_row(con, rule_id)
        structure = structure_by_id(con, row["structure_id"])
        before = _rule_of_row(row)
        after = Rule(**{**before.__dict__, **changes})
        if after.exclude:
            after.line = None
        _check_rule(con, structure, after)
        con.execute("DELETE FROM mapping_rules WHERE id = ?", [rule_id])
        con.execute(
            """INSERT INTO mapping_rules (id, structure_id, entity_id, account_from, account_to, axis, axis_value,
                                          line_code, exclude, priority, note, created_by, created_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            [
                rule_id,
                row["structure_id"],
                row["entity_id"],
                after.account_from,
                after.account_to,
                after.axis,
                after.axis_value,
                after.line,
                after.exclude,
                after.priority,
                after.note,
                row["created_by"],
                row["created_at"],
            ],
        )
        audit.record(
            con,
            "mapping.update",
            "mapping_rule",
            rule_id,
            before=before.as_dict(),
            after=after.as_dict(),
            actor=actor,
        )
        _regenerate_rules(con, structure, [(row["entity_id"], row["account_from"], row["account_to"])])


def replace_rules(
    con: duckdb.DuckDBPyConnection,
    structure: Structure,
    rules: list[Rule],
    *,
    actor: str | None = None,
    regenerate: bool = True,
) -> dict[str, int]:
    """Make the structure's rules exactly `rules` (a declarative import); unchanged rules keep their id."""
    with atomic(con):
        current = list_rules(con, structure)
        by_key: dict[tuple, list[Rule]] = {}
        for rule in current:
            by_key.setdefault(rule.key(), []).append(rule)
        keep, add = [], []
        for rule in rules:
            bucket = by_key.get(rule.key())
            if bucket:
                keep.append(bucket.pop())
            else:
                add.append(rule)
        drop = [r for bucket in by_key.values() for r in bucket]
        scopes: list[tuple[int | None, str, str]] = []
        for rule in drop:
            row = _rule_row(con, rule.id)
            scopes.append((row["entity_id"], row["account_from"], row["account_to"]))
            con.execute("DELETE FROM mapping_rules WHERE id = ?", [rule.id])
            audit.record(
                con,
                "mapping.delete",
                "mapping_rule",
                rule.id,
                before={"structure": structure.name, **rule.as_dict()},
                actor=actor,
            )
        for rule in add:
            entity_id = _check_rule(con, structure, rule)
            scopes.append((entity_id, rule.account_from, rule.account_to))
            rule_id = _insert_rule(con, structure, rule, entity_id, actor)
            audit.record(
                con,
                "mapping.import",
                "mapping_rule",
                rule_id,
                after={"structure": structure.name, **rule.as_dict()},
                actor=actor,
            )
        if regenerate:
            _regenerate_rules(con, structure, scopes)
    return {"added": len(add), "deleted": len(drop), "unchanged": len(keep)}


def copy_rules(con: duckdb.DuckDBPyConnection, from_structure_id: int, to_structure_id: int) -> int:
    """Copy every rule of one structure to another (same organisation); returns the count."""
    con.execute(
        """INSERT INTO mapping_rules (structure_id, entity_id, account_from, account_to, axis, axis_value, line_code,
                                      exclude, priority, note, created_by)
           SELECT ?, entity_id, account_from, account_to, axis, axis_value, line_code, exclude, priority, note,
                  created_by
           FROM mapping_rules WHERE structure_id = ? ORDER BY id""",
        [to_structure_id, from_structure_id],
    )
    return con.execute(
        "SELECT count(*) FROM mapping_rules WHERE structure_id = ?", [to_structure_id]
    ).fetchone()[0]


# ---------------------------------------------------------------- unmapped accounts and conflicts


def unmapped(con: duckdb.DuckDBPyConnection, entity: str, structure: str | None = None) -> list[dict]:
    """Unmapped accounts of an entity with their amounts, newest accounts first.

    movement: every ledger line on the account, debit positive; balance adds the latest opening
    balance. Conflicting accounts are listed too (status 'conflict', with the rules involved).
    """
    ent = entities.entity_by_name(con, entity)
    struct = resolve_structure(con, structure, entity_id=ent["id"])
    ensure_fresh(con, struct, [ent["id"]])
    return rows_as_dicts(
        con.execute(
            """SELECT m.account_code AS code, a.name, a.account_type, a.category, a.standard_code, m.status,
                      m.line_code AS shown_on,
                      coalesce(sum(r.net) FILTER (WHERE r.kind = 'movement'), 0)::DECIMAL(18,2) AS movement,
                      coalesce(sum(r.lines) FILTER (WHERE r.kind = 'movement'), 0) AS lines,
                      max(r.month) FILTER (WHERE r.kind = 'movement') AS last_month,
                      a.first_seen_run,
                      (SELECT string_agg(c.rule_ids, '; ') FROM map_conflicts c WHERE c.structure_id = m.structure_id
                         AND c.entity_id = m.entity_id AND c.account_code = m.account_code) AS conflict_rules
               FROM map_accounts m
               JOIN accounts a ON a.entity_id = m.entity_id AND a.code = m.account_code
               LEFT JOIN rpt_trial_balance r ON r.entity_id = m.entity_id AND r.account_code = m.account_code
               WHERE m.structure_id = ? AND m.entity_id = ? AND m.status IN ('unmapped', 'conflict')
               GROUP BY ALL
               ORDER BY a.first_seen_run DESC NULLS LAST, m.account_code""",
            [struct.id, ent["id"]],
        )
    )


def unmapped_count(
    con: duckdb.DuckDBPyConnection, *, entity: str | None = None, structure: str | None = None
) -> int:
    """How many accounts are unmapped or in conflict: the badge on the Mapping page.

    For one entity (on the named or its default structure), or summed over every entity on its
    default structure (entities of organisations without a structure yet count nothing).
    """
    if entity is None:
        names = [r[0] for r in con.execute("SELECT name FROM entities ORDER BY id").fetchall()]
        total = 0
        for name in names:
            try:
                total += unmapped_count(con, entity=name, structure=structure)
            except (NotFoundError, ConfigError):
                continue
        return total
    ent = entities.entity_by_name(con, entity)
    struct = resolve_structure(con, structure, entity_id=ent["id"], create=False)
    return con.execute(
        "SELECT count(*) FROM map_accounts WHERE structure_id = ? AND entity_id = ? "
        "AND status IN ('unmapped', 'conflict')",
        [struct.id, ent["id"]],
    ).fetchone()[0]


def conflicts(
    con: duckdb.DuckDBPyConnection, structure: Structure, *, entity: str | None = None
) -> list[dict]:
    """Accounts (or an account's cost centre / project lines) where tied rules disagree."""
    sql = """SELECT e.name AS entity, c.account_code, c.cost_centre, c.project, c.rule_ids, c.lines, c.amount
             FROM map_conflicts c JOIN entities e ON e.id = c.entity_id WHERE c.structure_id = ?"""
    args: list[Any] = [structure.id]
    if entity is not None:
        sql += " AND e.name = ?"
        args.append(entity)
    return rows_as_dicts(con.execute(sql + " ORDER BY e.name, c.account_code", args))


def account_lines(con: duckdb.DuckDBPyConnection, structure: Structure, entity_id: int) -> dict[str, dict]:
    """The resolved mapping of one entity: account -> {line, status, rule_id, has_axis}."""
    return {
        r["account_code"]: r
        for r in rows_as_dicts(
            con.execute(
                "SELECT account_code, line_code, status, rule_id, has_axis FROM map_accounts "
                "WHERE structure_id = ? AND entity_id = ?",
                [structure.id, entity_id],
            )
        )
    }


# ---------------------------------------------------------------- export / import


RULE_CSV_COLUMNS = (
    "structure",
    "entity",
    "account_from",
    "account_to",
    "cost_centre",
    "project",
    "line",
    "exclude",
    "priority",
    "note",
)


def export_config(
    con: duckdb.DuckDBPyConnection, path: str | Path, *, structures: list[str] | None = None
) -> dict[str, int]:
    """Write structures and their rules to YAML (both) or CSV (rules; `.structure.csv` for lines)."""
    path = Path(path)
    chosen = (
        [find_structure(con, n) for n in structures]
        if structures
        else [
            structure_by_id(con, r["id"])
            for r in rows_as_dicts(con.execute("SELECT id FROM structures ORDER BY id"))
        ]
    )
    suffix = path.suffix.lower()
    count = 0
    if suffix in (".yaml", ".yml"):
        doc = {"structures": [], "mappings": []}
        for s in chosen:
            doc["structures"].append(structure_to_dict(s))
            rules = [r.as_dict() for r in list_rules(con, s)]
            count += len(rules)
            doc["mappings"].append({"structure": s.name, "rules": rules})
        path.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=110), encoding="utf-8")
    elif suffix == ".csv":
        if path.name.lower().endswith(".structure.csv"):
            path.write_text(structures_to_csv(chosen), encoding="utf-8")
            return {"structures": len(chosen), "rules": 0}
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(RULE_CSV_COLUMNS)
        for s in chosen:
            for r in list_rules(con, s):
                count += 1
                writer.writerow(
                    [
                        s.name,
                        r.entity or "",
                        r.account_from,
                        r.account_to,
                        r.axis_value if r.axis == "cost_centre" else "",
                        r.axis_value if r.axis == "project" else "",
                        r.line or "",
                        "yes" if r.exclude else "",
                        r.priority or "",
                        r.note or "",
                    ]
                )
        path.write_text(buf.getvalue(), encoding="utf-8")
    else:
        raise ConfigError(f"Export to {path.name}: use a .yaml, .yml or .csv file name.")
    return {"structures": len(chosen), "rules": count}


def import_config(
    con: duckdb.DuckDBPyConnection,
    path: str | Path,
    *,
    organisation: str | None = None,
    actor: str | None = None,
) -> dict[str, Any]:
    """Read structures and rules from YAML or CSV and make the warehouse match, in one transaction.

    Structures in the file are created or updated; for each structure named in the mappings, its
    rules become exactly the file's rules. Everything is checked before anything is written.
    """
    path = Path(path)
    if not path.is_file():
        raise ParseError("the file does not exist", file=str(path))
    text = path.read_text(encoding="utf-8-sig")
    suffix = path.suffix.lower()
    structures_in: list[Structure] = []
    rules_in: dict[str, list[Rule]] = {}
    if suffix in (".yaml", ".yml"):
        try:
            doc = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            raise ParseError(
                f"not valid YAML ({getattr(exc, 'problem', exc)})",
                file=path.name,
                where=f"line {mark.line + 1}" if mark else None,
            ) from exc
        if not isinstance(doc, dict):
            raise ParseError("expected `structures:` and/or `mappings:` at the top", file=path.name)
        for i, item in enumerate(doc.get("structures") or []):
            try:
                structures_in.append(structure_from_dict(item))
            except ConfigError as exc:
                raise ParseError(exc.message, file=path.name, where=f"structures[{i}]") from exc
        for i, block in enumerate(doc.get("mappings") or []):
            if not isinstance(block, dict) or not block.get("structure"):
                raise ParseError(
                    "each mappings entry needs `structure` and `rules`",
                    file=path.name,
                    where=f"mappings[{i}]",
                )
            rules_in[str(block["structure"])] = [
                rule_from_dict(item, where=f"mappings[{i}].rules[{j}]", file=path.name)
                for j, item in enumerate(block.get("rules") or [])
            ]
    elif suffix == ".csv":
        if path.name.lower().endswith(".structure.csv"):
            structures_in = structures_from_csv(text, file=path.name)
        else:
            reader = csv.DictReader(io.StringIO(text))
            missing = {"structure", "account_from"} - set(reader.fieldnames or ())
            if missing:
                raise ParseError(
                    f"missing column(s) {', '.join(sorted(missing))}", file=path.name, where="line 1"
                )
            for number, row in enumerate(reader, start=2):
                item = {
                    "entity": row.get("entity"),
                    "line": row.get("line"),
                    "exclude": row.get("exclude"),
                    "priority": row.get("priority"),
                    "note": row.get("note"),
                    "cost_centre": row.get("cost_centre"),
                    "project": row.get("project"),
                }
                lo, hi = (row.get("account_from") or "").strip(), (row.get("account_to") or "").strip()
                if hi and hi != lo:
                    item["range"] = [lo, hi]
                else:
                    item["account"] = lo
                rules_in.setdefault(row["structure"], []).append(
                    rule_from_dict(item, where=f"line {number}", file=path.name)
                )
    else:
        raise ConfigError(f"Import from {path.name}: use a .yaml, .yml or .csv file.")

    org_id = (
        entities.ensure_organisation(con, organisation)
        if organisation
        else entities.default_organisation(con)
    )
    summary: dict[str, Any] = {"structures_created": 0, "structures_updated": 0, "rules": {}}
    with atomic(con):
        for s in structures_in:
            existing = con.execute(
                "SELECT id FROM structures WHERE organisation_id = ? AND name = ?", [org_id, s.name]
            ).fetchone()
            if existing is None:
                create_structure(con, s, organisation_id=org_id, actor=actor, regenerate=False)
                summary["structures_created"] += 1
            else:
                s.id, s.organisation_id = existing[0], org_id
                save_structure(con, s, actor=actor)
                summary["structures_updated"] += 1
        for name, rules in rules_in.items():
            target = find_structure(con, name, org_id)
            summary["rules"][name] = replace_rules(con, target, rules, actor=actor, regenerate=False)
        touched = {find_structure(con, s.name, org_id).id for s in structures_in}
        touched |= {find_structure(con, n, org_id).id for n in rules_in}
        if touched:
            regenerate_statements(con, structure_ids=sorted(touched), organisation_id=org_id)
    return summary


def money(value: Decimal | None) -> str:
    return "" if value is None else f"{value:.2f}"
