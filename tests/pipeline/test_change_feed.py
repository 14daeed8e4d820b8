"""A source that sends changed lines on their own (an ERP's change feed): an entry's balance is
judged in the ledger after the merge, where its other lines are, not in the lines sent."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from connectors import registry
from connectors.base import Capabilities, Connector, Extraction, ExtractRequest, StreamData, frame_from_rows
from pipeline import db, entities, imports

CHART = (("1000", "Bank", "balance"), ("8000", "Revenue", "pnl"), ("8100", "Other revenue", "pnl"))


class ChangeFeed(Connector):
    """A scripted ERP at the vendor boundary: each run sends the lines and deletions it is given."""

    name, label, kind = "test-change-feed", "Change feed (tests)", "api"
    capabilities = Capabilities(incremental=True, deletions=True)

    def extract(self, request: ExtractRequest) -> Extraction:
        sent = [
            {
                "line_key": f"{entry}|{line}",
                "journal": "J",
                "entry": entry,
                "line": line,
                "tx_date": date.fromisoformat(day),
                "account_code": account,
                "amount": Decimal(amount),
            }
            for entry, line, account, amount, *rest in request.options["lines"]
            for day in rest or ["2026-01-15"]
        ]
        replace = "all" if request.full else "none"
        stream = StreamData(
            "transactions",
            frame_from_rows("transactions", sent),
            replace,
            deleted_keys=request.options["deleted"],
        )
        chart = frame_from_rows("accounts", [{"code": c, "name": n, "account_type": t} for c, n, t in CHART])
        return Extraction([StreamData("accounts", chart), stream], cursor={"n": 1})


@pytest.fixture
def feed(data, monkeypatch):
    monkeypatch.setattr(registry, "REGISTRY", (*registry.REGISTRY, ChangeFeed))
    with db.transaction(data) as con:
        org = entities.ensure_organisation(con, "Feed org")
        source = entities.ensure_source(con, org, "ERP", ChangeFeed.name)
        entity_id = entities.ensure_entity(con, "Feed", organisation_id=org, source_id=source)

    def sync(lines, deleted=(), full=False):
        result = imports.sync_entity(
            data, entity_id, full=full, options={"lines": lines, "deleted": list(deleted)}
        )
        assert result.status == "succeeded", result.error_message
        return [(p.kind, p.message, p.where) for p in result.problems]

    return sync


def test_a_changed_line_sent_without_its_entry_is_no_problem_and_a_delete_that_unbalances_is(feed):
    whole = [
        ("E1", "1", "1000", "100.00"),
        ("E1", "2", "8000", "-100.00"),
        ("E2", "1", "1000", "50.00"),
        ("E2", "2", "8000", "-50.00"),
    ]
    assert feed(whole, full=True) == []

    # One line of E1 moved to another account: the line sent alone does not balance, its entry does.
    assert feed([("E1", "2", "8100", "-100.00")]) == []

    # The counter line of E2 deleted at the source: nothing is sent, and E2 no longer balances.
    assert feed([], deleted=["E2|2"]) == [
        (
            "unbalanced_entry",
            "Entry E2 in journal J (2026-01) does not balance after this run: debit minus credit is 50.00.",
            "journal J / entry E2",
        )
    ]


def test_entries_a_change_unbalances_are_listed_by_the_month_of_their_first_line(feed, data):
    # Entry numbers of different lengths, and a first line dated in the month before.
    whole = [
        ("7", "1", "1000", "10.00", "2025-12-31"),
        ("7", "2", "8000", "-10.00"),
        ("123", "1", "1000", "30.00"),
        ("123", "2", "8000", "-30.00"),
        ("12345", "1", "1000", "20.00"),
        ("12345", "2", "8000", "-20.00"),
    ]
    # More entries than the change touches, so the run updates the listing from the lines it
    # changed instead of listing the whole ledger again (pipeline.merge.DELTA_SHARE).
    whole += [
        (str(n), line, account, amount)
        for n in range(900, 906)
        for line, account, amount in (("1", "1000", "1.00"), ("2", "8000", "-1.00"))
    ]
    assert feed(whole, full=True) == []

    problems = feed([("7", "2", "8000", "-11.00"), ("12345", "1", "1000", "25.00")])
    assert [message for _, message, _ in problems] == [
        "Entry 12345 in journal J (2026-01) does not balance after this run: debit minus credit is 5.00.",
        "Entry 7 in journal J (2025-12) does not balance after this run: debit minus credit is -1.00.",
    ]
    with db.connect(data) as con:
        listed = con.execute(
            "SELECT entry, month, amount, lines FROM rpt_unbalanced_entries ORDER BY entry"
        ).fetchall()
    assert listed == [
        ("12345", date(2026, 1, 1), Decimal("5.00"), 2),
        ("7", date(2025, 12, 1), Decimal("-1.00"), 2),
    ]
