"""Entities page: cards with the latest import, Sync now under the manual-import rules, failures."""

from __future__ import annotations

from pipeline import db, imports, scheduler

from .conftest import grant, open_page, texts


def _org(data) -> int:
    with db.connect(data) as con:
        return con.execute("SELECT id FROM organisations ORDER BY id LIMIT 1").fetchone()[0]


def _waiting(data) -> list[tuple]:
    with db.connect(data) as con:
        return con.execute(
            "SELECT e.name, r.trigger FROM import_runs r JOIN entities e ON e.id = r.entity_id "
            "WHERE r.status = 'waiting' ORDER BY r.id"
        ).fetchall()


def test_cards_show_each_entity_with_its_latest_import(warehouse):
    at = open_page()
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Entities"] == "3"
    assert metrics["Succeeded"] == "3"
    assert metrics["Failed"] == "0"
    page = texts(at)
    for name in ("Demo Retail BV", "Demo Services BV", "Demo Inc"):
        assert name in page
    assert page.count("Latest current figures: **just now**") == 3
    with db.connect(warehouse) as con:
        lines = con.execute("SELECT count(*) FROM transactions").fetchall()[0][0]
        retail = con.execute(
            "SELECT count(*) FROM transactions t JOIN entities e ON e.id = t.entity_id WHERE e.name = 'Demo Retail BV'"
        ).fetchone()[0]
    assert lines > retail > 0
    assert f"{retail:,} ledger lines" in page


def test_sync_now_waits_for_the_cooldown_then_queues_a_manual_import(warehouse):
    at = open_page()
    assert not [b for b in at.button if b.label == "Sync now"]
    assert texts(at).count("Sync now possible again at") == 3

    with db.transaction(warehouse) as con:
        scheduler.set_schedule(con, _org(warehouse), cooldown_minutes=0)
    at = open_page()
    sync = [b for b in at.button if b.label == "Sync now"]
    assert len(sync) == 3
    sync[0].click().run()
    assert not at.exception
    assert _waiting(warehouse) == [("Demo Inc", "manual")]
    assert "Waiting…" in texts(at)
    # The card of a waiting entity offers no second Sync now.
    assert len([b for b in at.button if b.label == "Sync now"]) == 2


def test_the_daily_cap_hides_sync_now_and_says_when_it_is_possible_again(warehouse):
    with db.transaction(warehouse) as con:
        scheduler.set_schedule(con, _org(warehouse), cooldown_minutes=0, daily_manual_cap=0)
    at = open_page()
    assert not [b for b in at.button if b.label == "Sync now"]
    assert "manual imports of today are used; Sync now possible again at" in texts(at)


def test_a_failed_import_shows_its_error_and_what_to_do(warehouse, tmp_path):
    bad = tmp_path / "ledger.csv"
    bad.write_text("Datum;Konto;Betrag\n2024-01-05;1000;12.50\n2024-01-06;1000;twelve\n", encoding="utf-8")
    result = imports.import_file(
        warehouse,
        bad,
        "Upload BV",
        options={"columns": {"date": "Datum", "account": "Konto", "amount": "Betrag"}},
    )
    assert result.status == "failed"
    at = open_page()
    assert {m.label: m.value for m in at.metric}["Failed"] == "1"
    errors = [e.value for e in at.error]
    assert any("ledger.csv" in e and "twelve" in e for e in errors), errors
    assert "What to do: The file could not be read. Fix it and upload it again" in texts(at)
    # A file-fed entity offers Import file, never Sync now.
    assert [b.label for b in at.button].count("Import file") == 1


def test_a_viewer_sees_the_cards_but_cannot_sync(warehouse):
    with db.transaction(warehouse) as con:
        scheduler.set_schedule(con, _org(warehouse), cooldown_minutes=0)
    grant(warehouse, "vera@example.com", "viewer")
    at = open_page(user="vera@example.com")
    assert {m.label: m.value for m in at.metric}["Entities"] == "3"
    assert not [b for b in at.button if b.label == "Sync now"]


def test_an_entity_limited_user_sees_only_their_entity(warehouse):
    grant(warehouse, "rita@example.com", "reporting", entities=["Demo Services BV"])
    at = open_page(user="rita@example.com")
    assert {m.label: m.value for m in at.metric}["Entities"] == "1"
    page = texts(at)
    assert "Demo Services BV" in page
    assert "Demo Retail BV" not in page
