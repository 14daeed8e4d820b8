"""Pure functions from QuickBooks Online (Accounting API v3) entities to Ledgerline rows.

Element names follow Intuit's v3 schemas (../shared/contracts/quickbooks-online, Finance.xsd and
IntuitRestServiceDef.xsd); the JSON format uses the same names. QuickBooks has no journal-lines
endpoint: its ledger is the postings of its transaction entities. `postings` turns each entity
into the postings QuickBooks makes for it, by the rules of double entry the schema states:

- JournalEntry: each line's JournalEntryLineDetail (PostingType Debit/Credit, AccountRef);
- Invoice / SalesReceipt: debit ARAccountRef (the receivables account when not named) or
  DepositToAccountRef with TotalAmt; credit each SalesItemLine's Item.IncomeAccountRef with its
  Amount; credit tax (TxnTaxDetail.TaxLine) to the tax agency's TaxTrackedOnSalesAccountRef;
  CreditMemo and RefundReceipt are their mirror images;
- Bill / Purchase: credit APAccountRef (payables) or the paying AccountRef with TotalAmt; debit
  each AccountBasedExpenseLine's AccountRef (ItemBasedExpenseLine: Item.ExpenseAccountRef); debit
  tax to the agency's TaxOnPurchasesAccountRef; VendorCredit and a Purchase with Credit=true are
  mirror images;
- Payment: debit DepositToAccountRef (Undeposited Funds when not named), credit receivables;
  BillPayment: debit payables, credit CheckPayment.BankAccountRef / CreditCardPayment.CCAccountRef;
- Deposit: debit DepositToAccountRef, credit each line's DepositLineDetail.AccountRef;
- Transfer: debit ToAccountRef, credit FromAccountRef.

Amounts in a foreign currency (CurrencyRef other than the home currency) are converted with the
entity's ExchangeRate. What QuickBooks computes without stating it on the entity (cost of goods
sold of inventory items, exchange differences) cannot be rebuilt: an entity whose postings do
not balance is reported as a problem, and a full import compares the rebuilt ledger with
QuickBooks' own trial balance (`compare_trial_balance`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from functools import partial
from typing import Any

from connectors.base import EntityInfo, Problem
from connectors.fiscal import fiscal_period
from connectors.oauth_connector import money as api_money
from connectors.oauth_connector import text
from pipeline.errors import ParseError

CENT = Decimal("0.01")
FILE = "QuickBooks Online"
MONTHS = {
    m: i
    for i, m in enumerate(
        (
            "January",
            "February",
            "March",
            "April",
            "May",
            "June",
            "July",
            "August",
            "September",
            "October",
            "November",
            "December",
        ),
        1,
    )
}
# The transaction entities that make up the ledger, in the order a full import reads them.
TRANSACTION_TYPES = (
    "JournalEntry",
    "Invoice",
    "SalesReceipt",
    "CreditMemo",
    "RefundReceipt",
    "Payment",
    "Bill",
    "VendorCredit",
    "Purchase",
    "BillPayment",
    "Deposit",
    "Transfer",
)
MASTER_TYPES = ("Account", "Class", "Department", "Item", "TaxRate", "TaxAgency")
BALANCE_CLASSIFICATIONS = {"Asset", "Liability", "Equity"}


money = partial(api_money, file=FILE)  # an amount in cents; missing or blank is zero


def ref(value: Any) -> str | None:
    """The id of a ReferenceType ({"value": "42", "name": ...})."""
    return text(value.get("value")) if isinstance(value, Mapping) else None


@dataclass
class Masters:
    """The lists postings are resolved against: accounts, items, tax rates and agencies, axes."""

    accounts: dict[str, dict[str, Any]] = field(default_factory=dict)
    items: dict[str, dict[str, Any]] = field(default_factory=dict)
    tax_rates: dict[str, dict[str, Any]] = field(default_factory=dict)
    agencies: dict[str, dict[str, Any]] = field(default_factory=dict)
    classes: dict[str, str] = field(default_factory=dict)
    departments: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_lists(cls, lists: Mapping[str, list[dict[str, Any]]]) -> Masters:
        def by_id(name: str) -> dict[str, dict[str, Any]]:
            return {str(r["Id"]): r for r in lists.get(name, []) if r.get("Id") is not None}

        return cls(
            accounts=by_id("Account"),
            items=by_id("Item"),
            tax_rates=by_id("TaxRate"),
            agencies=by_id("TaxAgency"),
            classes={
                k: text(v.get("FullyQualifiedName")) or text(v.get("Name")) or k
                for k, v in by_id("Class").items()
            },
            departments={
                k: text(v.get("FullyQualifiedName")) or text(v.get("Name")) or k
                for k, v in by_id("Department").items()
            },
        )

    def code(self, account_id: str) -> str:
        """An account's code: its number (AcctNum) when the company numbers accounts, else its id."""
        account = self.accounts.get(account_id) or {}
        return text(account.get("AcctNum")) or account_id

    def default(self, account_type: str, subtype: str | None = None) -> str | None:
        """The company's account of a type (receivables, payables, undeposited funds)."""
        for key, account in sorted(self.accounts.items(), key=lambda kv: _id_order(kv[0])):
            if account.get("AccountType") == account_type and (
                subtype is None or account.get("AccountSubType") == subtype
            ):
                return key
        return None


def _id_order(value: str) -> tuple[int, str]:
    return (int(value), "") if value.isdigit() else (10**18, value)


def company(info: Mapping[str, Any], prefs: Mapping[str, Any], realm: str) -> EntityInfo:
    """CompanyInfo and Preferences as an entity."""
    accounting = prefs.get("AccountingInfoPrefs") or {}
    start = MONTHS.get(str(accounting.get("FiscalYearStartMonth") or "January"), 1)
    currency = ref((prefs.get("CurrencyPrefs") or {}).get("HomeCurrency"))
    return EntityInfo(
        name=text(info.get("CompanyName")) or text(info.get("LegalName")) or f"QuickBooks company {realm}",
        external_id=realm,
        currency=currency,
        fiscal_year_start_month=start,
        extra={"qbo_year_end_month": (start - 2) % 12 + 1, "qbo_country": text(info.get("Country"))},
    )


def account_rows(masters: Masters) -> list[dict[str, Any]]:
    out = []
    for key, a in masters.accounts.items():
        classification = text(a.get("Classification"))
        parent = ref(a.get("ParentRef"))
        out.append(
            {
                "code": masters.code(key),
                "name": text(a.get("FullyQualifiedName")) or text(a.get("Name")),
                "account_type": "balance"
                if classification in BALANCE_CLASSIFICATIONS
                else "pnl"
                if classification
                else None,
                "category": text(a.get("AccountType")),
                "parent_code": masters.code(parent) if parent else None,
            }
        )
    return out


def dimension_rows(masters: Masters) -> list[dict[str, Any]]:
    """Classes are the cost centres, departments (locations) the projects."""
    return [{"axis": "cost_centre", "code": n, "name": n} for n in masters.classes.values()] + [
        {"axis": "project", "code": n, "name": n} for n in masters.departments.values()
    ]


@dataclass(frozen=True)
class Posting:
    account: str  # QuickBooks account id
    amount: Decimal  # home currency, debit positive
    description: str | None = None
    klass: str | None = None  # class id
    department: str | None = None  # department id


class Ledger:
    """Rebuilds the ledger from transaction entities: rows keyed "Type|Id|n", n = 1 ... postings."""

    def __init__(self, masters: Masters, *, realm: str, currency: str | None, year_end_month: int):
        self.masters, self.realm, self.currency, self.year_end_month = (
            masters,
            realm,
            currency,
            year_end_month,
        )
        self.rows: dict[str, dict[str, Any]] = {}
        self.sizes: dict[str, int] = {}  # "Type|Id" -> postings, for every entity read
        self.deleted: set[str] = set()  # "Type|Id"
        self.unbalanced: list[str] = []
        self.unresolved: set[str] = set()

    def add(self, kind: str, entities: Iterable[Mapping[str, Any]]) -> None:
        for entity in entities:
            if str(entity.get("status") or "").lower() == "deleted":
                self.delete(kind, str(entity["Id"]))
                continue
            self._add(kind, entity)

    def delete(self, kind: str, key: str) -> None:
        entity = f"{kind}|{key}"
        self.deleted.add(entity)
        for n in range(1, self.sizes.pop(entity, 0) + 1):
            self.rows.pop(f"{entity}|{n}", None)

    def deleted_keys(self, changed: Iterable[str], max_lines: int) -> list[str]:
        """Keys that may be stored but are no longer postings: all of a deleted entity's, and those
        past the new end of a changed one. Keys run from 1 to the most postings any entity of this
        company ever had, so `max_lines` bounds them without knowing what is stored."""
        out = []
        for entity in sorted(self.deleted):
            out += [f"{entity}|{n}" for n in range(1, max_lines + 1)]
        for entity in sorted(set(changed) - self.deleted):
            out += [f"{entity}|{n}" for n in range(self.sizes.get(entity, 0) + 1, max_lines + 1)]
        return out

    def problems(self) -> list[Problem]:
        out = []
        if self.unbalanced:
            shown = ", ".join(self.unbalanced[:10])
            out.append(
                Problem(
                    "unbalanced_entry",
                    f"{len(self.unbalanced)} QuickBooks transaction(s) do not balance when rebuilt from the entity "
                    f"(QuickBooks computes part of their postings, e.g. inventory or exchange differences): {shown}.",
                    f"company {self.realm}",
                )
            )
        if self.unresolved:
            out.append(
                Problem(
                    "unresolved_reference",
                    "Some lines name an item, tax rate or agency QuickBooks did not list: "
                    + ", ".join(sorted(self.unresolved)[:10])
                    + ".",
                    f"company {self.realm}",
                )
            )
        return out

    def _add(self, kind: str, entity: Mapping[str, Any]) -> None:
        key = text(entity.get("Id"))
        if key is None:
            raise ParseError(f"a {kind} has no Id", file=FILE, where=kind, field="Id")
        where = f"{kind} {key}"
        try:
            day = date.fromisoformat(str(entity.get("TxnDate"))[:10])
        except ValueError:
            raise ParseError(
                f"{entity.get('TxnDate')!r} is not a date", file=FILE, where=where, field="TxnDate"
            ) from None
        postings = self._postings(kind, entity, where)
        name = f"{kind}|{key}"
        for n in range(len(postings) + 1, self.sizes.get(name, 0) + 1):
            self.rows.pop(f"{name}|{n}", None)
        self.sizes[name] = len(postings)
        self.deleted.discard(name)
        if sum((p.amount for p in postings), Decimal("0.00")) != 0:
            self.unbalanced.append(where)
        year, period = fiscal_period(day, self.year_end_month)
        document = text(entity.get("DocNumber"))
        memo = text(entity.get("PrivateNote"))
        for n, p in enumerate(postings, 1):
            line_key = f"{name}|{n}"
            self.rows[line_key] = {
                "line_key": line_key,
                "journal": kind,
                "entry": key,
                "line": str(n),
                "tx_date": day,
                "fiscal_year": year,
                "period": period,
                "account_code": self.masters.code(p.account),
                "amount": p.amount,
                "currency": self.currency,
                "description": p.description or memo,
                "cost_centre": self.masters.classes.get(p.klass or "", p.klass),
                "project": self.masters.departments.get(p.department or "", p.department),
                "document_no": document,
                "source_ref": f"qbo:{self.realm}:{kind}:{key}",
            }

    # -- posting rules

    def _postings(self, kind: str, e: Mapping[str, Any], where: str) -> list[Posting]:
        rate = self._rate(e, where)
        dept = ref(e.get("DepartmentRef"))

        def amt(value: Any, field: str) -> Decimal:
            return (money(value, field=field, where=where) * rate).quantize(CENT)

        def p(
            account: str | None, amount: Decimal, desc: str | None = None, klass: str | None = None
        ) -> Posting:
            if account is None:
                raise ParseError("no account to post to", file=FILE, where=where, field="AccountRef")
            return Posting(account, amount, desc, klass, dept)

        total = amt(e.get("TotalAmt"), "TotalAmt")
        lines = list(e.get("Line") or [])
        if kind == "JournalEntry":
            out = []
            for line in lines:
                d = line.get("JournalEntryLineDetail")
                if not isinstance(d, Mapping):
                    continue
                sign = 1 if d.get("PostingType") == "Debit" else -1
                out.append(
                    Posting(
                        ref(d.get("AccountRef")) or "",
                        sign * amt(line.get("Amount"), "Amount"),
                        text(line.get("Description")),
                        ref(d.get("ClassRef")),
                        ref(d.get("DepartmentRef")) or dept,
                    )
                )
            if any(not x.account for x in out):
                raise ParseError("a journal line has no account", file=FILE, where=where, field="AccountRef")
            return out
        if kind in ("Invoice", "SalesReceipt", "CreditMemo", "RefundReceipt"):
            sign = 1 if kind in ("Invoice", "SalesReceipt") else -1
            if kind in ("Invoice", "CreditMemo"):
                head = ref(e.get("ARAccountRef")) or self.masters.default("Accounts Receivable")
            else:
                head = ref(e.get("DepositToAccountRef")) or self.masters.default(
                    "Other Current Asset", "UndepositedFunds"
                )
            out = [p(head, sign * total)]
            for line in lines:
                if isinstance(line.get("SalesItemLineDetail"), Mapping):
                    d = line["SalesItemLineDetail"]
                    item = self._item(ref(d.get("ItemRef")))
                    out.append(
                        p(
                            ref(item.get("IncomeAccountRef")),
                            -sign * amt(line.get("Amount"), "Amount"),
                            text(line.get("Description")),
                            ref(d.get("ClassRef")),
                        )
                    )
                elif isinstance(line.get("DiscountLineDetail"), Mapping):
                    d = line["DiscountLineDetail"]
                    out.append(
                        p(
                            ref(d.get("DiscountAccountRef")),
                            sign * amt(line.get("Amount"), "Amount"),
                            text(line.get("Description")),
                            ref(d.get("ClassRef")),
                        )
                    )
            out += [
                p(account, -sign * amount)
                for account, amount in self._tax(e, "TaxTrackedOnSalesAccountRef", amt)
            ]
            return out
        if kind in ("Bill", "VendorCredit", "Purchase"):
            sign = 1 if kind != "VendorCredit" and not e.get("Credit") else -1
            if kind == "Purchase":
                head = ref(e.get("AccountRef"))
            else:
                head = ref(e.get("APAccountRef")) or self.masters.default("Accounts Payable")
            out = [p(head, -sign * total)]
            for line in lines:
                if isinstance(line.get("AccountBasedExpenseLineDetail"), Mapping):
                    d = line["AccountBasedExpenseLineDetail"]
                    account = ref(d.get("AccountRef"))
                elif isinstance(line.get("ItemBasedExpenseLineDetail"), Mapping):
                    d = line["ItemBasedExpenseLineDetail"]
                    account = ref(self._item(ref(d.get("ItemRef"))).get("ExpenseAccountRef"))
                else:
                    continue
                out.append(
                    p(
                        account,
                        sign * amt(line.get("Amount"), "Amount"),
                        text(line.get("Description")),
                        ref(d.get("ClassRef")),
                    )
                )
            out += [
                p(account, sign * amount) for account, amount in self._tax(e, "TaxOnPurchasesAccountRef", amt)
            ]
            return out
        if kind == "Payment":
            to = ref(e.get("DepositToAccountRef")) or self.masters.default(
                "Other Current Asset", "UndepositedFunds"
            )
            ar = ref(e.get("ARAccountRef")) or self.masters.default("Accounts Receivable")
            return [p(to, total), p(ar, -total)]
        if kind == "BillPayment":
            ap = ref(e.get("APAccountRef")) or self.masters.default("Accounts Payable")
            paid_from = ref((e.get("CheckPayment") or {}).get("BankAccountRef")) or ref(
                (e.get("CreditCardPayment") or {}).get("CCAccountRef")
            )
            return [p(ap, total), p(paid_from, -total)]
        if kind == "Deposit":
            out = [p(ref(e.get("DepositToAccountRef")), total)]
            for line in lines:
                d = (
                    line.get("DepositLineDetail")
                    if isinstance(line.get("DepositLineDetail"), Mapping)
                    else {}
                )
                account = ref(d.get("AccountRef")) or self.masters.default(
                    "Other Current Asset", "UndepositedFunds"
                )
                out.append(
                    p(
                        account,
                        -amt(line.get("Amount"), "Amount"),
                        text(line.get("Description")),
                        ref(d.get("ClassRef")),
                    )
                )
            return out
        if kind == "Transfer":
            amount = amt(e.get("Amount"), "Amount")
            return [p(ref(e.get("ToAccountRef")), amount), p(ref(e.get("FromAccountRef")), -amount)]
        raise ParseError(f"{kind} is not a transaction Ledgerline reads", file=FILE, where=where)

    def _rate(self, e: Mapping[str, Any], where: str) -> Decimal:
        currency = ref(e.get("CurrencyRef"))
        if currency is None or currency == self.currency or e.get("ExchangeRate") in (None, ""):
            return Decimal(1)
        try:
            return Decimal(str(e["ExchangeRate"]))
        except InvalidOperation:
            raise ParseError(
                f"{e['ExchangeRate']!r} is not a rate", file=FILE, where=where, field="ExchangeRate"
            ) from None

    def _item(self, key: str | None) -> Mapping[str, Any]:
        item = self.masters.items.get(key or "")
        if item is None:
            self.unresolved.add(f"item {key}")
            return {}
        return item

    def _tax(self, e: Mapping[str, Any], field_name: str, amt) -> list[tuple[str | None, Decimal]]:
        detail = e.get("TxnTaxDetail") if isinstance(e.get("TxnTaxDetail"), Mapping) else {}
        out = []
        for line in detail.get("TaxLine") or []:
            d = line.get("TaxLineDetail") or {}
            rate = self.masters.tax_rates.get(ref(d.get("TaxRateRef")) or "")
            agency = self.masters.agencies.get(ref((rate or {}).get("AgencyRef")) or "")
            account = ref((agency or {}).get(field_name))
            if account is None:
                self.unresolved.add(f"tax rate {ref(d.get('TaxRateRef'))}")
            out.append((account, amt(line.get("Amount"), "TaxLine.Amount")))
        return out


def trial_balance(report: Mapping[str, Any], masters: Masters) -> dict[str, Decimal]:
    """QuickBooks' TrialBalance report as {account code: debit - credit}."""
    out: dict[str, Decimal] = {}

    def walk(rows: Iterable[Mapping[str, Any]]) -> None:
        for row in rows:
            if isinstance(row.get("Rows"), Mapping):
                walk(row["Rows"].get("Row") or [])
            cols = row.get("ColData")
            if not cols or row.get("type") == "Section" or len(cols) < 3 or not cols[0].get("id"):
                continue
            debit = money(cols[1].get("value"), field="Debit", where="TrialBalance")
            credit = money(cols[2].get("value"), field="Credit", where="TrialBalance")
            code = masters.code(str(cols[0]["id"]))
            out[code] = out.get(code, Decimal("0.00")) + debit - credit

    walk((report.get("Rows") or {}).get("Row") or [])
    return out


def rebuilt_trial_balance(
    rows: Iterable[Mapping[str, Any]], masters: Masters, *, end: date, year_start: date
) -> dict[str, Decimal]:
    """The rebuilt ledger the way QuickBooks' trial balance shows it on `end`: balance sheet
    accounts to date, income and expenses for the current fiscal year, earlier years' result in
    retained earnings."""
    kinds = {masters.code(k): a for k, a in masters.accounts.items()}
    retained = next(
        (
            masters.code(k)
            for k, a in masters.accounts.items()
            if a.get("AccountSubType") == "RetainedEarnings"
        ),
        None,
    )
    out: dict[str, Decimal] = {}
    for row in rows:
        if row["tx_date"] > end:
            continue
        code = row["account_code"]
        balance = (kinds.get(code) or {}).get("Classification") in BALANCE_CLASSIFICATIONS
        if not balance and row["tx_date"] < year_start:
            if retained is None:
                continue
            code = retained
        out[code] = out.get(code, Decimal("0.00")) + row["amount"]
    return {k: v for k, v in out.items() if v != 0}


def compare_trial_balance(
    ours: Mapping[str, Decimal], theirs: Mapping[str, Decimal]
) -> list[tuple[str, Decimal, Decimal]]:
    """(account, rebuilt, QuickBooks) for every account where the two differ."""
    return [
        (code, ours.get(code, Decimal("0.00")), theirs.get(code, Decimal("0.00")))
        for code in sorted(set(ours) | set(theirs))
        if ours.get(code, Decimal("0.00")) != theirs.get(code, Decimal("0.00"))
    ]
