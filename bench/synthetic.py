"""The skeleton of the synthetic reporting structure the benchmarks share.

P&L: revenue and cost groups over the given mapped lines, gross margin and net result formulas,
the Unmapped and Excluded lines. Balance sheet: assets and liabilities groups with their reserved
lines. The cash flow differs per benchmark and is passed in whole.
"""

from __future__ import annotations


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
