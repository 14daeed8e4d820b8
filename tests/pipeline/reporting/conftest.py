"""A small hand-made ledger written straight into a real warehouse, regenerated as an import would."""

from __future__ import annotations

import shutil
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

import pipeline.mapping  # noqa: F401 - registers the statement regenerator
from pipeline import db, entities
from pipeline.regenerate import Change, regenerate
from pipeline.structure import structure_from_dict

# (code, name, type, standard code)
ACCOUNTS = [
    ("0100", "Equipment", "balance", None),
    ("0110", "Accumulated depreciation equipment", "balance", None),
    ("0500", "Share capital", "balance", None),
    ("1000", "Bank", "balance", None),
    ("1300", "Debtors", "balance", None),
    ("1600", "Creditors", "balance", None),
    ("1999", "Suspense", "balance", None),
    ("4000", "Wages", "pnl", None),
    ("4100", "Social charges", "pnl", None),
    ("4500", "Office costs", "pnl", None),
    ("4800", "Depreciation equipment", "pnl", None),
    ("7000", "Purchases", "pnl", None),
    ("8000", "Sales", "pnl", None),
    ("9999", "Mystery account", "pnl", None),
]

# entry -> (date, [(account, amount, cost_centre, project)])
ENTRIES = {
    "E1": ("2024-01-05", [("0100", "6000.00"), ("1000", "-6000.00")]),
    "E2": ("2024-01-10", [("1300", "5000.00"), ("8000", "-5000.00")]),
    "E3": ("2024-01-25", [("4000", "900.00"), ("4000", "600.00", None, "P1"), ("1000", "-1500.00")]),
    "E4": ("2024-01-28", [("7000", "2000.00"), ("1600", "-2000.00")]),
    "E5": ("2024-02-03", [("1000", "3000.00"), ("1300", "-3000.00")]),
    "E6": ("2024-02-29", [("4800", "100.00"), ("0110", "-100.00")]),
    "E7": ("2024-02-10", [("1600", "1200.00"), ("1000", "-1200.00")]),
    "E8": ("2024-02-12", [("1999", "50.00"), ("1000", "-50.00")]),
    "E9": ("2024-02-14", [("9999", "30.00"), ("1000", "-30.00")]),
    "E10": ("2024-02-20", [("4100", "200.00", "CC1"), ("1600", "-200.00")]),
    "E11": ("2024-02-21", [("4500", "70.00"), ("1000", "-70.00")]),
    "E12": ("2025-01-15", [("1000", "500.00"), ("8000", "-500.00")]),
}
OPENINGS = [(2024, "2024-01-01", "1000", "10000.00"), (2024, "2024-01-01", "0500", "-10000.00")]

STRUCTURE = {
    "name": "Small",
    "statements": {
        "pnl": [
            {"code": "REV", "name": "Revenue", "kind": "mapped", "role": "revenue"},
            {"code": "COGS", "name": "Cost of sales", "kind": "mapped", "role": "cogs"},
            {
                "code": "GM",
                "name": "Gross margin",
                "kind": "formula",
                "formula": "REV + COGS",
                "role": "gross_margin",
            },
            {
                "code": "OPEX",
                "name": "Operating expenses",
                "kind": "group",
                "children": [
                    {"code": "STAFF", "name": "Staff", "kind": "mapped"},
                    {"code": "STAFF_PROJ", "name": "Staff on projects", "kind": "mapped"},
                    {"code": "OTHER", "name": "Other expenses", "kind": "mapped"},
                ],
            },
            {"code": "EBITDA", "name": "EBITDA", "kind": "formula", "formula": "GM + OPEX", "role": "ebitda"},
            {"code": "DEPR", "name": "Depreciation", "kind": "mapped"},
            {"code": "PL_UNMAPPED", "name": "Unmapped", "kind": "unmapped"},
            {"code": "PL_EXCLUDED", "name": "Excluded", "kind": "excluded"},
            {
                "code": "NET",
                "name": "Net result",
                "kind": "formula",
                "role": "net_result",
                "formula": "EBITDA + DEPR + PL_UNMAPPED + PL_EXCLUDED",
            },
        ],
        "bs": [
            {
                "code": "ASSETS",
                "name": "Assets",
                "kind": "group",
                "sign": 1,
                "children": [
                    {"code": "FA", "name": "Equipment at cost", "kind": "mapped", "cf": "CF_INV"},
                    {"code": "ACCDEP", "name": "Accumulated depreciation", "kind": "mapped", "cf": "CF_DEPR"},
                    {
                        "code": "CURRENT",
                        "name": "Current assets",
                        "kind": "group",
                        "role": "current_assets",
                        "children": [
                            {
                                "code": "REC",
                                "name": "Receivables",
                                "kind": "mapped",
                                "role": "receivables",
                                "cf": "CF_WC",
                            },
                            {"code": "CASH_L", "name": "Cash", "kind": "mapped", "cf": "CASH_END"},
                        ],
                    },
                    {"code": "BS_UNMAPPED", "name": "Unmapped", "kind": "unmapped"},
                    {"code": "BS_EXCLUDED", "name": "Excluded", "kind": "excluded"},
                ],
            },
            {
                "code": "LIAB",
                "name": "Equity and liabilities",
                "kind": "group",
                "sign": -1,
                "children": [
                    {
                        "code": "EQUITY",
                        "name": "Equity",
                        "kind": "group",
                        "children": [
                            {"code": "EQ", "name": "Share capital", "kind": "mapped", "cf": "CF_FIN"},
                            {"code": "RET", "name": "Prior years' result", "kind": "retained"},
                            {"code": "RES", "name": "Result for the year", "kind": "result"},
                        ],
                    },
                    {
                        "code": "CURLIAB",
                        "name": "Current liabilities",
                        "kind": "group",
                        "role": "current_liabilities",
                        "children": [
                            {
                                "code": "PAY",
                                "name": "Payables",
                                "kind": "mapped",
                                "role": "payables",
                                "cf": "CF_WC",
                            }
                        ],
                    },
                ],
            },
        ],
        "cf": [
            {"code": "CF_RES", "name": "Net result", "kind": "result"},
            {"code": "CF_DEPR", "name": "Depreciation", "kind": "mapped"},
            {"code": "CF_WC", "name": "Working capital", "kind": "mapped"},
            {
                "code": "CF_OPS",
                "name": "Operating cash flow",
                "kind": "formula",
                "formula": "CF_RES + CF_DEPR + CF_WC",
            },
            {"code": "CF_INV", "name": "Investing", "kind": "mapped"},
            {"code": "CF_FIN", "name": "Financing", "kind": "mapped"},
            {"code": "CF_UNM", "name": "Unmapped", "kind": "unmapped"},
            {"code": "CF_EXC", "name": "Excluded", "kind": "excluded"},
            {
                "code": "CF_NET",
                "name": "Net cash flow",
                "kind": "formula",
                "formula": "CF_OPS + CF_INV + CF_FIN + CF_UNM + CF_EXC",
            },
            {"code": "CASH_START", "name": "Cash at start", "kind": "cash_open"},
            {"code": "CASH_END", "name": "Cash at end", "kind": "cash"},
        ],
    },
}

# (account or range, line or None for exclude, extra)
RULES = [
    {"range": "8000-8999", "line": "REV"},
    {"account": "7000", "line": "COGS"},
    {"range": "4000-4499", "line": "STAFF"},
    {"account": "4000", "project": "P1", "line": "STAFF_PROJ"},
    {"account": "4500", "line": "OTHER"},
    {"account": "4800", "line": "DEPR"},
    {"account": "0100", "line": "FA"},
    {"account": "0110", "line": "ACCDEP"},
    {"account": "0500", "line": "EQ"},
    {"account": "1000", "line": "CASH_L"},
    {"account": "1300", "line": "REC"},
    {"account": "1600", "line": "PAY"},
    {"account": "1999", "exclude": True},
]


def write_ledger(
    data: Path,
    entity: str = "Acme",
    *,
    accounts=ACCOUNTS,
    entries=ENTRIES,
    openings=OPENINGS,
    currency: str = "EUR",
    organisation: str = "Test org",
    fy_start: int = 1,
) -> int:
    """Insert accounts, ledger lines and opening balances for one entity and regenerate like an import."""
    with db.transaction(data) as con:
        org = entities.ensure_organisation(con, organisation)
        eid = entities.ensure_entity(
            con, entity, organisation_id=org, currency=currency, fiscal_year_start_month=fy_start
        )
        run_id = con.execute(
            "INSERT INTO import_runs (entity_id, trigger, status, file_name) VALUES (?, 'upload', 'succeeded', ?) "
            "RETURNING id",
            [eid, f"{entity}.csv"],
        ).fetchone()[0]
        if accounts:
            con.executemany(
                "INSERT INTO accounts (entity_id, code, name, account_type, standard_code, standard_scheme, first_seen_run,"
                " run_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [[eid, c, n, t, s, "RGS" if s else None, run_id, run_id] for c, n, t, s in accounts],
            )
        rows = []
        for entry, (day, lines) in entries.items():
            for i, line in enumerate(lines, start=1):
                account, amount, cc, project = (*line, None, None)[:4]
                d = date.fromisoformat(day)
                rows.append(
                    [
                        eid,
                        f"M|{entry}|{i}",
                        "M",
                        entry,
                        str(i),
                        d,
                        d.year,
                        d.month,
                        account,
                        Decimal(amount),
                        currency,
                        f"{entry} line {i}",
                        cc,
                        project,
                        f"file line {len(rows) + 2}",
                        run_id,
                    ]
                )
        if rows:
            con.executemany(
                "INSERT INTO transactions (entity_id, line_key, journal, entry, line, tx_date, fiscal_year, period, "
                "account_code, amount, currency, description, cost_centre, project, source_ref, run_id) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            # as the merge writes them (every writer of transactions fills key_hash)
            con.execute("UPDATE transactions SET key_hash = hash(line_key) WHERE key_hash IS NULL")
        if openings:
            con.executemany(
                "INSERT INTO opening_balances (entity_id, line_key, fiscal_year, balance_date, account_code, amount, "
                "source_ref, run_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    [eid, f"OB|{fy}|{acc}", fy, date.fromisoformat(d), acc, Decimal(a), "opening", run_id]
                    for fy, d, acc, a in openings
                ],
            )
        regenerate(con, [Change(eid, None)])
    return eid


@pytest.fixture(scope="session")
def small_template(tmp_path_factory) -> Path:
    """The small ledger of entity Acme with the 'Small' structure and its rules, built once."""
    from pipeline import mapping
    from pipeline.structure import create_structure

    data = tmp_path_factory.mktemp("small") / "data"
    data.mkdir()
    write_ledger(data)
    with db.transaction(data) as con:
        org = entities.ensure_organisation(con, "Test org")
        struct = create_structure(con, structure_from_dict(STRUCTURE), organisation_id=org, actor="tester")
        mapping.add_rules(con, struct, [mapping.rule_from_dict(r) for r in RULES], actor="tester")
    return data


@pytest.fixture
def small(small_template, data) -> Path:
    """A fresh copy of the small ledger's warehouse for one test."""
    shutil.copy(db.warehouse_path(small_template), db.warehouse_path(data))
    return data
