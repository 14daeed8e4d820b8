"""Declarative presets for ledger exports: which column holds which field, and how amounts are shaped.

A preset is data, not code: `tabular.py` reads any of them the same way. Column names are matched
after `sniff.normalise_header` (case-folded, underscores as spaces, a trailing "(EUR)"-style
currency suffix dropped), and each field accepts several aliases because vendors rename headings
between versions and languages. The first alias found wins.

Fields (our names): date, account, account_name, amount (in the booking currency), amount_base
(in the entity currency, preferred when present), debit, credit, indicator (D/C, S/H, Dr/Cr),
counter_account, debit_account, credit_account, journal, entry, line, description, description2,
document_no, currency (the entity's), currency_fc (the booking currency), cost_centre, project,
fiscal_year, period and year_period ("2024/03").

Amount shapes:
  signed          one amount column, debit positive.
  debit_credit    separate debit and credit columns.
  indicator       an amount plus a debit/credit indicator column.
  double_entry    bexio: debit account, credit account, amount -> two lines (+ on debit, - on credit).
  counter_account DATEV: account + counter account + indicator -> two lines, the counter account
                  gets the opposite sign.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from connectors.files.sniff import normalise_header
from pipeline.errors import ConfigError

AmountShape = Literal["signed", "debit_credit", "indicator", "double_entry", "counter_account"]

# What each shape needs besides a date (trial balances need no date, see below).
SHAPE_FIELDS: dict[str, tuple[str, ...]] = {
    "signed": ("account", "amount"),
    "debit_credit": ("account", "debit", "credit"),
    "indicator": ("account", "amount", "indicator"),
    "double_entry": ("debit_account", "credit_account", "amount"),
    "counter_account": ("account", "counter_account", "amount", "indicator"),
}

# Trial-balance headings that hold cumulative closing balances rather than the month's movement.
CLOSING_HEADINGS = ("Closing balance", "Ending balance", "Endsaldo", "Eindsaldo", "Solde final")

DEBIT_TOKENS = ("d", "dr", "db", "debit", "debet", "s", "soll", "+")
CREDIT_TOKENS = ("c", "cr", "credit", "k", "h", "haben", "-")


@dataclass(frozen=True)
class Preset:
    """How to read one vendor's export. See the module docstring for fields and shapes."""

    name: str
    label: str
    notes: str
    columns: Mapping[str, tuple[str, ...]]
    shapes: tuple[AmountShape, ...]
    signature: tuple[str, ...] = ()  # headings that identify this vendor among look-alikes
    decimal: str | None = None
    date_format: str | None = None
    month_first: bool = False  # US software: 12/31/2024
    delimiter: str | None = None
    metadata_lines: int = 0  # lines before the header that are not data (DATEV's EXTF line)
    has_header: bool = True
    positions: Mapping[str, int] = field(default_factory=dict)  # headerless files
    report: bool = False  # a report layout: title rows, section headings, subtotals to skip
    fill_down: tuple[str, ...] = ()  # fields given only on a transaction's first row
    account_from_sections: bool = False  # account named in a heading row above its lines
    indicator_on_magnitude: bool = False  # indicator sets the sign even when amounts are signed
    split_account_name: bool = False  # "6555 - Uebrige Büroaufwand" -> code + name
    trial_balance: bool = False
    reject: tuple[str, ...] = ()  # headings that rule this preset out
    detectable: bool = True

    def describe(self) -> str:
        """One paragraph for the upload page: what the preset reads and what it assumes."""
        return f"{self.label}. {self.notes}"

    def aliases(self, name: str) -> tuple[str, ...]:
        return tuple(normalise_header(a) for a in self.columns.get(name, ()))

    def known_headers(self) -> set[str]:
        return {normalise_header(a) for names in self.columns.values() for a in names}


_CURRENCY_SUFFIX = re.compile(r"\s*\((?:[a-z]{3}|[$€£])\)$")


def header_key(name: object) -> str:
    """A heading folded for matching against preset aliases."""
    return _CURRENCY_SUFFIX.sub("", normalise_header(name))


def resolve_columns(preset: Preset, headers: Sequence[object]) -> dict[str, int]:
    """Map preset fields to column indexes in `headers`; each column is used by one field only."""
    keys = [header_key(h) for h in headers]
    found: dict[str, int] = {}
    used: set[int] = set()
    for name in preset.columns:
        for alias in preset.aliases(name):
            for index, key in enumerate(keys):
                if key == alias and index not in used:
                    found[name] = index
                    used.add(index)
                    break
            if name in found:
                break
    return found


def choose_shape(preset: Preset, found: Mapping[str, int]) -> AmountShape | None:
    """The first of the preset's amount shapes whose columns are all present.

    "amount" in a shape is satisfied by either the booking-currency amount or the base amount.
    """
    for shape in preset.shapes:
        if all(_present(preset, f, found) for f in SHAPE_FIELDS[shape]):
            return shape
    return None


def _present(preset: Preset, name: str, found: Mapping[str, int]) -> bool:
    if name == "amount":
        return "amount" in found or "amount_base" in found
    if name == "account" and preset.account_from_sections:
        return True  # named in heading rows when the export has no account column
    return name in found


def match_score(preset: Preset, headers: Sequence[object]) -> float:
    """How well a header row fits a preset, 0..1; 0 when a required column is missing."""
    if not preset.detectable or not preset.has_header:
        return 0.0
    found = resolve_columns(preset, headers)
    shape = choose_shape(preset, found)
    if shape is None:
        return 0.0
    if preset.trial_balance:
        if "period" not in found and "year_period" not in found:
            return 0.0
    elif "date" not in found:
        return 0.0
    keys = {header_key(h) for h in headers if header_key(h)}
    if any(normalise_header(r) in keys for r in preset.reject):
        return 0.0
    if preset.signature and not all(normalise_header(s) in keys for s in preset.signature):
        return 0.0
    coverage = len(found) / max(len(preset.columns), 1)
    # The share of the file's headings this preset knows separates look-alikes (a Twinfield and
    # an Exact export both have "Omschrijving" and "Bedrag").
    known = len(keys & preset.known_headers()) / max(len(keys), 1)
    signature_bonus = 0.2 if preset.signature else 0.0
    return round(min(1.0, 0.4 * coverage + 0.4 * known + signature_bonus), 3)


# --- the presets ----------------------------------------------------------------------------

BEXIO = Preset(
    name="bexio",
    label="bexio journal export (CSV or Excel)",
    notes=(
        "One row per booking: Soll and Haben accounts written as '6555 - Name' and one amount; each "
        "row becomes two lines. 'Betrag in Basiswährung' is the amount in the company currency."
    ),
    columns={
        "date": ("Datum", "Date"),
        "document_no": ("Referenz", "Reference"),
        "debit_account": ("Soll", "Sollkonto", "Debit account"),
        "credit_account": ("Haben", "Habenkonto", "Credit account"),
        "description": ("Beschreibung", "Description", "Text"),
        "amount_base": ("Betrag in Basiswährung", "Amount in base currency"),
        "amount": ("Betrag", "Amount"),
        "currency_fc": ("Buchungswährung", "Booking currency", "Currency"),
        "currency": ("Währung in Basiswährung", "Base currency"),
        "vat_code": ("MWST", "VAT"),
    },
    shapes=("double_entry",),
    signature=(),
    decimal=".",
    date_format="%d.%m.%Y",
    split_account_name=True,
)

INFONIQA = Preset(
    name="infoniqa",
    label="Infoniqa (Sesam/Simultan) booking export",
    notes=(
        "One row per booking line: Kto with S/H (Soll/Haben) and the Netto amount; GKto is the "
        "counter account, informational only because the export already lists both sides."
    ),
    columns={
        "entry": ("Blg", "Beleg", "Belegnr"),
        "date": ("Datum",),
        "account": ("Kto", "Konto"),
        "indicator": ("S/H",),
        "counter_info": ("GKto", "Gegenkonto"),
        "amount": ("Netto", "Betrag"),
        "vat_amount": ("Steuer",),
        "amount_fc": ("FW-Betrag",),
        "description": ("Tx1", "Text"),
        "description2": ("Tx2",),
        "cost_centre": ("KSt", "Kostenstelle"),
    },
    shapes=("indicator",),
    signature=("Kto", "S/H", "GKto"),
    decimal=".",
    date_format="%d.%m.%Y",
    delimiter=",",
)

DATEV = Preset(
    name="datev",
    label="DATEV EXTF Buchungsstapel",
    notes=(
        "DATEV ASCII format: the first line is the EXTF metadata header (consultant, client, fiscal "
        "year, currency); Umsatz with Soll/Haben-Kennzeichen books Konto, the Gegenkonto gets the "
        "opposite sign. Belegdatum is day+month; the year comes from the header's date range."
    ),
    columns={
        "amount": ("Umsatz (ohne Soll/Haben-Kz)", "Umsatz"),
        "indicator": ("Soll/Haben-Kennzeichen", "Soll-/Haben-Kennzeichen"),
        "currency_fc": ("WKZ Umsatz",),
        "fx_rate": ("Kurs",),
        "amount_base": ("Basis-Umsatz",),
        "currency": ("WKZ Basis-Umsatz",),
        "account": ("Konto",),
        "counter_account": ("Gegenkonto (ohne BU-Schlüssel)", "Gegenkonto"),
        "date": ("Belegdatum",),
        "document_no": ("Belegfeld 1",),
        "description": ("Buchungstext",),
        "cost_centre": ("KOST1 - Kostenstelle", "KOST1", "Kost1"),
        "project": ("KOST2 - Kostenstelle", "KOST2", "Kost2"),
    },
    shapes=("counter_account",),
    signature=("Soll/Haben-Kennzeichen", "Konto", "Belegdatum"),
    decimal=",",
    date_format="datev_ddmm",
    delimiter=";",
    metadata_lines=1,
)

# Exact Online, Financial > Reports > Transactions, exported to CSV/Excel. Exact names columns
# "<thing>: Code" / "<thing>: Description" in its export and import definitions (e.g. "Dagboek:
# Code", "Grootboekrekening"); the English and Dutch user interfaces both occur. The exact headings
# of the report export are not published, so both languages and the short forms are accepted.
EXACT_ONLINE = Preset(
    name="exact_online",
    label="Exact Online transactions export",
    notes=(
        "Financial > Reports > Transactions exported to CSV or Excel, English or Dutch headings; "
        "a signed Amount or Debit/Credit columns; journal + entry number identify the booking."
    ),
    columns={
        "journal": ("Journal: Code", "Journal code", "Journal", "Dagboek: Code", "Dagboekcode", "Dagboek"),
        "entry": ("Entry number", "Entry no.", "Entry", "Boekstuknummer", "Boekstuk"),
        "line": ("Line number", "Line", "Regelnummer", "Regel"),
        "date": ("Date", "Entry date", "Datum", "Boekdatum"),
        "fiscal_year": ("Financial year", "Year", "Boekjaar", "Jaar"),
        "period": ("Period", "Periode"),
        "account": (
            "G/L account: Code",
            "G/L account code",
            "G/L account",
            "GL account",
            "Grootboekrekening: Code",
            "Grootboekrekeningcode",
            "Grootboekrekening",
            "Grootboek",
        ),
        "account_name": (
            "G/L account: Description",
            "G/L account description",
            "Grootboekrekening: Omschrijving",
            "Omschrijving grootboekrekening",
        ),
        "description": ("Description", "Omschrijving"),
        "amount_base": ("Amount", "Amount DC", "Bedrag", "Bedrag EUR"),
        "debit": ("Debit", "Debet"),
        "credit": ("Credit",),
        "amount": ("Amount FC", "Bedrag VV"),
        "currency_fc": ("Currency", "Valuta"),
        "cost_centre": ("Cost center: Code", "Cost center", "Kostenplaats: Code", "Kostenplaats"),
        "project": ("Project: Code", "Project", "Cost unit", "Kostendrager"),
        "document_no": ("Your ref.", "Our ref.", "Uw ref.", "Onze ref.", "Invoice number", "Factuurnummer"),
    },
    shapes=("signed", "debit_credit"),
    date_format=None,
)

# AFAS Profit, Financieel > Grootboek > Financiële mutaties, exported to Excel/CSV. The field names
# follow the Profit "Financiële mutaties" view (Rekeningnummer, Datum boeking, Bedrag debet/credit,
# Nummer journaalpost, Volgnummer); GetConnector exports of the same view use underscores
# (Bedrag_debet), which header matching folds to spaces.
AFAS = Preset(
    name="afas",
    label="AFAS Profit financiële mutaties",
    notes=(
        "Profit 'Financiële mutaties' export: Rekeningnummer, Datum boeking, Bedrag debet/credit; "
        "Nummer journaalpost + Volgnummer identify each line."
    ),
    columns={
        "journal": ("Dagboek", "Code dagboek", "Dagboekcode"),
        "entry": ("Nummer journaalpost", "Journaalpost", "Journaalpost nr", "Journaalpostnummer"),
        "line": ("Volgnummer journaalpost", "Journaalpost vnr", "Volgnummer", "Volgnr"),
        "date": ("Datum boeking", "Boekdatum", "Boekstukdatum", "Datum"),
        "fiscal_year": ("Jaar", "Boekjaar"),
        "period": ("Periode",),
        "account": ("Rekeningnummer", "Rekening", "Grootboekrekening", "Grootboeknummer"),
        "account_name": ("Omschrijving rekening", "Rekeningomschrijving", "Omschrijving grootboekrekening"),
        "description": ("Omschrijving boeking", "Omschrijving"),
        "document_no": ("Boekstuknummer", "Factuurnummer"),
        "debit": ("Bedrag debet", "Debet"),
        "credit": ("Bedrag credit", "Credit"),
        "amount_base": ("Bedrag", "Saldo"),
        "currency_fc": ("Valuta", "Valutacode"),
        "amount": ("Bedrag valuta", "Valutabedrag"),
        "cost_centre": ("Kostenplaats", "Verbijzondering afdeling", "Afdeling"),
        "project": ("Project", "Kostendrager"),
    },
    shapes=("debit_credit", "signed"),
    signature=("Rekeningnummer",),
)

# Twinfield, transactions browse (030_1 / 030_3) exported to Excel/CSV. The column labels come from
# the browse definition: Dutch "Grootboekrek.", "Kpl./rel.", "Basisbedrag", "D/C", "Boekingsnummer";
# the English interface uses "General ledger", "Base value", "Trans. no.". Dim2 ("Kpl./rel.") is
# the cost centre on P&L accounts but the customer/supplier on balance-sheet accounts; it is read
# as cost_centre and the mapping decides per account whether it matters.
TWINFIELD = Preset(
    name="twinfield",
    label="Twinfield transactions browse export",
    notes=(
        "Transaction browse export (Dutch or English labels): Jaar/periode, Dagboek, Boekingsnummer, "
        "Grootboekrek., Basisbedrag with D/C. The base-currency amount is booked."
    ),
    columns={
        "year_period": ("Jaar/periode (JJJJ/PP)", "Year/period (YYYY/PP)", "Jaar/periode", "Year/period"),
        "journal": ("Dagboek", "Transaction type", "Trans. type", "Transactietype", "Boekingstype"),
        "entry": ("Boekingsnummer", "Trans. no.", "Transaction number", "Transactienummer", "Boekingsnr."),
        "line": ("Regelnummer", "Regel", "Line no.", "Line"),
        "date": ("Boekdatum", "Datum", "Date", "Transaction date"),
        "account": ("Grootboekrek.", "Grootboekrekening", "General ledger", "G/L account", "Dim1"),
        "account_name": ("Grootboekrek.naam", "Grootboekrekeningnaam", "General ledger name", "Dim1 name"),
        "cost_centre": ("Kpl./rel.", "Kostenplaats", "Cost center", "Dim2"),
        "project": ("Act./proj.", "Project", "Dim3"),
        "amount_base": ("Basisbedrag", "Base value", "Bedrag in administratie valuta"),
        "amount": ("Bedrag", "Value"),
        "currency_fc": ("Valuta", "Currency"),
        "indicator": ("D/C", "Debit/Credit", "Debet/Credit"),
        "description": ("Omschrijving", "Description"),
        "document_no": ("Factuurnummer", "Invoice number"),
    },
    shapes=("indicator", "signed"),
    signature=(),
    indicator_on_magnitude=True,
)

# Xero, General Ledger Detail (new reports) or Account Transactions, exported to Excel/CSV. These
# are report layouts: title rows above the header, the account as a heading row ("Sales (200)")
# unless Account Code is added as a column, "Opening Balance" / "Total ..." / "Closing Balance"
# rows, and Debit/Credit columns (sometimes with the currency in brackets). Dates are day-first
# for UK/AU/NZ organisations; US organisations should set date_format "%m/%d/%Y".
XERO = Preset(
    name="xero",
    label="Xero General Ledger Detail / Account Transactions export",
    notes=(
        "Report export from Xero: header below the title rows, accounts as headings or an Account "
        "Code column, Debit/Credit or Net; total and balance rows are skipped."
    ),
    columns={
        "date": ("Date",),
        "journal": ("Source", "Source Type"),
        "entry": ("Journal Number", "Journal No.", "Journal ID", "Transaction ID"),
        "account": ("Account Code", "Code"),
        "account_name": ("Account", "Account Name"),
        "description": ("Description", "Details"),
        "document_no": ("Reference", "Invoice Number"),
        "debit": ("Debit", "Debit (Source)"),
        "credit": ("Credit", "Credit (Source)"),
        "amount_base": ("Net", "Net Amount"),
        "cost_centre": ("Tracking Category 1", "Tracking 1"),
        "project": ("Tracking Category 2", "Tracking 2"),
        "balance_info": ("Running Balance", "Gross", "GST", "VAT", "Tax"),
    },
    shapes=("debit_credit", "signed"),
    signature=(),
    decimal=".",
    report=True,
    account_from_sections=True,
)

# QuickBooks Online, Reports > Journal, exported to Excel/CSV: title rows (company, "Journal",
# date range), then Date, Transaction Type, Num, Name, Memo/Description, Account, Debit, Credit.
# Only a transaction's first row carries Date/Type/Num; each transaction ends with a subtotal row
# without an account, and the report ends with a TOTAL row. Dates are US month-first.
QUICKBOOKS = Preset(
    name="quickbooks",
    label="QuickBooks Online Journal report export",
    notes=(
        "Journal report export (US dates): Date/Transaction Type/Num filled down within a "
        "transaction, subtotal and TOTAL rows without an account are skipped."
    ),
    columns={
        "date": ("Date", "Transaction Date", "Txn Date"),
        "journal": ("Transaction Type", "Type", "Txn Type"),
        "entry": ("Num", "No.", "Number", "Ref No."),
        "description": ("Memo/Description", "Memo", "Description"),
        "account": (
            "Account #",
            "Account Number",
            "Account",
            "Account Name",
            "Distribution Account",
            "Full Name",
        ),
        "account_name": ("Account Full Name", "Account Title"),
        "debit": ("Debit",),
        "credit": ("Credit",),
        "amount_base": ("Amount",),
        "cost_centre": ("Class",),
        "project": ("Location", "Customer", "Project"),
        "name_info": ("Name",),
    },
    shapes=("debit_credit", "signed"),
    signature=(),
    decimal=".",
    month_first=True,
    report=True,
    fill_down=("date", "journal", "entry"),
)

# Headings named after the fields themselves, as a home-made export or a spreadsheet kept by hand
# has them (and as Ledgerline's benchmark files do). Without this preset such a file fell to the
# look-alike that matched "Date", "Account" and "Amount" (QuickBooks' report: US dates, no line
# numbers) and lost its journal, entry and line numbers. The signature keeps it to files that
# number their lines, so vendor layouts are not taken over.
STANDARD = Preset(
    name="standard",
    label="Plain ledger columns (date, journal, entry, line, account, amount ...)",
    notes=(
        "Headings named after the fields: date, journal, entry, line, account, account name, "
        "description, amount (or debit and credit), currency, document no, cost centre, project. "
        "Dates and decimal separators are detected; the file's own entry and line numbers key the lines."
    ),
    columns={
        "date": ("Date", "Booking date", "Transaction date"),
        "journal": ("Journal", "Journal code"),
        "entry": ("Entry", "Entry no", "Entry number"),
        "line": ("Line", "Line no", "Line number"),
        "account": ("Account", "Account code", "Account number"),
        "account_name": ("Account name", "Account description"),
        "description": ("Description",),
        "amount": ("Amount",),
        "debit": ("Debit",),
        "credit": ("Credit",),
        "currency": ("Currency",),
        "document_no": ("Document no", "Document number", "Document"),
        "cost_centre": ("Cost centre", "Cost center"),
        "project": ("Project",),
    },
    shapes=("signed", "debit_credit"),
    signature=("Journal", "Entry", "Line"),
)

GENERIC = Preset(
    name="generic",
    label="Other CSV/Excel (name the columns)",
    notes=(
        "You say which column holds the date, account and amount (or debit and credit, or an "
        "amount with a D/C indicator); numbers and dates are detected."
    ),
    columns={},
    shapes=("double_entry", "counter_account", "indicator", "debit_credit", "signed"),
    detectable=False,
)

TRIAL_BALANCE = Preset(
    name="trial_balance",
    label="Trial balance per month",
    notes=(
        "One row per account and month (period), with debit/credit movements or a balance; each "
        "account and month becomes one line dated the last day of the month (journal 'TB'). Set "
        "option tb_values='closing' when the balances are cumulative closing balances."
    ),
    columns={
        "account": (
            "Account",
            "Account code",
            "Account number",
            "Code",
            "Konto",
            "Kontonummer",
            "Rekening",
            "Rekeningnummer",
            "Grootboekrekening",
            "Grootboeknummer",
            "Compte",
        ),
        "account_name": (
            "Account name",
            "Name",
            "Description",
            "Kontobezeichnung",
            "Bezeichnung",
            "Omschrijving",
            "Naam",
            "Libellé",
        ),
        "year_period": ("Year/period", "Jaar/periode"),
        "period": ("Period", "Month", "Periode", "Monat", "Maand", "Période", "Mois"),
        "fiscal_year": ("Year", "Fiscal year", "Jahr", "Jaar", "Boekjaar", "Année"),
        "debit": ("Debit", "Soll", "Debet", "Débit"),
        "credit": ("Credit", "Haben", "Crédit"),
        "amount_base": (
            "Movement",
            "Net movement",
            "Net",
            "Balance",
            "Saldo",
            "Amount",
            "Bedrag",
            "Solde",
            *CLOSING_HEADINGS,
        ),
    },
    shapes=("debit_credit", "signed"),
    trial_balance=True,
    reject=("Date", "Datum", "Boekdatum", "Belegdatum", "Transaction date", "Buchungsdatum"),
)

# AdventureWorksDW FactFinance ("|" delimited, no header; see the sample folder's SOURCE.md):
# FinanceKey|DateKey|OrganizationKey|DepartmentGroupKey|ScenarioKey|AccountKey|Amount|Date.
ADVENTUREWORKS = Preset(
    name="adventureworks",
    label="AdventureWorksDW FactFinance (demo ledger)",
    notes=(
        "Account-level demo data: Scenario 1 (Actual) only, OrganizationKey as cost centre, "
        "DepartmentGroupKey as project, account codes and names from DimAccount.csv beside it. "
        "Amounts are signed by account type (revenue, liabilities and equity as credits); lines "
        "do not balance by nature and no offsets are invented."
    ),
    columns={},
    shapes=("signed",),
    decimal=".",
    date_format="%Y-%m-%d",
    delimiter="|",
    has_header=False,
    positions={
        "line": 0,
        "date_key": 1,
        "cost_centre": 2,
        "project": 3,
        "scenario": 4,
        "account_key": 5,
        "amount_base": 6,
        "date": 7,
    },
)

PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        BEXIO,
        INFONIQA,
        DATEV,
        EXACT_ONLINE,
        AFAS,
        TWINFIELD,
        XERO,
        QUICKBOOKS,
        STANDARD,
        TRIAL_BALANCE,
        ADVENTUREWORKS,
        GENERIC,
    )
}


def generic_preset(columns: Mapping[str, str], base: Preset = GENERIC) -> Preset:
    """A preset from the user's own mapping of our field names to the file's column names."""
    unknown = sorted(set(columns) - ALL_FIELDS)
    if unknown:
        raise ConfigError(
            f"Unknown field(s) in the column mapping: {', '.join(unknown)}.",
            guidance=f"Use these field names: {', '.join(sorted(USER_FIELDS))}.",
        )
    return Preset(
        name=base.name,
        label=base.label,
        notes=base.notes,
        columns={k: (v,) for k, v in columns.items() if v},
        shapes=base.shapes,
        trial_balance=base.trial_balance,
        split_account_name=bool(columns.get("debit_account")),
        detectable=False,
    )


USER_FIELDS = frozenset(
    {
        "date",
        "account",
        "account_name",
        "amount",
        "amount_base",
        "debit",
        "credit",
        "indicator",
        "counter_account",
        "debit_account",
        "credit_account",
        "journal",
        "entry",
        "line",
        "description",
        "description2",
        "document_no",
        "currency",
        "currency_fc",
        "cost_centre",
        "project",
        "fiscal_year",
        "period",
        "year_period",
    }
)
ALL_FIELDS = USER_FIELDS
