"""The trial balance of an entity over a month range, read from report-ready rows."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from pipeline import entities
from pipeline.errors import ConfigError
from pipeline.sqlfiles import query_file

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


def parse_month(text: str | None) -> date | None:
    """'2024-03' -> date(2024, 3, 1); a clear error for anything else."""
    if text is None:
        return None
    match = _MONTH.match(text.strip())
    if not match or not 1 <= int(match.group(2)) <= 12:
        raise ConfigError(f"{text!r} is not a month; write it as YYYY-MM, e.g. 2024-03.")
    return date(int(match.group(1)), int(match.group(2)), 1)


def fiscal_year_start(month: date, start_month: int) -> date:
    """The first day of the fiscal year that contains `month`."""
    year = month.year if month.month >= start_month else month.year - 1
    return date(year, start_month, 1)


@dataclass
class TrialBalance:
    entity: str
    from_month: date | None
    to_month: date | None
    accounts: list[dict] = field(default_factory=list)

    @property
    def debit_total(self) -> Decimal:
        return sum((a["debit"] for a in self.accounts), Decimal("0.00"))

    @property
    def credit_total(self) -> Decimal:
        return sum((a["credit"] for a in self.accounts), Decimal("0.00"))

    def as_json(self) -> dict:
        """The CLI contract: amounts as decimal strings."""
        return {
            "entity": self.entity,
            "from": self.from_month.strftime("%Y-%m") if self.from_month else None,
            "to": self.to_month.strftime("%Y-%m") if self.to_month else None,
            "accounts": [
                {
                    "code": a["code"],
                    "name": a["name"],
                    "type": a["account_type"],
                    "opening": f"{a['opening']:.2f}",
                    "debit": f"{a['debit']:.2f}",
                    "credit": f"{a['credit']:.2f}",
                    "balance": f"{a['balance']:.2f}",
                }
                for a in self.accounts
            ],
            "debit_total": f"{self.debit_total:.2f}",
            "credit_total": f"{self.credit_total:.2f}",
        }


def trial_balance(
    con, entity_name: str, from_month: str | None = None, to_month: str | None = None
) -> TrialBalance:
    """Opening, debit, credit and balance per account for the months from..to (inclusive)."""
    ent = entities.entity_by_name(con, entity_name)
    start, end = parse_month(from_month), parse_month(to_month)
    if start is None or end is None:
        lo, hi = con.execute(
            "SELECT min(month), max(month) FROM rpt_trial_balance WHERE entity_id = ?", [ent["id"]]
        ).fetchone()
        start, end = start or lo, end or hi
    if start is None:  # nothing imported yet
        return TrialBalance(ent["name"], None, None, [])
    if end < start:
        raise ConfigError(f"The range ends ({end:%Y-%m}) before it starts ({start:%Y-%m}).")
    cursor = query_file(
        con,
        "reports",
        "trial_balance.sql",
        params={
            "entity_id": ent["id"],
            "from_month": start,
            "to_month": end,
            "fy_start": fiscal_year_start(start, ent["fiscal_year_start_month"] or 1),
        },
    )
    names = [d[0] for d in cursor.description]
    rows = [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]
    return TrialBalance(ent["name"], start, end, rows)
