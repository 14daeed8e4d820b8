"""A warehouse with Nmbrs payroll (from the sandbox, over real HTTP) and a ledger to reconcile with.

The sandbox's "today" is the real today (the connector lists the runs of this year and last
year by the system clock) and its background reports finish at the first poll, so imports
through the pipeline never wait. The seeded warehouse is built once and copied for each test.
"""

from __future__ import annotations

import shutil
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from connectors.nmbrs.parse import period_dates
from connectors.nmbrs.sandbox import NmbrsSandbox
from pipeline import db, imports, payroll, sources
from pipeline.access import LOCAL_USER

TODAY = date.today()
REDIRECT = "http://127.0.0.1:8501/sources"
SOAP_TOKEN = "sandbox-soap-token"
GL_ENTITY = "Demo Retail Ledger"
SEEDED_MONTH = date(TODAY.year, 3, 1)  # the GL books 100.00 more salary than payroll this month
SEEDED_DIFFERENCE = Decimal("100.00")

# The mapping of company 201's wage components onto the ledger.
MAPPING = [
    {"component_code": "1", "statement": "pnl", "account_code": "4000"},
    {"component_code": "7", "statement": "pnl", "account_code": "4010"},
    {"component_code": "20", "statement": "pnl", "account_code": "4020"},
    {"component_code": "310", "statement": "pnl", "account_code": "4100"},
    {"component_code": "310", "statement": "bs", "account_code": "1600"},
    {"component_code": "400", "statement": "pnl", "account_code": "4110"},
    {"component_code": "410", "statement": "pnl", "account_code": "4110"},
    {"component_code": "420", "statement": "pnl", "account_code": "4110"},
    {"component_code": "500", "statement": "bs", "account_code": "1610"},
    {"component_code": "600", "statement": "bs", "account_code": "1620"},
    {"component_code": "900", "hidden": True},
]
ACCOUNT_NAMES = {
    "1100": "Bank",
    "1600": "Te betalen pensioenpremie",
    "1610": "Te betalen loonheffing",
    "1620": "Te betalen nettolonen",
    "1630": "Overige schulden personeel",
    "4000": "Salarissen",
    "4010": "Vakantiegeld",
    "4020": "Reiskosten",
    "4100": "Pensioenlasten",
    "4110": "Sociale lasten",
}


def sandbox() -> NmbrsSandbox:
    return NmbrsSandbox(as_of=TODAY, first_year=TODAY.year - 1, task_steps=0)


def add_source(data: Path, sb: NmbrsSandbox, name: str = "Nmbrs") -> int:
    src = sources.add_source(
        data,
        "nmbrs",
        name=name,
        settings={
            "client_id": sb.client_id,
            "client_secret": sb.client_secret,
            "subscription_key": sb.subscription_key,
            "redirect_uri": REDIRECT,
            "base_url": sb.url,
        },
    )
    return src["id"]


def sign_in(data: Path, source_id: int) -> dict:
    """The REST sign-in as the browser does it: the Nmbrs page redirects back with a code."""
    url = payroll.connect_url(data, LOCAL_USER, source_id)
    answer = httpx.get(url, follow_redirects=False)
    assert answer.status_code == 302
    return payroll.complete_signin(data, LOCAL_USER, answer.headers["location"])


def connect(data: Path, sb: NmbrsSandbox, companies=("201", "203")) -> int:
    """An Nmbrs source with both APIs connected and these companies selected."""
    source_id = add_source(data, sb)
    sign_in(data, source_id)
    result = payroll.connect_soap(data, LOCAL_USER, source_id, sb.email, SOAP_TOKEN)
    assert result["ok"], result["message"]
    sources.select_entities(data, source_id, list(companies))
    return source_id


def entity_id(data: Path, name: str) -> int:
    with db.connect(data) as con:
        return con.execute("SELECT id FROM entities WHERE name = ?", [name]).fetchone()[0]


def month_costs(sb: NmbrsSandbox, company: int) -> dict[date, dict[str, Decimal]]:
    """The sandbox's company costs per month (of each period's last day) and component."""
    out: dict[date, dict[str, Decimal]] = {}
    kind = sb.companies[company].period_type
    for year in (TODAY.year - 1, TODAY.year):
        for (period, code), amount in sb.costs(company, year).items():
            month = period_dates(kind, year, period)[1].replace(day=1)
            out.setdefault(month, {})
            out[month][code] = out[month].get(code, Decimal("0.00")) + amount
    return out


def ledger_csv(path: Path, sb: NmbrsSandbox) -> Path:
    """Company 201's payroll journal and net-pay payments, as its ledger books them.

    Every month: wage costs debited, payables credited (the rest to 1630), and the net wages paid
    from the bank on the same day. In SEEDED_MONTH the salary account carries 100.00 more.
    """
    lines = ["Date,Entry,Account,Name,Amount,Text"]
    for n, (month, c) in enumerate(sorted(month_costs(sb, 201).items()), 1):
        day = (month + timedelta(days=32)).replace(day=1) - timedelta(days=1)
        salary = c["1"] + (SEEDED_DIFFERENCE if month == SEEDED_MONTH else 0)
        debits = {
            "4000": salary,
            "4010": c["7"],
            "4020": c["20"],
            "4100": c["310"],
            "4110": c["400"] + c["410"] + c["420"],
        }
        credits = {"1600": c["310"], "1610": c["500"], "1620": c["600"]}
        credits["1630"] = sum(debits.values()) - sum(credits.values())
        entry = f"L{n:03d}"
        for account, amount in debits.items():
            lines.append(f"{day},{entry},{account},{ACCOUNT_NAMES[account]},{amount},Loonjournaal")
        for account, amount in credits.items():
            lines.append(f"{day},{entry},{account},{ACCOUNT_NAMES[account]},{-amount},Loonjournaal")
        lines.append(f"{day},B{n:03d},1620,{ACCOUNT_NAMES['1620']},{c['600']},Betaling nettolonen")
        lines.append(f"{day},B{n:03d},1100,{ACCOUNT_NAMES['1100']},{-c['600']},Betaling nettolonen")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def import_ledger(data: Path, sb: NmbrsSandbox, folder: Path) -> int:
    result = imports.import_file(
        data,
        ledger_csv(folder / "ledger.csv", sb),
        GL_ENTITY,
        fmt="csv",
        preset="generic",
        options={
            "columns": {
                "date": "Date",
                "entry": "Entry",
                "account": "Account",
                "account_name": "Name",
                "amount": "Amount",
                "description": "Text",
            }
        },
    )
    assert result.status == "succeeded", result.error_message
    return entity_id(data, GL_ENTITY)


@pytest.fixture(scope="session")
def nmbrs():
    """One sandbox for the tests that only read from it (never change its data here)."""
    with sandbox() as sb:
        yield sb


@pytest.fixture(scope="session")
def seeded(nmbrs, tmp_path_factory) -> Path:
    """Companies 201 (monthly) and 203 (4-weekly) imported; 201 linked to its ledger and mapped."""
    root = tmp_path_factory.mktemp("payroll_seed")
    data = root / "data"
    data.mkdir()
    connect(data, nmbrs)
    for name in ("Demo Retail BV", "Demo Logistics BV"):
        run = imports.sync_entity(data, entity_id(data, name), full=True)
        assert run.status == "succeeded", run.error_message
    gl = import_ledger(data, nmbrs, root)
    retail = entity_id(data, "Demo Retail BV")
    payroll.set_gl_entity(data, LOCAL_USER, retail, gl)
    payroll.save_mapping(data, LOCAL_USER, retail, MAPPING)
    return data


@pytest.fixture
def payroll_data(seeded, tmp_path) -> Path:
    """A private copy of the seeded warehouse."""
    target = tmp_path / "data"
    shutil.copytree(seeded, target, ignore=shutil.ignore_patterns("locks", "staging"))
    return target
