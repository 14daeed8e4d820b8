"""XAF auditfile reader: the Dutch XML Auditfile Financieel, versions 3.1 and 3.2.

One pass with iterparse over the file: header and company facts become the EntityInfo, ledger
accounts the accounts stream (RGS codes from leadReference), `basics` of cost centres and projects
the dimensions stream, opening balance lines and journal lines their own streams.

Keys. A journal line is keyed `fiscal year|jrnID|transaction nr|line nr`. The fiscal year is in the
key because several packages (Banana, for one) restart transaction numbers every year, so without it
next year's file would overwrite this year's lines. Line numbers that are missing or repeated within
a transaction (Banana writes `1` on every line) are replaced by the 1-based position of all lines of
that transaction; a transaction number that repeats in a journal gets `#2`, `#3`... in its key.

Real exports bend the schema (negative quantities, periods 0 and 55, missing required elements):
those become `schema_deviation` Problems and the file is read anyway. What cannot be read at all
(an amount, a date, an account missing on a line) stops with a ParseError naming the element.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from lxml import etree

from connectors.base import (
    Capabilities,
    EntityInfo,
    Extraction,
    axes_json,
)
from connectors.files.xmlsafe import (
    AuditFileConnector,
    AuditFileParser,
    child,
    children,
    fields,
    local_name,
    namespace_of,
    parse_date,
    parse_decimal,
    parse_int,
    root_is,
    text_of,
    to_money,
)
from pipeline.errors import ParseError

SUPPORTED = {"http://www.auditfiles.nl/xaf/3.1": "3.1", "http://www.auditfiles.nl/xaf/3.2": "3.2"}
ACCOUNT_TYPES = {"B": "balance", "P": "pnl"}  # 'M' (mixed) says neither
# basicType codes of XAF 3.2 `basics` that are analytic axes (02 cost centre = trLine costID,
# 03 cost unit/kostendrager = prodID, 04 project = projID, 05 article group = artGrpID). The other
# codes (journals, quantities, relations, sources, users) are not dimensions.
BASIC_AXES = {"02": "cost_centre", "03": "cost_unit", "04": "project", "05": "article_group"}
# RGS reference codes: B (balance) or W (P&L) followed by three-letter groups, e.g. BLimBanRba.
_RGS = re.compile(r"^[BW](?:[A-Z][a-z]{2})+[A-Za-z0-9]*$")
_FISCAL_YEAR = re.compile(r"^\(?(\d{4})(?:\s*[-/]\s*(\d{4}))?\)?$")

# The elements the parser is called for; everything else is built into the tree silently.
# Records it does not read (customers, VAT codes, subledgers) are listed only to be released.
_TAGS = (
    "auditfile",
    "header",
    "company",
    "ledgerAccount",
    "basic",
    "period",
    "openingBalance",
    "obLine",
    "transactions",
    "journal",
    "transaction",
    "customerSupplier",
    "vatCode",
    "obSubledger",
    "subledger",
    "sbLine",
    "obSbLine",
)
# Containers read after their children: released by nobody, they hold only a few leaves.
_KEEP = {"auditfile", "header", "company", "openingBalance", "transactions"}


def looks_like_xaf(head: bytes) -> bool:
    """True when the first bytes show an `auditfile` root in an auditfiles.nl namespace."""
    return root_is(head, "auditfile", "http://www.auditfiles.nl/xaf/")


def parse_xaf(
    path: Path,
    *,
    max_bytes: int | None = None,
    progress: Callable[[str, float], None] | None = None,
) -> Extraction:
    """Read an XAF 3.1/3.2 auditfile into accounts, dimensions, transactions and opening balances.

    Raises InputTooLarge for a file over `max_bytes` (before reading it) and ParseError for a file
    that is empty, not XML, not an XAF 3.x auditfile, cut off, or holds a line that cannot be read.
    """
    return _XafParser(Path(path), max_bytes, progress).run()


class XafConnector(AuditFileConnector):
    """Upload of an XAF auditfile (.xaf) exported by Dutch accounting software."""

    name = "xaf"
    label = "XAF auditfile"
    capabilities = Capabilities(
        transactions=True,
        accounts=True,
        dimensions=True,
        opening_balances=True,
        notes=(
            "XML Auditfile Financieel 3.1 and 3.2 (.xaf).",
            "A file replaces the lines of the period its header covers.",
        ),
    )
    upload_guidance = "Upload an .xaf file."
    parse = staticmethod(parse_xaf)


class _XafParser(AuditFileParser):
    what = "an XAF auditfile"
    reading = "Reading the auditfile"
    header_tag = "header"

    def __init__(self, path: Path, max_bytes: int | None, progress: Callable[[str, float], None] | None):
        super().__init__(path, max_bytes, progress)
        self.ob_scalars: dict[str, str | None] = {}
        self.tx_scalars: dict[str, str | None] = {}
        self._ob_elem: etree._Element | None = None
        self.version = ""
        self.used = {"cost_centre": set(), "project": set()}
        self.periods: set[int] = set()
        self.ob_debit = Decimal("0.00")
        self.ob_credit = Decimal("0.00")
        self.ob_lines = 0
        self.ob_positions = 0
        self.ob_numbers: set[str] = set()
        self.has_openings = False
        self.has_transactions = False

    # --- the pass over the file ---------------------------------------------------------------

    def run(self) -> Extraction:
        for name, elem in self._records(_TAGS, keep=_KEEP, after_header=("openingBalance", "transactions")):
            if name == "header":
                self.header = fields(elem)
                self._header()
            elif name == "company":
                self.company = fields(elem)
            elif name == "ledgerAccount":
                self._need_header(elem)
                self._account(elem)
            elif name == "basic":
                self._basic(elem)
            elif name == "period":
                number = parse_int(text_of(child(elem, "periodNumber")))
                if number is not None:
                    self.periods.add(number)
            elif name == "obLine":
                self._opening_line(elem)
            elif name == "openingBalance":
                self.ob_scalars = fields(elem)
                self.has_openings = True
            elif name == "transaction":
                self._transaction(elem)
            elif name == "transactions":
                self.tx_scalars = fields(elem)
                self.has_transactions = True
        if not self.version:
            self._check_root(local_name(self.reader.root_tag), namespace_of(self.reader.root_tag))
        if not self.header_done:
            raise ParseError("the file has no <header>", file=self.file, where="auditfile", field="header")
        return self._extraction()

    def _check_root(self, name: str, namespace: str | None) -> None:
        if name != "auditfile":
            raise ParseError(
                f"this is not an XAF auditfile: its XML starts with <{name}>, not <auditfile>",
                file=self.file,
                guidance="Choose the importer that matches the file.",
            )
        version = SUPPORTED.get((namespace or "").lower().rstrip("/"))
        if version is None:
            raise ParseError(
                f"this auditfile version ({namespace or 'no namespace'}) is not supported; Ledgerline "
                "reads XAF 3.1 and 3.2",
                file=self.file,
                where="auditfile",
                guidance="Export the auditfile as XAF 3.2 and upload it again.",
            )
        self.version = version

    # --- header and master data ---------------------------------------------------------------

    def _header(self) -> None:
        self.header_done = True
        h = self.header
        self.start = self._date(h.get("startDate"), "header", "startDate")
        self.end = self._date(h.get("endDate"), "header", "endDate")
        if self.end < self.start:
            raise ParseError(
                f"the header's endDate {self.end} is before its startDate {self.start}",
                file=self.file,
                where="header",
                field="endDate",
            )
        self.currency = h.get("curCode")
        if not self.currency:
            self.dev.note("no_currency", "The header has no currency code (curCode)", "header")
        raw_year = h.get("fiscalYear")
        match = _FISCAL_YEAR.match(raw_year or "")
        if match:
            # A broken fiscal year "2015-2016" is named after the year it starts in.
            self.fiscal_year = int(match.group(1))
        else:
            self.fiscal_year = self.start.year
            self.dev.note(
                "fiscal_year",
                f"The header's fiscalYear is not a year; the year of startDate ({self.start.year}) was used",
                "header / fiscalYear",
                raw_year,
            )

    def _account(self, elem: etree._Element) -> None:
        f = fields(elem)
        code = f.get("accID")
        where = f"generalLedger / ledgerAccount (XML line {elem.sourceline})"
        if not code:
            raise ParseError(
                "a ledger account has no account number", file=self.file, where=where, field="accID"
            )
        if code in self.account_codes:
            self.dev.note(
                "duplicate_account", "Ledger accounts listed twice; the first was kept", where, code
            )
            return
        self.account_codes.add(code)
        acc_tp = (f.get("accTp") or "").upper()
        if acc_tp not in ("B", "P", "M"):
            self.dev.note(
                "account_type",
                "Ledger accounts with an account type other than B, P or M; their type was left open",
                f"ledgerAccount {code}",
                f.get("accTp") or "(none)",
            )
        standard = _rgs_code(f.get("leadReference")) or _rgs_from_taxonomy(elem)
        category = " ".join(v for v in (f.get("leadCode"), f.get("leadDescription")) if v) or None
        self.accounts.add(
            code=code,
            name=f.get("accDesc"),
            account_type=ACCOUNT_TYPES.get(acc_tp),
            category=category,
            standard_code=standard,
            standard_scheme="RGS" if standard else None,
        )

    def _basic(self, elem: etree._Element) -> None:
        f = fields(elem)
        axis = BASIC_AXES.get(f.get("basicType") or "")
        code = f.get("basicID")
        if axis is None or not code or (axis, code) in self.dimension_keys:
            return
        self.dimension_keys.add((axis, code))
        self.dimensions.add(axis=axis, code=code, name=f.get("basicDesc"))

    # --- opening balance ----------------------------------------------------------------------

    def _opening_line(self, elem: etree._Element) -> None:
        self._need_header(elem)
        parent = elem.getparent()
        if parent is not None and parent is not self._ob_elem:
            self._ob_elem = parent
            self.ob_scalars = fields(parent)
        self.ob_positions += 1
        f = fields(elem)
        nr = f.get("nr")
        if not nr or nr in self.ob_numbers:
            self.dev.note(
                "ob_line_nr",
                "Opening balance lines without a unique number (nr); their position was used",
                f"openingBalance / obLine {self.ob_positions}",
                severity="info",
            )
            nr = f"#{self.ob_positions}"
        self.ob_numbers.add(nr)
        where = f"openingBalance / obLine {nr} (XML line {elem.sourceline})"
        account = f.get("accID")
        if not account:
            raise ParseError(
                "an opening balance line has no account", file=self.file, where=where, field="accID"
            )
        side, amount = self._amount(f, where)
        if side == "D":
            self.ob_debit += amount
        else:
            self.ob_credit += amount
        self.ob_lines += 1
        self.openings.add(
            line_key=f"{self.fiscal_year}|{nr}",
            fiscal_year=self.fiscal_year,
            balance_date=self._balance_date(),
            account_code=account,
            amount=amount if side == "D" else -amount,
            description=self.ob_scalars.get("opBalDesc"),
            source_ref=f"openingBalance/obLine {nr}",
        )

    def _balance_date(self) -> date:
        assert self.start is not None and self.end is not None
        raw = self.ob_scalars.get("opBalDate")
        if raw is None:
            return self.start
        try:
            stated = parse_date(raw)
        except ValueError:
            stated = None
        if stated is None or not (self.start <= stated <= self.end):
            self.dev.note(
                "ob_date",
                f"The opening balance date is not within the file's period; {self.start} was used",
                "openingBalance / opBalDate",
                raw,
                severity="info",
            )
            return self.start
        return stated

    # --- journal lines ------------------------------------------------------------------------

    def _transaction(self, elem: etree._Element) -> None:
        t, tx_nested = self._transaction_fields(
            elem,
            journal_field="jrnID",
            journal_tag="journal",
            code="no_jrnID",
            message="Journals without a code (jrnID); their position was used",
        )
        journal = self.journal_id
        nr = t.get("nr")
        if not nr:
            nr = f"#{self.tx_in_journal}"
            self.dev.note(
                "no_transaction_nr",
                "Transactions without a number (nr); their position in the journal was used",
                f"journal {journal} / transaction {nr}",
            )
        where_tx = f"journal {journal} / transaction {nr}"
        entry_key = self._entry_key(
            (journal, nr),
            nr,
            "Transaction numbers used twice in one journal; both were kept",
            where_tx,
            f"{journal}/{nr}",
        )
        period = self._period(t.get("periodNumber"), where_tx)
        tx_date_text = t.get("trDt")
        lines = self._numbered_lines(
            tx_nested.get("trLine", []),
            "nr",
            "line_nr",
            "Transactions whose lines have no unique line number (nr); lines were numbered by position",
            where_tx,
        )
        for line, line_elem, f, sub in lines:
            self._line(
                line_elem,
                f,
                sub.get("currency", [None])[0],
                t,
                journal,
                nr,
                entry_key,
                line,
                period,
                tx_date_text,
            )

    def _period(self, text: str | None, where: str) -> int | None:
        period = parse_int(text)
        if text is None:
            self.dev.note("no_period", "Transactions without a period number", where)
        elif period is None:
            self.dev.note("bad_period", "Period numbers that are not whole numbers; left empty", where, text)
        elif (period not in self.periods) if self.periods else (period == 0 or period > 13):
            # Closing and opening periods such as 0 and 55 (Twinfield) are kept as they are.
            self.dev.note(
                "period",
                "Transactions in periods outside the file's regular periods, kept as they are",
                where,
                period,
            )
        return period

    def _line(
        self,
        elem: etree._Element,
        f: dict[str, str | None],
        currency: etree._Element | None,
        t: dict[str, str | None],
        journal: str,
        nr: str,
        entry_key: str,
        line: str,
        period: int | None,
        tx_date_text: str | None,
    ) -> None:
        where = f"journal {journal} / transaction {nr} / trLine {line} (XML line {elem.sourceline})"
        account = f.get("accID")
        if not account:
            raise ParseError("the line has no account number", file=self.file, where=where, field="accID")
        side, amount = self._amount(f, where)
        if side == "D":
            self.debit += amount
        else:
            self.credit += amount
        signed = amount if side == "D" else -amount
        tx_date = self._line_date(f.get("effDate"), tx_date_text, where)
        qty = f.get("qntity")
        if qty is not None and (parse_int(qty) is None or qty.startswith("-")):
            self.dev.note(
                "quantity",
                "Lines with a negative or fractional quantity (qntity), which the XAF schema does not allow",
                where,
                qty,
            )
        currency_fc, amount_fc = self._foreign(currency, side, where)
        cost_centre, project = f.get("costID"), f.get("projID")
        if cost_centre:
            self.used["cost_centre"].add(cost_centre)
        if project:
            self.used["project"].add(project)
        other_axes = {"cost_unit": f.get("prodID"), "article_group": f.get("artGrpID")}
        for axis, code in other_axes.items():
            if code:
                self.used.setdefault(axis, set()).add(code)
        self.lines.add(
            line_key=f"{self.fiscal_year}|{journal}|{entry_key}|{line}",
            journal=journal,
            entry=nr,
            line=line,
            tx_date=tx_date,
            fiscal_year=self.fiscal_year,
            period=period,
            account_code=account,
            amount=signed,
            currency=self.currency,
            amount_fc=amount_fc,
            currency_fc=currency_fc,
            description=f.get("desc") or t.get("desc"),
            cost_centre=cost_centre,
            project=project,
            axes=axes_json(other_axes),
            document_no=f.get("docRef"),
            source_ref=f"journal {journal}/transaction {nr}/line {line}",
        )

    def _amount(self, f: dict[str, str | None], where: str) -> tuple[str, Decimal]:
        value = self._money(f.get("amnt"), where, "amnt")
        side = f.get("amntTp") or ""
        if side not in ("D", "C"):
            if side.upper() in ("D", "C"):
                self.dev.note("side_case", "Debit/credit indicators in lower case", where, side)
                side = side.upper()
            else:
                raise ParseError(
                    f"the debit/credit indicator is {side or 'missing'!r}; it must be D or C",
                    file=self.file,
                    where=where,
                    field="amntTp",
                )
        return side, value

    def _line_date(self, eff: str | None, tr_dt: str | None, where: str) -> date:
        if eff is not None:
            return self._date(eff, where, "effDate")
        if tr_dt is None:
            raise ParseError(
                "the line has no date (neither effDate nor the transaction's trDt)",
                file=self.file,
                where=where,
                field="effDate",
            )
        self.dev.note("no_effDate", "Lines without effDate; the transaction date (trDt) was used", where)
        return self._date(tr_dt, where.rsplit(" / trLine", 1)[0], "trDt")

    def _foreign(
        self, cur: etree._Element | None, side: str, where: str
    ) -> tuple[str | None, Decimal | None]:
        if cur is None:
            return None, None
        c = fields(cur)
        code, raw = c.get("curCode"), c.get("curAmnt")
        try:
            value, _ = to_money(parse_decimal(raw))
        except ValueError:
            self.dev.note(
                "foreign_amount",
                "Foreign-currency amounts (curAmnt) that cannot be read; the line was kept without them",
                where,
                raw,
            )
            return None, None
        if not code:
            self.dev.note("foreign_code", "Foreign-currency amounts without a currency code", where)
        return code, value if side == "D" else -value

    # --- result -------------------------------------------------------------------------------

    def _extraction(self) -> Extraction:
        assert self.start is not None and self.end is not None
        self._add_used_dimensions()
        stats = self._control_totals()
        self._note_encoding()
        streams = self._streams(transactions=self.has_transactions, openings=self.has_openings)
        company = self.company
        header = self.header
        entity = EntityInfo(
            name=company.get("companyName"),
            external_id=company.get("companyIdent"),
            currency=self.currency,
            fiscal_year_start_month=self.start.month,
            extra={
                "fiscal_year": self.fiscal_year,
                "fiscal_year_text": header.get("fiscalYear"),
                "start_date": self.start,
                "end_date": self.end,
                "tax_registration": company.get("taxRegIdent"),
                "country": company.get("taxRegistrationCountry"),
                "software": header.get("softwareDesc"),
                "software_version": header.get("softwareVersion"),
                "xaf_version": self.version,
            },
        )
        return self._result(streams, entity, stats, "xaf")

    def _control_totals(self) -> dict[str, Any]:
        stats: dict[str, Any] = {
            "xaf_version": self.version,
            **self._counts(),
            "opening_debit_total": self.ob_debit,
            "opening_credit_total": self.ob_credit,
        }
        tx = self.tx_scalars
        ob = self.ob_scalars
        checks = [
            ("transactions", tx, self.lines.rows, self.debit, self.credit, "control"),
            ("openingBalance", ob, self.ob_lines, self.ob_debit, self.ob_credit, "opening_control"),
        ]
        for section, values, lines, debit, credit, prefix in checks:
            count = parse_int(values.get("linesCount"))
            if count is not None:
                stats[f"{prefix}_lines_count"] = count
                if count != lines:
                    hint = (
                        " (it equals the number of transactions, a known exporter mistake)"
                        if section == "transactions" and count == self.transactions
                        else ""
                    )
                    self._control_problem(
                        f"The file says {section} holds {count} lines (linesCount) but {lines} were read{hint}.",
                        f"{section} / linesCount",
                    )
            for label, key, computed in (
                ("totalDebit", "total_debit", debit),
                ("totalCredit", "total_credit", credit),
            ):
                self._check_total(
                    stats,
                    f"{prefix}_{key}",
                    values.get(label),
                    computed,
                    f"{section} {label}",
                    f"{section} / {label}",
                )
        return stats


def _rgs_code(text: str | None) -> str | None:
    if text and _RGS.match(text.strip()):
        return text.strip()
    return None


def _rgs_from_taxonomy(elem: etree._Element) -> str | None:
    for taxonomy in children(elem, "taxonomy"):
        for entry in children(taxonomy, "entryPoint"):
            code = _rgs_code(text_of(child(entry, "conceptRef")))
            if code:
                return code
    return None
