"""Manual imports on a simulated clock: cooldown and daily cap at their edges, joins, resets, locks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from pipeline import db, entities, manual, scheduler
from tests.pipeline.scheduler.conftest import make_org, runs

BRUSSELS = ZoneInfo("Europe/Brussels")
TOKYO = ZoneInfo("Asia/Tokyo")


def finish_import(data, entity_id: int, finished_at: datetime) -> int:
    """Run a real import of the entity now, then pin when it ended (the simulated clock)."""
    with db.transaction(data) as con:
        run_id = scheduler.enqueue(con, entity_id, trigger="scheduled").run_id
    assert scheduler.claim_next(data, only=[run_id]) == run_id
    assert scheduler.run_claimed(data, run_id).status == "succeeded"
    with db.transaction(data) as con:
        con.execute("UPDATE import_runs SET finished_at = ? WHERE id = ?", [finished_at, run_id])
    return run_id


def test_cooldown_refuses_until_exactly_one_hour_after_the_last_import(data, fake_erp):
    org = make_org(data)
    entity = org.entity_ids[0]
    ended = datetime(2026, 6, 1, 10, 0, tzinfo=BRUSSELS)
    finish_import(data, entity, ended)

    just_before = ended + timedelta(minutes=60) - timedelta(microseconds=1)
    with pytest.raises(manual.ImportRefused) as refused:
        manual.request_manual_import(data, entity, actor="ann", now=just_before)
    assert refused.value.reason == "cooldown"
    assert refused.value.possible_at == ended + timedelta(hours=1)
    assert refused.value.user_message() == (
        "The last import of Acme 1 ended at 10:00 (Europe/Brussels); manual imports wait one hour after an "
        "import, so the next one is possible again at 11:00 (Europe/Brussels)."
    )

    queued = manual.request_manual_import(data, entity, actor="ann", now=ended + timedelta(hours=1))
    assert not queued.joined and queued.position == 1
    run = runs(data, entity_id=entity)[-1]
    assert (run["trigger"], run["status"], run["manual"], run["priority"]) == ("manual", "waiting", True, 10)


def test_a_failed_import_does_not_start_a_cooldown(data, fake_erp):
    org = make_org(data, plans={"Acme 1": ["retriable"]})
    with db.transaction(data) as con:
        run_id = scheduler.enqueue(con, org.entity_ids[0], trigger="scheduled").run_id
    scheduler.run_claimed(data, scheduler.claim_next(data))
    assert runs(data)[0]["status"] == "failed"

    queued = manual.request_manual_import(data, org.entity_ids[0], actor="ann")
    assert queued.run_id != run_id and not queued.joined


def test_the_daily_cap_counts_per_local_day_of_the_organisation(data, fake_erp):
    # Tokyo is UTC+9: its day starts at 15:00 UTC, so a UTC count would get both edges wrong.
    org = make_org(data, "Nippon", timezone="Asia/Tokyo", entities_count=12, daily_manual_cap=10)
    evening = datetime(2026, 6, 1, 23, 0, tzinfo=TOKYO)
    # A scheduled run does not count towards the cap.
    with db.transaction(data) as con:
        scheduled = scheduler.enqueue(con, org.entity_ids[11], trigger="scheduled", now=evening)
    for i in range(10):
        manual.request_manual_import(data, org.entity_ids[i], actor="ann", now=evening + timedelta(minutes=i))
    # Asking again for an entity whose run waits joins it: no new import, nothing counted.
    again = manual.request_manual_import(
        data, org.entity_ids[0], actor="bob", now=evening + timedelta(minutes=30)
    )
    assert again.joined
    # A manual request joining the waiting scheduled run moves it up, and does not count either.
    joined = manual.request_manual_import(data, org.entity_ids[11], actor="bob", now=evening)
    assert joined.joined and joined.run_id == scheduled.run_id

    last_second = datetime(2026, 6, 1, 23, 59, 59, 999999, tzinfo=TOKYO)
    with pytest.raises(manual.ImportRefused) as refused:
        manual.request_manual_import(data, org.entity_ids[10], actor="ann", now=last_second)
    assert refused.value.reason == "daily_cap"
    assert refused.value.possible_at == datetime(2026, 6, 2, 0, 0, tzinfo=TOKYO)
    assert "possible again at 00:00 on 2026-06-02 (Asia/Tokyo)" in refused.value.user_message()
    assert "Nippon has used its 10 manual imports for today" in refused.value.user_message()

    midnight = datetime(2026, 6, 2, 0, 0, tzinfo=TOKYO)
    assert not manual.request_manual_import(data, org.entity_ids[10], actor="ann", now=midnight).joined
    with db.connect(data) as con:
        check = manual.check_manual_import(con, org.entity_ids[11], now=midnight + timedelta(hours=23))
    assert check.used_today == 1 and check.allowed
    assert [r["manual"] for r in runs(data)].count(True) == 11
    assert runs(data, entity_id=org.entity_ids[11])[0]["priority"] == scheduler.PRIORITY_MANUAL


def test_a_reset_skips_the_cooldown_and_turns_a_waiting_run_into_a_full_one(data, fake_erp):
    org = make_org(data, entities_count=2)
    now = datetime.now(UTC)
    finish_import(data, org.entity_ids[0], now - timedelta(minutes=5))

    reset = manual.request_reset(data, org.entity_ids[0], actor="ann", now=now)
    run = runs(data, entity_id=org.entity_ids[0])[-1]
    assert (run["id"], run["trigger"], run["full_sync"], run["manual"]) == (reset.run_id, "reset", True, True)

    with db.transaction(data) as con:
        waiting = scheduler.enqueue(con, org.entity_ids[1], trigger="scheduled").run_id
    joined = manual.request_reset(data, org.entity_ids[1], actor="ann", now=now)
    run = runs(data, entity_id=org.entity_ids[1])[-1]
    assert joined.joined and joined.run_id == waiting
    assert (run["trigger"], run["full_sync"], run["priority"]) == ("reset", True, scheduler.PRIORITY_MANUAL)


def test_paused_organisations_and_file_entities_are_refused_with_what_to_do(data, fake_erp):
    org = make_org(data)
    with db.transaction(data) as con:
        scheduler.set_paused(con, org.id, True, actor="ann")
        uploads = entities.ensure_entity(con, "Uploaded BV", organisation_id=org.id)
    with pytest.raises(manual.ImportRefused, match=r"Acme is paused, so it imports nothing\. Resume it"):
        manual.request_manual_import(data, org.entity_ids[0], actor="ann")
    with db.transaction(data) as con:
        scheduler.set_paused(con, org.id, False, actor="ann")
    with pytest.raises(manual.ImportRefused, match="gets its data from uploaded files; upload a new file"):
        manual.request_manual_import(data, uploads, actor="ann")
    assert runs(data) == []


def test_a_first_import_holds_structures_and_mappings_read_only_until_it_ends(data, fake_erp):
    org = make_org(data, entities_count=2)
    with db.transaction(data) as con:
        assert manual.structures_locked(con, org.id) is None
        first = scheduler.enqueue(con, org.entity_ids[0], trigger="scheduled", full=True).run_id
        reason = manual.structures_locked(con, org.id)
    assert reason == (
        "Structures and mappings are read-only while the first import of source 'Acme ERP' (entity Acme 1) "
        "is waiting to run; they can be edited again when it ends."
    )
    scheduler.run_claimed(data, scheduler.claim_next(data))
    with db.transaction(data) as con:
        assert runs(data)[0]["id"] == first and runs(data)[0]["status"] == "succeeded"
        assert manual.structures_locked(con, org.id) is None
        # Later imports of the same source, even of another entity, leave them editable.
        scheduler.enqueue(con, org.entity_ids[1], trigger="scheduled", full=True)
        assert manual.structures_locked(con, org.id) is None
