"""The three entities of the demo organisation, as data: what each sells, buys and pays.

Amounts are integer cents of the entity's own currency; `_units(450)` is 450.00.
"""

from __future__ import annotations

from dataclasses import dataclass, field

ORGANISATION = "Demo Holding"


@dataclass(frozen=True)
class RevenueLine:
    """A kind of revenue line on a sales invoice."""

    account: str
    vat_pct: int
    weight: float
    cost_centre: str
    projects: tuple[str, ...] = ()
    project_share: float = 0.0


@dataclass(frozen=True)
class PurchaseKind:
    """A kind of purchase invoice: expense account, typical net amount (cents) and spread."""

    account: str
    weight: float
    median: int
    sigma: float
    cost_centre: str
    supplier: str
    projects: tuple[str, ...] = ()
    project_share: float = 0.0


@dataclass(frozen=True)
class Profile:
    """Everything that makes one demo entity different from the others."""

    external_id: str
    name: str
    currency: str
    holidays: tuple[tuple[int, int], ...]
    vat: bool
    sales_per_day: tuple[int, int]
    sale_median: int
    sale_sigma: float
    revenue: tuple[RevenueLine, ...]
    card_sales_median: int  # daily card takings of a shop; 0 for none
    purchases_per_day: tuple[int, int]
    purchases: tuple[PurchaseKind, ...]
    monthly_invoices: tuple[tuple[str, int, str, str], ...]  # account, net cents, cost centre, supplier
    staff: tuple[tuple[str, int, int], ...]  # cost centre, headcount, monthly salary cents (2024)
    social_pct: int  # employer social security, % of gross
    pension_pct: int  # employer pension, % of gross
    employee_pension_pct: int
    wage_tax_pct: int
    holiday_allowance_pct: int  # 0: no holiday allowance
    depreciation: tuple[tuple[str, str, int], ...]  # expense account, accumulated account, monthly cents
    loan_repayment: int
    loan_rate_permille: int  # yearly interest
    corporate_tax_monthly: int
    customers: tuple[str, ...]
    opening: dict[str, int] = field(default_factory=dict)  # balance on 2024-01-01 (cents, debit +)
    foreign_currency: str | None = None
    foreign_share: float = 0.0  # share of invoices in the foreign currency


_NL_HOLIDAYS = ((1, 1), (4, 27), (12, 25), (12, 26))
_US_HOLIDAYS = ((1, 1), (7, 4), (12, 25))


def _units(units: int) -> int:
    """Whole currency units as cents."""
    return units * 100


_OFFICE_COSTS = (
    PurchaseKind("4500", 1.0, _units(90), 0.6, "CC90", "Office Centrum"),
    PurchaseKind("4510", 0.5, _units(140), 0.3, "CC90", "KPN Zakelijk"),
    PurchaseKind("4530", 0.3, _units(150), 0.5, "CC90", "Branchevereniging"),
    PurchaseKind("4600", 0.1, _units(2500), 0.4, "CC90", "Accountants Noord"),
    PurchaseKind("4610", 0.2, _units(1200), 0.6, "CC90", "Juridisch Advies BV"),
    PurchaseKind("4630", 0.1, _units(800), 0.3, "CC90", "Verzekeraar Centraal"),
    PurchaseKind("4410", 0.3, _units(120), 0.6, "CC10", "Restaurant De Haven"),
    PurchaseKind("4190", 0.2, _units(150), 0.6, "CC90", "Personeelsvereniging"),
)

RETAIL = Profile(
    external_id="demo-retail",
    name="Demo Retail BV",
    currency="EUR",
    holidays=_NL_HOLIDAYS,
    vat=True,
    sales_per_day=(7, 14),
    sale_median=_units(460),
    sale_sigma=0.8,
    revenue=(
        RevenueLine("8000", 21, 0.6, "CC10", ("P101",), 0.1),
        RevenueLine("8010", 9, 0.3, "CC10"),
        RevenueLine("8020", 21, 0.1, "CC30"),
    ),
    card_sales_median=_units(4000),
    purchases_per_day=(3, 8),
    purchases=(
        PurchaseKind("7000", 8.0, _units(2150), 0.6, "CC20", "Groothandel Holland"),
        PurchaseKind("4440", 1.0, _units(180), 0.5, "CC20", "Transport Snel"),
        PurchaseKind("4400", 1.0, _units(450), 0.7, "CC10", "Mediabureau Oost", ("P101",), 0.3),
        PurchaseKind("4520", 1.0, _units(300), 0.6, "CC90", "IT Partners", ("P101",), 0.2),
        PurchaseKind("4210", 0.5, _units(350), 0.3, "CC20", "Energie Direct"),
        PurchaseKind("4220", 0.5, _units(250), 0.3, "CC20", "Schoonmaak Plus", ("P102",), 0.2),
        PurchaseKind("4420", 0.5, _units(200), 0.6, "CC10", "NS Zakelijk"),
        PurchaseKind("4150", 0.2, _units(600), 0.5, "CC20", "Opleidingen Centrum"),
        PurchaseKind("4180", 0.5, _units(900), 0.5, "CC20", "Uitzendbureau Flex"),
        PurchaseKind("4430", 0.3, _units(250), 0.5, "CC10", "Webbouwers", ("P101",), 0.6),
        PurchaseKind("4300", 0.4, _units(90), 0.4, "CC10", "Tankstation A12"),
        *_OFFICE_COSTS,
    ),
    monthly_invoices=(
        ("4200", _units(6500), "CC90", "Vastgoed Beheer Utrecht"),
        ("4310", _units(1400), "CC10", "Autolease Nederland"),
    ),
    staff=(
        ("CC10", 6, _units(3100)),
        ("CC20", 4, _units(3000)),
        ("CC30", 2, _units(3200)),
        ("CC90", 2, _units(3900)),
    ),
    social_pct=18,
    pension_pct=12,
    employee_pension_pct=6,
    wage_tax_pct=30,
    holiday_allowance_pct=8,
    depreciation=(
        ("4800", "0210", _units(2000)),
        ("4810", "0260", _units(800)),
        ("4820", "0110", _units(500)),
    ),
    loan_repayment=_units(4200),
    loan_rate_permille=45,
    corporate_tax_monthly=_units(3000),
    customers=(
        "Bakkerij Jansen",
        "Van Dijk Installaties",
        "Hotel De Linde",
        "Bloemenhuis Flora",
        "Gemeente Zeist",
        "Sportschool Fit",
        "Kinderopvang Zonnetje",
        "Tandartspraktijk Smit",
        "Café Het Plein",
        "De Vries Bouw",
        "Boekhandel Lezen",
        "Fietsen Bakker",
    ),
    opening={
        "0100": _units(30000),
        "0110": -_units(12000),
        "0200": _units(180000),
        "0210": -_units(60000),
        "0250": _units(60000),
        "0260": -_units(20000),
        "0300": _units(19500),
        "1000": _units(2500),
        "1100": _units(185000),
        "1110": _units(100000),
        "1400": _units(240000),
        "0800": -_units(250000),
        "0500": -_units(18000),
        "0510": -_units(100000),
        "0700": -_units(15000),
    },
)

SERVICES = Profile(
    external_id="demo-services",
    name="Demo Services BV",
    currency="EUR",
    holidays=_NL_HOLIDAYS,
    vat=True,
    sales_per_day=(5, 11),
    sale_median=_units(850),
    sale_sigma=0.7,
    revenue=(
        RevenueLine("8020", 21, 0.8, "CC20", ("P103", "P104", "P105"), 0.7),
        RevenueLine("8020", 21, 0.2, "CC30"),
    ),
    card_sales_median=0,
    purchases_per_day=(2, 6),
    purchases=(
        PurchaseKind(
            "7100", 4.0, _units(1400), 0.6, "CC20", "Freelance Collectief", ("P103", "P104", "P105"), 0.8
        ),
        PurchaseKind("4520", 2.0, _units(400), 0.6, "CC90", "Cloud Diensten", ("P105",), 0.3),
        PurchaseKind("4420", 2.0, _units(250), 0.6, "CC20", "NS Zakelijk", ("P103", "P104"), 0.5),
        PurchaseKind("4400", 0.5, _units(600), 0.6, "CC10", "Mediabureau Oost"),
        PurchaseKind("4150", 1.0, _units(800), 0.5, "CC20", "Opleidingen Centrum"),
        PurchaseKind("4300", 0.5, _units(90), 0.4, "CC20", "Tankstation A12"),
        *_OFFICE_COSTS,
    ),
    monthly_invoices=(
        ("4200", _units(9000), "CC90", "Kantoorpark Amersfoort"),
        ("4310", _units(2600), "CC20", "Autolease Nederland"),
    ),
    staff=(
        ("CC10", 3, _units(4200)),
        ("CC20", 12, _units(4300)),
        ("CC30", 4, _units(3600)),
        ("CC90", 2, _units(4800)),
    ),
    social_pct=18,
    pension_pct=12,
    employee_pension_pct=6,
    wage_tax_pct=34,
    holiday_allowance_pct=8,
    depreciation=(
        ("4800", "0210", _units(1200)),
        ("4810", "0260", _units(1500)),
        ("4820", "0110", _units(900)),
    ),
    loan_repayment=0,
    loan_rate_permille=0,
    corporate_tax_monthly=_units(6000),
    customers=(
        "Zorggroep Midden",
        "Logistiek Centrum West",
        "Provincie Utrecht",
        "Verzekeraar Noord",
        "Woningcorporatie Thuis",
        "Energiebedrijf Groen",
        "Universiteit Campus",
        "Retailketen Koop",
        "Demo Retail BV",
    ),
    opening={
        "0100": _units(45000),
        "0110": -_units(15000),
        "0200": _units(90000),
        "0210": -_units(30000),
        "0250": _units(110000),
        "0260": -_units(35000),
        "0300": _units(27000),
        "1100": _units(420000),
        "1110": _units(250000),
        "0500": -_units(18000),
        "0510": -_units(150000),
    },
)

INC = Profile(
    external_id="demo-inc",
    name="Demo Inc",
    currency="USD",
    holidays=_US_HOLIDAYS,
    vat=False,
    sales_per_day=(3, 9),
    sale_median=_units(850),
    sale_sigma=0.8,
    revenue=(
        RevenueLine("8040", 0, 0.6, "CC20", ("P106",), 0.5),
        RevenueLine("8030", 0, 0.4, "CC10"),
    ),
    card_sales_median=0,
    purchases_per_day=(2, 6),
    purchases=(
        PurchaseKind("7000", 3.0, _units(1200), 0.6, "CC20", "Demo Retail BV"),
        PurchaseKind("7100", 1.0, _units(1500), 0.6, "CC20", "Contractors LLC", ("P106",), 0.6),
        PurchaseKind("4400", 1.0, _units(700), 0.7, "CC10", "AdWorks Inc", ("P106",), 0.5),
        PurchaseKind("4420", 1.0, _units(600), 0.6, "CC10", "Travel Desk"),
        PurchaseKind("4520", 1.0, _units(350), 0.5, "CC90", "SaaS Tools Inc"),
        PurchaseKind("4610", 0.3, _units(1800), 0.5, "CC90", "Legal Partners LLP"),
        PurchaseKind("4500", 0.5, _units(120), 0.6, "CC90", "Office Supply Co"),
        PurchaseKind("4510", 0.3, _units(200), 0.3, "CC90", "Telecom US"),
    ),
    monthly_invoices=(("4200", _units(7000), "CC90", "Hudson Offices LLC"),),
    staff=(
        ("CC10", 4, _units(6200)),
        ("CC20", 4, _units(6000)),
        ("CC30", 2, _units(4800)),
        ("CC90", 1, _units(7500)),
    ),
    social_pct=8,
    pension_pct=4,
    employee_pension_pct=4,
    wage_tax_pct=25,
    holiday_allowance_pct=0,
    depreciation=(("4800", "0210", _units(700)), ("4820", "0110", _units(400))),
    loan_repayment=0,
    loan_rate_permille=0,
    corporate_tax_monthly=_units(3000),
    customers=(
        "Acme Retail Corp",
        "Northwind Traders",
        "Contoso Ltd",
        "Fabrikam Inc",
        "Tailspin Toys",
        "Berliner Handel GmbH",
        "Lyon Distribution SA",
    ),
    opening={
        "0100": _units(24000),
        "0110": -_units(6000),
        "0200": _units(60000),
        "0210": -_units(15000),
        "0300": _units(14000),
        "1100": _units(260000),
        "0500": -_units(50000),
        "0510": -_units(200000),
    },
    foreign_currency="EUR",
    foreign_share=0.25,
)

PROFILES: dict[str, Profile] = {p.external_id: p for p in (RETAIL, SERVICES, INC)}
