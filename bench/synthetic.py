"""What the reporting benchmarks share: a synthetic ledger and the skeleton of their structure.

`ledger` writes accounts and balanced two-line entries straight into a warehouse. `statements`:
P&L revenue and cost groups over the given mapped lines, gross margin and net result formulas,
the Unmapped and Excluded lines; balance sheet assets and liabilities groups with their reserved
lines. The cash flow differs per benchmark and is passed in whole.
"""

from __future__ import annotations

from datetime import date


def ledger(
    con, entity_ids: list[int], *, lines: int, accounts: int, first_day: date, days: int, cost_centres: bool
) -> None:
    """`accounts` accounts per entity (the first half balance sheet 1000.., the rest P&L 4000..)
    and `lines` ledger lines as balanced two-line entries spread evenly over the entities and at
    random over `days` days from `first_day`, stored entity by entity as imports write them."""
    half = accounts // 2
    code = "CAST(CASE WHEN k < $half THEN 1000 + k ELSE 4000 + k - $half END AS VARCHAR)"
    con.execute(
        f"""INSERT INTO accounts (entity_id, code, name, account_type, first_seen_run, run_id)
            SELECT e.entity_id, {code}, 'Account ' || k, CASE WHEN k < $half THEN 'balance' ELSE 'pnl' END, 1, 1
            FROM (SELECT unnest($ids::INTEGER[]) AS entity_id) e, range($n) r(k)""",
        {"half": half, "n": accounts, "ids": entity_ids},
    )
    con.execute("SELECT setseed(0.42)")
    cc = (
        "(['CC10', 'CC20', 'CC30', NULL])[1 + CAST(floor(random() * 4) AS INTEGER)]"
        if cost_centres
        else "NULL"
    )
    con.execute(
        f"""INSERT INTO transactions (entity_id, line_key, key_hash, journal, entry, line, tx_date, fiscal_year,
                                      period, account_code, amount, currency, cost_centre, source_ref, run_id)
            WITH e AS (
                SELECT i, (i % $entities) + $first_id AS entity_id,
                       ($first_day + CAST(floor(random() * $days) AS INTEGER)) AS d,
                       CAST(floor(random() * $accounts) AS INTEGER) AS a1,
                       CAST(floor(random() * $accounts) AS INTEGER) AS a2,
                       CAST(floor(random() * 1000000) / 100 + 0.01 AS DECIMAL(18,2)) AS amount,
                       {cc} AS cc
                FROM range($entries) t(i)
            )
            SELECT entity_id, 'B|' || i || '|' || l, hash('B|' || i || '|' || l), 'MEM', i::VARCHAR, l::VARCHAR, d, year(d), month(d),
                   {code}, CASE WHEN l = 1 THEN amount ELSE -amount END, 'EUR', cc, 'bench', 1
            FROM (SELECT *, CASE WHEN l = 1 THEN a1 ELSE a2 END AS k FROM e, (VALUES (1), (2)) v(l))
            ORDER BY entity_id, d, i, l""",
        {
            "entities": len(entity_ids),
            "first_id": min(entity_ids),
            "first_day": first_day,
            "days": days,
            "accounts": accounts,
            "entries": lines // 2,
            "half": half,
        },
    )


def statements(
    pnl: list[dict], assets: list[dict], liabilities: list[dict], cf: list[dict], *, liabilities_name: str
) -> dict:
    """The `statements` part of a structure document (see pipeline.structure.structure_from_dict)."""
    return {
        "pnl": [
            {"code": "REVENUE", "name": "Revenue", "kind": "group", "children": pnl[:5]},
            {"code": "COSTS", "name": "Costs", "kind": "group", "children": pnl[5:]},
            {"code": "GM", "name": "Gross margin", "kind": "formula", "formula": "REVENUE + P05"},
            {"code": "PL_UNMAPPED", "name": "Unmapped", "kind": "unmapped"},
            {"code": "PL_EXCLUDED", "name": "Excluded", "kind": "excluded"},
            {
                "code": "NET",
                "name": "Net result",
                "kind": "formula",
                "formula": "REVENUE + COSTS + PL_UNMAPPED + PL_EXCLUDED",
            },
        ],
        "bs": [
            {
                "code": "ASSETS",
                "name": "Assets",
                "kind": "group",
                "sign": 1,
                "children": [
                    *assets,
                    {"code": "BS_UNMAPPED", "name": "Unmapped", "kind": "unmapped"},
                    {"code": "BS_EXCLUDED", "name": "Excluded", "kind": "excluded"},
                ],
            },
            {
                "code": "LIAB",
                "name": liabilities_name,
                "kind": "group",
                "sign": -1,
                "children": [
                    *liabilities,
                    {"code": "RET", "name": "Retained", "kind": "retained"},
                    {"code": "RES", "name": "Result", "kind": "result"},
                ],
            },
        ],
        "cf": cf,
    }
