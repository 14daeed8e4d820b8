"""`ledgerline payroll ...` as a real subprocess on the seeded warehouse."""

from __future__ import annotations

from decimal import Decimal

from pipeline import payroll
from pipeline.access import LOCAL_USER
from tests.conftest import Cli
from tests.pipeline.payroll.conftest import SEEDED_MONTH


def test_overview_and_reconciliation_from_the_command_line(payroll_data):
    cli = Cli(payroll_data)
    overview = cli.json("payroll", "overview")
    assert Decimal(overview["total"]) == payroll.overview(payroll_data, LOCAL_USER).total()
    assert [c["company"] for c in overview["companies"]] == ["Demo Retail BV"]
    assert {u["component_code"] for u in overview["unmapped"]} == {
        "1",
        "7",
        "20",
        "310",
        "400",
        "410",
        "420",
        "500",
        "600",
        "900",
    }
    result = cli("payroll", "reconcile", "--fail-on-difference")
    assert result.returncode == 1, result.stderr
    assert "1 difference(s) beyond 0.00." in result.stdout
    flagged = [line for line in result.stdout.splitlines() if "DIFFERENCE" in line]
    assert len(flagged) == 1 and "4000" in flagged[0] and SEEDED_MONTH.strftime("%Y-%m") in flagged[0]
