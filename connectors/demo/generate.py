"""Deterministic generation of the demo organisation's ledgers.

Each entity's ledger is a pure function of (seed, entity, as_of). Every business day draws its
invoices from its own random generator, seeded with the seed, the entity and the date, so a day's
lines never change when later days are added. Bank entries, payroll, VAT returns and month-end
memorials follow from earlier days (a receipt pays an invoice booked weeks before), never from
later ones, so growing `as_of` only ever adds entries.

Money is counted in integer cents throughout and becomes Decimal(18, 2) when the frames are built.
Random draws give the size of an amount; the amount itself is born as an integer number of cents.

A fixed share of entries is corrected (new amounts, same line keys) or deleted a few days after
booking; `modified` on each line is the day of its last change, which is what makes the demo a
realistic source for incremental imports.
"""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta

import polars as pl

from connectors.base import MONEY, OPENING_BALANCE_COLUMNS
from connectors.demo import chart as c
from connectors.demo.entities import PROFILES, Profile
from pipeline.errors import ConfigError

FIRST_DAY = date(2024, 1, 1)
LAST_DAY = date(2026, 12, 31)
FISCAL_YEARS = (2024, 2025, 2026)
# Invoices from this day on exist so that the first opening balance holds real open items
# (debtors, creditors, VAT of the last quarter) that the first months of 2024 then settle.
HISTORY_START = date(2023, 10, 1)
# Payroll starts earlier: the holiday allowance paid in May accrues from the June before.
PAYROLL_HISTORY_START = (2023, 6)

CORRECT_RATE = 0.01
DELETE_RATE = 0.003
MAX_CHANGE_DELAY_DAYS = 6  # corrections and deletions happen 1..6 days after booking

_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_LINE_NUMBERS = [str(i) for i in range(1, 100)]


# --- small arithmetic helpers ---------------------------------------------------------------


def _scale(cents: int, permille: int) -> int:
    """cents * permille / 1000, rounded half away from zero."""
    v = (abs(cents) * permille + 500) // 1000
    return v if cents >= 0 else -v


def _pct(cents: int, pct: int) -> int:
    v = (abs(cents) * pct + 50) // 100
    return v if cents >= 0 else -v


def _convert(fc_cents: int, rate_e4: int) -> int:
    """A foreign amount in the entity's currency at a rate with four decimals."""
    v = (abs(fc_cents) * rate_e4 + 5000) // 10000
    return v if fc_cents >= 0 else -v


def _eur_usd_e4(day: date) -> int:
    """USD per EUR on a day, four decimals: a smooth wave plus a small daily wobble (integers only)."""
    o = day.toordinal()
    t = o % 240
    return 10650 + abs(t - 120) * 4 + (o * 7919) % 61 - 30


def _draw(rng: random.Random, median: int, sigma: float) -> int:
    return max(100, int(median * rng.lognormvariate(0.0, sigma)))


def _choose(rng: random.Random, items: tuple, cum: list[float]):
    x = rng.random() * cum[-1]
    for item, edge in zip(items, cum, strict=True):
        if x < edge:
            return item
    return items[-1]


def _cumulative(weights) -> list[float]:
    out, total = [], 0.0
    for w in weights:
        total += w
        out.append(total)
    return out


# --- calendar ---------------------------------------------------------------------------------


class _Calendar:
    """Business days of one entity between two dates, with next/previous business-day lookups."""

    def __init__(self, holidays: tuple[tuple[int, int], ...], start: date, end: date):
        self.start = start
        self.days: list[date] = []
        self.is_business: list[bool] = []
        d = start
        while d <= end:
            self.days.append(d)
            self.is_business.append(d.weekday() < 5 and (d.month, d.day) not in holidays)
            d += timedelta(days=1)
        self._holidays = holidays

    def _business(self, d: date) -> bool:
        return d.weekday() < 5 and (d.month, d.day) not in self._holidays

    def on_or_after(self, d: date) -> date:
        while not self._business(d):
            d += timedelta(days=1)
        return d

    def on_or_before(self, d: date) -> date:
        while not self._business(d):
            d -= timedelta(days=1)
        return d


def _month_end(y: int, m: int) -> date:
    return date(y + (m == 12), m % 12 + 1, 1) - timedelta(days=1)


def _next_month(y: int, m: int) -> tuple[int, int]:
    return (y + 1, 1) if m == 12 else (y, m + 1)


# --- entries ----------------------------------------------------------------------------------

# A line: (account, cents, foreign cents or None, cost centre, project, description).
Line = tuple[str, int, int | None, str | None, str | None, str]


class _Entry:
    """One booked entry. The first line balances the others."""

    __slots__ = (
        "corr_day",
        "corr_pm",
        "day",
        "del_day",
        "description",
        "doc",
        "journal",
        "lines",
        "number",
        "pay_day",
        "rate",
    )

    def __init__(self, journal: str, number: str, day: date, lines: list[Line], description: str, doc: str):
        self.journal = journal
        self.number = number
        self.day = day
        self.lines = lines
        self.description = description
        self.doc = doc
        self.rate: int | None = None
        self.corr_day: date | None = None
        self.corr_pm = 1000
        self.del_day: date | None = None
        self.pay_day: date | None = None

    def schedule_change(self, rng: random.Random) -> None:
        """Decide (from the entry's own day generator) whether it is corrected or deleted later."""
        u = rng.random()
        delay = rng.randint(1, MAX_CHANGE_DELAY_DAYS)
        pm = rng.choice((rng.randint(850, 980), rng.randint(1020, 1150)))
        if self.day < FIRST_DAY:
            return
        if u < DELETE_RATE:
            self.del_day = self.day + timedelta(days=delay)
        elif u < DELETE_RATE + CORRECT_RATE:
            self.corr_day = self.day + timedelta(days=delay)
            self.corr_pm = pm

    def corrected_lines(self) -> list[Line]:
        """The lines after the correction: every amount scaled, the first line rebalanced."""
        head = self.lines[0]
        out: list[Line] = [head]
        total = total_fc = 0
        for acc, cents, fc, cc, pr, desc in self.lines[1:]:
            if fc is not None and self.rate is not None:
                fc = _scale(fc, self.corr_pm)
                cents = _convert(fc, self.rate)
                total_fc += fc
            else:
                cents = _scale(cents, self.corr_pm)
            total += cents
            out.append((acc, cents, fc, cc, pr, desc))
        out[0] = (head[0], -total, -total_fc if head[2] is not None else None, head[3], head[4], head[5])
        return out

    def final_lines(self) -> list[Line]:
        """The lines as they end up once every scheduled change has happened."""
        return self.corrected_lines() if self.corr_day is not None else self.lines


def _balanced(lines: list[Line]) -> list[Line]:
    """Make the first line the counterpart of the others."""
    head = lines[0]
    total = sum(line[1] for line in lines[1:])
    fcs = [line[2] for line in lines[1:] if line[2] is not None]
    fc = -sum(fcs) if head[2] is not None else None
    lines[0] = (head[0], -total, fc, head[3], head[4], head[5])
    return lines


class _Generator:
    """Generates the entries of one entity from HISTORY_START up to `end`."""

    def __init__(self, profile: Profile, seed: int, end: date):
        self.p = profile
        self.seed = seed
        self.end = end
        self.cal = _Calendar(profile.holidays, HISTORY_START, max(end, HISTORY_START))
        self.entries: list[_Entry] = []
        self._rev_cum = _cumulative(r.weight for r in profile.revenue)
        self._pur_cum = _cumulative(k.weight for k in profile.purchases)
        self._payroll_cache: dict[tuple[int, int], dict[str, int]] = {}

    def _rng(self, key: str) -> random.Random:
        return random.Random(f"{self.seed}:{self.p.external_id}:{key}")

    def run(self) -> list[_Entry]:
        invoices: list[_Entry] = []
        for d, business in zip(self.cal.days, self.cal.is_business, strict=True):
            if business and d <= self.end:
                invoices.extend(self._day_invoices(d))
        invoices.extend(self._monthly_invoices())
        self.entries.extend(invoices)
        self.entries.extend(self._settlements(invoices))
        self.entries.extend(self._monthly())
        return self.entries

    # -- daily invoices

    def _day_invoices(self, d: date) -> list[_Entry]:
        p = self.p
        rng = self._rng(d.isoformat())
        prefix = f"{d.year % 100:02d}{d.month:02d}{d.day:02d}"
        fx = p.foreign_currency
        rate = _eur_usd_e4(d) if fx else None
        out: list[_Entry] = []

        for i in range(1, rng.randint(*p.sales_per_day) + 1):
            number = f"{prefix}{i:03d}"
            customer = rng.choice(p.customers)
            foreign = fx is not None and rng.random() < p.foreign_share
            desc = f"Invoice {number} {customer}"
            lines: list[Line] = [(c.DEBTORS, 0, 0 if foreign else None, None, None, desc)]
            vat = 0
            for _ in range(1 if rng.random() < 0.7 else 2):
                kind = _choose(rng, p.revenue, self._rev_cum)
                net = _draw(rng, p.sale_median, p.sale_sigma)
                project = (
                    rng.choice(kind.projects) if kind.projects and rng.random() < kind.project_share else None
                )
                if foreign:
                    lines.append((kind.account, -_convert(net, rate), -net, kind.cost_centre, project, desc))
                else:
                    lines.append((kind.account, -net, None, kind.cost_centre, project, desc))
                vat += _pct(net, kind.vat_pct)
            if vat:
                lines.append((c.VAT_PAYABLE, -vat, None, None, None, desc))
            e = _Entry("VRK", number, d, _balanced(lines), desc, f"F{d.year}-{number}")
            e.rate = rate if foreign else None
            e.schedule_change(rng)
            e.pay_day = self.cal.on_or_after(d + timedelta(days=rng.randint(10, 45)))
            out.append(e)

        if p.card_sales_median:
            number = f"{prefix}900"
            desc = f"Card takings {d.isoformat()}"
            high = _draw(rng, p.card_sales_median * 7 // 10, 0.3)
            low = _draw(rng, p.card_sales_median * 3 // 10, 0.3)
            lines = [
                (c.CARD_CLEARING, 0, None, None, None, desc),
                ("8000", -high, None, "CC10", None, desc),
                ("8010", -low, None, "CC10", None, desc),
                (c.VAT_PAYABLE, -(_pct(high, 21) + _pct(low, 9)), None, None, None, desc),
            ]
            e = _Entry("VRK", number, d, _balanced(lines), desc, f"POS-{prefix}")
            e.pay_day = self.cal.on_or_after(d + timedelta(days=1))
            out.append(e)

        for i in range(1, rng.randint(*p.purchases_per_day) + 1):
            number = f"{prefix}{i:03d}"
            kind = _choose(rng, p.purchases, self._pur_cum)
            net = _draw(rng, kind.median, kind.sigma)
            foreign = fx is not None and rng.random() < p.foreign_share
            project = (
                rng.choice(kind.projects) if kind.projects and rng.random() < kind.project_share else None
            )
            doc = f"{rng.randint(10000, 99999)}"
            desc = f"{kind.supplier} invoice {doc}"
            if foreign:
                lines = [
                    (c.CREDITORS, 0, 0, None, None, desc),
                    (kind.account, _convert(net, rate), net, kind.cost_centre, project, desc),
                ]
            else:
                lines = [
                    (c.CREDITORS, 0, None, None, None, desc),
                    (kind.account, net, None, kind.cost_centre, project, desc),
                ]
                if p.vat:
                    lines.append((c.VAT_RECEIVABLE, _pct(net, 21), None, None, None, desc))
            e = _Entry("INK", number, d, _balanced(lines), desc, doc)
            e.rate = rate if foreign else None
            e.schedule_change(rng)
            e.pay_day = self.cal.on_or_after(d + timedelta(days=rng.randint(14, 40)))
            out.append(e)
        return out

    def _monthly_invoices(self) -> list[_Entry]:
        """Rent and lease: one invoice each on the first business day, paid within days."""
        p = self.p
        out = []
        for y, m in self._months(HISTORY_START.year, HISTORY_START.month):
            d = self.cal.on_or_after(date(y, m, 1))
            if d > self.end:
                continue
            rng = self._rng(f"{y}-{m:02d}:fixed")
            for i, (account, net, cc, supplier) in enumerate(p.monthly_invoices, start=1):
                number = f"{d.year % 100:02d}{d.month:02d}{d.day:02d}8{i:02d}"
                desc = f"{supplier} {y}-{m:02d}"
                lines: list[Line] = [
                    (c.CREDITORS, 0, None, None, None, desc),
                    (account, net, None, cc, None, desc),
                ]
                if p.vat and account != "4200":  # commercial rent here is let without VAT
                    lines.append((c.VAT_RECEIVABLE, _pct(net, 21), None, None, None, desc))
                e = _Entry("INK", number, d, _balanced(lines), desc, f"{y}{m:02d}-{i}")
                e.pay_day = self.cal.on_or_after(d + timedelta(days=rng.randint(0, 4)))
                out.append(e)
        return out

    # -- bank entries that follow from invoices

    def _settlements(self, invoices: list[_Entry]) -> list[_Entry]:
        """Receipts, payments and VAT returns: the bank side of the invoices."""
        by_day: dict[date, list[tuple[list[Line], bool]]] = {}
        vat_by_quarter: dict[tuple[int, int], list[int]] = {}
        for inv in invoices:
            if inv.del_day is not None:
                continue  # a deleted invoice is never paid
            lines = inv.final_lines()
            if self.p.vat:
                q = vat_by_quarter.setdefault((inv.day.year, (inv.day.month - 1) // 3), [0, 0])
                for line in lines:
                    if line[0] == c.VAT_PAYABLE:
                        q[0] += line[1]
                    elif line[0] == c.VAT_RECEIVABLE:
                        q[1] += line[1]
            if inv.pay_day is None or inv.pay_day > self.end:
                continue
            head = lines[0]
            desc = ("Receipt " if inv.journal == "VRK" else "Payment ") + inv.description
            if head[2] is not None and inv.rate is not None:
                bank = _convert(head[2], _eur_usd_e4(inv.pay_day))
                bank_lines: list[Line] = [
                    (c.BANK, bank, head[2], None, None, desc),
                    (head[0], -head[1], -head[2], None, None, desc),
                    (c.FX_RESULT, -(bank - head[1]), None, None, None, desc),
                ]
                by_day.setdefault(inv.pay_day, []).append((bank_lines, False))
            else:
                bank_lines = [
                    (c.BANK, head[1], None, None, None, desc),
                    (head[0], -head[1], None, None, None, desc),
                ]
                by_day.setdefault(inv.pay_day, []).append(
                    (bank_lines, inv.journal != "VRK" or inv.number[-3:] != "900")
                )

        for (y, q), (payable, receivable) in vat_by_quarter.items():
            ym = _next_month(y, 3 * q + 3)
            d = self.cal.on_or_before(_month_end(*ym))
            if d > self.end:
                continue
            desc = f"VAT return {y} Q{q + 1}"
            lines = [
                (c.BANK, 0, None, None, None, desc),
                (c.VAT_PAYABLE, -payable, None, None, None, desc),
                (c.VAT_RECEIVABLE, -receivable, None, None, None, desc),
            ]
            by_day.setdefault(d, []).append((_balanced(lines), False))

        out = []
        for d in sorted(by_day):
            rng = self._rng(f"{d.isoformat()}:bank")
            prefix = f"{d.year % 100:02d}{d.month:02d}{d.day:02d}"
            for i, (lines, changeable) in enumerate(by_day[d], start=1):
                e = _Entry("BNK", f"{prefix}{i:03d}", d, lines, lines[0][5], f"STM-{prefix}")
                if changeable:
                    e.schedule_change(rng)
                out.append(e)
        return out

    # -- monthly payroll, payments and memorials

    def _months(self, y: int, m: int):
        while date(y, m, 1) <= self.end:
            yield y, m
            y, m = _next_month(y, m)

    def _payroll(self, y: int, m: int) -> dict[str, int]:
        """Gross pay per cost centre and the month's totals; a pure function of the month."""
        key = (y, m)
        if key in self._payroll_cache:
            return self._payroll_cache[key]
        p = self.p
        rng = self._rng(f"{y}-{m:02d}:payroll")
        raise_pm = 1000 + 30 * max(0, y - 2024)  # 3% a year, every January
        result: dict[str, int] = {}
        for cc, heads, salary in p.staff:
            jitter = rng.randint(985, 1040)  # overtime, leavers and joiners
            result[cc] = _scale(_scale(heads * salary, raise_pm), jitter)
        self._payroll_cache[key] = result
        return result

    def _monthly(self) -> list[_Entry]:
        p = self.p
        out: list[_Entry] = []
        for y, m in self._months(*PAYROLL_HISTORY_START):
            label = f"{y}-{m:02d}"
            gross = self._payroll(y, m)
            pay_day = self.cal.on_or_before(date(y, m, 25))
            desc = f"Payroll {label}"
            lines: list[Line] = [(c.NET_WAGES, 0, None, None, None, desc)]
            for cc, amount in gross.items():
                lines.append((c.WAGES, amount, None, cc, None, desc))
                lines.append((c.SOCIAL_SECURITY, _pct(amount, p.social_pct), None, cc, None, desc))
                lines.append((c.PENSION, _pct(amount, p.pension_pct), None, cc, None, desc))
                if p.holiday_allowance_pct:
                    lines.append(
                        (c.HOLIDAY_ALLOWANCE, _pct(amount, p.holiday_allowance_pct), None, cc, None, desc)
                    )
            tax = self._payroll_tax(y, m)
            pension = self._pension(y, m)
            lines.append((c.PAYROLL_TAX, -tax, None, None, None, desc))
            lines.append((c.PENSION_PAYABLE, -pension, None, None, None, desc))
            if p.holiday_allowance_pct:
                accrued = sum(_pct(a, p.holiday_allowance_pct) for a in gross.values())
                lines.append((c.HOLIDAY_PAY, -accrued, None, None, None, desc))
                if m == 5:
                    lines.append(
                        (c.HOLIDAY_PAY, self._holiday_payout(y), None, None, None, f"Holiday allowance {y}")
                    )
            net_lines = _balanced(lines)
            net = -net_lines[0][1]
            if pay_day <= self.end:
                out.append(_Entry("LON", f"{y}{m:02d}", pay_day, net_lines, desc, f"LON-{label}"))
                out.append(
                    self._bank(pay_day, "01", [(c.NET_WAGES, net), (c.BANK, -net)], f"Net wages {label}")
                )

            ny, nm = _next_month(y, m)
            tax_day = self.cal.on_or_before(_month_end(ny, nm))
            if tax_day <= self.end:
                out.append(
                    self._bank(tax_day, "02", [(c.PAYROLL_TAX, tax), (c.BANK, -tax)], f"Payroll tax {label}")
                )
            pension_day = self.cal.on_or_after(date(ny, nm, 15))
            if pension_day <= self.end:
                out.append(
                    self._bank(
                        pension_day,
                        "03",
                        [(c.PENSION_PAYABLE, pension), (c.BANK, -pension)],
                        f"Pension premium {label}",
                    )
                )
            out.extend(self._month_end(y, m))
        return out

    def _payroll_tax(self, y: int, m: int) -> int:
        gross = self._payroll(y, m)
        return sum(_pct(a, self.p.wage_tax_pct) + _pct(a, self.p.social_pct) for a in gross.values())

    def _pension(self, y: int, m: int) -> int:
        gross = self._payroll(y, m)
        return sum(_pct(a, self.p.pension_pct) + _pct(a, self.p.employee_pension_pct) for a in gross.values())

    def _holiday_payout(self, y: int) -> int:
        """The allowance accrued from June of the year before up to this May."""
        total = 0
        ym = (y - 1, 6)
        while ym <= (y, 5):
            total += sum(_pct(a, self.p.holiday_allowance_pct) for a in self._payroll(*ym).values())
            ym = _next_month(*ym)
        return total

    def _bank(self, d: date, slot: str, amounts: list[tuple[str, int]], desc: str) -> _Entry:
        """A bank entry for a monthly payment; numbered in the 9xx range so it never meets a receipt's number."""
        prefix = f"{d.year % 100:02d}{d.month:02d}{d.day:02d}"
        lines: list[Line] = [(acc, cents, None, None, None, desc) for acc, cents in amounts]
        return _Entry("BNK", f"{prefix}9{slot}", d, lines, desc, f"STM-{prefix}")

    def _month_end(self, y: int, m: int) -> list[_Entry]:
        """Depreciation, accrued energy, corporate tax, loan and bank charges of one month."""
        p = self.p
        out: list[_Entry] = []
        label = f"{y}-{m:02d}"
        last = _month_end(y, m)
        rng = self._rng(f"{label}:memorial")
        if last <= self.end:
            desc = f"Depreciation {label}"
            lines: list[Line] = []
            for expense, accumulated, amount in p.depreciation:
                lines.append((accumulated, -amount, None, None, None, desc))
                lines.append((expense, amount, None, "CC90", None, desc))
            out.append(_Entry("MEM", f"{y}{m:02d}01", last, lines, desc, f"MEM-{label}-1"))

            desc = f"Accrued energy {label}"
            accrual = self._energy_accrual(y, m)
            lines = [
                (c.ACCRUED_COSTS, -accrual, None, None, None, desc),
                (c.ENERGY, accrual, None, "CC90", None, desc),
            ]
            out.append(_Entry("MEM", f"{y}{m:02d}02", last, lines, desc, f"MEM-{label}-2"))

            desc = f"Corporate income tax {label} (provisional)"
            tax = p.corporate_tax_monthly
            lines = [
                (c.CORPORATE_TAX, -tax, None, None, None, desc),
                (c.CORPORATE_TAX_EXPENSE, tax, None, None, None, desc),
            ]
            out.append(_Entry("MEM", f"{y}{m:02d}03", last, lines, desc, f"MEM-{label}-3"))

            charge_day = self.cal.on_or_before(last)
            charges = rng.randint(2000, 9000)
            out.append(
                self._bank(
                    charge_day, "04", [(c.BANK_CHARGES, charges), (c.BANK, -charges)], f"Bank charges {label}"
                )
            )
            interest = rng.randint(5000, 40000)
            out.append(
                self._bank(
                    charge_day,
                    "05",
                    [(c.BANK, interest), (c.INTEREST_INCOME, -interest)],
                    f"Interest savings {label}",
                )
            )

        ny, nm = _next_month(y, m)
        first = date(ny, nm, 1)
        if first <= self.end:
            desc = f"Reversal accrued energy {label}"
            accrual = self._energy_accrual(y, m)
            lines = [
                (c.ACCRUED_COSTS, accrual, None, None, None, desc),
                (c.ENERGY, -accrual, None, "CC90", None, desc),
            ]
            out.append(_Entry("MEM", f"{ny}{nm:02d}04", first, lines, desc, f"MEM-{label}-4"))
        tax_day = self.cal.on_or_before(date(ny, nm, 28))
        if tax_day <= self.end:
            tax = p.corporate_tax_monthly
            out.append(
                self._bank(
                    tax_day, "06", [(c.CORPORATE_TAX, tax), (c.BANK, -tax)], f"Corporate income tax {label}"
                )
            )

        if p.loan_repayment:
            d = self.cal.on_or_after(date(y, m, 1))
            if d <= self.end:
                months_paid = (y - FIRST_DAY.year) * 12 + m - 1
                balance = -p.opening[c.BANK_LOAN] - months_paid * p.loan_repayment
                interest = (balance * p.loan_rate_permille + 6000) // 12000
                out.append(
                    self._bank(
                        d,
                        "07",
                        [
                            (c.BANK_LOAN, p.loan_repayment),
                            (c.INTEREST_EXPENSE, interest),
                            (c.BANK, -(p.loan_repayment + interest)),
                        ],
                        f"Loan instalment {label}",
                    )
                )
        return out

    def _energy_accrual(self, y: int, m: int) -> int:
        rng = self._rng(f"{y}-{m:02d}:accrual")
        winter = m in (1, 2, 3, 10, 11, 12)
        return rng.randint(80000, 140000) if winter else rng.randint(40000, 80000)


# --- the view at a date -----------------------------------------------------------------------


def as_date(value: date | datetime | str | None, what: str = "as_of") -> date:
    """A date from a date, a datetime or an ISO string; today when None."""
    if value is None:
        return date.today()
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip()[:10])
    except ValueError:
        raise ConfigError(
            f"The demo option {what!r} must be a date like 2025-03-31, not {value!r}."
        ) from None


def _epoch(d: date) -> int:
    return d.toordinal() - _EPOCH_ORDINAL


def _money(cents: list[int | None]) -> pl.Series:
    # An integer count of cents becomes an exact Decimal: cast to Decimal, then divide by 100.
    s = pl.Series(cents, dtype=pl.Int64)
    return (s.cast(pl.Decimal(18, 2)) / 100).cast(MONEY)


def generate_entity(external_id: str, as_of: date | str, seed: int = 42) -> dict[str, pl.DataFrame]:
    """The ledger of one demo entity as it stands at the end of `as_of`.

    Returns polars frames: `accounts`, `dimensions`, `transactions` (the transaction contract plus
    a `modified` date: the day the line was booked or last corrected), `deletions` (`line_key`,
    `deleted_on` for entries deleted on or before as_of) and `opening_balances` (one set per fiscal
    year that has started by as_of).
    """
    if external_id not in PROFILES:
        known = ", ".join(PROFILES)
        raise ConfigError(f"Unknown demo entity {external_id!r}; the demo organisation has {known}.")
    as_of = as_date(as_of)
    if as_of < FIRST_DAY:
        raise ConfigError(
            f"The demo ledger starts on {FIRST_DAY.isoformat()}; choose an as_of date on or after it."
        )
    p = PROFILES[external_id]
    entries = _Generator(p, seed, min(as_of, LAST_DAY)).run()

    line_key: list[str] = []
    journal: list[str] = []
    entry: list[str] = []
    line_no: list[str] = []
    tx_date: list[int] = []
    fiscal_year: list[int] = []
    period: list[int] = []
    account: list[str] = []
    amount: list[int] = []
    amount_fc: list[int | None] = []
    currency_fc: list[str | None] = []
    description: list[str] = []
    cost_centre: list[str | None] = []
    project: list[str | None] = []
    document_no: list[str] = []
    source_ref: list[str] = []
    modified: list[int] = []
    deleted_keys: list[str] = []
    deleted_on: list[int] = []
    sums: dict[tuple[int, str], int] = {}  # (year, account) -> cents, the ledger as of as_of
    history: dict[str, int] = {}  # open items booked before FIRST_DAY
    fx = p.foreign_currency

    for e in entries:
        if e.day > as_of:
            continue
        if e.day < FIRST_DAY:
            for acc, cents, *_ in e.lines:
                history[acc] = history.get(acc, 0) + cents
            continue
        if e.del_day is not None and e.del_day <= as_of:
            deleted_keys.extend(f"{e.journal}|{e.number}|{_LINE_NUMBERS[i]}" for i in range(len(e.lines)))
            deleted_on.extend([_epoch(e.del_day)] * len(e.lines))
            continue
        if e.corr_day is not None and e.corr_day <= as_of:
            lines, mod = e.corrected_lines(), _epoch(e.corr_day)
        else:
            lines, mod = e.lines, _epoch(e.day)
        day, year, month = _epoch(e.day), e.day.year, e.day.month
        ref = f"demo:{p.external_id}:{e.journal}:{e.number}"
        for i, (acc, cents, fc, cc, pr, desc) in enumerate(lines):
            n = _LINE_NUMBERS[i]
            line_key.append(f"{e.journal}|{e.number}|{n}")
            journal.append(e.journal)
            entry.append(e.number)
            line_no.append(n)
            tx_date.append(day)
            fiscal_year.append(year)
            period.append(month)
            account.append(acc)
            amount.append(cents)
            amount_fc.append(fc)
            currency_fc.append(fx if fc is not None else None)
            description.append(desc)
            cost_centre.append(cc)
            project.append(pr)
            document_no.append(e.doc)
            source_ref.append(ref)
            modified.append(mod)
            k = (year, acc)
            sums[k] = sums.get(k, 0) + cents

    n_lines = len(line_key)
    text = pl.Utf8
    transactions = pl.DataFrame(
        [
            pl.Series("line_key", line_key, dtype=text),
            pl.Series("journal", journal, dtype=text),
            pl.Series("entry", entry, dtype=text),
            pl.Series("line", line_no, dtype=text),
            pl.Series("tx_date", tx_date, dtype=pl.Int32).cast(pl.Date),
            pl.Series("fiscal_year", fiscal_year, dtype=pl.Int32),
            pl.Series("period", period, dtype=pl.Int32),
            pl.Series("account_code", account, dtype=text),
            _money(amount).alias("amount"),
            pl.Series("currency", [p.currency] * n_lines, dtype=text),
            _money(amount_fc).alias("amount_fc"),
            pl.Series("currency_fc", currency_fc, dtype=text),
            pl.Series("description", description, dtype=text),
            pl.Series("cost_centre", cost_centre, dtype=text),
            pl.Series("project", project, dtype=text),
            pl.Series("document_no", document_no, dtype=text),
            pl.Series("source_ref", source_ref, dtype=text),
            pl.Series("modified", modified, dtype=pl.Int32).cast(pl.Date),
        ]
    )
    deletions = pl.DataFrame(
        {
            "line_key": pl.Series(deleted_keys, dtype=pl.Utf8),
            "deleted_on": pl.Series(deleted_on, dtype=pl.Int32).cast(pl.Date),
        }
    )
    return {
        "accounts": c.accounts_frame(),
        "dimensions": c.dimensions_frame(),
        "transactions": transactions,
        "deletions": deletions,
        "opening_balances": _opening_balances(p, as_of, history, sums),
    }


def _opening_balances(
    p: Profile, as_of: date, history: dict[str, int], sums: dict[tuple[int, str], int]
) -> pl.DataFrame:
    """One opening balance per started fiscal year: last year's closing, its result in equity."""
    balance: dict[str, int] = {}
    for acc, cents in history.items():
        if c.ACCOUNT_TYPE[acc] == "balance" and acc not in p.opening:
            balance[acc] = cents  # open items from before the first year
    balance.update(p.opening)
    balance[c.RETAINED_EARNINGS] = balance.get(c.RETAINED_EARNINGS, 0) - sum(balance.values())

    keys, years, dates, accounts, amounts, descs, refs = [], [], [], [], [], [], []
    for year in FISCAL_YEARS:
        if date(year, 1, 1) > as_of:
            break
        if year > FISCAL_YEARS[0]:
            for (y, acc), cents in sums.items():
                if y != year - 1:
                    continue
                target = acc if c.ACCOUNT_TYPE[acc] == "balance" else c.RETAINED_EARNINGS
                balance[target] = balance.get(target, 0) + cents
        for acc in sorted(balance):
            if balance[acc] == 0:
                continue
            keys.append(f"OB|{year}|{acc}")
            years.append(year)
            dates.append(_epoch(date(year, 1, 1)))
            accounts.append(acc)
            amounts.append(balance[acc])
            descs.append(f"Opening balance {year}")
            refs.append(f"demo:{p.external_id}:opening:{year}")
    return pl.DataFrame(
        {
            "line_key": pl.Series(keys, dtype=pl.Utf8),
            "fiscal_year": pl.Series(years, dtype=pl.Int32),
            "balance_date": pl.Series(dates, dtype=pl.Int32).cast(pl.Date),
            "account_code": pl.Series(accounts, dtype=pl.Utf8),
            "amount": _money(amounts),
            "description": pl.Series(descs, dtype=pl.Utf8),
            "source_ref": pl.Series(refs, dtype=pl.Utf8),
        }
    ).select(list(OPENING_BALANCE_COLUMNS))
