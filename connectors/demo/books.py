"""The demo ledger as entries that change between runs, for the vendor sandboxes.

A vendor sandbox (Xero, QuickBooks, Sage, Twinfield) holds one entity's books in the vendor's own
shapes. What those books contain comes from the demo generator: `demo_entries` turns its frames
into balanced entries, and `Books` tells a sandbox what changed when "today" moves (`replace`) or
when a test corrects and deletes recent entries (`edit`), so each sandbox can record the change
the way its vendor does (a reversing journal, a new version of an entity, a deleted-record list).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import polars as pl

from connectors.demo.generate import as_date, generate_entity

CENT = Decimal("0.01")


@dataclass(frozen=True)
class Line:
    """One line of an entry; `amount` in the entity's currency, debit positive."""

    account: str
    amount: Decimal
    description: str | None = None
    cost_centre: str | None = None
    project: str | None = None
    amount_fc: Decimal | None = None
    currency_fc: str | None = None


@dataclass(frozen=True)
class Entry:
    """A balanced entry: the demo's (journal, entry) with its lines in order."""

    key: str  # "journal|entry", unique per entity
    journal: str
    number: str
    day: date
    lines: tuple[Line, ...]
    document: str | None = None
    opening: bool = False  # an opening balance (conversion balances or a year's opening)
    fiscal_year: int | None = None

    @property
    def total(self) -> Decimal:
        return sum((line.amount for line in self.lines), Decimal("0.00"))


@dataclass
class Changes:
    """What one `replace` or `edit` did to the books."""

    added: list[Entry] = field(default_factory=list)
    changed: list[tuple[Entry, Entry]] = field(default_factory=list)  # (before, after)
    deleted: list[Entry] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """Lines inserted, updated and deleted, as the pipeline would count them."""
        return {
            "inserted": sum(len(e.lines) for e in self.added),
            "updated": sum(len(after.lines) for _, after in self.changed),
            "deleted": sum(len(e.lines) for e in self.deleted),
        }


def entries_from_frames(frames: dict[str, pl.DataFrame], *, opening: str = "first") -> dict[str, Entry]:
    """Entries from frames shaped like the demo generator's.

    opening: 'first' books the first fiscal year's opening balance as one entry on the day before
    (how continuous ledgers such as Xero or QuickBooks hold conversion balances); 'all' books every
    year's opening balance on its first day (ledgers with yearly opening entries, e.g. Twinfield's
    period 0); 'none' leaves them out.
    """
    out: dict[str, Entry] = {}
    tx = frames["transactions"].sort(["journal", "entry", "line"], maintain_order=True)
    grouped: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in tx.iter_rows(named=True):
        grouped.setdefault((row["journal"], row["entry"]), []).append(row)
    for (journal, number), rows in grouped.items():
        rows.sort(key=lambda r: int(r["line"]) if str(r["line"]).isdigit() else 0)
        first = rows[0]
        out[f"{journal}|{number}"] = Entry(
            key=f"{journal}|{number}",
            journal=journal,
            number=str(number),
            day=first["tx_date"],
            document=first["document_no"],
            fiscal_year=first["fiscal_year"],
            lines=tuple(
                Line(
                    account=r["account_code"],
                    amount=r["amount"],
                    description=r["description"],
                    cost_centre=r["cost_centre"],
                    project=r["project"],
                    amount_fc=r["amount_fc"],
                    currency_fc=r["currency_fc"],
                )
                for r in rows
            ),
        )
    ob = frames["opening_balances"]
    if opening != "none" and ob.height:
        years = sorted(set(ob["fiscal_year"].to_list()))
        for year in years[:1] if opening == "first" else years:
            rows = ob.filter(pl.col("fiscal_year") == year).sort("account_code").iter_rows(named=True)
            lines = tuple(
                Line(account=r["account_code"], amount=r["amount"], description=r["description"])
                for r in rows
            )
            day = date(year, 1, 1) - timedelta(days=1) if opening == "first" else date(year, 1, 1)
            key = f"OB|{year}"
            out[key] = Entry(
                key=key,
                journal="OB",
                number=str(year),
                day=day,
                lines=lines,
                opening=True,
                fiscal_year=year if opening != "first" else year - 1,
            )
    return out


@functools.lru_cache(maxsize=32)
def demo_entries(demo_id: str, as_of: date, seed: int = 42, opening: str = "first") -> dict[str, Entry]:
    """The demo entity's entries at the end of `as_of` (cached: entries are immutable)."""
    return entries_from_frames(generate_entity(demo_id, as_of, seed), opening=opening)


class Books:
    """One entity's current entries, and what changed each time they move on."""

    def __init__(self, entries: dict[str, Entry]):
        self.entries = dict(entries)

    def ordered(self) -> list[Entry]:
        """Entries in booking order (day, then key): the order a vendor numbers them in."""
        return sorted(self.entries.values(), key=lambda e: (e.day, e.key))

    def replace(self, new: dict[str, Entry]) -> Changes:
        """Make `new` the current entries and say what was added, changed and deleted."""
        changes = Changes()
        for key, entry in sorted(new.items(), key=lambda kv: (kv[1].day, kv[0])):
            before = self.entries.get(key)
            if before is None:
                changes.added.append(entry)
            elif before != entry:
                changes.changed.append((before, entry))
        changes.deleted = [e for k, e in sorted(self.entries.items()) if k not in new]
        self.entries = dict(new)
        return changes

    def edit(self, *, correct: int = 0, delete: int = 0, before: str | date | None = None) -> Changes:
        """Delete the `delete` most recent entries and correct the `correct` next ones (amounts
        x 1.1, still balanced), as bookkeeping does; opening balances are left alone."""
        limit = as_date(before) if before else None
        recent = sorted(
            (e for e in self.entries.values() if not e.opening and (limit is None or e.day < limit)),
            key=lambda e: (e.day, e.key),
            reverse=True,
        )
        new = dict(self.entries)
        for entry in recent[:delete]:
            del new[entry.key]
        for entry in recent[delete : delete + correct]:
            new[entry.key] = corrected(entry)
        return self.replace(new)


def corrected(entry: Entry) -> Entry:
    """The entry with every amount x 1.1, rounded to cents, the first line taking the rounding."""
    scaled = [(line.amount * Decimal("1.1")).quantize(CENT) for line in entry.lines]
    scaled[0] -= sum(scaled)
    lines = tuple(
        replace(line, amount=amount, amount_fc=None, currency_fc=None)
        for line, amount in zip(entry.lines, scaled, strict=True)
    )
    return replace(entry, lines=lines)


@dataclass(frozen=True)
class Account:
    """A chart account with the kind every vendor's account types can be derived from."""

    code: str
    name: str
    kind: str  # bank, receivable, current_asset, fixed_asset, payable, current_liability,
    # long_term_liability, equity, revenue, other_income, cost_of_sales, expense, other_expense

    @property
    def balance_sheet(self) -> bool:
        return self.kind not in ("revenue", "other_income", "cost_of_sales", "expense", "other_expense")


_CATEGORY_KINDS = {
    "Liquide middelen": "bank",
    "Vorderingen": "current_asset",
    "Voorraden": "current_asset",
    "Overlopende activa": "current_asset",
    "Immateriële vaste activa": "fixed_asset",
    "Materiële vaste activa": "fixed_asset",
    "Eigen vermogen": "equity",
    "Voorzieningen": "long_term_liability",
    "Langlopende schulden": "long_term_liability",
    "Kortlopende schulden": "current_liability",
    "Overlopende passiva": "current_liability",
    "Netto-omzet": "revenue",
    "Kostprijs van de omzet": "cost_of_sales",
}


def chart(frames: dict[str, pl.DataFrame]) -> list[Account]:
    """The demo chart of accounts with a kind per account."""
    out = []
    for a in frames["accounts"].iter_rows(named=True):
        code, category, pnl = a["code"], a["category"], a["account_type"] == "pnl"
        if code == "1300":
            kind = "receivable"
        elif code == "1600":
            kind = "payable"
        elif code == "1500":
            kind = "current_asset"
        elif category == "Belastingen":
            kind = "other_expense" if pnl else "current_liability"
        elif category == "Financiële baten en lasten":
            kind = "other_income" if code == "9000" else "other_expense"
        else:
            kind = _CATEGORY_KINDS.get(category, "expense" if pnl else "current_asset")
        out.append(Account(code, a["name"], kind))
    return out


@functools.lru_cache(maxsize=8)
def demo_chart(demo_id: str) -> tuple[Account, ...]:
    """The chart of a demo entity (the same for every day)."""
    return tuple(chart(generate_entity(demo_id, date(2024, 1, 31), 42)))


@functools.lru_cache(maxsize=1)
def dimensions() -> tuple[tuple[str, str, str], ...]:
    """(axis, code, name) of the demo's cost centres and projects (the same for every entity)."""
    frames = generate_entity("demo-retail", date(2024, 1, 31), 42)
    return tuple((d["axis"], d["code"], d["name"]) for d in frames["dimensions"].iter_rows(named=True))
