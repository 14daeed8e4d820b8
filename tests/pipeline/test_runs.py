"""Import runs through the real CLI and a real warehouse file: atomicity, idempotency, history."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time

import duckdb
import pytest

from pipeline import db, imports
from tests.conftest import Cli

AS_OF = "2026-06-30"
LATER = "2026-07-20"


def tb_totals(cli, entity: str) -> tuple[str, str, list]:
    tb = cli.json("report", "tb", "--entity", entity)
    return tb["debit_total"], tb["credit_total"], tb["accounts"]


@pytest.fixture(scope="session")
def demo_warehouse(tmp_path_factory):
    """The demo organisation loaded once; each test gets its own copy of the file."""
    data = tmp_path_factory.mktemp("demo") / "data"
    result = Cli(data)("demo", "--as-of", AS_OF)
    assert result.returncode == 0, result.stderr
    return data


@pytest.fixture
def demo(cli, demo_warehouse):
    shutil.copytree(demo_warehouse, cli.data, dirs_exist_ok=True)
    return cli


def test_demo_loads_three_entities_with_balanced_books(demo):
    runs = demo.json("runs")
    assert [r["status"] for r in runs] == ["succeeded"] * 3
    assert {r["entity"] for r in runs} == {"Demo Retail BV", "Demo Services BV", "Demo Inc"}
    for run in runs:
        debit, credit, accounts = tb_totals(demo, run["entity"])
        assert debit == credit and debit != "0.00"
        assert any(a["code"] for a in accounts)


def test_a_second_run_with_no_change_in_the_source_changes_nothing(demo):
    result = demo("demo", "--as-of", AS_OF)
    assert result.returncode == 0, result.stderr
    latest = demo.json("runs", "--limit", "3")
    assert [(r["inserted"], r["updated"], r["deleted"]) for r in latest] == [(0, 0, 0)] * 3


def test_an_incremental_run_applies_new_corrected_and_deleted_lines(demo):
    before = tb_totals(demo, "Demo Retail BV")
    result = demo("demo", "--as-of", LATER)
    assert result.returncode == 0, result.stderr
    run = demo.json("runs", "--entity", "Demo Retail BV", "--limit", "1")[0]
    assert run["status"] == "succeeded" and run["inserted"] > 0
    after = tb_totals(demo, "Demo Retail BV")
    assert after[0] == after[1] and after != before

    # The incremental result equals a fresh full import at the same date, line for line.
    fresh = demo.data.parent / "fresh"
    full = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "--data", str(fresh), "demo", "--as-of", LATER],
        capture_output=True,
        text=True,
    )
    assert full.returncode == 0, full.stderr
    query = """SELECT line_key, tx_date, account_code, amount, description FROM transactions t
               JOIN entities e ON e.id = t.entity_id WHERE e.name = 'Demo Retail BV' ORDER BY line_key"""
    with db.connect(demo.data) as con:
        incremental = con.execute(query).fetchall()
    with db.connect(fresh) as con:
        fresh_rows = con.execute(query).fetchall()
    assert incremental == fresh_rows


@pytest.mark.parametrize("point", ["after_staging", "before_commit"])
def test_a_killed_import_keeps_the_last_good_numbers_and_the_next_run_completes(demo, point):
    before = tb_totals(demo, "Demo Retail BV")
    with db.connect(demo.data) as con:
        lines_before = con.execute("SELECT count(*) FROM transactions").fetchone()[0]

    killed = demo("demo", "--as-of", LATER, env={"LEDGERLINE_FAULT_POINT": point})
    assert killed.returncode == -9, killed.stderr  # SIGKILL: no cleanup, no rollback code ran

    assert tb_totals(demo, "Demo Retail BV") == before
    with db.connect(demo.data) as con:
        assert con.execute("SELECT count(*) FROM transactions").fetchone()[0] == lines_before
    runs = demo.json("runs", "--entity", "Demo Retail BV")
    assert runs[0]["status"] == "failed"
    assert runs[0]["error_kind"] == "interrupted"
    assert "previous figures were kept" in runs[0]["error_message"]
    assert not any(r["status"] == "running" for r in demo.json("runs"))

    again = demo("demo", "--as-of", LATER)
    assert again.returncode == 0, again.stderr
    latest = demo.json("runs", "--entity", "Demo Retail BV", "--limit", "1")[0]
    assert latest["status"] == "succeeded" and latest["inserted"] > 0
    assert not list(demo.data.glob("staging/run_*")), "staging files of finished runs are removed"


def test_a_writer_waits_for_another_process_holding_the_warehouse(demo):
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; con = duckdb.connect(sys.argv[1]); con.execute('BEGIN');"
            "con.execute('UPDATE organisations SET active = active'); print('held', flush=True);"
            "time.sleep(2); con.execute('COMMIT'); con.close()",
            str(db.warehouse_path(demo.data)),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "held"
    # The file is locked by another process right now: a plain connect fails at once ...
    with pytest.raises(duckdb.IOException):
        duckdb.connect(str(db.warehouse_path(demo.data))).close()
    # ... while Ledgerline's connect waits for the lock and then works.
    started = time.monotonic()
    result = demo("demo", "--as-of", AS_OF)
    assert result.returncode == 0, result.stderr
    assert holder.wait(timeout=30) == 0
    assert time.monotonic() - started > 0.5


def test_runs_json_is_newest_first_with_counts_and_timing(demo):
    runs = demo.json("runs")
    assert [r["id"] for r in runs] == sorted((r["id"] for r in runs), reverse=True)
    first = runs[-1]
    assert first["trigger"] == "manual" and first["seconds"] > 0
    assert first["inserted"] == first["rows_read"] + _opening_lines(demo, first["id"])


def _opening_lines(cli, run_id: int) -> int:
    with db.connect(cli.data) as con:
        return con.execute("SELECT count(*) FROM opening_balances WHERE run_id = ?", [run_id]).fetchone()[0]


def test_a_run_that_is_not_waiting_cannot_be_started_twice(demo):
    with db.connect(demo.data) as con:
        run_id = con.execute("SELECT max(id) FROM import_runs").fetchone()[0]
    with pytest.raises(Exception, match="not waiting"):
        imports.execute_run(demo.data, run_id)


def test_usage_errors_exit_2_and_unknown_entities_exit_1(cli):
    assert cli("report", "tb").returncode == 2
    result = cli("report", "tb", "--entity", "Nope")
    assert result.returncode == 1
    assert "No entity named 'Nope'" in result.stderr
    bad_month = cli("report", "tb", "--entity", "Nope", "--from", "2024-13")
    assert bad_month.returncode == 1
