"""The demo organisation's Dutch chart of accounts, cost centres and projects, as data.

Every account carries a reference code from the Dutch RGS (Referentie GrootboekSchema). The codes
are taken from the RGS 2.0 list (the newest release published in a public repository); RGS 3.x kept
these level-4 codes, so a mapping built on them carries over to the current release.
"""

from __future__ import annotations

import polars as pl

from connectors.base import frame_from_rows

# (code, name, account_type, category, RGS reference code)
ACCOUNTS: tuple[tuple[str, str, str, str, str], ...] = (
    # Balance sheet: fixed assets
    ("0100", "Software aanschafwaarde", "balance", "Immateriële vaste activa", "BIvaSofVvp"),
    ("0110", "Cumulatieve afschrijving software", "balance", "Immateriële vaste activa", "BIvaSofCae"),
    ("0200", "Bedrijfsinventaris aanschafwaarde", "balance", "Materiële vaste activa", "BMvaBeiVvp"),
    (
        "0210",
        "Cumulatieve afschrijving bedrijfsinventaris",
        "balance",
        "Materiële vaste activa",
        "BMvaBeiCae",
    ),
    ("0250", "Vervoermiddelen aanschafwaarde", "balance", "Materiële vaste activa", "BMvaTevVvp"),
    ("0260", "Cumulatieve afschrijving vervoermiddelen", "balance", "Materiële vaste activa", "BMvaTevCae"),
    ("0300", "Waarborgsommen", "balance", "Vorderingen", "BVorOvrWbs"),
    # Equity, provisions and long-term debt
    ("0500", "Geplaatst aandelenkapitaal", "balance", "Eigen vermogen", "BEivGokGea"),
    ("0510", "Agioreserve", "balance", "Eigen vermogen", "BEivAgiAgi"),
    ("0520", "Overige reserves", "balance", "Eigen vermogen", "BEivOreOvw"),
    ("0530", "Resultaat boekjaar", "balance", "Eigen vermogen", "BEivOreRvh"),
    ("0700", "Garantievoorziening", "balance", "Voorzieningen", "BVrzOvzGar"),
    ("0800", "Lening bank", "balance", "Langlopende schulden", "BLasSakLvl"),
    # Cash and bank
    ("1000", "Kas", "balance", "Liquide middelen", "BLimKasKas"),
    ("1100", "Bank rekening-courant", "balance", "Liquide middelen", "BLimBanRba"),
    ("1110", "Bank depositorekening", "balance", "Liquide middelen", "BLimBanDep"),
    ("1190", "Kruisposten pinbetalingen", "balance", "Liquide middelen", "BLimKruPIb"),
    # Receivables, inventory and taxes
    ("1300", "Debiteuren", "balance", "Vorderingen", "BVorDebHad"),
    ("1310", "Voorziening dubieuze debiteuren", "balance", "Vorderingen", "BVorDebVdd"),
    ("1400", "Voorraad handelsgoederen", "balance", "Voorraden", "BVrdHanVoo"),
    ("1500", "Te vorderen btw", "balance", "Belastingen", "BVorBtwTtv"),
    ("1510", "Af te dragen btw", "balance", "Belastingen", "BSchBtwAtd"),
    ("1520", "Af te dragen loonheffing", "balance", "Belastingen", "BSchLheAfb"),
    ("1530", "Vennootschapsbelasting", "balance", "Belastingen", "BSchVpbAtv"),
    # Payables and accruals
    ("1600", "Crediteuren", "balance", "Kortlopende schulden", "BSchCreHac"),
    ("1700", "Nettolonen", "balance", "Kortlopende schulden", "BSchSalNet"),
    ("1710", "Te betalen vakantiebijslag", "balance", "Kortlopende schulden", "BSchSalTvg"),
    ("1720", "Te betalen pensioenpremies", "balance", "Kortlopende schulden", "BSchSalPen"),
    ("1800", "Vooruitbetaalde kosten", "balance", "Overlopende activa", "BVorOvaVof"),
    ("1810", "Nog te ontvangen facturen", "balance", "Overlopende passiva", "BSchOpaNto"),
    ("1820", "Nog te betalen kosten", "balance", "Overlopende passiva", "BSchOpaNtb"),
    # Personnel
    ("4000", "Lonen en salarissen", "pnl", "Personeelskosten", "WPerLesLon"),
    ("4010", "Vakantiebijslag", "pnl", "Personeelskosten", "WPerLesVag"),
    ("4100", "Premies sociale verzekeringen", "pnl", "Personeelskosten", "WPerSolPsv"),
    ("4110", "Pensioenpremies", "pnl", "Personeelskosten", "WPerPenPen"),
    ("4150", "Opleidingskosten", "pnl", "Personeelskosten", "WPerWkgOsc"),
    ("4180", "Uitzendkrachten", "pnl", "Personeelskosten", "WPerOvpUik"),
    ("4190", "Overige personeelskosten", "pnl", "Personeelskosten", "WPerOvpOvp"),
    # Housing, cars, selling, office and general expenses
    ("4200", "Huur bedrijfsruimte", "pnl", "Huisvestingskosten", "WBedHuiBeh"),
    ("4210", "Energie", "pnl", "Huisvestingskosten", "WBedHuiElk"),
    ("4220", "Schoonmaakkosten", "pnl", "Huisvestingskosten", "WBedHuiSch"),
    ("4300", "Brandstofkosten auto's", "pnl", "Autokosten", "WBedAutBra"),
    ("4310", "Leasekosten auto's", "pnl", "Autokosten", "WBedAutOpa"),
    ("4400", "Reclame- en advertentiekosten", "pnl", "Verkoopkosten", "WBedVkkRea"),
    ("4410", "Representatiekosten", "pnl", "Verkoopkosten", "WBedVkkRep"),
    ("4420", "Reis- en verblijfkosten", "pnl", "Verkoopkosten", "WBedVkkRev"),
    ("4430", "Websitekosten", "pnl", "Verkoopkosten", "WBedVkkWeb"),
    ("4440", "Vrachtkosten", "pnl", "Verkoopkosten", "WBedVkkVrk"),
    ("4450", "Dotatie voorziening dubieuze debiteuren", "pnl", "Verkoopkosten", "WBedVkkDvd"),
    ("4500", "Kantoorbenodigdheden", "pnl", "Kantoorkosten", "WBedKanKan"),
    ("4510", "Telefoon en internet", "pnl", "Kantoorkosten", "WBedKanTef"),
    ("4520", "Automatiseringskosten", "pnl", "Kantoorkosten", "WBedKanKoa"),
    ("4530", "Contributies en abonnementen", "pnl", "Kantoorkosten", "WBedKanCea"),
    ("4600", "Accountantskosten", "pnl", "Algemene kosten", "WBedAeaAov"),
    ("4610", "Advieskosten", "pnl", "Algemene kosten", "WBedAeaAdv"),
    ("4620", "Bankkosten", "pnl", "Algemene kosten", "WBedAdlBan"),
    ("4630", "Verzekeringen", "pnl", "Algemene kosten", "WBedAssBea"),
    # Depreciation
    ("4800", "Afschrijving bedrijfsinventaris", "pnl", "Afschrijvingen", "WAfsAmvBei"),
    ("4810", "Afschrijving vervoermiddelen", "pnl", "Afschrijvingen", "WAfsAmvTev"),
    ("4820", "Afschrijving software", "pnl", "Afschrijvingen", "WAfsAivSof"),
    # Cost of sales
    ("7000", "Inkoopwaarde handelsgoederen", "pnl", "Kostprijs van de omzet", "WKprInhInh"),
    ("7100", "Uitbesteed werk", "pnl", "Kostprijs van de omzet", "WKprKuwKuw"),
    # Revenue
    ("8000", "Omzet handelsgoederen hoog tarief", "pnl", "Netto-omzet", "WOmzNohOlh"),
    ("8010", "Omzet handelsgoederen laag tarief", "pnl", "Netto-omzet", "WOmzNohOlv"),
    ("8020", "Omzet diensten hoog tarief", "pnl", "Netto-omzet", "WOmzNodOdh"),
    ("8030", "Omzet leveringen buiten de EU", "pnl", "Netto-omzet", "WOmzNohOln"),
    ("8040", "Omzet diensten niet in Nederland belast", "pnl", "Netto-omzet", "WOmzNodOdg"),
    ("8090", "Verleende kortingen", "pnl", "Netto-omzet", "WOmzKebVek"),
    # Financial items and tax
    ("9000", "Rentebaten bank", "pnl", "Financiële baten en lasten", "WFbeRlmObr"),
    ("9010", "Rentelasten leningen", "pnl", "Financiële baten en lasten", "WFbeRlsRle"),
    ("9020", "Koersverschillen", "pnl", "Financiële baten en lasten", "WFbeWisWis"),
    ("9100", "Vennootschapsbelasting", "pnl", "Belastingen", "WBelBgrBgr"),
)

ACCOUNT_TYPE: dict[str, str] = {code: kind for code, _, kind, _, _ in ACCOUNTS}

# Accounts with a role in the generator; named so the generator reads like bookkeeping.
SOFTWARE, SOFTWARE_DEPR = "0100", "0110"
FURNITURE, FURNITURE_DEPR = "0200", "0210"
VEHICLES, VEHICLES_DEPR = "0250", "0260"
DEPOSITS = "0300"
SHARE_CAPITAL, SHARE_PREMIUM, RETAINED_EARNINGS = "0500", "0510", "0520"
WARRANTY_PROVISION = "0700"
BANK_LOAN = "0800"
CASH, BANK, SAVINGS, CARD_CLEARING = "1000", "1100", "1110", "1190"
DEBTORS, DOUBTFUL_DEBTORS = "1300", "1310"
INVENTORY = "1400"
VAT_RECEIVABLE, VAT_PAYABLE, PAYROLL_TAX, CORPORATE_TAX = "1500", "1510", "1520", "1530"
CREDITORS, NET_WAGES, HOLIDAY_PAY, PENSION_PAYABLE = "1600", "1700", "1710", "1720"
PREPAID, INVOICES_TO_RECEIVE, ACCRUED_COSTS = "1800", "1810", "1820"
WAGES, HOLIDAY_ALLOWANCE, SOCIAL_SECURITY, PENSION = "4000", "4010", "4100", "4110"
RENT, ENERGY = "4200", "4210"
CAR_LEASE = "4310"
BANK_CHARGES = "4620"
DEPR_FURNITURE, DEPR_VEHICLES, DEPR_SOFTWARE = "4800", "4810", "4820"
INTEREST_INCOME, INTEREST_EXPENSE, FX_RESULT = "9000", "9010", "9020"
CORPORATE_TAX_EXPENSE = "9100"

COST_CENTRES: tuple[tuple[str, str], ...] = (
    ("CC10", "Sales"),
    ("CC20", "Operations"),
    ("CC30", "Customer service"),
    ("CC90", "General and administration"),
)

PROJECTS: tuple[tuple[str, str], ...] = (
    ("P101", "Webshop relaunch"),
    ("P102", "Store renovation Utrecht"),
    ("P103", "ERP implementation"),
    ("P104", "Customer portal"),
    ("P105", "Data platform"),
    ("P106", "US market entry"),
)


def accounts_frame() -> pl.DataFrame:
    """The chart of accounts as an `accounts` stream frame."""
    rows = [
        {
            "code": code,
            "name": name,
            "account_type": kind,
            "category": category,
            "standard_code": rgs,
            "standard_scheme": "RGS",
            "parent_code": None,
        }
        for code, name, kind, category, rgs in ACCOUNTS
    ]
    return frame_from_rows("accounts", rows)


def dimensions_frame() -> pl.DataFrame:
    """Cost centres and projects as a `dimensions` stream frame."""
    rows = [{"axis": "cost_centre", "code": c, "name": n, "parent_code": None} for c, n in COST_CENTRES]
    rows += [{"axis": "project", "code": c, "name": n, "parent_code": None} for c, n in PROJECTS]
    return frame_from_rows("dimensions", rows)
