"""SAF-T Financial reader: the Norwegian Standard Audit File - Tax, versions 1.10 and 1.30.

One pass with iterparse: Header -> EntityInfo and the selection's date range; MasterFiles'
GeneralLedgerAccounts -> accounts (and opening balances from OpeningDebit/CreditBalance);
AnalysisTypeTable -> dimensions; GeneralLedgerEntries' Journal/Transaction/Line -> transactions.

Assumptions, because the standard leaves them open:
- A selection by accounting periods (PeriodStart/PeriodEnd) is read as calendar months, period N of
  a year being month N (Norwegian books follow the calendar year unless the company chose
  otherwise); the resulting date range is reported as an info Problem so the user can check it.
- SAF-T NO has no balance/P&L flag (AccountType is always 'GL'). The standard accounts and grouping
  codes follow the Norwegian chart NS 4102, where classes 1-2 are the balance sheet and 3-8 the
  profit and loss account; the type is derived from the first digit of the standard code, else of
  the account number when it is numeric. Class 9 and anything else stays open.
- Analysis types are free codes. A type whose description says department/cost centre
  ('avdeling', 'kostnadssted', ...) maps to the cost_centre axis, project ('prosjekt') to project;
  a type without a description falls back to the common codes A/K (cost centre) and P (project).
  Other types keep their own axis, named `analysis:<type>`.

Keys: `PeriodYear|JournalID|TransactionID|RecordID`, with the same fallbacks as the XAF reader
(position for missing or repeated RecordIDs, `#2` for a TransactionID used twice in a journal).
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from lxml import etree

from connectors.base import (
    Capabilities,
    EntityInfo,
    Extraction,
    Problem,
    axes_json,
)
from connectors.files.xmlsafe import (
    AuditFileConnector,
    AuditFileParser,
    child,
    fields,
    local_name,
    namespace_of,
    parse_decimal,
    parse_int,
    root_is,
    to_money,
)
from pipeline.errors import ParseError

NAMESPACE_PREFIX = "urn:standardauditfile-taxation-financial:"
STANDARD_SCHEME = "SAF-T NO"
_COST_CENTRE_WORDS = re.compile(
    r"avdeling|department|kostnadssted|kostsenter|kostnadssenter|ansvar|cost ?cent(?:re|er)", re.I
)
_PROJECT_WORDS = re.compile(r"prosjekt|project", re.I)
_CODE_AXES = {"A": "cost_centre", "K": "cost_centre", "P": "project"}
# The elements the parser is called for; records it does not read are listed only to be released.
_TAGS = (
    "AuditFile",
    "Header",
    "MasterFiles",
    "Account",
    "AnalysisTypeTable",
    "AnalysisTypeTableEntry",
    "GeneralLedgerEntries",
    "Journal",
    "Transaction",
    "Customer",
    "Supplier",
    "Owner",
    "TaxTableEntry",
    "Product",
    "Invoice",
    "Payment",
)
# Containers read after their children; they hold only a few leaves.
_KEEP = {"AuditFile", "Header", "MasterFiles", "AnalysisTypeTable", "GeneralLedgerEntries"}


def looks_like_saft(head: bytes) -> bool:
    """True when the first bytes show an `AuditFile` root in a SAF-T Financial namespace."""
    return root_is(head, "AuditFile", NAMESPACE_PREFIX)


def parse_saft(
    path: Path,
    *,
    max_bytes: int | None = None,
    progress: Callable[[str, float], None] | None = None,
) -> Extraction:
    """Read a SAF-T Financial file into accounts, dimensions, transactions and opening balances.

    Raises InputTooLarge for a file over `max_bytes` (before reading it) and ParseError for a file
    that is empty, not XML, not SAF-T Financial, cut off, or holds a line that cannot be read.
    """
    return _SaftParser(Path(path), max_bytes, progress).run()


class SaftConnector(AuditFileConnector):
    """Upload of a SAF-T Financial file (Norwegian format, 1.10 and 1.30)."""

    name = "saft"
    label = "SAF-T Financial"
    capabilities = Capabilities(
        transactions=True,
        accounts=True,
        dimensions=True,
        opening_balances=True,
        notes=(
            "Norwegian SAF-T Financial 1.10 and 1.30 (.xml).",
            "A file replaces the lines of the period its selection criteria cover.",
        ),
    )
    upload_guidance = "Upload a SAF-T Financial file."
    parse = staticmethod(parse_saft)


def account_type(standard_code: str | None, account_id: str | None) -> str | None:
    """'balance' / 'pnl' from the NS 4102 class of the standard code, else of a numeric account."""
    for code in (standard_code, account_id):
        if code and code.isdigit():
            first = code[0]
            if first in "12":
                return "balance"
            if first in "345678":
                return "pnl"
            return None
    return None


class _SaftParser(AuditFileParser):
    what = "a SAF-T file"
    reading = "Reading the SAF-T file"
    header_tag = "Header"

    def __init__(self, path: Path, max_bytes: int | None, progress: Callable[[str, float], None] | None):
        super().__init__(path, max_bytes, progress)
        self.gl_scalars: dict[str, str | None] = {}
        self.start_month: int | None = None
        self.openings_apply = False
        self.analysis_entries: list[dict[str, str | None]] = []
        self.axes: dict[str, str] | None = None
        self.has_entries = False

    def run(self) -> Extraction:
        records = self._records(_TAGS, keep=_KEEP, after_header=("MasterFiles", "GeneralLedgerEntries"))
        for name, elem in records:
            if name == "Header":
                self._header(elem)
            elif name == "Account":
                self._account(elem)
            elif name == "AnalysisTypeTableEntry":
                self.analysis_entries.append(fields(elem))
            elif name == "AnalysisTypeTable":
                self._analysis_axes()
            elif name == "Transaction":
                self._transaction(elem)
            elif name == "GeneralLedgerEntries":
                self.gl_scalars = fields(elem)
                self.has_entries = True
        if not self.header_done:
            if self.reader.root_tag:
                self._check_root(local_name(self.reader.root_tag), namespace_of(self.reader.root_tag))
            raise ParseError("the file has no <Header>", file=self.file, where="AuditFile", field="Header")
        return self._extraction()

    def _check_root(self, name: str, namespace: str | None) -> None:
        if name != "AuditFile":
            raise ParseError(
                f"this is not a SAF-T file: its XML starts with <{name}>, not <AuditFile>",
                file=self.file,
                guidance="Choose the importer that matches the file.",
            )
        if not (namespace or "").lower().startswith(NAMESPACE_PREFIX):
            raise ParseError(
                f"this SAF-T variant ({namespace or 'no namespace'}) is not supported; Ledgerline "
                "reads SAF-T Financial (urn:StandardAuditFile-Taxation-Financial)",
                file=self.file,
                where="AuditFile",
            )

    # --- header -------------------------------------------------------------------------------

    def _header(self, elem: etree._Element) -> None:
        self.header_done = True
        self.header = fields(elem)
        company = child(elem, "Company")
        self.company = fields(company) if company is not None else {}
        self.currency = self.header.get("DefaultCurrencyCode")
        if not self.currency:
            self.dev.note("no_currency", "The header has no DefaultCurrencyCode", "Header")
        criteria = child(elem, "SelectionCriteria")
        sc = fields(criteria) if criteria is not None else {}
        where = "Header / SelectionCriteria"
        if sc.get("SelectionStartDate") or sc.get("SelectionEndDate"):
            self.start = self._date(sc.get("SelectionStartDate"), where, "SelectionStartDate")
            self.end = self._date(sc.get("SelectionEndDate"), where, "SelectionEndDate")
            self.fiscal_year = self.start.year
            full_year = self.end == _add_year(self.start) - timedelta(days=1)
            self.openings_apply = full_year or (self.start.month, self.start.day) == (1, 1)
            self.start_month = self.start.month if full_year else (1 if self.openings_apply else None)
        else:
            ps, psy = self._int(sc, "PeriodStart", where), self._int(sc, "PeriodStartYear", where)
            pe, pey = self._int(sc, "PeriodEnd", where), self._int(sc, "PeriodEndYear", where)
            first, last = min(max(ps, 1), 12), min(max(pe, 1), 12)
            self.start = date(psy, first, 1)
            self.end = date(pey, last, calendar.monthrange(pey, last)[1])
            self.fiscal_year = psy
            self.openings_apply = ps <= 1
            self.start_month = 1 if ps <= 1 else None
            self.problems.append(
                Problem(
                    "assumption",
                    f"The file selects accounting periods {ps}/{psy} to {pe}/{pey}; they were read as "
                    f"calendar months, {self.start} to {self.end}. Lines in that range that are not in "
                    "this file are removed on import.",
                    where,
                    "info",
                )
            )
        if self.end < self.start:
            raise ParseError(
                f"the selection ends ({self.end}) before it starts ({self.start})",
                file=self.file,
                where=where,
            )

    def _int(self, values: dict[str, str | None], name: str, where: str) -> int:
        value = parse_int(values.get(name))
        if value is None or value < 0:
            raise ParseError(
                "the selection criteria must give either SelectionStartDate/SelectionEndDate or "
                f"PeriodStart/PeriodStartYear/PeriodEnd/PeriodEndYear; {name} is "
                f"{values.get(name) or 'missing'!r}",
                file=self.file,
                where=where,
                field=name,
            )
        if name.endswith("Year") and not 1900 <= value <= 2200:
            raise ParseError(f"{value} is not a plausible year", file=self.file, where=where, field=name)
        return value

    # --- master files -------------------------------------------------------------------------

    def _account(self, elem: etree._Element) -> None:
        f = fields(elem)
        code = f.get("AccountID")
        where = f"GeneralLedgerAccounts / Account (XML line {elem.sourceline})"
        if not code:
            raise ParseError("an account has no AccountID", file=self.file, where=where, field="AccountID")
        if code in self.account_codes:
            self.dev.note("duplicate_account", "Accounts listed twice; the first was kept", where, code)
            return
        self.account_codes.add(code)
        where = f"GeneralLedgerAccounts / Account {code}"
        standard, scheme = f.get("StandardAccountID"), STANDARD_SCHEME
        group_category, group_code = f.get("GroupingCategory"), f.get("GroupingCode")
        if not standard and group_code:
            standard = group_code
            scheme = f"{STANDARD_SCHEME} {group_category}" if group_category else STANDARD_SCHEME
        category = " ".join(v for v in (group_category, group_code) if v) or None
        self.accounts.add(
            code=code,
            name=f.get("AccountDescription"),
            account_type=account_type(standard, code),
            category=category,
            standard_code=standard,
            standard_scheme=scheme if standard else None,
        )
        self._opening(f, code, where)

    def _opening(self, f: dict[str, str | None], code: str, where: str) -> None:
        debit_text, credit_text = f.get("OpeningDebitBalance"), f.get("OpeningCreditBalance")
        if debit_text is None and credit_text is None:
            self.dev.note("no_opening", "Accounts without an opening balance", where, code)
            return
        if debit_text is not None and credit_text is not None:
            self.dev.note(
                "both_openings",
                "Accounts with both an opening debit and credit balance; they were netted",
                where,
                code,
            )
        amount = Decimal("0.00")
        for text, sign, field_name in (
            (debit_text, 1, "OpeningDebitBalance"),
            (credit_text, -1, "OpeningCreditBalance"),
        ):
            if text is not None:
                amount += sign * self._money(text, where, field_name)
        if not self.openings_apply:
            return
        self.openings.add(
            line_key=f"{self.fiscal_year}|{code}",
            fiscal_year=self.fiscal_year,
            balance_date=self.start,
            account_code=code,
            amount=amount,
            description="Opening balance",
            source_ref=f"GeneralLedgerAccounts/Account {code}",
        )

    def _analysis_axes(self) -> None:
        types: dict[str, str | None] = {}
        for entry in self.analysis_entries:
            kind = entry.get("AnalysisType")
            if kind:
                types.setdefault(kind, entry.get("AnalysisTypeDescription"))
        axes: dict[str, str] = {}
        taken: set[str] = set()
        # Types whose description names the axis win over types that only have a matching code.
        for by_description in (True, False):
            for kind, description in types.items():
                if kind in axes:
                    continue
                if by_description and description:
                    if _COST_CENTRE_WORDS.search(description):
                        axis = "cost_centre"
                    elif _PROJECT_WORDS.search(description):
                        axis = "project"
                    else:
                        continue
                elif not by_description and not description:
                    axis = _CODE_AXES.get(kind.upper(), "")
                else:
                    continue
                if axis and axis not in taken:
                    axes[kind] = axis
                    taken.add(axis)
        for kind in types:
            axes.setdefault(kind, f"analysis:{kind}")
        if not types:
            axes = dict(_CODE_AXES)
        self.axes = axes
        for entry in self.analysis_entries:
            kind, code = entry.get("AnalysisType"), entry.get("AnalysisID")
            if not kind or not code:
                continue
            key = (axes[kind], code)
            if key not in self.dimension_keys:
                self.dimension_keys.add(key)
                self.dimensions.add(axis=key[0], code=code, name=entry.get("AnalysisIDDescription"))
        self.analysis_entries = []

    # --- general ledger entries ---------------------------------------------------------------

    def _transaction(self, elem: etree._Element) -> None:
        if self.axes is None:
            self._analysis_axes()
        t, tx_nested = self._transaction_fields(
            elem,
            journal_field="JournalID",
            journal_tag="Journal",
            code="no_journal_id",
            message="Journals without a JournalID; their position was used",
        )
        journal = self.journal_id
        nr = t.get("TransactionID")
        if not nr:
            nr = f"#{self.tx_in_journal}"
            self.dev.note(
                "no_transaction_id",
                "Transactions without a TransactionID; their position in the journal was used",
                f"Journal {journal} / Transaction {nr}",
            )
        where_tx = f"Journal {journal} / Transaction {nr}"
        year = parse_int(t.get("PeriodYear"))
        if year is None:
            self.dev.note(
                "period_year",
                "Transactions without a readable PeriodYear; the file's year was used",
                where_tx,
            )
            year = self.fiscal_year
        entry_key = self._entry_key(
            (year, journal, nr), nr, "TransactionIDs used twice in one journal; both were kept", where_tx, nr
        )
        period_text = t.get("Period")
        period = parse_int(period_text)
        if period is None:
            self.dev.note("period", "Transactions without a readable Period", where_tx, period_text)
        lines = self._numbered_lines(
            tx_nested.get("Line", []),
            "RecordID",
            "record_id",
            "Transactions whose lines have no unique RecordID; lines were numbered by position",
            where_tx,
        )
        for line, line_elem, f, sub in lines:
            where = f"{where_tx} / Line {line} (XML line {line_elem.sourceline})"
            self._line(f, sub, t, journal, nr, entry_key, line, year, period, where)

    def _line(
        self,
        f: dict[str, str | None],
        sub: dict[str, list[etree._Element]],
        t: dict[str, str | None],
        journal: str,
        nr: str,
        entry_key: str,
        line: str,
        year: int | None,
        period: int | None,
        where: str,
    ) -> None:
        assert self.axes is not None
        account = f.get("AccountID")
        if not account:
            raise ParseError("the line has no AccountID", file=self.file, where=where, field="AccountID")
        debit, credit = (sub.get(side, [None])[0] for side in ("DebitAmount", "CreditAmount"))
        if (debit is None) == (credit is None):
            raise ParseError(
                "the line must have either a DebitAmount or a CreditAmount"
                + (", not both" if debit is not None else ""),
                file=self.file,
                where=where,
                field="DebitAmount/CreditAmount",
            )
        side, holder = ("DebitAmount", debit) if debit is not None else ("CreditAmount", credit)
        assert holder is not None
        a = fields(holder)
        amount = self._money(a.get("Amount"), where, f"{side}/Amount")
        if side == "DebitAmount":
            self.debit += amount
        else:
            self.credit += amount
        sign = 1 if side == "DebitAmount" else -1
        amount_fc, currency_fc = None, a.get("CurrencyCode")
        if a.get("CurrencyAmount") is not None or currency_fc:
            try:
                amount_fc = sign * to_money(parse_decimal(a.get("CurrencyAmount")))[0]
            except ValueError:
                self.dev.note(
                    "foreign_amount",
                    "Foreign-currency amounts (CurrencyAmount) that cannot be read; the lines were kept without them",
                    where,
                    a.get("CurrencyAmount"),
                )
                currency_fc = None
        tx_date_text = t.get("TransactionDate")
        if tx_date_text is None:
            tx_date = self._date(f.get("ValueDate"), where, "ValueDate")
            self.dev.note(
                "no_date", "Transactions without TransactionDate; the line's ValueDate was used", where
            )
        else:
            tx_date = self._date(tx_date_text, where.split(" / Line")[0], "TransactionDate")
        cost_centre = project = None
        other_axes: dict[str, str] = {}
        for analysis in sub.get("Analysis", []):
            af = fields(analysis)
            axis = self.axes.get(af.get("AnalysisType") or "")
            code = af.get("AnalysisID")
            if not code or axis is None:
                continue
            if axis == "cost_centre" and cost_centre is None:
                cost_centre = code
            elif axis == "project" and project is None:
                project = code
            else:
                other_axes.setdefault(axis, code)
            self.used.setdefault(axis, set()).add(code)
        self.lines.add(
            line_key=f"{year}|{journal}|{entry_key}|{line}",
            journal=journal,
            entry=nr,
            line=line,
            tx_date=tx_date,
            fiscal_year=year,
            period=period,
            account_code=account,
            amount=sign * amount,
            currency=self.currency,
            amount_fc=amount_fc,
            currency_fc=currency_fc if amount_fc is not None else None,
            description=f.get("Description") or t.get("Description"),
            cost_centre=cost_centre,
            project=project,
            axes=axes_json(other_axes),
            document_no=f.get("SourceDocumentID") or f.get("ReferenceNumber"),
            source_ref=f"journal {journal}/transaction {nr}/line {line}",
        )

    # --- result -------------------------------------------------------------------------------

    def _extraction(self) -> Extraction:
        assert self.start is not None and self.end is not None
        if self.axes is None:
            self._analysis_axes()
        self._add_used_dimensions()
        if not self.openings_apply and self.accounts.rows:
            self.problems.append(
                Problem(
                    "skipped_opening_balances",
                    f"The file starts on {self.start}, not at the start of a fiscal year, so its opening "
                    "balances were not imported as opening balances.",
                    "MasterFiles / GeneralLedgerAccounts",
                    "info",
                )
            )
        self._note_encoding()
        stats = self._control_totals()
        streams = self._streams(
            transactions=self.has_entries, openings=self.openings_apply and self.openings.rows > 0
        )
        entity = EntityInfo(
            name=self.company.get("Name"),
            external_id=self.company.get("RegistrationNumber"),
            currency=self.currency,
            fiscal_year_start_month=self.start_month,
            extra={
                "fiscal_year": self.fiscal_year,
                "start_date": self.start,
                "end_date": self.end,
                "country": self.header.get("AuditFileCountry"),
                "software": self.header.get("SoftwareID"),
                "software_company": self.header.get("SoftwareCompanyName"),
                "software_version": self.header.get("SoftwareVersion"),
                "saft_version": self.header.get("AuditFileVersion"),
            },
        )
        return self._result(streams, entity, stats, "saft")

    def _control_totals(self) -> dict[str, Any]:
        stats: dict[str, Any] = {"saft_version": self.header.get("AuditFileVersion"), **self._counts()}
        gl = self.gl_scalars
        entries = parse_int(gl.get("NumberOfEntries"))
        if entries is not None:
            stats["control_number_of_entries"] = entries
            if entries != self.transactions:
                self.problems.append(
                    Problem(
                        "control_totals",
                        f"The file says it holds {entries} transactions (NumberOfEntries) but "
                        f"{self.transactions} were read.",
                        "GeneralLedgerEntries / NumberOfEntries",
                        "warning",
                    )
                )
        for label, key, computed in (
            ("TotalDebit", "control_total_debit", self.debit),
            ("TotalCredit", "control_total_credit", self.credit),
        ):
            self._check_total(stats, key, gl.get(label), computed, label, f"GeneralLedgerEntries / {label}")
        return stats


def _add_year(d: date) -> date:
    try:
        return d.replace(year=d.year + 1)
    except ValueError:  # 29 February
        return d.replace(year=d.year + 1, day=28)
