"""The report services pages and the CLI call: statements, KPIs, drill-down and validations.

Every query here reads report-ready rows (`rpt_statement_month`, `rpt_trial_balance`,
`rpt_unbalanced_entries`) and the resolved mapping (`map_accounts`, `map_axis_lines`); only the
last step of a drill-down reads ledger lines, to show where a number comes from.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

import duckdb

from pipeline import entities as entities_mod
from pipeline.db import rows_as_dicts
from pipeline.errors import ConfigError, NotFoundError
from pipeline.mapping import ensure_fresh
from pipeline.statements import (
    KPI_NAMES,
    ZERO,
    EntityBook,
    Period,
    Statement,
    StatementLine,
    Validation,
    add_months,
    add_values,
    check_balance_sheet,
    check_cash_flow,
    check_result_line,
    fiscal_year_start,
    kpi_values,
    leaf_values,
    month_span,
    periods,
    shown_values,
    statement_result,
    summarize,
)
from pipeline.structure import STATEMENTS, Structure, resolve_structure
from pipeline.trial_balance import parse_month

CHECKS = {
    "pnl": ("trial_balance", "mapping_total", "net_result", "unmapped", "unbalanced_entries"),
    "bs": ("trial_balance", "mapping_total", "balance_sheet", "unmapped", "unbalanced_entries"),
    "cf": ("trial_balance", "mapping_total", "cash_flow", "unmapped", "unbalanced_entries"),
}
GROUP_CHECKS = ("currency", "fiscal_year", "freshness")


# ---------------------------------------------------------------- scope: which entities


@dataclass
class Scope:
    """The entities a report covers, after leaving out those in another currency."""

    label: str
    entities: list[dict]
    excluded: list[dict] = field(default_factory=list)
    currency: str | None = None
    fy_start: int = 1
    checks: list[Validation] = field(default_factory=list)

    @property
    def ids(self) -> list[int]:
        return [e["id"] for e in self.entities]

    @property
    def names(self) -> dict[int, str]:
        return {e["id"]: e["name"] for e in self.entities}


def scope(
    con: duckdb.DuckDBPyConnection,
    *,
    entity: str | None = None,
    entities: list[str] | None = None,
    organisation: str | None = None,
) -> Scope:
    """One entity, a list of entities, or (neither given) every active entity of the organisation.

    A group is summed in the currency most of its entities use; an entity in another currency is
    left out and flagged, since currency translation is not available yet.
    """
    if entity is not None:
        rows = [entities_mod.entity_by_name(con, entity)]
        label = rows[0]["name"]
    elif entities:
        rows = [entities_mod.entity_by_name(con, name) for name in entities]
        label = ", ".join(r["name"] for r in rows)
    else:
        if organisation is not None:
            org_row = con.execute(
                "SELECT id, name FROM organisations WHERE name = ?", [organisation]
            ).fetchone()
            if org_row is None:
                raise NotFoundError(f"No organisation named {organisation!r}.")
        else:
            orgs = con.execute(
                "SELECT DISTINCT o.id, o.name FROM organisations o JOIN entities e ON e.organisation_id = o.id "
                "ORDER BY o.id"
            ).fetchall()
            if not orgs:
                raise NotFoundError(
                    "There are no entities yet.", guidance="Import a ledger or load the demo first."
                )
            if len(orgs) > 1:
                raise ConfigError(
                    f"Several organisations have entities ({', '.join(o[1] for o in orgs)}); name one."
                )
            org_row = orgs[0]
        rows = rows_as_dicts(
            con.execute(
                "SELECT * FROM entities WHERE organisation_id = ? AND active ORDER BY name", [org_row[0]]
            )
        )
        if not rows:
            raise NotFoundError(f"The organisation {org_row[1]!r} has no active entities.")
        label = f"All entities ({org_row[1]})"
    orgs = {r["organisation_id"] for r in rows}
    if len(orgs) > 1:
        raise ConfigError("A group report takes entities of one organisation.")
    out = Scope(label=label, entities=rows)
    currencies = Counter(r["currency"] for r in rows if r["currency"])
    if currencies:
        first = next((r["currency"] for r in rows if r["currency"]), None)
        top = max(currencies.values())
        out.currency = first if currencies[first] == top else currencies.most_common(1)[0][0]
    if len(rows) > 1:
        foreign = [r for r in rows if r["currency"] and r["currency"] != out.currency]
        if foreign:
            out.excluded = foreign
            out.entities = [r for r in rows if r not in foreign]
            listed = ", ".join(f"{r['name']} ({r['currency']})" for r in foreign)
            out.checks.append(
                Validation(
                    "currency",
                    False,
                    f"{listed} not included: the group is summed in {out.currency} and currency translation "
                    "is not available yet",
                )
            )
        else:
            out.checks.append(
                Validation("currency", True, f"every entity reports in {out.currency or 'one currency'}")
            )
    starts = {r["fiscal_year_start_month"] or 1 for r in out.entities}
    out.fy_start = out.entities[0]["fiscal_year_start_month"] or 1
    if len(starts) > 1:
        out.checks.append(
            Validation(
                "fiscal_year",
                False,
                "the entities have different fiscal-year start months; periods follow "
                f"{out.entities[0]['name']}'s (month {out.fy_start})",
            )
        )
    return out


# ---------------------------------------------------------------- loading report-ready rows


def _freshness(con, structure: Structure, sc: Scope) -> None:
    try:
        ensure_fresh(con, structure, sc.ids)
    except duckdb.Error:
        sc.checks.append(
            Validation(
                "freshness",
                False,
                "report-ready rows are older than the last import; open the report once "
                "with write access (or run an import) to rebuild them",
            )
        )


def _selection(con, entity, entities, organisation, structure, from_month, to_month):
    """The entities asked for, the structure that applies to them (named, else their default) and
    the month range (None, None when they have no ledger data)."""
    sc = scope(con, entity=entity, entities=entities, organisation=organisation)
    struct = resolve_structure(
        con, structure, entity_id=sc.entities[0]["id"], organisation_id=sc.entities[0]["organisation_id"]
    )
    return (sc, struct, *_range(con, struct, sc.ids, from_month, to_month))


def _range(con, structure: Structure, ids: list[int], from_month: str | None, to_month: str | None):
    start, end = parse_month(from_month), parse_month(to_month)
    if start is None or end is None:
        # the trial balance is rebuilt by every import, even before statement rows catch up
        lo, hi = con.execute(
            "SELECT min(month), max(month) FROM rpt_trial_balance WHERE entity_id = ANY(?)", [ids]
        ).fetchone()
        start, end = start or lo, end or hi
        if start is not None and end is not None and start > end:  # one end given beyond the data
            start, end = (start, start) if from_month else (end, end)
    if start is not None and end is not None and end < start:
        raise ConfigError(f"The range ends ({end:%Y-%m}) before it starts ({start:%Y-%m}).")
    return start, end


@dataclass
class _CheckData:
    tb: dict[tuple[int, date, str], Decimal] = field(default_factory=dict)
    unbalanced: dict[tuple[int, date], int] = field(default_factory=dict)
    unmapped: dict[int, tuple[int, int]] = field(default_factory=dict)


# Everything a report needs in one round trip: statement rows, the months holding opening
# balances, trial-balance sums, unbalanced entries, unmapped counts and freshness, told apart
# by the first column. Amounts come as text: building Decimals from strings is many times faster
# than converting DuckDB decimals, and zero amounts are left out altogether.
_FETCH = """
SELECT 'row', entity_id, month, line_code,
       CASE WHEN opening <> 0 THEN opening::VARCHAR END, CASE WHEN movement <> 0 THEN movement::VARCHAR END,
       NULL::BIGINT, NULL::BIGINT
FROM rpt_statement_month
WHERE structure_id = $s AND entity_id = ANY($ids) AND month <= $until AND ($since IS NULL OR month >= $since)
UNION ALL
SELECT DISTINCT 'open', entity_id, month, NULL, NULL, NULL, NULL, NULL FROM rpt_trial_balance
WHERE $openings AND kind = 'opening' AND entity_id = ANY($ids) AND month <= $until
UNION ALL
SELECT 'tb', entity_id, month, kind, sum(net)::VARCHAR, NULL, NULL, NULL FROM rpt_trial_balance
WHERE entity_id = ANY($ids) AND month BETWEEN $start AND $end GROUP BY entity_id, month, kind
UNION ALL
SELECT 'unbalanced', entity_id, month, NULL, NULL, NULL, count(*), NULL FROM rpt_unbalanced_entries
WHERE entity_id = ANY($ids) AND month BETWEEN $start AND $end GROUP BY entity_id, month
UNION ALL
SELECT 'unmapped', entity_id, NULL, NULL, NULL, NULL, count(*) FILTER (WHERE status = 'unmapped'),
       count(*) FILTER (WHERE status = 'conflict')
FROM map_accounts WHERE structure_id = $s AND entity_id = ANY($ids) AND status IN ('unmapped', 'conflict')
GROUP BY entity_id
UNION ALL
SELECT 'stale', e.id, NULL, NULL, NULL, NULL, NULL, NULL
FROM (SELECT unnest($ids) AS id) e
LEFT JOIN map_state st ON st.structure_id = $s AND st.entity_id = e.id
WHERE st.entity_id IS NULL
   OR coalesce(st.run_id, -1) < coalesce((SELECT max(r.id) FROM import_runs r
                                          WHERE r.entity_id = e.id AND r.status = 'succeeded'), -1)
"""


def _fetch(
    con,
    structure: Structure,
    sc: Scope,
    start: date,
    end: date,
    since: date | None = None,
    *,
    openings: bool = True,
) -> tuple[dict[int, EntityBook], _CheckData]:
    """Each entity's statement rows up to `end` (from `since`) and the data of the checks over
    start..end. Entities whose rows are older than their last import are rebuilt first."""
    for attempt in range(2):
        rows = con.execute(
            _FETCH,
            {
                "s": structure.id,
                "ids": sc.ids,
                "until": end,
                "since": since,
                "openings": openings,
                "start": start,
                "end": end,
            },
        ).fetchall()
        stale = [r[1] for r in rows if r[0] == "stale"]
        if not stale or attempt:
            break
        try:
            ensure_fresh(con, structure, stale)
        except duckdb.Error:
            sc.checks.append(
                Validation(
                    "freshness",
                    False,
                    "report-ready rows are older than the last import; open the report once "
                    "with write access (or run an import) to rebuild them",
                )
            )
            break
    per_entity: dict[int, list[tuple]] = {eid: [] for eid in sc.ids}
    opening_months: dict[int, set[date]] = {eid: set() for eid in sc.ids}
    data = _CheckData()
    for what, eid, month, key, a, b, n1, n2 in rows:
        if what == "row":
            if a or b:
                per_entity[eid].append((month, key, Decimal(a) if a else None, Decimal(b) if b else None))
        elif what == "open":
            opening_months[eid].add(month)
        elif what == "tb":
            data.tb[(eid, month, key)] = Decimal(a)
        elif what == "unbalanced":
            data.unbalanced[(eid, month)] = n1
        elif what == "unmapped":
            data.unmapped[eid] = (n1, n2)
    fy = {e["id"]: e["fiscal_year_start_month"] or 1 for e in sc.entities}
    books = {eid: EntityBook(structure, per_entity[eid], fy[eid], opening_months[eid]) for eid in sc.ids}
    return books, data


# ---------------------------------------------------------------- statements


def _flow_period(p: Period, ytd: bool, fy_start: int) -> Period:
    return Period(p.label, fiscal_year_start(p.end, fy_start), p.end) if ytd else p


def _values(
    structure: Structure, statement: str, books: dict[int, EntityBook], p: Period
) -> dict[str, Decimal]:
    total: dict[str, Decimal] = {}
    for book in books.values():
        add_values(total, leaf_values(structure, statement, book, p))
    return total


def statement(
    con: duckdb.DuckDBPyConnection,
    statement: str,
    *,
    entity: str | None = None,
    entities: list[str] | None = None,
    organisation: str | None = None,
    structure: str | None = None,
    from_month: str | None = None,
    to_month: str | None = None,
    by: str = "month",
    ytd: bool = False,
    compare: bool = False,
) -> Statement:
    """A P&L ('pnl'), balance sheet ('bs') or cash flow ('cf') for an entity or a group.

    Columns by month, fiscal quarter or fiscal year over from..to (default: all data); `ytd`
    shows year-to-date amounts per column; `compare` adds the same periods a year earlier.
    Amounts show profit and assets positive. A failed validation is listed, never hidden.
    """
    if statement not in STATEMENTS:
        raise ConfigError(f"Unknown statement {statement!r}; use pnl, bs or cf.")
    sc, struct, start, end = _selection(con, entity, entities, organisation, structure, from_month, to_month)
    if start is None:
        return Statement(
            statement,
            sc.label,
            struct.name,
            [],
            [],
            None,
            [*sc.checks, Validation("data", False, "no ledger data for this selection yet")],
            [e["name"] for e in sc.entities],
            sc.currency,
            ytd,
            compare,
        )
    cols = periods(start, end, by, sc.fy_start)
    total_period = Period("total", start, end)
    since = None
    if statement == "pnl":
        since = fiscal_year_start(start, sc.fy_start) if ytd else start
        if compare:
            since = add_months(since, -12)
    books, data = _fetch(con, struct, sc, start, end, since, openings=statement != "pnl")

    def column(p: Period) -> tuple[dict[str, Decimal], dict[int, dict[str, Decimal]]]:
        """Summed leaf values of a column, and each entity's own."""
        period = p if statement == "bs" else _flow_period(p, ytd, sc.fy_start)
        each = {eid: leaf_values(struct, statement, book, period) for eid, book in books.items()}
        if len(each) == 1:
            return next(iter(each.values())), each
        total: dict[str, Decimal] = {}
        for values in each.values():
            add_values(total, values)
        return total, each

    computed = {p.label: column(p) for p in cols}
    col_leaves = {label: values[0] for label, values in computed.items()}
    col_shown = {label: shown_values(struct, statement, leaves) for label, leaves in col_leaves.items()}
    total_leaves = col_leaves[cols[-1].label] if statement == "bs" or ytd else column(total_period)[0]
    total_shown = shown_values(struct, statement, total_leaves)
    prev_shown = prev_total = None
    if compare:
        prev_shown = {p.label: shown_values(struct, statement, column(p.shifted(-12))[0]) for p in cols}
        if statement == "bs" or ytd:
            prev_total = prev_shown[cols[-1].label]
        else:
            prev_total = shown_values(struct, statement, column(total_period.shifted(-12))[0])
    lines = []
    for line in struct.statement_lines(statement):
        item = StatementLine(
            line.code,
            line.name,
            line.kind,
            line.level,
            {label: col_shown[label][line.code] for label in col_shown},
            total_shown[line.code],
        )
        if prev_shown is not None and prev_total is not None:
            item.previous = {label: prev_shown[label][line.code] for label in prev_shown}
            item.previous_total = prev_total[line.code]
        lines.append(item)
    result = statement_result(struct, total_leaves) if statement == "pnl" else None
    per_entity = None if ytd else {label: values[1] for label, values in computed.items()}
    checks = _entity_checks(struct, sc, books, cols, statement, data, per_entity)
    if statement == "pnl":
        ok, message = check_result_line(struct, total_shown, statement_result(struct, total_leaves))
        checks.append(Validation("net_result", ok, message))
    validations = summarize(checks, CHECKS[statement]) + summarize(sc.checks, GROUP_CHECKS)
    return Statement(
        statement,
        sc.label,
        struct.name,
        cols,
        lines,
        result,
        validations,
        [e["name"] for e in sc.entities],
        sc.currency,
        ytd,
        compare,
    )


def _entity_checks(
    struct: Structure,
    sc: Scope,
    books: dict[int, EntityBook],
    cols: list[Period],
    statement: str,
    data: _CheckData,
    per_entity: dict[str, dict[int, dict[str, Decimal]]] | None = None,
) -> list[Validation]:
    """The per-entity, per-period checks that apply to one statement (per_entity: the leaf
    values already computed for these columns, reused when given)."""
    tb, unbalanced, unmapped_counts = data.tb, data.unbalanced, data.unmapped
    names = sc.names
    out: list[Validation] = []
    unmapped_lines = {
        "pnl": [struct.reserved("pnl", "unmapped").code],
        "bs": [struct.reserved("bs", "unmapped").code],
        "cf": [struct.reserved("cf", "unmapped").code],
    }[statement]
    for eid, book in books.items():
        who = names[eid]
        for p in cols:
            months = month_span(p.start, p.end)
            movement = sum((tb.get((eid, m, "movement"), ZERO) for m in months), ZERO)
            opening = sum((tb.get((eid, m, "opening"), ZERO) for m in months), ZERO)
            ok = movement == 0 and opening == 0
            off = [f"debits and credits differ by {movement:.2f}"] if movement else []
            off += [f"the opening balances differ by {opening:.2f}"] if opening else []
            msg = "debits equal credits" if ok else "; ".join(off)
            out.append(Validation("trial_balance", ok, msg, who, p.label))
            mapped = sum((book.month_total(m) for m in months), ZERO)
            ok = mapped == movement
            out.append(
                Validation(
                    "mapping_total",
                    ok,
                    "mapped lines add up to the trial balance"
                    if ok
                    else f"mapped lines add up to {mapped:.2f} but the trial balance to {movement:.2f}",
                    who,
                    p.label,
                )
            )
            if per_entity is not None:
                leaves = per_entity[p.label][eid]
            else:
                leaves = leaf_values(struct, statement, book, p)
            if statement == "bs":
                ok, msg = check_balance_sheet(struct, leaves)
                out.append(Validation("balance_sheet", ok, msg, who, p.label))
            elif statement == "cf":
                ok, msg = check_cash_flow(struct, leaves)
                out.append(Validation("cash_flow", ok, msg, who, p.label))
            amount = sum((leaves.get(code, ZERO) for code in unmapped_lines), ZERO)
            n_unmapped, n_conflict = unmapped_counts.get(eid, (0, 0))
            if amount:
                msg = f"{amount:.2f} on the Unmapped line ({n_unmapped} unmapped account(s)"
                msg += f", {n_conflict} in conflict)" if n_conflict else ")"
                out.append(Validation("unmapped", False, msg, who, p.label))
            else:
                out.append(Validation("unmapped", True, "nothing on the Unmapped line", who, p.label))
            n = sum(unbalanced.get((eid, m), 0) for m in months)
            out.append(
                Validation(
                    "unbalanced_entries",
                    n == 0,
                    "every entry balances"
                    if n == 0
                    else f"{n} entr{'y does' if n == 1 else 'ies do'} not balance",
                    who,
                    p.label,
                )
            )
    return out


# ---------------------------------------------------------------- KPIs


@dataclass
class KpiReport:
    entity: str
    structure: str
    periods: list[Period]
    values: dict[str, dict[str, Decimal | None]]  # kpi -> period label (and 'total') -> value
    validations: list[Validation]
    currency: str | None = None

    def as_json(self) -> dict:
        return {
            "entity": self.entity,
            "structure": self.structure,
            "periods": [p.label for p in self.periods],
            "kpis": {
                name: {k: (None if v is None else f"{v:.2f}") for k, v in per.items()}
                for name, per in self.values.items()
            },
            "validations": [v.as_json() for v in self.validations],
            "currency": self.currency,
        }


def kpis(
    con: duckdb.DuckDBPyConnection,
    *,
    entity: str | None = None,
    entities: list[str] | None = None,
    organisation: str | None = None,
    structure: str | None = None,
    from_month: str | None = None,
    to_month: str | None = None,
    by: str = "month",
) -> KpiReport:
    """Gross margin (and %), EBITDA, net result, current ratio, working capital, DSO and DPO.

    Flow KPIs use the period; balance KPIs the period end; DSO/DPO use the days of the period.
    A KPI whose lines the structure lacks (no role) or whose divisor is zero is None.
    """
    sc, struct, start, end = _selection(con, entity, entities, organisation, structure, from_month, to_month)
    if start is None:
        return KpiReport(
            sc.label,
            struct.name,
            [],
            {k: {} for k in KPI_NAMES},
            [Validation("data", False, "no ledger data for this selection yet")],
            sc.currency,
        )
    cols = periods(start, end, by, sc.fy_start)
    books, data = _fetch(con, struct, sc, start, end)
    values: dict[str, dict[str, Decimal | None]] = {k: {} for k in KPI_NAMES}
    for p in [*cols, Period("total", start, end)]:
        pnl_leaves = _values(struct, "pnl", books, p)
        bs_leaves = _values(struct, "bs", books, p)
        kv = kpi_values(
            struct,
            shown_values(struct, "pnl", pnl_leaves),
            shown_values(struct, "bs", bs_leaves),
            statement_result(struct, pnl_leaves),
            p.days,
        )
        for name, value in kv.items():
            values[name][p.label] = value
    checks = _entity_checks(struct, sc, books, cols, "bs", data)
    validations = summarize(checks, CHECKS["bs"]) + summarize(sc.checks, GROUP_CHECKS)
    return KpiReport(sc.label, struct.name, cols, values, validations, sc.currency)


# ---------------------------------------------------------------- validations page


def validations(
    con: duckdb.DuckDBPyConnection,
    *,
    entity: str | None = None,
    entities: list[str] | None = None,
    organisation: str | None = None,
    structure: str | None = None,
    from_month: str | None = None,
    to_month: str | None = None,
    by: str = "month",
) -> list[Validation]:
    """Every check per entity and period: trial balance, mapping total, balance sheet, cash flow,
    unmapped amounts, unbalanced entries; plus the group checks (currency, fiscal year)."""
    sc, struct, start, end = _selection(con, entity, entities, organisation, structure, from_month, to_month)
    if start is None:
        return [*sc.checks, Validation("data", False, "no ledger data for this selection yet")]
    cols = periods(start, end, by, sc.fy_start)
    books, data = _fetch(con, struct, sc, start, end)
    out = list(sc.checks)
    seen = set()
    for statement in ("bs", "cf", "pnl"):
        for check in _entity_checks(struct, sc, books, cols, statement, data):
            key = (check.name, check.entity, check.period)
            if check.name == "unmapped":
                key = (check.name, check.entity, check.period, statement)
                check = Validation(
                    check.name, check.ok, f"{statement.upper()}: {check.message}", check.entity, check.period
                )
            if key not in seen:
                seen.add(key)
                out.append(check)
    return out


# ---------------------------------------------------------------- drill-down


@dataclass
class Drilldown:
    """A report line's accounts (with amounts), or one account's ledger lines."""

    entity: str
    structure: str
    line: str
    line_name: str
    statement: str
    from_month: date | None
    to_month: date | None
    accounts: list[dict] = field(default_factory=list)
    ledger_lines: list[dict] = field(default_factory=list)
    account: str | None = None
    total: Decimal = ZERO

    def as_json(self) -> dict:
        def conv(row: dict) -> dict:
            return {
                k: (f"{v:.2f}" if isinstance(v, Decimal) else v.isoformat() if isinstance(v, date) else v)
                for k, v in row.items()
            }

        return {
            "entity": self.entity,
            "structure": self.structure,
            "line": self.line,
            "line_name": self.line_name,
            "statement": self.statement,
            "from": self.from_month.strftime("%Y-%m") if self.from_month else None,
            "to": self.to_month.strftime("%Y-%m") if self.to_month else None,
            "account": self.account,
            "total": f"{self.total:.2f}",
            "accounts": [conv(r) for r in self.accounts],
            "ledger_lines": [conv(r) for r in self.ledger_lines],
        }


def _leaf_codes(struct: Structure, code: str) -> tuple[str, list[str]]:
    """(statement, the leaf lines behind a line): itself, a group's descendants, or for a cash-flow
    line the balance-sheet lines whose movements it shows."""
    line = struct.line(code)
    if line.statement == "cf":
        if line.kind in ("mapped", "unmapped", "excluded"):
            cash = set(struct.cash_lines())
            return "cf", [
                b.code for b in struct.leaves("bs") if b.code not in cash and struct.cf_target(b.code) == code
            ]
        if line.kind in ("cash", "cash_open"):
            return "cf", struct.cash_lines()
        if line.kind == "group":
            out: list[str] = []
            for kid in struct.children(code, "cf"):
                if kid.kind in ("mapped", "unmapped", "excluded", "group"):
                    out += _leaf_codes(struct, kid.code)[1]
            return "cf", out
    if line.kind in ("mapped", "unmapped", "excluded"):
        return line.statement, [code]
    if line.kind == "group":
        out = []
        for kid in struct.children(code, line.statement):
            if kid.kind != "formula":
                out += _leaf_codes(struct, kid.code)[1]
        return line.statement, out
    if line.kind in ("result", "retained"):
        return "pnl", [leaf.code for leaf in struct.leaves("pnl")]
    raise ConfigError(
        f"{line.name} is a formula line; drill into the lines it is computed from ({line.formula})."
    )


def drilldown(
    con: duckdb.DuckDBPyConnection,
    *,
    entity: str,
    line: str,
    structure: str | None = None,
    from_month: str | None = None,
    to_month: str | None = None,
    account: str | None = None,
    limit: int = 2000,
) -> Drilldown:
    """Report line -> accounts (with their amounts) -> ledger lines (with source and import run).

    Without `account`: the accounts behind the line and what each contributes (P&L and cash-flow
    lines: movements in the range; balance-sheet lines: the balance at the range end). With
    `account`: that account's ledger lines in the range that land on this line, each with its
    journal, entry, source reference and the import run (and file) that brought it.
    """
    ent = entities_mod.entity_by_name(con, entity)
    struct = resolve_structure(con, structure, entity_id=ent["id"])
    sc = Scope(ent["name"], [ent], fy_start=ent["fiscal_year_start_month"] or 1)
    _freshness(con, struct, sc)
    start, end = _range(con, struct, [ent["id"]], from_month, to_month)
    statement, leaves = _leaf_codes(struct, line)
    target = struct.line(line)
    out = Drilldown(ent["name"], struct.name, target.code, target.name, target.statement, start, end)
    if start is None or not leaves:
        return out
    accounts = _line_accounts(con, struct, ent, leaves, start, end, statement, target)
    out.accounts = accounts
    out.total = sum((a["amount"] for a in accounts), ZERO)
    if account is not None:
        if account not in {a["code"] for a in accounts}:
            raise NotFoundError(
                f"Account {account} has no amount on line {target.code} ({target.name}) "
                f"for {ent['name']} in this range."
            )
        out.account = account
        out.ledger_lines = _ledger_lines(con, struct, ent["id"], account, leaves, start, end, limit)
    return out


def _line_accounts(
    con, struct: Structure, ent: dict, leaves: list[str], start: date, end: date, statement: str, target
) -> list[dict]:
    """Per account on these leaf lines: movement in the range, balance at its end, amount shown."""
    rows = [
        (m, f"{acc}|{ln}", o, v)
        for m, acc, ln, o, v in _line_account_rows(con, struct, ent["id"], leaves, end)
    ]
    bs_leaf = {leaf.code for leaf in struct.leaves("bs")}
    keys_bs = {key for _, key, _, _ in rows if key.split("|", 1)[1] in bs_leaf}
    opening_months = {
        r[0]
        for r in con.execute(
            "SELECT DISTINCT month FROM rpt_trial_balance WHERE entity_id = ? AND kind = 'opening' AND month <= ?",
            [ent["id"], end],
        ).fetchall()
    }
    book = EntityBook(None, rows, ent["fiscal_year_start_month"] or 1, opening_months, keys_bs=keys_bs)
    flows = book.flows(start, end)
    closing = book.state(end).end
    names = {
        r[0]: (r[1], r[2])
        for r in con.execute(
            "SELECT code, name, account_type FROM accounts WHERE entity_id = ?", [ent["id"]]
        ).fetchall()
    }
    per: dict[str, dict] = {}
    for key in sorted({key for _, key, _, _ in rows}):
        acc, ln = key.split("|", 1)
        movement = flows.get(key, ZERO)
        balance = closing.get(key, ZERO) if key in keys_bs else None
        if statement == "cf":  # cash-flow effect of a balance-sheet line, or the cash balance itself
            shown = (balance or ZERO) if target.kind in ("cash", "cash_open") else -movement
        elif statement == "bs":
            shown = target.sign * (balance or ZERO)
        elif target.statement == "pnl":
            shown = target.sign * movement
        else:  # the result lines of the balance sheet: P&L accounts, profit positive
            shown = -movement
        name, account_type = names.get(acc, (None, None))
        item = per.setdefault(
            acc,
            {
                "code": acc,
                "name": name,
                "account_type": account_type,
                "lines": [],
                "movement": ZERO,
                "balance": None,
                "amount": ZERO,
            },
        )
        item["lines"].append(ln)
        item["movement"] += movement
        if balance is not None:
            item["balance"] = (item["balance"] or ZERO) + balance
        item["amount"] += shown
    out = [
        {**v, "lines": ", ".join(v["lines"])}
        for v in per.values()
        if v["movement"] or v["balance"] or v["amount"]
    ]
    return sorted(out, key=lambda r: (-abs(r["amount"]), r["code"]))


def _line_account_rows(con, struct: Structure, entity_id: int, leaves: list[str], end: date) -> list[tuple]:
    return con.execute(
        """SELECT r.month, r.account_code, m.line_code,
                   CASE WHEN r.kind = 'opening' THEN r.net ELSE 0 END,
                   CASE WHEN r.kind = 'movement' THEN r.net ELSE 0 END
            FROM rpt_trial_balance r
            JOIN map_accounts m ON m.structure_id = ? AND m.entity_id = r.entity_id
                               AND m.account_code = r.account_code
            WHERE r.entity_id = ? AND r.month <= ? AND (r.kind = 'opening' OR NOT m.has_axis)
              AND m.line_code = ANY(?)
            UNION ALL
            SELECT x.month, x.account_code, x.line_code, 0, x.net FROM map_axis_lines x
            WHERE x.structure_id = ? AND x.entity_id = ? AND x.month <= ? AND x.line_code = ANY(?)""",
        [struct.id, entity_id, end, leaves, struct.id, entity_id, end, leaves],
    ).fetchall()


def _ledger_lines(
    con,
    struct: Structure,
    entity_id: int,
    account: str,
    leaves: list[str],
    start: date,
    end: date,
    limit: int,
) -> list[dict]:
    """The account's ledger lines in the range on these lines, plus opening-balance lines of the
    fiscal years the range covers, with their source reference and import run."""
    last = add_months(end, 1)
    return rows_as_dicts(
        con.execute(
            """SELECT 'movement' AS kind, t.tx_date AS date, t.journal, t.entry, t.line, t.description,
                   t.amount, t.cost_centre, t.project, t.document_no,
                   t.source_ref || coalesce(CAST(t.source_line AS VARCHAR), '') AS source_ref, t.run_id,
                   r.file_name, r.format AS source_format, r.finished_at AS imported_at
            FROM transactions t
            JOIN map_accounts m ON m.structure_id = $s AND m.entity_id = t.entity_id AND m.account_code = t.account_code
            LEFT JOIN map_axis_lines x ON m.has_axis AND x.structure_id = m.structure_id
                 AND x.entity_id = t.entity_id AND x.account_code = t.account_code
                 AND x.month = date_trunc('month', t.tx_date)::DATE
                 AND x.cost_centre IS NOT DISTINCT FROM t.cost_centre AND x.project IS NOT DISTINCT FROM t.project
            LEFT JOIN import_runs r ON r.id = t.run_id
            WHERE t.entity_id = $e AND t.account_code = $a AND t.tx_date >= $start AND t.tx_date < $last
              AND (CASE WHEN m.has_axis THEN x.line_code ELSE m.line_code END) = ANY($leaves)
            UNION ALL
            SELECT 'opening', o.balance_date, NULL, NULL, NULL, o.description, o.amount, NULL, NULL, NULL,
                   o.source_ref, o.run_id, r.file_name, r.format, r.finished_at
            FROM opening_balances o
            JOIN map_accounts m ON m.structure_id = $s AND m.entity_id = o.entity_id AND m.account_code = o.account_code
            LEFT JOIN import_runs r ON r.id = o.run_id
            WHERE o.entity_id = $e AND o.account_code = $a AND o.balance_date >= $start AND o.balance_date < $last
              AND m.line_code = ANY($leaves)
            ORDER BY date, journal, entry, line
            LIMIT $limit""",
            {
                "s": struct.id,
                "e": entity_id,
                "a": account,
                "start": start,
                "last": last,
                "leaves": leaves,
                "limit": limit,
            },
        )
    )
