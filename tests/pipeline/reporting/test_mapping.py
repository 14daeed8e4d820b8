"""Mapping rules: ranking, conflicts, exclusions, unmapped accounts, immediate regeneration, audit."""

from __future__ import annotations

from decimal import Decimal

import pytest

from pipeline import audit, db, mapping, reports
from pipeline.errors import ConfigError, NotFoundError
from pipeline.structure import find_structure
from tests.pipeline.reporting.conftest import write_ledger


def totals(data, *codes, statement="pnl", to="2024-02"):
    with db.connect(data) as con:
        st = reports.statement(
            con, statement, entity="Acme", structure="Small", from_month="2024-01", to_month=to
        )
    return {code: str(st.line(code).total) for code in codes}


def add(data, actor="tester", **rule):
    with db.connect(data) as con:
        return mapping.add_rule(con, find_structure(con, "Small"), mapping.rule_from_dict(rule), actor=actor)


def test_one_account_beats_a_range(small):
    add(small, account="4100", line="OTHER")
    assert totals(small, "STAFF", "OTHER") == {"STAFF": "-900.00", "OTHER": "-270.00"}


def test_entity_rule_beats_an_all_entities_rule(small):
    add(small, account="4500", line="STAFF", entity="Acme")
    assert totals(small, "STAFF", "OTHER") == {"STAFF": "-1170.00", "OTHER": "0.00"}


def test_priority_beats_specificity(small):
    add(small, range="4000-4999", line="OTHER", priority=5)
    # every 4xxx account, the project P1 wages and depreciation too, now lands on OTHER
    assert totals(small, "STAFF", "STAFF_PROJ", "DEPR", "OTHER") == {
        "STAFF": "0.00",
        "STAFF_PROJ": "0.00",
        "DEPR": "0.00",
        "OTHER": "-1870.00",
    }


def test_tied_rules_are_a_reported_conflict_until_a_priority_decides(small):
    rule_id = add(small, account="4500", line="STAFF")
    assert totals(small, "OTHER", "PL_UNMAPPED", "NET") == {
        "OTHER": "0.00",
        "PL_UNMAPPED": "-100.00",
        "NET": "1100.00",
    }
    with db.connect(small) as con:
        found = mapping.conflicts(con, find_structure(con, "Small"))
        listed = {r["code"]: r for r in mapping.unmapped(con, "Acme", "Small")}
    assert len(found) == 1
    assert found[0]["account_code"] == "4500" and found[0]["lines"] in ("OTHER, STAFF", "STAFF, OTHER")
    assert found[0]["amount"] == Decimal("70.00")
    assert listed["4500"]["status"] == "conflict" and str(rule_id) in listed["4500"]["conflict_rules"]
    with db.connect(small) as con:
        mapping.update_rule(con, rule_id, priority=1, actor="tester")
        assert mapping.conflicts(con, find_structure(con, "Small")) == []
    assert totals(small, "STAFF", "PL_UNMAPPED") == {"STAFF": "-1170.00", "PL_UNMAPPED": "-30.00"}


def test_conflicting_project_rules_send_only_those_lines_to_unmapped(small):
    add(small, account="4000", project="P1", line="OTHER")
    assert totals(small, "STAFF", "STAFF_PROJ", "PL_UNMAPPED") == {
        "STAFF": "-1100.00",
        "STAFF_PROJ": "0.00",
        "PL_UNMAPPED": "-630.00",
    }
    with db.connect(small) as con:
        (conflict,) = mapping.conflicts(con, find_structure(con, "Small"))
    assert (conflict["account_code"], conflict["project"], conflict["amount"]) == (
        "4000",
        "P1",
        Decimal("600.00"),
    )


def test_cost_centre_rule_splits_an_account(small):
    add(small, account="4100", cost_centre="CC1", line="OTHER")
    assert totals(small, "STAFF", "OTHER") == {"STAFF": "-900.00", "OTHER": "-270.00"}


def test_unmapped_accounts_with_amounts_and_a_count(small):
    with db.connect(small) as con:
        rows = mapping.unmapped(con, "Acme", "Small")
        count = mapping.unmapped_count(con, entity="Acme", structure="Small")
        on_default = mapping.unmapped_count(con)  # every entity on its default structure
    # 1999 is excluded on purpose, so only the mystery account is unmapped
    assert [(r["code"], r["name"], r["movement"], r["lines"], r["shown_on"]) for r in rows] == [
        ("9999", "Mystery account", Decimal("30.00"), 1, "PL_UNMAPPED")
    ]
    assert count == 1
    assert on_default == 14  # the International template the import created has no rules yet


def test_unmapped_lists_newest_accounts_first(small):
    write_ledger(
        small,
        "Acme",
        accounts=[("9998", "New account", "pnl", None)],
        entries={"N1": ("2024-02-15", [("9998", "5.00"), ("1000", "-5.00")])},
        openings=[],
    )
    with db.connect(small) as con:
        assert [r["code"] for r in mapping.unmapped(con, "Acme", "Small")] == ["9998", "9999"]


def test_an_import_that_changes_an_account_type_moves_its_unmapped_or_excluded_amount(small):
    # An import re-resolves only accounts whose mapping can have moved; the line an unmapped or
    # excluded account lands on follows its type, so a changed type must move it.
    from pipeline.regenerate import Change, regenerate

    with db.transaction(small) as con:
        eid = con.execute("SELECT id FROM entities WHERE name = 'Acme'").fetchone()[0]
        con.execute(
            "UPDATE accounts SET account_type = CASE code WHEN '9999' THEN 'balance' ELSE 'pnl' END "
            "WHERE entity_id = ? AND code IN ('9999', '1999')",
            [eid],
        )
        regenerate(con, [Change(eid, None)])  # as an import that brought these types does
    pnl = totals(small, "PL_UNMAPPED", "PL_EXCLUDED")
    bs = totals(small, "BS_UNMAPPED", "BS_EXCLUDED", statement="bs")
    assert pnl == {"PL_UNMAPPED": "0.00", "PL_EXCLUDED": "-50.00"}
    assert bs == {"BS_UNMAPPED": "30.00", "BS_EXCLUDED": "0.00"}
    with db.connect(small) as con:
        assert [(r["code"], r["shown_on"]) for r in mapping.unmapped(con, "Acme", "Small")] == [
            ("9999", "BS_UNMAPPED")
        ]

    # New lines on accounts already resolved reach the statements without re-resolving them.
    write_ledger(
        small,
        "Acme",
        accounts=[],
        entries={"N1": ("2024-02-15", [("9999", "5.00"), ("1999", "-5.00")])},
        openings=[],
    )
    assert totals(small, "PL_EXCLUDED") == {"PL_EXCLUDED": "-45.00"}
    assert totals(small, "BS_UNMAPPED", statement="bs") == {"BS_UNMAPPED": "35.00"}


def test_a_mapping_change_applies_to_history_at_once_and_is_audited(small):
    with db.connect(small) as con:
        struct = find_structure(con, "Small")
        (rule,) = [r for r in mapping.list_rules(con, struct) if r.account_from == "8000"]
        mapping.delete_rule(con, rule.id, actor="alice")
    assert totals(small, "REV", "PL_UNMAPPED", "NET") == {
        "REV": "0.00",
        "PL_UNMAPPED": "4970.00",
        "NET": "1100.00",
    }
    with db.connect(small) as con:
        (change,) = audit.list_changes(con, object_type="mapping_rule", actor="alice")
    assert change["action"] == "mapping.delete"
    assert change["before"] == {"structure": "Small", "range": "8000-8999", "line": "REV"}
    assert change["after"] is None


def test_every_rule_added_is_recorded(small):
    with db.connect(small) as con:
        created = audit.list_changes(con, object_type="mapping_rule", actor="tester")
        structures = audit.list_changes(con, object_type="structure", actor="tester")
    assert len(created) == 13 and {c["action"] for c in created} == {"mapping.add"}
    assert {"structure": "Small", "account": "1999", "exclude": True} in [c["after"] for c in created]
    assert [s["action"] for s in structures] == ["structure.create"]


@pytest.mark.parametrize(
    ("rule", "error", "message"),
    [
        ({"account": "4000", "line": "GM"}, ConfigError, "Line GM (Gross margin) is a formula line"),
        ({"account": "4000", "line": "CF_WC"}, ConfigError, "only mapped lines of the P&L and balance sheet"),
        ({"account": "4000", "line": "NOPE"}, NotFoundError, "has no line 'NOPE'"),
        ({"range": "4999-4000", "line": "STAFF"}, ConfigError, "ends before it starts"),
        ({"account": "4000", "line": "STAFF", "entity": "Nobody"}, NotFoundError, "No entity named 'Nobody'"),
    ],
)
def test_bad_rules_are_refused_and_change_nothing(small, rule, error, message):
    with pytest.raises(error) as err:
        add(small, **rule)
    assert message in err.value.user_message()
    with db.connect(small) as con:
        assert len(mapping.list_rules(con, find_structure(con, "Small"))) == 13


def test_rule_file_errors_name_the_field():
    from pipeline.errors import ParseError

    with pytest.raises(ParseError) as err:
        mapping.rule_from_dict({"range": "4000", "line": "X"}, where="mappings[0].rules[3]", file="map.yaml")
    assert (
        str(err.value)
        == "map.yaml, mappings[0].rules[3], field 'range': the range '4000' must look like 4000-4999"
    )
    with pytest.raises(ParseError, match="needs a `line`"):
        mapping.rule_from_dict({"account": "4000"})
    with pytest.raises(ParseError, match="not both"):
        mapping.rule_from_dict({"account": "4000", "line": "X", "cost_centre": "A", "project": "B"})
