"""Suggestions: each reason, ranking, accepting one/many/all, and a preview that saves nothing."""

from __future__ import annotations

import shutil
from decimal import Decimal

import pytest

from pipeline import db, mapping, suggest
from pipeline.structure import find_structure
from tests.pipeline.reporting.conftest import write_ledger

ACCOUNTS = [
    ("1100", "Bank", "balance", None),
    ("1300", "Debiteuren", "balance", "BVorDebHad"),
    ("4000", "Lonen", "pnl", "WPerLesLon"),
    ("4010", "Vakantiegeld", "pnl", None),
    ("4020", "Pensioenpremie", "pnl", "WPerPenPen"),
    ("4600", "Huur bedrijfspand", "pnl", None),
    ("8000", "Omzet hoog", "pnl", "WOmzNohOlh"),
]
ENTRIES = {
    "S1": ("2024-01-10", [("1300", "1000.00"), ("8000", "-1000.00")]),
    "S2": (
        "2024-01-20",
        [("4000", "300.00"), ("4010", "25.00"), ("4020", "40.00"), ("4600", "120.00"), ("1100", "-485.00")],
    ),
}


@pytest.fixture(scope="module")
def dutch_template(tmp_path_factory):
    data = tmp_path_factory.mktemp("dutch") / "data"
    data.mkdir()
    write_ledger(data, "Dutch", organisation="NL", accounts=ACCOUNTS, entries=ENTRIES, openings=[])
    write_ledger(
        data,
        "Dutch Two",
        organisation="NL",
        accounts=[("1100", "Bank", "balance", None)],
        entries={"T1": ("2024-01-05", [("1100", "10.00"), ("1100", "-10.00")])},
        openings=[],
    )
    with db.connect(data) as con:
        struct = find_structure(con, "Nederlands (RGS)")
        mapping.add_rule(
            con, struct, mapping.rule_from_dict({"account": "1100", "line": "LIM", "entity": "Dutch Two"})
        )
    return data


@pytest.fixture
def dutch(dutch_template, data):
    """Two Dutch entities on the RGS template (made the default from their RGS codes)."""
    shutil.copy(db.warehouse_path(dutch_template), db.warehouse_path(data))
    return data


def best(found, code):
    (acc,) = [a for a in found if a.code == code]
    return acc.best


def test_rgs_code_is_the_strongest_reason(dutch):
    with db.connect(dutch) as con:
        found = suggest.suggest(con, "Dutch")
    assert [a.code for a in found] == ["1100", "1300", "4000", "4010", "4020", "4600", "8000"]
    top = best(found, "8000")
    assert (top.line, top.statement) == ("OMZ", "pnl")
    assert top.reasons[0] == "RGS code WOmzNohOlh matches WOmz*"
    assert best(found, "1300").line == "DEB"
    assert best(found, "4000").line == "PER" and best(found, "4000").score >= 84


def test_same_account_in_a_sibling_entity(dutch):
    with db.connect(dutch) as con:
        top = best(suggest.suggest(con, "Dutch"), "1100")
    assert top.line == "LIM"
    assert "account 1100 (same name) is mapped here in Dutch Two" in top.reasons


def test_neighbours_in_the_code_range(dutch):
    with db.connect(dutch) as con:
        suggest.accept(con, "Dutch", choices={"4000": "PER", "4020": "PER"}, actor="tester")
        top = best(suggest.suggest(con, "Dutch"), "4010")
    assert top.line == "PER"
    assert "between 4000 and 4020, both mapped to Personeelskosten" in top.reasons


def test_name_similarity(dutch):
    with db.connect(dutch) as con:
        top = best(suggest.suggest(con, "Dutch"), "4600")
    assert top.line == "HUI"
    assert top.reasons == ["'Huur bedrijfspand' matches *huur*"]


def test_balance_accounts_only_get_balance_sheet_lines(dutch):
    with db.connect(dutch) as con:
        found = suggest.suggest(con, "Dutch", limit=10)
    for acc in found:
        wanted = "bs" if acc.account_type == "balance" else "pnl"
        assert {s.statement for s in acc.suggestions} <= {wanted}, acc.code


def test_preview_shows_total_changes_and_saves_nothing(dutch):
    with db.connect(dutch) as con:
        changes = suggest.preview(con, "Dutch", choices={"4600": "HUI", "8000": "OMZ"})
        still = [r["code"] for r in mapping.unmapped(con, "Dutch")]
    moved = {(c.statement, c.code): (c.before, c.after) for c in changes}
    assert moved[("pnl", "HUI")] == (Decimal("0.00"), Decimal("-120.00"))
    assert moved[("pnl", "OMZ")] == (Decimal("0.00"), Decimal("1000.00"))
    assert moved[("pnl", "BRM")] == (Decimal("0.00"), Decimal("1000.00"))
    assert moved[("pnl", "PL_UNMAPPED")] == (Decimal("515.00"), Decimal("-365.00"))
    assert ("pnl", "NET") not in moved  # mapping moves amounts between lines, never changes the result
    assert "4600" in still and "8000" in still


def test_accept_all_maps_every_account_with_a_suggestion(dutch):
    with db.connect(dutch) as con:
        ids = suggest.accept(con, "Dutch", actor="tester")
        left = mapping.unmapped(con, "Dutch")
        rules = mapping.list_rules(con, find_structure(con, "Nederlands (RGS)"))
    assert len(ids) == 7 and left == []
    assert {(r.account_from, r.entity, r.note) for r in rules if r.id in ids} >= {
        ("8000", "Dutch", "accepted suggestion")
    }
