"""Structures: the shipped templates, checks, export/import (YAML and CSV), duplicate, default."""

from __future__ import annotations

import copy

import pytest
import yaml

from pipeline import db, entities, mapping, reports
from pipeline.errors import ConfigError, ParseError, RefusedError
from pipeline.structure import (
    default_structure,
    duplicate_structure,
    find_structure,
    list_structures,
    load_template,
    save_structure,
    structure_from_dict,
)
from tests.pipeline.reporting.conftest import STRUCTURE, write_ledger


@pytest.mark.parametrize(("template", "lines", "mapped"), [("rgs", 72, 33), ("international", 68, 31)])
def test_shipped_templates_are_complete(template, lines, mapped):
    s = load_template(template)
    assert len(s.lines) == lines
    assert len(s.mappable()) == mapped
    for statement in ("pnl", "bs", "cf"):
        assert s.reserved(statement, "unmapped") and s.reserved(statement, "excluded")
    assert s.reserved("bs", "result").statement == "bs"
    assert [line.role for line in s.lines if line.role in ("revenue", "cogs", "receivables", "payables")] == [
        "revenue",
        "cogs",
        "receivables",
        "payables",
    ]
    # every balance-sheet leaf reaches a cash-flow line, and one of them is the designated cash
    assert len(s.cash_lines()) == 1


def test_rgs_template_covers_every_rgs_main_group(samples):
    import csv

    s = load_template("rgs")
    patterns = [p.split(":", 1)[1] for line in s.mappable() for p in line.standard if p.startswith("RGS:")]
    with open(samples / "rgs" / "rgs2dot0.csv", encoding="utf-8") as fh:
        groups = [r["Referentiecode"] for r in csv.DictReader(fh, delimiter=";") if r["Niveau"] == "2"]
    assert len(groups) == 25
    import fnmatch

    uncovered = [g for g in groups if not any(fnmatch.fnmatchcase(g + "Xxx", p) for p in patterns)]
    assert uncovered == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda d: d["statements"]["pnl"].pop(6),
            "the Profit & Loss needs exactly one unmapped line (it has 0)",
        ),
        (
            lambda d: d["statements"]["pnl"][2].update(formula="REV + NOPE"),
            "formula refers to unknown line 'NOPE'",
        ),
        (
            lambda d: d["statements"]["pnl"][2].update(formula="GM + REV"),
            "formulas refer to each other in a circle",
        ),
        (
            lambda d: d["statements"]["pnl"][0].update(kind="cash"),
            "a Profit & Loss line cannot be of kind 'cash'",
        ),
        (
            lambda d: d["statements"]["bs"][0]["children"][0].update(cf="NOPE"),
            "cash-flow line 'NOPE' does not exist",
        ),
        (lambda d: d["statements"]["pnl"][1].update(code="REV"), "line code 'REV' is used twice"),
        (lambda d: d["statements"]["pnl"][2].update(formula="REV +"), "ends too early"),
    ],
)
def test_a_broken_structure_is_refused_with_what_is_wrong(change, message):
    doc = copy.deepcopy(STRUCTURE)
    change(doc)
    with pytest.raises(ConfigError) as err:
        structure_from_dict(doc)
    assert message in err.value.user_message()


def test_yaml_export_and_import_round_trip(small, tmp_path):
    path = tmp_path / "config.yaml"
    with db.connect(small) as con:
        counts = mapping.export_config(con, path, structures=["Small"])
    assert counts == {"structures": 1, "rules": 13}
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert doc["mappings"][0]["rules"][3] == {"account": "4000", "project": "P1", "line": "STAFF_PROJ"}
    # edit the file as a reviewer would: rename a line, drop a rule, add one
    doc["structures"][0]["statements"]["pnl"][0]["name"] = "Net revenue"
    rules = doc["mappings"][0]["rules"]
    rules.remove({"account": "4500", "line": "OTHER"})
    rules.append({"account": "4500", "line": "STAFF", "priority": 2})
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    with db.connect(small) as con:
        summary = mapping.import_config(con, path, organisation="Test org", actor="reviewer")
        st = reports.statement(
            con, "pnl", entity="Acme", structure="Small", from_month="2024-01", to_month="2024-02"
        )
    assert summary == {
        "structures_created": 0,
        "structures_updated": 1,
        "rules": {"Small": {"added": 1, "deleted": 1, "unchanged": 12}},
    }
    assert st.line("REV").name == "Net revenue"
    assert str(st.line("STAFF").total) == "-1170.00" and str(st.line("OTHER").total) == "0.00"


def test_csv_export_and_import_of_rules_and_lines(small, tmp_path):
    rules_csv, lines_csv = tmp_path / "rules.csv", tmp_path / "small.structure.csv"
    with db.connect(small) as con:
        mapping.export_config(con, rules_csv, structures=["Small"])
        mapping.export_config(con, lines_csv, structures=["Small"])
    text = rules_csv.read_text(encoding="utf-8").splitlines()
    assert (
        text[0] == "structure,entity,account_from,account_to,cost_centre,project,line,exclude,priority,note"
    )
    assert "Small,,8000,8999,,,REV,,," in text and "Small,,1999,1999,,,,yes,," in text
    assert len(lines_csv.read_text(encoding="utf-8").splitlines()) == 1 + 38
    lines_csv.write_text(lines_csv.read_text(encoding="utf-8").replace("Small,", "Copy,"), encoding="utf-8")
    rules_csv.write_text(rules_csv.read_text(encoding="utf-8").replace("Small,", "Copy,"), encoding="utf-8")
    with db.connect(small) as con:
        mapping.import_config(con, lines_csv, organisation="Test org")
        summary = mapping.import_config(con, rules_csv, organisation="Test org")
        st = reports.statement(
            con, "bs", entity="Acme", structure="Copy", from_month="2024-02", to_month="2024-02"
        )
    assert summary["rules"] == {"Copy": {"added": 13, "deleted": 0, "unchanged": 0}}
    assert str(st.line("ASSETS").total) == "12100.00"


def test_a_bad_import_file_writes_nothing(small, tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(
        "mappings:\n  - structure: Small\n    rules:\n      - {account: '4000'}\n", encoding="utf-8"
    )
    with db.connect(small) as con, pytest.raises(ParseError) as err:
        mapping.import_config(con, path, organisation="Test org")
    assert (
        str(err.value)
        == "bad.yaml, mappings[0].rules[0], field 'line': a rule needs a `line` (or `exclude: true`)"
    )
    with db.connect(small) as con:
        assert len(mapping.list_rules(con, find_structure(con, "Small"))) == 13


def test_duplicate_copies_lines_and_rules(small):
    with db.connect(small) as con:
        copy_ = duplicate_structure(con, "Small", "Small 2025", actor="tester")
        st = reports.statement(
            con, "pnl", entity="Acme", structure="Small 2025", from_month="2024-01", to_month="2024-02"
        )
        names = [s["name"] for s in list_structures(con)]
    assert len(copy_.lines) == 38
    assert str(st.result) == "1100.00" and str(st.line("STAFF_PROJ").total) == "-600.00"
    assert names == ["International", "Small", "Small 2025"]


def test_saving_a_structure_refuses_to_orphan_rules(small):
    with db.connect(small) as con:
        s = find_structure(con, "Small")
        s.lines = [line for line in s.lines if line.code != "OTHER"]
        with pytest.raises(RefusedError) as err:
            save_structure(con, s)
    assert "point at line(s) OTHER" in err.value.user_message()


def test_default_structure_follows_the_accounts_standard_codes(data):
    write_ledger(
        data,
        "Dutch",
        organisation="NL",
        accounts=[("8000", "Omzet", "pnl", "WOmzNohOlh")],
        entries={},
        openings=[],
    )
    write_ledger(data, "Plain", organisation="INT", entries={}, openings=[])
    with db.connect(data) as con:
        dutch = default_structure(con, entities.entity_by_name(con, "Dutch")["id"])
        plain = default_structure(con, entities.entity_by_name(con, "Plain")["id"])
    assert (dutch.template, plain.template) == ("rgs", "international")
