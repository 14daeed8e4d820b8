"""Properties: whatever the rules, mapping preserves every total; regenerating is deterministic."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline import db, mapping, reports
from pipeline.regenerate import Change, regenerate
from pipeline.structure import find_structure
from tests.pipeline.reporting.conftest import ACCOUNTS

CODES = [code for code, *_ in ACCOUNTS]
LINES = ["REV", "COGS", "STAFF", "STAFF_PROJ", "OTHER", "DEPR", "FA", "ACCDEP", "REC", "CASH_L", "EQ", "PAY"]


@st.composite
def rules(draw):
    kind = draw(st.sampled_from(["account", "range", "axis", "exclude"]))
    line = draw(st.sampled_from(LINES))
    rule = {"line": line, "priority": draw(st.integers(0, 2))}
    if draw(st.booleans()):
        rule["entity"] = "Acme"
    if kind == "range":
        lo, hi = sorted(draw(st.lists(st.sampled_from(CODES), min_size=2, max_size=2)))
        rule["range"] = f"{lo}-{hi}"
    else:
        rule["account"] = draw(st.sampled_from(CODES))
    if kind == "axis":
        rule.update(draw(st.sampled_from([{"project": "P1"}, {"cost_centre": "CC1"}, {"project": "P9"}])))
    if kind == "exclude":
        rule.pop("line")
        rule["exclude"] = True
    return rule


def snapshot(con, structure_id):
    return {
        table: con.execute(
            f"SELECT * EXCLUDE (structure_id) FROM {table} WHERE structure_id = ? ORDER BY ALL",
            [structure_id],
        ).fetchall()
        for table in (
            "map_accounts",
            "map_axis_rules",
            "map_axis_lines",
            "map_conflicts",
            "rpt_statement_month",
        )
    }


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(rules(), max_size=12))
def test_any_mapping_preserves_the_totals(small, drawn):
    with db.connect(small) as con:
        struct = find_structure(con, "Small")
        mapping.replace_rules(con, struct, [mapping.rule_from_dict(r) for r in drawn])
        per_month = con.execute(
            """SELECT month, sum(opening), sum(movement) FROM rpt_statement_month WHERE structure_id = ?
               GROUP BY month ORDER BY month""",
            [struct.id],
        ).fetchall()
        tb = con.execute(
            """SELECT month, sum(net) FILTER (WHERE kind = 'opening'), sum(net) FILTER (WHERE kind = 'movement')
               FROM rpt_trial_balance GROUP BY month ORDER BY month"""
        ).fetchall()
        assert [(m, o or 0, v or 0) for m, o, v in per_month] == [(m, o or 0, v or 0) for m, o, v in tb]
        pnl = reports.statement(
            con, "pnl", entity="Acme", structure="Small", from_month="2024-01", to_month="2024-12"
        )
        bs = reports.statement(con, "bs", entity="Acme", structure="Small", by="quarter")
        cf = reports.statement(con, "cf", entity="Acme", structure="Small", by="quarter")
        # an account on a line of the other statement (a balance account on a P&L line) moves the result
        crossed = con.execute(
            """SELECT count(*) FROM (
                   SELECT m.entity_id, m.account_code, m.line_code FROM map_accounts m WHERE m.structure_id = $s
                   UNION ALL
                   SELECT x.entity_id, x.account_code, x.line_code FROM map_axis_lines x WHERE x.structure_id = $s
               ) m
               JOIN accounts a ON a.entity_id = m.entity_id AND a.code = m.account_code
               JOIN structure_lines l ON l.structure_id = $s AND l.code = m.line_code
               WHERE (l.statement = 'pnl') <> (a.account_type = 'pnl')""",
            {"s": struct.id},
        ).fetchone()[0]
    assert {v.name: v.ok for v in bs.validations}["balance_sheet"]
    assert {v.name: v.ok for v in cf.validations}["cash_flow"]
    assert {v.name: v.ok for v in pnl.validations}["mapping_total"]
    if not crossed:
        assert pnl.result == -sum(n for _, n in _tb_pnl(small)) == 1100


def _tb_pnl(data):
    with db.connect(data) as con:
        return con.execute(
            """SELECT r.account_code, sum(r.net) FROM rpt_trial_balance r JOIN accounts a
               ON a.entity_id = r.entity_id AND a.code = r.account_code
               WHERE a.account_type = 'pnl' AND r.month BETWEEN '2024-01-01' AND '2024-12-01' GROUP BY ALL"""
        ).fetchall()


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(rules(), max_size=8))
def test_regenerating_twice_gives_the_same_rows(small, drawn):
    with db.connect(small) as con:
        struct = find_structure(con, "Small")
        mapping.replace_rules(con, struct, [mapping.rule_from_dict(r) for r in drawn])
        first = snapshot(con, struct.id)
        mapping.regenerate_statements(con, structure_ids=[struct.id])
        second = snapshot(con, struct.id)
        eid = con.execute("SELECT id FROM entities WHERE name = 'Acme'").fetchone()[0]
        regenerate(con, [Change(eid, None)])  # the import path
        third = snapshot(con, struct.id)
    assert first == second == third
