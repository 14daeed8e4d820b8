"""P&L, balance sheet, cash flow and KPIs computed from report-ready statement rows.

Input is `rpt_statement_month` rows (per entity, month and leaf line: opening balances and
movements, debit positive). Everything here is pure computation on Decimals.

Balances carry forward by fiscal year, the same rule as the trial balance: a fiscal year with
opening balances from the source starts from them (they already hold the previous year's
result in equity); a year without starts from the previous year's closing balances, and the
previous years' P&L results that no opening balance has closed into equity yet show on the
`retained` line. The `result` line holds the current fiscal year's result to date.

The cash flow is indirect: the period's net result plus, for each balance-sheet line that is not
cash, minus its movement in the period, on the cash-flow line its `cf` names. Closing cash is
the designated cash lines' balance; cash at start plus the flows must equal it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from pipeline.structure import (
    ADDITIVE,
    LEAF_KINDS,
    STATEMENT_NAMES,
    Structure,
    evaluate_formula,
    formula_refs,
    parse_formula,
)

ZERO = Decimal("0.00")
CENT = Decimal("0.01")
BY = ("month", "quarter", "year")


# ---------------------------------------------------------------- months and periods


def add_months(month: date, n: int) -> date:
    index = month.year * 12 + month.month - 1 + n
    return date(index // 12, index % 12 + 1, 1)


def month_span(start: date, end: date) -> list[date]:
    """Every first-of-month from start to end inclusive."""
    out, m = [], start
    while m <= end:
        out.append(m)
        m = add_months(m, 1)
    return out


def fiscal_year(month: date, fy_start: int) -> int:
    """The calendar year in which the fiscal year holding `month` starts."""
    return month.year if month.month >= fy_start else month.year - 1


def fiscal_year_start(month: date, fy_start: int) -> date:
    return date(fiscal_year(month, fy_start), fy_start, 1)


def month_end(month: date) -> date:
    return date.fromordinal(add_months(month, 1).toordinal() - 1)


@dataclass(frozen=True)
class Period:
    """A report column: months start..end inclusive, with its label."""

    label: str
    start: date
    end: date

    def shifted(self, months: int) -> Period:
        return Period(self.label, add_months(self.start, months), add_months(self.end, months))

    @property
    def days(self) -> int:
        return (month_end(self.end) - self.start).days + 1


def periods(start: date, end: date, by: str, fy_start: int = 1) -> list[Period]:
    """Columns from start to end by month, fiscal quarter or fiscal year, clipped to the range."""
    if by not in BY:
        from pipeline.errors import ConfigError

        raise ConfigError(f"Unknown period {by!r}; use month, quarter or year.")
    prefix = "" if fy_start == 1 else "FY"
    groups: dict[tuple, list[date]] = {}
    for m in month_span(start, end):
        fy = fiscal_year(m, fy_start)
        if by == "month":
            key = (m.strftime("%Y-%m"),)
        elif by == "quarter":
            q = ((m.month - fy_start) % 12) // 3 + 1
            key = (f"{prefix}{fy}-Q{q}",)
        else:
            key = (f"{prefix}{fy}",)
        groups.setdefault(key, []).append(m)
    return [Period(key[0], months[0], months[-1]) for key, months in groups.items()]


# ---------------------------------------------------------------- one entity's balances


@dataclass
class MonthState:
    start: dict[str, Decimal]  # balance-sheet leaf balances at the start of the month
    end: dict[str, Decimal]  # ... at its end
    result: Decimal  # fiscal-year-to-date P&L net (debit positive) at the end of the month
    retained: Decimal  # P&L net of earlier years not closed into equity by opening balances


class EntityBook:
    """Movements and carried-forward balances of one entity on one structure's leaf lines."""

    def __init__(
        self,
        structure: Structure | None,
        rows: Iterable[tuple],
        fy_start: int,
        opening_months: Iterable[date] = (),
        *,
        keys_bs: set[str] | None = None,
    ):
        """rows: (month, key, opening, movement), keys being leaf line codes, or account codes for
        drill-down with `keys_bs` naming the balance-sheet ones. opening_months: the months in
        which the source gave opening balances (those fiscal years start from them)."""
        self.fy_start = fy_start
        fallback, known = None, None
        if keys_bs is None:
            assert structure is not None
            self.bs_keys = {line.code for line in structure.leaves("bs")}
            fallback = structure.reserved("bs", "unmapped").code
            known = self.bs_keys | {line.code for line in structure.leaves("pnl")}
        else:
            self.bs_keys = keys_bs
        self.movements: dict[date, dict[str, Decimal]] = defaultdict(dict)
        self.openings: dict[int, dict[str, Decimal]] = defaultdict(dict)
        for month, key, opening, movement in rows:
            if known is not None and key not in known:
                key = fallback  # rows of a line that no longer exists stay visible as unmapped
            if movement:
                bucket = self.movements[month]
                bucket[key] = bucket.get(key, ZERO) + movement
            if opening:
                bucket = self.openings[fiscal_year(month, fy_start)]
                bucket[key] = bucket.get(key, ZERO) + opening
        self._opening_years = {fiscal_year(m, fy_start) for m in opening_months}
        self._states: dict[date, MonthState] = {}
        self._month_totals: dict[date, Decimal] = {}
        self._until: date | None = None

    @property
    def first_month(self) -> date | None:
        months = list(self.movements) + [date(fy, self.fy_start, 1) for fy in self._opening_years]
        return min(months) if months else None

    def flows(self, start: date, end: date) -> dict[str, Decimal]:
        """Sum of movements per key over months start..end."""
        out: dict[str, Decimal] = {}
        for month in month_span(start, end):
            values = self.movements.get(month)
            if values:
                for key, amount in values.items():
                    out[key] = out.get(key, ZERO) + amount
        return out

    def month_total(self, month: date) -> Decimal:
        """All movements of a month, whatever line they are on (the mapping must keep this)."""
        if month not in self._month_totals:
            self._month_totals[month] = sum(self.movements.get(month, {}).values(), ZERO)
        return self._month_totals[month]

    def state(self, month: date) -> MonthState:
        """Balances at the start and end of a month (computed once, from the first month on)."""
        if self._until is None or month > self._until:
            self._run(month)
        if month in self._states:
            return self._states[month]
        return MonthState({}, {}, ZERO, ZERO)  # before any data

    def _run(self, until: date) -> None:
        first = self.first_month
        self._until = until
        if first is None or first > until:
            return
        bal: dict[str, Decimal] = {}
        ytd = ZERO
        retained = ZERO
        current_fy = None
        for m in month_span(first, until):
            fy = fiscal_year(m, self.fy_start)
            if fy != current_fy:
                if fy in self._opening_years:
                    opening = self.openings.get(fy, {})
                    bal = {k: v for k, v in opening.items() if k in self.bs_keys}
                    retained = sum((v for k, v in opening.items() if k not in self.bs_keys), ZERO)
                elif current_fy is not None:
                    retained += ytd
                ytd = ZERO
                current_fy = fy
            start = dict(bal)
            for key, amount in self.movements.get(m, {}).items():
                if key in self.bs_keys:
                    bal[key] = bal.get(key, ZERO) + amount
                else:
                    ytd += amount
            self._states[m] = MonthState(start, dict(bal), ytd, retained)


# ---------------------------------------------------------------- statement values


@dataclass
class Validation:
    name: str
    ok: bool
    message: str
    entity: str | None = None
    period: str | None = None

    def as_json(self) -> dict:
        return {"name": self.name, "ok": self.ok, "message": self.message}


def leaf_values(structure: Structure, statement: str, book: EntityBook, period: Period) -> dict[str, Decimal]:
    """Net (debit positive for P&L/BS; cash positive for CF) of leaf and reserved lines."""
    out: dict[str, Decimal] = {}
    if statement == "pnl":
        flows = book.flows(period.start, period.end)
        for line in structure.leaves("pnl"):
            out[line.code] = flows.get(line.code, ZERO)
    elif statement == "bs":
        st = book.state(period.end)
        for line in structure.leaves("bs"):
            out[line.code] = st.end.get(line.code, ZERO)
        out[structure.reserved("bs", "result").code] = st.result
        out[structure.reserved("bs", "retained").code] = st.retained
    else:
        flows = book.flows(period.start, period.end)
        cash = set(structure.cash_lines())
        for line in structure.statement_lines("cf"):
            if line.kind in LEAF_KINDS:
                out[line.code] = ZERO
        pnl = sum((flows.get(line.code, ZERO) for line in structure.leaves("pnl")), ZERO)
        out[structure.reserved("cf", "result").code] = -pnl
        for line in structure.leaves("bs"):
            if line.code in cash:
                continue
            target = structure.cf_target(line.code)
            out[target] = out.get(target, ZERO) - flows.get(line.code, ZERO)
        start, end = book.state(period.start).start, book.state(period.end).end
        out[structure.reserved("cf", "cash_open").code] = sum((start.get(c, ZERO) for c in cash), ZERO)
        out[structure.reserved("cf", "cash").code] = sum((end.get(c, ZERO) for c in cash), ZERO)
    return out


def add_values(total: dict[str, Decimal], more: dict[str, Decimal]) -> None:
    for key, value in more.items():
        total[key] = total.get(key, ZERO) + value


@dataclass(frozen=True)
class _Plan:
    """How to compute one statement's shown amounts: lines bottom-up, formulas in order."""

    order: tuple[tuple[str, int, tuple[str, ...] | None], ...]  # (code, sign, additive kids or None)
    formulas: tuple[tuple[str, tuple], ...]  # (code, parsed formula) in dependency order
    cash_positive: bool


def _plan(structure: Structure, statement: str) -> _Plan:
    def build() -> _Plan:
        lines = structure.statement_lines(statement)
        order: list[tuple[str, int, tuple[str, ...] | None]] = []

        def visit(line) -> None:
            if line.kind == "group":
                kids = structure.children(line.code, statement)
                for kid in kids:
                    visit(kid)
                order.append((line.code, line.sign, tuple(k.code for k in kids if k.kind in ADDITIVE)))
            elif line.kind != "formula":
                order.append((line.code, line.sign, None))

        for root in structure.children(None, statement):
            visit(root)
        pending = {line.code: parse_formula(line.formula or "") for line in lines if line.kind == "formula"}
        done = {code for code, _, _ in order}
        formulas: list[tuple[str, tuple]] = []
        while pending:  # formulas may use formulas; structures are checked free of cycles
            ready = [code for code, tree in pending.items() if formula_refs(tree) <= done]
            if not ready:
                break
            for code in ready:
                formulas.append((code, pending.pop(code)))
                done.add(code)
        return _Plan(tuple(order), tuple(formulas), statement == "cf")

    return structure._cached(("plan", statement), build)


def shown_values(
    structure: Structure, statement: str, leaves: dict[str, Decimal]
) -> dict[str, Decimal | None]:
    """Amounts as shown (sign applied) for every line of the statement, groups and formulas too."""
    plan = _plan(structure, statement)
    net: dict[str, Decimal] = {}
    shown: dict[str, Decimal | None] = {}
    for code, sign, kids in plan.order:
        value = leaves.get(code, ZERO) if kids is None else sum((net[k] for k in kids), ZERO)
        net[code] = value
        # adding zero turns a negated zero (-0.00) into 0.00
        shown[code] = (value if plan.cash_positive else sign * value) + ZERO
    for code, tree in plan.formulas:
        value = evaluate_formula(tree, shown)
        shown[code] = None if value is None else value.quantize(CENT, ROUND_HALF_UP)
    return shown


def statement_result(structure: Structure, leaves: dict[str, Decimal]) -> Decimal:
    """The P&L result (profit positive) of P&L leaf values: every P&L line, whatever the formulas say."""
    return -sum((leaves.get(line.code, ZERO) for line in structure.leaves("pnl")), ZERO)


# ---------------------------------------------------------------- checks per entity and period


def check_balance_sheet(structure: Structure, leaves: dict[str, Decimal]) -> tuple[bool, str]:
    total = sum(leaves.values(), ZERO)
    assets = sum((value for code, value in leaves.items() if structure.line(code).sign > 0), ZERO)
    liabilities = -sum((value for code, value in leaves.items() if structure.line(code).sign < 0), ZERO)
    if total == 0:
        return True, f"assets {assets:.2f} = liabilities and equity {liabilities:.2f}"
    return False, f"assets {assets:.2f} but liabilities and equity {liabilities:.2f} (difference {total:.2f})"


def check_cash_flow(structure: Structure, leaves: dict[str, Decimal]) -> tuple[bool, str]:
    opening = leaves[structure.reserved("cf", "cash_open").code]
    closing = leaves[structure.reserved("cf", "cash").code]
    flows = sum((value for code, value in leaves.items() if structure.line(code).kind in ADDITIVE), ZERO)
    computed = opening + flows
    if computed == closing:
        return True, f"cash {opening:.2f} + flows {flows:.2f} = closing cash {closing:.2f}"
    return False, (
        f"cash {opening:.2f} + flows {flows:.2f} = {computed:.2f}, but the cash accounts hold {closing:.2f} "
        f"(difference {closing - computed:.2f}; opening balances that differ from the previous closing cause this)"
    )


def check_result_line(
    structure: Structure, shown: dict[str, Decimal | None], result: Decimal
) -> tuple[bool, str]:
    lines = structure.with_role("net_result", "pnl")
    if not lines:
        return True, "no net result line to compare"
    value = shown.get(lines[0].code)
    if value == result:
        return True, f"{lines[0].name} equals the sum of all P&L lines ({result:.2f})"
    return False, (
        f"{lines[0].name} shows {value if value is None else f'{value:.2f}'} but all P&L lines sum to "
        f"{result:.2f}: its formula leaves out a line"
    )


# ---------------------------------------------------------------- KPIs


KPI_NAMES = (
    "revenue",
    "gross_margin",
    "gross_margin_pct",
    "ebitda",
    "net_result",
    "current_assets",
    "current_liabilities",
    "current_ratio",
    "working_capital",
    "dso",
    "dpo",
)


def _role_total(structure: Structure, role: str, shown: dict[str, Decimal | None]) -> Decimal | None:
    lines = structure.with_role(role)
    values = [shown.get(line.code) for line in lines]
    if not lines or any(v is None for v in values):
        return None
    return sum(values, ZERO)


def _ratio(
    numerator: Decimal | None, denominator: Decimal | None, scale: Decimal = Decimal(1)
) -> Decimal | None:
    if numerator is None or denominator in (None, 0):
        return None
    return (numerator * scale / denominator).quantize(CENT, ROUND_HALF_UP)


def kpi_values(
    structure: Structure,
    pnl_shown: dict[str, Decimal | None],
    bs_shown: dict[str, Decimal | None],
    result: Decimal,
    days: int,
) -> dict[str, Decimal | None]:
    """KPIs of one period from its P&L (period) and balance sheet (period end) amounts."""
    revenue = _role_total(structure, "revenue", pnl_shown)
    cogs = _role_total(structure, "cogs", pnl_shown)
    gross = _role_total(structure, "gross_margin", pnl_shown)
    if gross is None and revenue is not None and cogs is not None:
        gross = revenue + cogs
    ca = _role_total(structure, "current_assets", bs_shown)
    cl = _role_total(structure, "current_liabilities", bs_shown)
    receivables = _role_total(structure, "receivables", bs_shown)
    payables = _role_total(structure, "payables", bs_shown)
    return {
        "revenue": revenue,
        "gross_margin": gross,
        "gross_margin_pct": _ratio(gross, revenue, Decimal(100)),
        "ebitda": _role_total(structure, "ebitda", pnl_shown),
        "net_result": result,
        "current_assets": ca,
        "current_liabilities": cl,
        "current_ratio": _ratio(ca, cl),
        "working_capital": None if ca is None or cl is None else ca - cl,
        "dso": _ratio(receivables, revenue, Decimal(days)),
        "dpo": _ratio(payables, None if cogs is None else -cogs, Decimal(days)),
    }


# ---------------------------------------------------------------- the report object


@dataclass
class StatementLine:
    code: str
    name: str
    kind: str
    level: int
    amounts: dict[str, Decimal | None] = field(default_factory=dict)
    total: Decimal | None = None
    previous: dict[str, Decimal | None] | None = None
    previous_total: Decimal | None = None


@dataclass
class Statement:
    """A computed statement; `as_json()` is the CLI contract."""

    statement: str
    entity: str
    structure: str
    periods: list[Period]
    lines: list[StatementLine]
    result: Decimal | None
    validations: list[Validation]
    entities: list[str] = field(default_factory=list)
    currency: str | None = None
    ytd: bool = False
    compare: bool = False

    @property
    def title(self) -> str:
        return STATEMENT_NAMES[self.statement]

    @property
    def ok(self) -> bool:
        return all(v.ok for v in self.validations)

    def line(self, code: str) -> StatementLine:
        for line in self.lines:
            if line.code == code:
                return line
        raise KeyError(code)

    def as_json(self) -> dict:
        def money(v: Decimal | None) -> str | None:
            return None if v is None else f"{v:.2f}"

        out = {
            "statement": self.statement,
            "entity": self.entity,
            "structure": self.structure,
            "periods": [p.label for p in self.periods],
            "lines": [],
        }
        for line in self.lines:
            item = {
                "code": line.code,
                "name": line.name,
                "kind": line.kind,
                "level": line.level,
                "amounts": {k: money(v) for k, v in line.amounts.items()},
                "total": money(line.total),
            }
            if line.previous is not None:
                item["previous"] = {k: money(v) for k, v in line.previous.items()}
                item["previous_total"] = money(line.previous_total)
            out["lines"].append(item)
        if self.statement == "pnl":
            out["result"] = money(self.result)
        out["validations"] = [v.as_json() for v in self.validations]
        if len(self.entities) > 1:
            out["entities"] = self.entities
        out["currency"] = self.currency
        return out


def summarize(checks: list[Validation], names: Iterable[str]) -> list[Validation]:
    """One validation per check name: ok when every entity and period passed."""
    out = []
    for name in names:
        mine = [c for c in checks if c.name == name]
        if not mine:
            continue
        failed = [c for c in mine if not c.ok]
        if failed:
            parts = []
            for c in failed[:6]:
                where = " ".join(x for x in (c.entity, c.period) if x)
                parts.append(f"{where}: {c.message}" if where else c.message)
            more = f" (and {len(failed) - 6} more)" if len(failed) > 6 else ""
            out.append(Validation(name, False, "; ".join(parts) + more))
        else:
            last = mine[-1]
            out.append(
                Validation(name, True, last.message if len(mine) == 1 else f"ok in all {len(mine)} checks")
            )
    return out
