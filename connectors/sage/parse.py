"""Pure functions from Sage Business Cloud Accounting (API v3.1) payloads to Ledgerline rows.

Shapes (Sage's API reference as generated into its SDKs, e.g. the LedgerEntry and LedgerAccount
models): collections answer {"$total", "$page", "$next", "$back", "$itemsPerPage", "$items"};
references are {"id", "displayed_as", "$path"}.
- ledger_entries: {id, date, debit, credit, description, deleted, created_at, updated_at,
  ledger_account {id}, transaction {id, displayed_as}, transaction_type {id}, journal_code}.
  One entry is one posting: debit and credit are positive numbers, one of them zero.
- ledger_accounts: {id, nominal_code, name, displayed_as, ledger_account_type {id},
  ledger_account_classification {id}}.
- financial_settings: {year_end_date, base_currency {id}}.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime
from functools import partial
from typing import Any

from connectors.base import EntityInfo
from connectors.fiscal import fiscal_period, start_month
from connectors.oauth_connector import money as api_money
from connectors.oauth_connector import text
from pipeline.errors import ParseError

FILE = "Sage Accounting"
# ledger_account_type ids that are profit and loss; the rest are balance sheet.
PNL_TYPES = {"SALES", "OTHER_INCOME", "DIRECT_EXPENSES", "OVERHEADS", "DEPRECIATION"}


money = partial(api_money, file=FILE)  # an amount in cents; missing or blank is zero


def ref_id(value: Any) -> str | None:
    return text(value.get("id")) if isinstance(value, Mapping) else None


def sage_date(value: Any, *, field: str, where: str) -> date:
    try:
        return date.fromisoformat(str(value)[:10])
    except (TypeError, ValueError):
        raise ParseError(f"{value!r} is not a date", file=FILE, where=where, field=field) from None


def sage_datetime(value: Any) -> datetime | None:
    """A Sage timestamp ("2024-03-01T10:00:00Z") as an aware datetime."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def business(row: Mapping[str, Any], settings: Mapping[str, Any] | None) -> EntityInfo:
    """A business (from /businesses) with its financial settings as an entity."""
    end = (
        sage_date(settings.get("year_end_date"), field="year_end_date", where="financial_settings")
        if settings and settings.get("year_end_date")
        else None
    )
    return EntityInfo(
        name=text(row.get("name")) or text(row.get("displayed_as")),
        external_id=str(row["id"]),
        currency=ref_id((settings or {}).get("base_currency")),
        fiscal_year_start_month=start_month(end.month) if end else None,
        extra={"sage_year_end_month": end.month if end else 12},
    )


def account_rows(rows: Iterable[Mapping[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Ledger accounts as account rows, and the map from Sage's account id to its code
    (the nominal code; the id for an account without one)."""
    out, codes = [], {}
    for row in rows:
        key = text(row.get("id"))
        if key is None:
            continue
        code = text(row.get("nominal_code")) or key
        codes[key] = code
        kind = ref_id(row.get("ledger_account_type"))
        out.append(
            {
                "code": code,
                "name": text(row.get("name")) or text(row.get("displayed_as")),
                "account_type": "pnl" if kind in PNL_TYPES else "balance" if kind else None,
                "category": kind,
                "standard_code": None,
            }
        )
    return out, codes


class EntryBatch:
    """Ledger entries of one business as transaction rows, keyed by the entry's id."""

    def __init__(
        self, *, business_id: str, currency: str | None, year_end_month: int, codes: Mapping[str, str]
    ):
        self.business_id, self.currency, self.year_end_month, self.codes = (
            business_id,
            currency,
            year_end_month,
            codes,
        )
        self.rows: dict[str, dict[str, Any]] = {}
        self.deleted: set[str] = set()
        self.unknown_accounts: set[str] = set()

    def add(self, items: Iterable[Mapping[str, Any]]) -> None:
        for item in items:
            self._add(item)

    def delete(self, items: Iterable[Mapping[str, Any]]) -> None:
        """Entries from a deleted_since read: gone, whatever was read before."""
        for item in items:
            key = text(item.get("id"))
            if key:
                self.deleted.add(key)
                self.rows.pop(key, None)

    def _add(self, item: Mapping[str, Any]) -> None:
        key = text(item.get("id"))
        if key is None:
            raise ParseError("a ledger entry has no id", file=FILE, where="ledger_entries", field="id")
        if item.get("deleted"):
            self.deleted.add(key)
            self.rows.pop(key, None)
            return
        where = f"ledger entry {key}"
        day = sage_date(item.get("date"), field="date", where=where)
        account_id = ref_id(item.get("ledger_account"))
        if account_id is None:
            raise ParseError(
                "the entry has no ledger account", file=FILE, where=where, field="ledger_account"
            )
        code = self.codes.get(account_id)
        if code is None:
            self.unknown_accounts.add(account_id)
            code = account_id
        amount = money(item.get("debit"), field="debit", where=where) - money(
            item.get("credit"), field="credit", where=where
        )
        transaction = item.get("transaction") if isinstance(item.get("transaction"), Mapping) else {}
        year, period = fiscal_period(day, self.year_end_month)
        self.deleted.discard(key)
        self.rows[key] = {
            "line_key": key,
            "journal": ref_id(item.get("transaction_type")) or ref_id(item.get("journal_code")),
            "entry": text(transaction.get("id")),
            "tx_date": day,
            "fiscal_year": year,
            "period": period,
            "account_code": code,
            "amount": amount,
            "currency": self.currency,
            "description": text(item.get("description")) or text(transaction.get("displayed_as")),
            "document_no": text(transaction.get("displayed_as")),
            "source_ref": f"sage:{self.business_id}:{key}",
        }
