"""The CLI contract of `report pnl|bs|cf|tb` and `mapping ...`.

One test runs the real console script in a subprocess; the others call the same entry point
in-process (`pipeline.cli.main`), which is the code the script runs, minus interpreter start-up.
"""

from __future__ import annotations

import json

import pytest
import yaml

from pipeline.cli import main


class InProcess:
    """`ledgerline --data DATA ...` run in this process: (exit code, stdout, stderr)."""

    def __init__(self, data, capsys):
        self.data, self.capsys = data, capsys

    def __call__(self, *args):
        self.capsys.readouterr()
        try:
            code = main(["--data", str(self.data), *args])
        except SystemExit as exc:  # argparse usage errors
            code = exc.code
        out = self.capsys.readouterr()
        return code, out.out, out.err

    def json(self, *args):
        code, out, err = self(*args, "--json")
        assert code == 0, err
        return json.loads(out)


@pytest.fixture
def run(small, capsys):
    return InProcess(small, capsys)


def test_report_pnl_json(small, cli):
    doc = cli.json(
        "report", "pnl", "--entity", "Acme", "--structure", "Small", "--from", "2024-01", "--to", "2024-02"
    )
    assert (
        doc["statement"] == "pnl" and doc["structure"] == "Small" and doc["periods"] == ["2024-01", "2024-02"]
    )
    net = next(line for line in doc["lines"] if line["code"] == "NET")
    assert net == {
        "code": "NET",
        "name": "Net result",
        "kind": "formula",
        "level": 0,
        "amounts": {"2024-01": "1500.00", "2024-02": "-400.00"},
        "total": "1100.00",
    }
    assert doc["result"] == "1100.00"
    assert {v["name"]: v["ok"] for v in doc["validations"]}["unmapped"] is False


def test_report_bs_all_csv_and_tb_all(run):
    code, out, err = run("report", "bs", "--all", "--structure", "Small", "--by", "year", "--csv")
    assert code == 0, err
    rows = out.splitlines()
    assert rows[0] == "code,name,kind,2024,2025,total"
    assert "ASSETS,Assets,group,12100.00,12600.00,12600.00" in rows
    tb = run.json("report", "tb", "--all", "--from", "2024-01", "--to", "2024-02")
    assert tb["entity"] == "All entities (Test org)" and tb["debit_total"] == tb["credit_total"] == "19150.00"


def test_text_report_says_when_a_validation_failed(run):
    code, out, _ = run(
        "report", "pnl", "--entity", "Acme", "--structure", "Small", "--from", "2024-02", "--to", "2024-02"
    )
    assert code == 0
    assert "VALIDATION FAILED (1 of 5 checks):" in out
    assert "! unmapped: Acme 2024-02: 30.00 on the Unmapped line (1 unmapped account(s))" in out


def test_mapping_unmapped_suggest_export_import(run, tmp_path):
    unmapped = run.json("mapping", "unmapped", "--entity", "Acme", "--structure", "Small")
    assert unmapped["count"] == 1 and unmapped["accounts"][0]["code"] == "9999"
    suggested = run.json("mapping", "suggest", "--entity", "Acme", "--structure", "Small")
    assert [a["code"] for a in suggested["accounts"]] == ["9999"]
    path = tmp_path / "mapping.yaml"
    code, out, _ = run("mapping", "export", str(path), "--structure", "Small")
    assert code == 0 and "1 structure(s) and 13 rule(s)" in out
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    doc["mappings"][0]["rules"].append({"account": "9999", "line": "OTHER"})
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    code, out, err = run("mapping", "import", str(path), "--organisation", "Test org")
    assert code == 0, err
    assert "Small: 1 rule(s) added, 0 deleted, 13 unchanged" in out
    assert run.json("mapping", "unmapped", "--entity", "Acme", "--structure", "Small")["count"] == 0


def test_errors_and_usage(run):
    code, _, err = run("report", "pnl", "--entity", "Nobody")
    assert code == 1 and err.startswith("error: No entity named 'Nobody'. Known entities: Acme.")
    assert run("report", "cf")[0] == 2
    history = json.loads(run("mapping", "history", "--json")[1])
    assert history[0]["actor"] == "tester" and history[0]["object_type"] == "mapping_rule"
