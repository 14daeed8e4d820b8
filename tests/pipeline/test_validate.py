"""Validation of staged lines: entries counted and unbalanced ones listed; a repeated key stops the run."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from connectors.base import Extraction, StreamData, frame_from_rows
from pipeline.errors import ParseError
from pipeline.staging import stage
from pipeline.validate import MAX_LISTED, validate


def line(key: str | None, entry: str | None, amount: str) -> dict:
    return {
        "line_key": key,
        "journal": "MEM",
        "entry": entry,
        "tx_date": date(2024, 3, 31),
        "account_code": "1000" if Decimal(amount) > 0 else "4000",
        "amount": Decimal(amount),
    }


def staged(tmp_path, rows: list[dict]):
    frame = frame_from_rows("transactions", rows)
    return stage(Extraction([StreamData("transactions", frame, "all")]), tmp_path / "staging", currency="EUR")


def test_unbalanced_entries_are_listed_up_to_the_cap_then_counted(tmp_path):
    rows = []
    for n in range(1, 301):
        # Entries 1-205 are off by 0.01; entries 206-300 balance.
        off = "0.01" if n <= 205 else "0.00"
        rows += [
            line(f"{n}|1", str(n), "10.00"),
            line(f"{n}|2", str(n), str(Decimal("-10.00") + Decimal(off))),
        ]
    # Lines without an entry number are an entry each and are not checked for balance.
    rows += [line("loose-1", None, "5.00"), line("loose-2", None, "-4.00")]
    totals = validate(staged(tmp_path, rows), file_name="ledger.csv")
    assert totals.entries == 302
    listed = [p for p in totals.problems if p.kind == "unbalanced_entry"]
    assert len(listed) == MAX_LISTED + 1
    assert listed[0].where == "journal MEM / entry 1"
    assert "debit minus credit is 0.01" in listed[0].message
    assert listed[-1].message == f"{205 - MAX_LISTED} more entries do not balance."


def test_a_balanced_file_lists_no_entry(tmp_path):
    rows = [line("1|1", "1", "10.00"), line("1|2", "1", "-10.00")]
    totals = validate(staged(tmp_path, rows))
    assert (totals.entries, totals.lines, totals.problems) == (1, 2, [])


def test_a_key_sent_twice_stops_the_run_and_names_it(tmp_path):
    rows = [line("1|1", "1", "10.00"), line("1|1", "1", "-10.00")]
    with pytest.raises(ParseError, match=r"1\|1 \(2x\)"):
        validate(staged(tmp_path, rows), file_name="ledger.csv")


def test_a_derived_key_twice_stops_the_run_and_names_its_columns(tmp_path):
    # Keys left to be derived from journal|entry|line: two lines with the same three numbers
    # would be one line in the warehouse.
    rows = [{**line(None, "7", "10.00"), "line": "1"}, {**line(None, "7", "-10.00"), "line": "1"}]
    frame = frame_from_rows("transactions", rows)
    data = StreamData("transactions", frame, "all", derived_keys=True)
    with pytest.raises(ParseError, match=r"MEM\|7\|1 \(2x\)") as caught:
        validate(stage(Extraction([data]), tmp_path / "staging", currency="EUR"), file_name="ledger.csv")
    assert caught.value.field == "journal, entry and line"
    # The same lines numbered apart pass, and no key is asked of them.
    rows[1]["line"] = "2"
    data = StreamData("transactions", frame_from_rows("transactions", rows), "all", derived_keys=True)
    totals = validate(stage(Extraction([data]), tmp_path / "staging2", currency="EUR"))
    assert (totals.lines, totals.entries, totals.problems) == (2, 1, [])


def ranged(tmp_path, days: list[date], ranges: list[tuple[date, date]]):
    rows = []
    for n, day in enumerate(days, start=1):
        rows += [
            {**line(f"{n}|1", str(n), "10.00"), "tx_date": day, "source_ref": "line ", "source_line": 2 * n},
            {
                **line(f"{n}|2", str(n), "-10.00"),
                "tx_date": day,
                "source_ref": "line ",
                "source_line": 2 * n + 1,
            },
        ]
    data = StreamData("transactions", frame_from_rows("transactions", rows), "ranges", ranges)
    return validate(stage(Extraction([data]), tmp_path / "staging", currency="EUR"), file_name="gl.csv")


JAN, FEB, MAR = (
    (date(2024, 1, 1), date(2024, 1, 31)),
    (date(2024, 2, 1), date(2024, 2, 29)),
    (date(2024, 3, 1), date(2024, 3, 31)),
)


def test_lines_dated_outside_the_declared_periods_are_named(tmp_path):
    # Inside adjacent months: nothing to say.
    assert ranged(tmp_path / "a", [date(2024, 1, 5), date(2024, 2, 29)], [FEB, JAN]).problems == []
    # A line in the gap between the declared months, and one after them.
    totals = ranged(tmp_path / "b", [date(2024, 1, 5), date(2024, 2, 10), date(2024, 4, 1)], [JAN, MAR])
    (problem,) = totals.problems
    assert problem.kind == "outside_period" and problem.message.startswith("4 lines are dated outside")
    assert problem.where == "line 4"  # the first of them in the file
    # Only the span of the declared months counts, not the days of the lines.
    assert ranged(tmp_path / "c", [date(2024, 3, 31)], [MAR]).problems == []
    assert [p.kind for p in ranged(tmp_path / "d", [date(2024, 2, 29)], [MAR]).problems] == ["outside_period"]
