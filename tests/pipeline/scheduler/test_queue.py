"""The queue in one process against a real warehouse: slots, order, slots due, retries, alerts."""

from __future__ import annotations

import socket
import subprocess
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from pipeline import db, imports, manual, scheduler
from pipeline.scheduler import RetryPolicy, Scheduler
from tests.pipeline.scheduler.conftest import make_org, minutes_ago_local, runs, set_plans

BRUSSELS = ZoneInfo("Europe/Brussels")


def drain(data) -> list[int]:
    """Execute every claimable run in this process, in the order the queue gives them."""
    done = []
    while (run_id := scheduler.claim_next(data)) is not None:
        scheduler.run_claimed(data, run_id)
        done.append(run_id)
    return done


def dead_worker() -> str:
    """The worker id of a process that has exited."""
    proc = subprocess.Popen(["true"])
    proc.wait()
    return f"{socket.gethostname()}:{proc.pid}:1"


def test_claims_honour_slots_priority_arrival_order_and_one_run_per_entity(data, fake_erp):
    org = make_org(data, entities_count=5)
    e = org.entity_ids
    t0 = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
    with db.transaction(data) as con:
        scheduled = [
            scheduler.enqueue(con, eid, trigger="scheduled", now=t0 + timedelta(seconds=i)).run_id
            for i, eid in enumerate(e[:4])
        ]
        # An upload of entity 2 is running in the app: it takes a slot and holds its entity.
        upload = imports.queue_run(con, e[1], trigger="upload")
        con.execute(
            "UPDATE import_runs SET status = 'running', worker = ?, started_at = ? WHERE id = ?",
            [imports.worker_id(), t0, upload],
        )
        assert scheduler.enqueue(con, e[2], trigger="scheduled").joined  # a duplicate joins
    urgent = manual.request_manual_import(data, e[4], actor="ann", now=t0 + timedelta(seconds=10)).run_id

    assert scheduler.claim_next(data, slots=3) == urgent  # manual before scheduled
    assert scheduler.claim_next(data, slots=3) == scheduled[0]
    assert scheduler.claim_next(data, slots=3) is None  # two claims and the upload fill three slots
    with db.transaction(data) as con:
        con.execute("UPDATE import_runs SET status = 'succeeded' WHERE id = ?", [upload])
    assert scheduler.claim_next(data, slots=3) == scheduled[1]  # entity 2 is free again
    assert scheduler.claim_next(data, slots=3) is None

    for run_id in (urgent, scheduled[0], scheduled[1]):
        assert scheduler.run_claimed(data, run_id).status == "succeeded"
    assert drain(data) == scheduled[2:]
    taken = sorted((r for r in runs(data) if r["claim_seq"]), key=lambda r: r["claim_seq"])
    assert [r["id"] for r in taken] == [urgent, *scheduled]
    assert {r["status"] for r in runs(data)} == {"succeeded"}


def test_a_slot_is_queued_once_by_two_schedulers_catches_up_once_and_survives_spring_forward(data, fake_erp):
    org = make_org(
        data,
        entities_count=2,
        times="00:00,02:30,05:00",
        last_slot_at=datetime(2026, 3, 27, 5, 0, tzinfo=BRUSSELS),
    )
    now = datetime(2026, 3, 28, 21, 0, tzinfo=BRUSSELS)  # down since Friday 05:00: two slots missed
    for _ in range(2):  # two scheduler processes ticking at the same moment
        with db.transaction(data) as con:
            scheduler.queue_due_runs(con, now)
    assert len(runs(data)) == 2
    drain(data)
    while now < datetime(2026, 3, 29, 7, 0, tzinfo=BRUSSELS):
        now += timedelta(minutes=15)
        with db.transaction(data) as con:
            if scheduler.queue_due_runs(con, now):
                assert now.minute == 0  # queued at the first tick after the slot
        drain(data)

    for entity_id in org.entity_ids:
        slots = [
            r["slot_at"].astimezone(BRUSSELS).strftime("%d %H:%M%z") for r in runs(data, entity_id=entity_id)
        ]
        # 02:30 does not exist on 29 March: it runs when the clock jumps to 03:00.
        assert slots == ["28 05:00+0100", "29 00:00+0100", "29 03:00+0200", "29 05:00+0200"]
    assert {r["status"] for r in runs(data)} == {"succeeded"}


def test_a_paused_organisation_imports_nothing_and_catches_up_once_on_resume(data, fake_erp):
    org = make_org(data, entities_count=2, last_slot_at=datetime(2026, 5, 1, 5, 0, tzinfo=BRUSSELS))
    with db.transaction(data) as con:
        waiting = scheduler.enqueue(con, org.entity_ids[0], trigger="scheduled").run_id
        scheduler.set_paused(con, org.id, True, actor="ann")
        assert scheduler.queue_due_runs(con, datetime(2026, 5, 10, 12, 0, tzinfo=BRUSSELS)) == []

    assert drain(data) == []
    failed = runs(data)[0]
    assert (failed["id"], failed["status"], failed["error_kind"]) == (waiting, "failed", "paused")
    assert failed["error_message"] == (
        "Acme is paused, so Acme 1 was not imported. Resume the organisation in Settings to import again."
    )
    with db.transaction(data) as con:
        assert scheduler.entity_alerts(con) == []
        scheduler.set_paused(con, org.id, False, actor="ann")
        resumed = scheduler.queue_due_runs(con, datetime(2026, 5, 10, 12, 0, tzinfo=BRUSSELS))
        assert scheduler.queue_due_runs(con, datetime(2026, 5, 10, 12, 5, tzinfo=BRUSSELS)) == []
    assert [q.entity for q in resumed] == ["Acme 1", "Acme 2"]
    slot = runs(data)[-1]["slot_at"].astimezone(BRUSSELS)
    assert slot == datetime(2026, 5, 10, 5, 0, tzinfo=BRUSSELS)


def test_retriable_failures_retry_with_backoff_and_fatal_ones_say_what_to_do(data, fake_erp):
    org = make_org(
        data,
        entities_count=4,
        times=minutes_ago_local(2),
        last_slot_at=datetime.now(UTC) - timedelta(days=1, minutes=5),
        plans={
            "Acme 1": ["retriable", "retriable", "ok"],
            "Acme 2": ["auth"],
            "Acme 3": ["gone"],
            "Acme 4": ["retriable"],
        },
    )
    sidecar = Scheduler(data, retry=RetryPolicy(max_attempts=3, base_seconds=60))
    assert len(sidecar.tick().queued) == 4
    drain(data)

    for attempt in (1, 2):
        # Each retry is due a backoff after its own failed run ended; runs end seconds apart.
        ended = [runs(data, entity_id=org.entity_ids[i])[-1]["finished_at"] for i in (0, 3)]
        delay = timedelta(seconds=60 * 2 ** (attempt - 1))
        assert sidecar.tick(min(ended) + delay - timedelta(seconds=1)).retries == []
        retries = sidecar.tick(max(ended) + delay + timedelta(seconds=1)).retries
        assert sorted(q.entity for q in retries) == ["Acme 1", "Acme 4"]
        drain(data)
    assert sidecar.tick(datetime.now(UTC) + timedelta(hours=1)).retries == []  # three attempts at most

    first = runs(data, entity_id=org.entity_ids[0])
    assert [(r["attempt"], r["status"]) for r in first] == [(1, "failed"), (2, "failed"), (3, "succeeded")]
    assert [r["retry_of"] for r in first] == [None, first[0]["id"], first[1]["id"]]
    assert first[0]["error_message"].endswith(
        "The provider is temporarily unavailable; the import will be retried."
    )
    (auth,) = runs(data, entity_id=org.entity_ids[1])
    assert auth["error_message"] == (
        "The ERP rejected the access token: it was revoked. Reconnect the source with new credentials."
    )
    (gone,) = runs(data, entity_id=org.entity_ids[2])
    assert gone["error_kind"] == "fatal" and gone["error_message"].endswith(
        "Remove the entity in Ledgerline or restore the administration in the ERP."
    )
    assert [r["status"] for r in runs(data, entity_id=org.entity_ids[3])] == ["failed"] * 3


def test_a_retry_that_would_start_after_the_next_slot_is_left_to_that_slot(data, fake_erp):
    soon = (datetime.now(BRUSSELS) + timedelta(minutes=30)).strftime("%H:%M")
    make_org(
        data,
        times=f"{minutes_ago_local(2)},{soon}",
        last_slot_at=datetime.now(UTC) - timedelta(days=1, minutes=5),
        plans={"Acme 1": ["retriable", "ok"]},
    )
    sidecar = Scheduler(data, retry=RetryPolicy(base_seconds=3600, max_seconds=3600))
    sidecar.tick()
    drain(data)
    later = sidecar.tick(datetime.now(UTC) + timedelta(hours=1, minutes=1))
    assert later.retries == [] and len(later.queued) == 1
    drain(data)
    assert [(r["attempt"], r["retry_of"], r["status"]) for r in runs(data)] == [
        (1, None, "failed"),
        (1, None, "succeeded"),
    ]


def test_a_run_left_running_by_a_dead_worker_is_marked_interrupted_and_retried(data, fake_erp):
    make_org(data, times=minutes_ago_local(2))
    with db.transaction(data) as con:
        run_id = scheduler.enqueue(con, 1, trigger="scheduled", slot_at=datetime.now(UTC)).run_id
        gone = dead_worker()
        con.execute(
            "UPDATE import_runs SET status = 'running', worker = ?, started_at = current_timestamp WHERE id = ?",
            [gone, run_id],
        )
        con.execute(
            "INSERT INTO scheduler_claims VALUES (?, 1, ?, current_timestamp)",
            [run_id, gone],
        )
    sidecar = Scheduler(data, retry=RetryPolicy(base_seconds=1))
    assert sidecar.tick().interrupted == [run_id]
    with db.connect(data) as con:
        assert con.execute("SELECT count(*) FROM scheduler_claims").fetchone()[0] == 0
    interrupted = runs(data)[0]
    assert interrupted["error_kind"] == "interrupted"
    assert interrupted["error_message"].startswith("The import was interrupted before it finished")

    retry = sidecar.tick(datetime.now(UTC) + timedelta(seconds=5)).retries
    assert [q.entity for q in retry] == ["Acme 1"]
    drain(data)
    assert [r["status"] for r in runs(data)] == ["failed", "succeeded"]


def test_an_entity_is_flagged_after_three_failed_imports_in_a_row(data, fake_erp):
    org = make_org(data, times=minutes_ago_local(2), plans={"Acme 1": ["retriable"]})
    policy = RetryPolicy(max_attempts=2, base_seconds=1)

    def one_import() -> list[dict]:
        with db.transaction(data) as con:
            scheduler.enqueue(con, org.entity_ids[0], trigger="scheduled")
        drain(data)
        with db.transaction(data) as con:
            assert len(scheduler.queue_retries(con, datetime.now(UTC) + timedelta(seconds=5), policy)) == 1
        drain(data)
        with db.connect(data) as con:
            return scheduler.entity_alerts(con)

    # Each import is two failed attempts; an import counts once, by its last attempt.
    assert one_import() == [] and one_import() == []
    (alert,) = one_import()
    assert (alert["entity"], alert["failures"], alert["last_error_kind"]) == ("Acme 1", 3, "retriable")
    assert len(runs(data)) == 6

    set_plans(data, org, {"Acme 1": ["ok"]})
    with db.transaction(data) as con:
        scheduler.enqueue(con, org.entity_ids[0], trigger="scheduled")
    drain(data)
    with db.connect(data) as con:
        assert scheduler.entity_alerts(con) == []


def test_the_heartbeat_tells_whether_a_scheduler_is_alive(data):
    with db.connect(data) as con:
        status = scheduler.scheduler_status(con)
    assert not status.alive and status.message.startswith("The scheduler has not run on this warehouse yet.")

    now = datetime.now(UTC)
    Scheduler(data, tick_seconds=5).tick(now)
    with db.transaction(data) as con:
        assert scheduler.scheduler_status(con, now + timedelta(seconds=20)).alive
        late = scheduler.scheduler_status(con, now + timedelta(seconds=30))
        assert not late.alive and late.message.startswith(
            f"The scheduler is not running (last heartbeat {now:%Y-%m-%d %H:%M} UTC)."
        )
        # A process that died a moment ago is not alive, however fresh its last beat.
        con.execute("UPDATE scheduler_heartbeats SET scheduler = ?", [dead_worker()])
        assert not scheduler.scheduler_status(con, now).alive


def test_changing_a_schedule_starts_it_from_now_and_is_audited(data, fake_erp):
    org = make_org(data, last_slot_at=datetime(2026, 5, 1, 5, 0, tzinfo=BRUSSELS))
    now = datetime(2026, 5, 10, 10, 20, tzinfo=BRUSSELS)
    with db.transaction(data) as con:
        changed = scheduler.set_schedule(
            con, org.id, interval_minutes=180, cooldown_minutes=15, actor="ann", now=now
        )
        assert changed.as_json(now)["next_slots"] == [
            "2026-05-10T12:00:00+02:00",
            "2026-05-10T15:00:00+02:00",
            "2026-05-10T18:00:00+02:00",
        ]
        # The missed 05:00 slot of the old schedule is not owed to the new one.
        assert scheduler.queue_due_runs(con, now) == []
        assert [q.entity for q in scheduler.queue_due_runs(con, now + timedelta(hours=2))] == ["Acme 1"]
        audit = con.execute(
            "SELECT actor, action FROM audit_log WHERE object_type = 'organisation'"
        ).fetchall()
    assert audit == [("ann", "set_schedule")]
    assert (changed.cooldown_minutes, changed.daily_manual_cap) == (15, 10)
