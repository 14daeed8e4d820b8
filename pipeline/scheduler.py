"""The scheduler sidecar: what is due, the queue, worker slots, heartbeat, recovery and retries.

`ledgerline scheduler` runs this loop next to the app. The two share nothing but the warehouse:
the app queues runs (`pipeline.manual`), the scheduler queues scheduled ones, and worker processes
take runs from the queue and execute them with `pipeline.imports.execute_run`.

Taking a run ("claiming") is one write transaction, and DuckDB lets one process write at a time,
so the checks inside it hold across any number of scheduler processes: fewer runs in progress
than the worker slots, no other run of the same entity in progress, and the first waiting run in
queue order (priority, then first come first served). A claim belongs to a worker process; when
that process dies its claim is dropped and its run, if it had started, is marked interrupted, so
no run is lost and none runs twice.
"""

from __future__ import annotations

import ctypes
import json
import logging
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from connectors import registry
from pipeline import db, entities, imports
from pipeline.errors import ConfigError, FatalSourceError, LedgerlineError, NotFoundError
from pipeline.schedules import (
    DEFAULT_TIMES,
    Schedule,
    due_slot,
    latest_slot,
    next_slot,
    next_slots,
    parse_times,
)

log = logging.getLogger(__name__)

PRIORITY_MANUAL = 10
PRIORITY_SCHEDULED = 0
DEFAULT_SLOTS = 2
DEFAULT_TICK_SECONDS = 15.0
DEFAULT_POLL_SECONDS = 1.0
DEFAULT_COOLDOWN_MINUTES = 60
DEFAULT_DAILY_MANUAL_CAP = 10
DEFAULT_ALERT_AFTER = 3
# Failures worth trying again without a person acting: the provider was unreachable or rate
# limited, or the process running the import died.
RETRIABLE_KINDS = ("retriable", "interrupted")
PAUSED_KIND = "paused"


def utcnow() -> datetime:
    return datetime.now(UTC)


# ---------------------------------------------------------------- settings


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how soon a retriable failure is tried again (within its slot)."""

    max_attempts: int = 3
    base_seconds: float = 60.0
    max_seconds: float = 900.0

    def delay(self, attempt: int) -> timedelta:
        """The wait after failed attempt number `attempt` (1-based): base, 2x base, 4x base ..."""
        return timedelta(seconds=min(self.base_seconds * 2 ** (attempt - 1), self.max_seconds))


@dataclass(frozen=True)
class OrgSchedule:
    """An organisation's schedule and manual-import rules, as stored (defaults when never set)."""

    organisation_id: int
    organisation: str
    active: bool
    schedule: Schedule
    cooldown_minutes: int = DEFAULT_COOLDOWN_MINUTES
    daily_manual_cap: int = DEFAULT_DAILY_MANUAL_CAP
    alert_after: int = DEFAULT_ALERT_AFTER
    last_slot_at: datetime | None = None

    def as_json(self, now: datetime | None = None, count: int = 3) -> dict[str, Any]:
        """For the CLI and the app: the rules and the next few slots."""
        now = now or utcnow()
        tz = self.schedule.zone
        return {
            "organisation": self.organisation,
            "active": self.active,
            "timezone": self.schedule.timezone,
            "times": None
            if self.schedule.interval_minutes
            else [t.strftime("%H:%M") for t in self.schedule.times],
            "interval_minutes": self.schedule.interval_minutes,
            "schedule": self.schedule.describe(),
            "cooldown_minutes": self.cooldown_minutes,
            "daily_manual_cap": self.daily_manual_cap,
            "alert_after": self.alert_after,
            "last_slot": self.last_slot_at.astimezone(tz).isoformat() if self.last_slot_at else None,
            "next_slots": [s.astimezone(tz).isoformat() for s in next_slots(self.schedule, now, count)],
        }


_SCHEDULE_SQL = """
    SELECT o.id, o.name, o.active, o.timezone, s.times, s.interval_minutes, s.cooldown_minutes,
           s.daily_manual_cap, s.alert_after, s.last_slot_at
    FROM organisations o LEFT JOIN org_schedules s ON s.organisation_id = o.id
"""


def _org_schedule(row) -> OrgSchedule:
    org_id, name, active, tz, times, interval, cooldown, cap, alert_after, last = row
    schedule = Schedule(
        timezone=tz or "Europe/Brussels",
        times=parse_times(times) if times else DEFAULT_TIMES,
        interval_minutes=interval,
    )
    return OrgSchedule(
        organisation_id=org_id,
        organisation=name,
        active=bool(active),
        schedule=schedule,
        cooldown_minutes=DEFAULT_COOLDOWN_MINUTES if cooldown is None else cooldown,
        daily_manual_cap=DEFAULT_DAILY_MANUAL_CAP if cap is None else cap,
        alert_after=DEFAULT_ALERT_AFTER if alert_after is None else alert_after,
        last_slot_at=last,
    )


def organisation_schedule(con, organisation_id: int) -> OrgSchedule:
    """The schedule and manual-import rules of one organisation."""
    row = con.execute(_SCHEDULE_SQL + " WHERE o.id = ?", [organisation_id]).fetchone()
    if row is None:
        raise NotFoundError(f"No organisation with id {organisation_id}.")
    return _org_schedule(row)


def organisation_schedules(con) -> list[OrgSchedule]:
    """Every organisation's schedule, by name."""
    return [_org_schedule(r) for r in con.execute(_SCHEDULE_SQL + " ORDER BY o.name").fetchall()]


def organisation_by_name(con, name: str | None) -> int:
    """The id of the organisation called `name`; without a name, the only organisation."""
    if name:
        row = con.execute("SELECT id FROM organisations WHERE name = ?", [name]).fetchone()
        if row is None:
            known = [r[0] for r in con.execute("SELECT name FROM organisations ORDER BY name").fetchall()]
            raise NotFoundError(f"No organisation named {name!r}. Known: {', '.join(known) or 'none'}.")
        return row[0]
    rows = con.execute("SELECT id FROM organisations ORDER BY id").fetchall()
    if len(rows) != 1:
        raise ConfigError(
            "There are several organisations." if rows else "There is no organisation yet.",
            guidance="Name one with --org." if rows else "Load the demo or import a file first.",
        )
    return rows[0][0]


def set_schedule(
    con,
    organisation_id: int,
    *,
    times: str | None = None,
    interval_minutes: int | None = None,
    cooldown_minutes: int | None = None,
    daily_manual_cap: int | None = None,
    alert_after: int | None = None,
    actor: str = "system",
    now: datetime | None = None,
) -> OrgSchedule:
    """Change an organisation's schedule or rules (only what is given); audited.

    A new schedule starts from its latest slot, so changing it does not trigger an import at once.
    """
    now = now or utcnow()
    before = organisation_schedule(con, organisation_id)
    if times is not None and interval_minutes is not None:
        raise ConfigError("Give either fixed times or an interval, not both.")
    for label, value, low in (
        ("cooldown", cooldown_minutes, 0),
        ("daily manual cap", daily_manual_cap, 0),
        ("alert threshold", alert_after, 1),
    ):
        if value is not None and value < low:
            raise ConfigError(f"The {label} cannot be below {low}.")
    schedule = before.schedule
    if times is not None:
        schedule = Schedule(timezone=schedule.timezone, times=parse_times(times))
    elif interval_minutes is not None:
        schedule = Schedule(timezone=schedule.timezone, interval_minutes=interval_minutes)
    changed_schedule = schedule != before.schedule
    last = (
        latest_slot(schedule, now) if changed_schedule or before.last_slot_at is None else before.last_slot_at
    )
    con.execute(
        """INSERT INTO org_schedules (organisation_id, times, interval_minutes, cooldown_minutes,
                                      daily_manual_cap, alert_after, last_slot_at, updated_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (organisation_id) DO UPDATE SET times = excluded.times,
               interval_minutes = excluded.interval_minutes, cooldown_minutes = excluded.cooldown_minutes,
               daily_manual_cap = excluded.daily_manual_cap, alert_after = excluded.alert_after,
               last_slot_at = excluded.last_slot_at, updated_at = excluded.updated_at""",
        [
            organisation_id,
            ",".join(t.strftime("%H:%M") for t in schedule.times),
            schedule.interval_minutes,
            before.cooldown_minutes if cooldown_minutes is None else cooldown_minutes,
            before.daily_manual_cap if daily_manual_cap is None else daily_manual_cap,
            before.alert_after if alert_after is None else alert_after,
            last,
            now,
        ],
    )
    after = organisation_schedule(con, organisation_id)
    _audit(
        con, actor, "set_schedule", "organisation", organisation_id, before.as_json(now), after.as_json(now)
    )
    return after


def set_paused(con, organisation_id: int, paused: bool, *, actor: str = "system") -> None:
    """Pause (nothing imports, data is kept) or resume an organisation; audited.

    While paused its last slot stays where it was, so on resume the missed slot runs once.
    """
    before = organisation_schedule(con, organisation_id)
    con.execute("UPDATE organisations SET active = ? WHERE id = ?", [not paused, organisation_id])
    _audit(
        con,
        actor,
        "pause" if paused else "resume",
        "organisation",
        organisation_id,
        {"active": before.active},
        {"active": not paused},
    )


def worker_slots(con) -> int:
    """How many imports may run at once across all scheduler processes (default 2)."""
    row = con.execute("SELECT value FROM scheduler_settings WHERE key = 'worker_slots'").fetchone()
    return int(row[0]) if row else DEFAULT_SLOTS


def set_worker_slots(con, slots: int, *, actor: str = "system") -> None:
    """Store the number of worker slots every scheduler process honours."""
    if slots < 1:
        raise ConfigError("At least one worker slot is needed.")
    before = worker_slots(con)
    con.execute(
        """INSERT INTO scheduler_settings (key, value) VALUES ('worker_slots', ?)
           ON CONFLICT (key) DO UPDATE SET value = excluded.value""",
        [str(slots)],
    )
    _audit(
        con, actor, "set_worker_slots", "scheduler", None, {"worker_slots": before}, {"worker_slots": slots}
    )


def _audit(con, actor: str, action: str, object_type: str, object_id, before, after) -> None:
    con.execute(
        "INSERT INTO audit_log (actor, action, object_type, object_id, before, after) VALUES (?, ?, ?, ?, ?, ?)",
        [
            actor,
            action,
            object_type,
            None if object_id is None else str(object_id),
            json.dumps(before, default=str),
            json.dumps(after, default=str),
        ],
    )


# ---------------------------------------------------------------- the queue


@dataclass(frozen=True)
class QueuedRun:
    """A request's place in the queue: a new run, or the entity's waiting run it joined."""

    run_id: int
    entity_id: int
    entity: str
    joined: bool
    position: int | None = None  # 1 = next to start; None once it is running or done

    def as_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "entity": self.entity,
            "joined": self.joined,
            "position": self.position,
        }


def syncable(connector_name: str | None) -> bool:
    """Whether entities of this connector can be imported without a person handing over a file."""
    try:
        return registry.get(connector_name).kind != "file"
    except LedgerlineError:
        return False


def schedulable_entities(con, organisation_id: int) -> list[dict]:
    """The organisation's active entities whose source can be imported on a schedule.

    A source marked failed needs the user to reconnect it; running it on every slot would only
    repeat that message and raise alerts, so it waits until it is reconnected.
    """
    rows = db.rows_as_dicts(
        con.execute(
            """SELECT e.id, e.name, s.connector FROM entities e JOIN sources s ON s.id = e.source_id
               WHERE e.organisation_id = ? AND e.active AND s.status NOT IN ('disconnected', 'failed')
                 AND s.disconnected_at IS NULL
               ORDER BY e.id""",
            [organisation_id],
        )
    )
    return [r for r in rows if syncable(r["connector"])]


def queue_position(con, run_id: int) -> int | None:
    """1-based place of a waiting run in the queue order; None when it is not waiting."""
    row = con.execute(
        """SELECT position FROM (
               SELECT r.id, r.status, row_number() OVER (ORDER BY r.priority DESC, r.queued_at, r.id) AS position
               FROM import_runs r JOIN scheduler_runs s ON s.run_id = r.id WHERE r.status = 'waiting')
           WHERE id = ?""",
        [run_id],
    ).fetchone()
    return row[0] if row else None


def enqueue(
    con,
    entity_id: int,
    *,
    trigger: str,
    full: bool = False,
    manual: bool = False,
    requested_by: str | None = None,
    slot_at: datetime | None = None,
    retry_of: int | None = None,
    attempt: int = 1,
    params: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> QueuedRun:
    """Queue a run of the entity for the scheduler, or join the entity's waiting run.

    Joining keeps one waiting run per entity: a full request turns the waiting run into a full one
    and a manual request moves it up to manual priority. Only a new manual run counts towards the
    daily cap.
    """
    now = now or utcnow()
    ent = entities.entity(con, entity_id)
    priority = PRIORITY_MANUAL if trigger in ("manual", "reset") else PRIORITY_SCHEDULED
    waiting = con.execute(
        """SELECT r.id FROM import_runs r JOIN scheduler_runs s ON s.run_id = r.id
           WHERE r.entity_id = ? AND r.status = 'waiting' ORDER BY r.id LIMIT 1""",
        [entity_id],
    ).fetchone()
    if waiting:
        run_id = waiting[0]
        con.execute(
            """UPDATE import_runs SET full_sync = full_sync OR ?, priority = greatest(priority, ?),
                   trigger = CASE WHEN ? = 'reset' AND NOT full_sync THEN 'reset' ELSE trigger END
               WHERE id = ?""",
            [full, priority, trigger, run_id],
        )
        return QueuedRun(run_id, entity_id, ent["name"], True, queue_position(con, run_id))
    run_id = imports.queue_run(
        con, entity_id, trigger=trigger, full=full, priority=priority, params=params or {"options": {}}
    )
    con.execute("UPDATE import_runs SET queued_at = ? WHERE id = ?", [now, run_id])
    con.execute(
        """INSERT INTO scheduler_runs (run_id, entity_id, organisation_id, manual, requested_by, slot_at,
                                       attempt, retry_of)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?)""",
        [run_id, entity_id, ent["organisation_id"], manual, requested_by, slot_at, attempt, retry_of],
    )
    return QueuedRun(run_id, entity_id, ent["name"], False, queue_position(con, run_id))


def queue_due_runs(con, now: datetime | None = None) -> list[QueuedRun]:
    """Queue the due slot of every active organisation, once per slot (catching up once)."""
    now = now or utcnow()
    queued: list[QueuedRun] = []
    for org in organisation_schedules(con):
        if not org.active:
            continue  # the last slot stays put, so resuming catches up once
        if org.last_slot_at is None:
            # A schedule starts from now: slots before the scheduler first saw it are not owed.
            con.execute(
                """INSERT INTO org_schedules (organisation_id, last_slot_at) VALUES (?, ?)
                   ON CONFLICT (organisation_id) DO UPDATE SET last_slot_at = excluded.last_slot_at""",
                [org.organisation_id, latest_slot(org.schedule, now)],
            )
            continue
        slot = due_slot(org.schedule, org.last_slot_at, now)
        if slot is None:
            continue
        for ent in schedulable_entities(con, org.organisation_id):
            queued.append(
                enqueue(con, ent["id"], trigger="scheduled", requested_by="schedule", slot_at=slot, now=now)
            )
        con.execute(
            "UPDATE org_schedules SET last_slot_at = ? WHERE organisation_id = ?", [slot, org.organisation_id]
        )
        log.info("%s: slot %s queued", org.organisation, slot.isoformat())
    return queued


def queue_retries(con, now: datetime | None = None, policy: RetryPolicy | None = None) -> list[QueuedRun]:
    """Queue another attempt of runs that failed for a retriable reason, once their backoff passed.

    A retry must start before the organisation's next slot: after that the slot's own run takes
    over. Fatal failures (credentials, entity gone, organisation paused) are never retried.
    """
    now = now or utcnow()
    policy = policy or RetryPolicy()
    failed = db.rows_as_dicts(
        con.execute(
            """SELECT r.id, r.entity_id, r.trigger, r.full_sync, r.params, r.queued_at, r.finished_at,
                       s.attempt, s.slot_at, s.requested_by, s.organisation_id
                FROM import_runs r JOIN scheduler_runs s ON s.run_id = r.id
                WHERE r.status = 'failed' AND list_contains(?, r.error_kind) AND s.retried_by IS NULL
                  AND s.attempt < ? AND r.finished_at >= ?
                ORDER BY r.finished_at, r.id""",
            [list(RETRIABLE_KINDS), policy.max_attempts, now - timedelta(days=2)],
        )
    )
    queued = []
    for run in failed:
        org = organisation_schedule(con, run["organisation_id"])
        if not org.active:
            continue
        retry_at = run["finished_at"] + policy.delay(run["attempt"])
        if retry_at > now:
            continue
        if retry_at >= next_slot(org.schedule, run["slot_at"] or run["queued_at"]):
            continue
        again = enqueue(
            con,
            run["entity_id"],
            trigger=run["trigger"],
            full=run["full_sync"],
            requested_by=run["requested_by"],
            slot_at=run["slot_at"],
            retry_of=run["id"],
            attempt=run["attempt"] + 1,
            params=json.loads(run["params"] or "{}"),
            now=now,
        )
        con.execute("UPDATE scheduler_runs SET retried_by = ? WHERE run_id = ?", [again.run_id, run["id"]])
        log.info("run %s: retry %d queued as run %s", run["id"], run["attempt"] + 1, again.run_id)
        queued.append(again)
    return queued


def recover(con, data=None) -> dict[str, list[int]]:
    """Mark runs of dead processes interrupted and drop claims nobody holds any more.

    With `data`, the interrupted runs' staging folders are removed too.
    """
    interrupted = imports.recover_interrupted(con, data)
    dropped = []
    for run_id, worker, claimed_at, status in con.execute(
        """SELECT c.run_id, c.worker, c.claimed_at, r.status FROM scheduler_claims c
           LEFT JOIN import_runs r ON r.id = c.run_id"""
    ).fetchall():
        if status not in ("waiting", "running") or not imports.worker_alive(worker, claimed_at):
            dropped.append(run_id)
    if dropped:
        con.execute("DELETE FROM scheduler_claims WHERE list_contains(?, run_id)", [dropped])
    return {"interrupted": interrupted, "dropped_claims": dropped}


# ---------------------------------------------------------------- claiming and running


def _fail_waiting(con, run_id: int, kind: str, message: str) -> None:
    con.execute(
        """UPDATE import_runs SET status = 'failed', finished_at = current_timestamp, error_kind = ?,
               error_message = ? WHERE id = ? AND status = 'waiting'""",
        [kind, message, run_id],
    )


_CLAIM_SQL = """
    WITH live_claims AS (
        SELECT c.run_id, c.entity_id FROM scheduler_claims c JOIN import_runs cr ON cr.id = c.run_id
        WHERE cr.status IN ('waiting', 'running')),
    busy AS (
        SELECT count(*) AS n FROM (SELECT run_id AS id FROM live_claims
                                   UNION SELECT id FROM import_runs WHERE status = 'running')),
    slots AS (
        SELECT coalesce($slots, (SELECT CAST(value AS INTEGER) FROM scheduler_settings
                                 WHERE key = 'worker_slots'), $default_slots) AS n)
    SELECT r.id, r.entity_id, e.name, e.active, o.name, o.active
    FROM import_runs r JOIN scheduler_runs s ON s.run_id = r.id
    JOIN entities e ON e.id = r.entity_id JOIN organisations o ON o.id = e.organisation_id
    WHERE r.status = 'waiting'
      AND (SELECT n FROM busy) < (SELECT n FROM slots)
      AND NOT EXISTS (SELECT 1 FROM live_claims c WHERE c.entity_id = r.entity_id)
      AND NOT EXISTS (SELECT 1 FROM import_runs x WHERE x.entity_id = r.entity_id AND x.status = 'running')
      AND ($only::INTEGER[] IS NULL OR list_contains($only::INTEGER[], r.id))
    ORDER BY r.priority DESC, r.queued_at, r.id
    LIMIT 1
"""


def claim_next(
    data,
    *,
    slots: int | None = None,
    only: list[int] | None = None,
    worker: str | None = None,
    recover_first: bool = False,
) -> int | None:
    """Take the next run this process may execute, or None: one transaction, safe across processes.

    Honours the worker slots (claims and running runs together), never takes a run whose entity
    has another run in progress, and takes runs by priority, then first come first served. Runs
    of a paused organisation or a switched-off entity fail on the spot with what to do.
    Runs and claims left by dead processes are cleared by every scheduler tick, or first with
    `recover_first` (for a process that runs imports while no scheduler is alive).
    """
    worker = worker or imports.worker_id()
    params = {"slots": slots, "default_slots": DEFAULT_SLOTS, "only": only}
    with db.transaction(data) as con:
        if recover_first:
            recover(con, data)
        while True:
            row = con.execute(_CLAIM_SQL, params).fetchone()
            if row is None:
                return None
            run_id, entity_id, entity_name, entity_active, org_name, org_active = row
            if not org_active:
                _fail_waiting(
                    con,
                    run_id,
                    PAUSED_KIND,
                    FatalSourceError(
                        f"{org_name} is paused, so {entity_name} was not imported.",
                        guidance="Resume the organisation in Settings to import again.",
                    ).user_message(),
                )
                continue
            if not entity_active:
                _fail_waiting(
                    con,
                    run_id,
                    FatalSourceError.kind,
                    FatalSourceError(
                        f"{entity_name} is switched off for imports, so it was not imported.",
                        guidance="Switch the entity on in Entities to import it again.",
                    ).user_message(),
                )
                continue
            now = utcnow()
            con.execute(
                "INSERT INTO scheduler_claims (run_id, entity_id, worker, claimed_at) VALUES (?, ?, ?, ?)",
                [run_id, entity_id, worker, now],
            )
            con.execute(
                """UPDATE scheduler_runs SET claim_seq = nextval('seq_scheduler_claims'), claimed_by = ?,
                       claimed_at = ? WHERE run_id = ?""",
                [worker, now, run_id],
            )
            return run_id


def release(data, run_id: int) -> None:
    """Give up the claim on a run (it ended, or could not start)."""
    with db.transaction(data) as con:
        con.execute("DELETE FROM scheduler_claims WHERE run_id = ?", [run_id])


def run_claimed(data, run_id: int) -> imports.RunResult | None:
    """Execute a claimed run to its end in this process.

    The claim of a run that ended is dropped by the next claim in any process (see `recover`),
    which saves a warehouse connection per run; a run that could not start is released at once.
    """
    try:
        return imports.execute_run(data, run_id)
    except BaseException as exc:
        if isinstance(exc, LedgerlineError):
            log.warning("run %s did not start: %s", run_id, exc.user_message())
        try:
            release(data, run_id)
        except LedgerlineError:
            log.warning("could not release run %s; it is released when this worker stops", run_id)
        if isinstance(exc, LedgerlineError):
            return None
        raise


# ---------------------------------------------------------------- status for the app


@dataclass(frozen=True)
class SchedulerStatus:
    """Whether a scheduler process is alive, for the app's banner and `scheduler --status`."""

    alive: bool
    processes: int
    last_beat: datetime | None
    message: str

    def as_json(self) -> dict[str, Any]:
        return {
            "alive": self.alive,
            "processes": self.processes,
            "last_beat": self.last_beat.isoformat() if self.last_beat else None,
            "message": self.message,
        }


def scheduler_status(con, now: datetime | None = None) -> SchedulerStatus:
    """Alive when a scheduler process beat within three ticks and (on this host) still exists."""
    now = now or utcnow()
    rows = con.execute(
        "SELECT scheduler, beat_at, stopped_at, tick_seconds FROM scheduler_heartbeats ORDER BY beat_at DESC"
    ).fetchall()
    alive = [
        r
        for r in rows
        if r[2] is None and (now - r[1]).total_seconds() <= 3 * r[3] + 10 and imports.worker_alive(r[0], r[1])
    ]
    last = rows[0][1] if rows else None
    if alive:
        age = max(0, int((now - alive[0][1]).total_seconds()))
        return SchedulerStatus(
            True, len(alive), alive[0][1], f"The scheduler is running (last heartbeat {age} s ago)."
        )
    waiting = "Scheduled imports and Sync now wait until it runs again; start it with `ledgerline scheduler`."
    if last is None:
        return SchedulerStatus(False, 0, None, f"The scheduler has not run on this warehouse yet. {waiting}")
    return SchedulerStatus(
        False, 0, last, f"The scheduler is not running (last heartbeat {last:%Y-%m-%d %H:%M} UTC). {waiting}"
    )


def queue_overview(con) -> list[dict]:
    """Runs in progress and waiting, in the order they will be taken, with each waiting run's place."""
    return db.rows_as_dicts(
        con.execute(
            """SELECT r.id AS run_id, e.name AS entity, o.name AS organisation, r.trigger, r.status,
                      r.full_sync, r.queued_at, r.started_at, s.attempt,
                      CASE WHEN r.status = 'waiting' THEN row_number() OVER (
                          PARTITION BY r.status ORDER BY r.priority DESC, r.queued_at, r.id) END AS position
               FROM import_runs r JOIN entities e ON e.id = r.entity_id
               JOIN organisations o ON o.id = e.organisation_id
               LEFT JOIN scheduler_runs s ON s.run_id = r.id
               WHERE r.status IN ('running', 'waiting')
               ORDER BY r.status = 'waiting', r.priority DESC, r.queued_at, r.id"""
        )
    )


def entity_alerts(con, organisation_id: int | None = None) -> list[dict]:
    """Entities whose last imports all failed, at least the organisation's alert threshold in a row.

    Attempts that were retried count once (by their last attempt); runs refused because the
    organisation was paused do not count.
    """
    return db.rows_as_dicts(
        con.execute(
            """WITH finals AS (
                   SELECT r.entity_id, r.status, r.error_kind, r.error_message, r.finished_at,
                          row_number() OVER (PARTITION BY r.entity_id ORDER BY r.finished_at DESC, r.id DESC) AS n
                   FROM import_runs r LEFT JOIN scheduler_runs s ON s.run_id = r.id
                   WHERE r.status IN ('succeeded', 'failed') AND s.retried_by IS NULL
                     AND coalesce(r.error_kind, '') <> $paused),
               streaks AS (
                   SELECT entity_id,
                          coalesce(min(n) FILTER (WHERE status = 'succeeded'), max(n) + 1) - 1 AS failures
                   FROM finals GROUP BY entity_id)
               SELECT e.id AS entity_id, e.name AS entity, o.name AS organisation, st.failures,
                      f.error_kind AS last_error_kind, f.error_message AS last_error,
                      f.finished_at AS last_failed_at
               FROM streaks st JOIN entities e ON e.id = st.entity_id
               JOIN organisations o ON o.id = e.organisation_id
               LEFT JOIN org_schedules os ON os.organisation_id = o.id
               JOIN finals f ON f.entity_id = st.entity_id AND f.n = 1
               WHERE o.active AND ($org::INTEGER IS NULL OR e.organisation_id = $org)
                 AND st.failures >= coalesce(os.alert_after, $default_after)
               ORDER BY o.name, e.name""",
            {"paused": PAUSED_KIND, "org": organisation_id, "default_after": DEFAULT_ALERT_AFTER},
        )
    )


# ---------------------------------------------------------------- the sidecar process


@dataclass
class TickReport:
    """What one tick did."""

    queued: list[QueuedRun] = field(default_factory=list)
    retries: list[QueuedRun] = field(default_factory=list)
    interrupted: list[int] = field(default_factory=list)


def _beat(
    con, identity: str, now: datetime, tick_seconds: float, slots: int, *, started: bool = False
) -> None:
    pid = int(identity.split(":")[1])
    con.execute(
        """INSERT INTO scheduler_heartbeats (scheduler, host, pid, started_at, beat_at, tick_seconds, slots)
           VALUES (?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (scheduler) DO UPDATE SET beat_at = excluded.beat_at, stopped_at = NULL,
               tick_seconds = excluded.tick_seconds, slots = excluded.slots""",
        [identity, socket.gethostname(), pid, now, now, tick_seconds, slots],
    )
    if started:
        con.execute("DELETE FROM scheduler_heartbeats WHERE beat_at < ?", [now - timedelta(days=7)])


def _die_with_parent() -> None:
    """Ask Linux to kill this worker when the scheduler dies, so a killed scheduler leaves no orphan."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def worker_main(
    data: str, slots: int | None, poll_seconds: float, parent_pid: int, stop, once: bool, log_level: int
) -> None:
    """A worker slot: take a run, execute it, repeat; between runs check whether to stop.

    While the queue is empty the worker looks less often (up to 4x `poll_seconds`), so an idle
    scheduler leaves the warehouse to the app.
    """
    _die_with_parent()
    # Signals for the whole process group (Ctrl-C, a service manager's SIGTERM) are the
    # scheduler's to handle: it lets the running import finish, since it cannot stop halfway.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    logging.basicConfig(level=log_level, format="%(levelname)s worker %(process)d: %(message)s")
    idle = poll_seconds
    while not stop.is_set():
        if os.getppid() != parent_pid:
            return
        try:
            run_id = claim_next(data, slots=slots)
        except Exception:  # a locked or busy warehouse: try again at the next poll
            log.warning("could not take a run; trying again", exc_info=True)
            stop.wait(poll_seconds)
            continue
        if run_id is None:
            if once:
                return
            stop.wait(idle)
            idle = min(idle * 2, poll_seconds * 4)
            continue
        idle = poll_seconds
        result = run_claimed(data, run_id)
        if result is not None:
            log.info("run %s %s", run_id, result.status)


class Scheduler:
    """The sidecar: ticks (heartbeat, recovery, due slots, retries) and keeps worker processes busy."""

    def __init__(
        self,
        data,
        *,
        slots: int | None = None,
        tick_seconds: float = DEFAULT_TICK_SECONDS,
        poll_seconds: float = DEFAULT_POLL_SECONDS,
        retry: RetryPolicy | None = None,
    ):
        self.data = db.data_dir(data)
        self.slots = slots
        self.tick_seconds = tick_seconds
        self.poll_seconds = poll_seconds
        self.retry = retry or RetryPolicy()
        self.identity = imports.worker_id()
        self._stop = threading.Event()
        self._signals = 0

    def tick(self, now: datetime | None = None) -> TickReport:
        """One pass in one short transaction: heartbeat, recovery, due slots, retries."""
        now = now or utcnow()
        report = TickReport()
        with db.transaction(self.data) as con:
            _beat(con, self.identity, now, self.tick_seconds, self._slot_count(con))
            report.interrupted = recover(con, self.data)["interrupted"]
            report.queued = queue_due_runs(con, now)
            report.retries = queue_retries(con, now, self.retry)
        return report

    def _slot_count(self, con) -> int:
        return self.slots if self.slots is not None else worker_slots(con)

    def _on_signal(self, signum, frame) -> None:
        self._signals += 1
        self._stop.set()
        if self._signals == 1:
            print(
                "scheduler: stopping after the running imports finish (press Ctrl-C again to interrupt them)",
                file=sys.stderr,
            )

    def run(self, *, once: bool = False) -> int:
        """Run until stopped (SIGTERM / Ctrl-C), or with `once` one tick and the queue it leaves."""
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self._on_signal)
            signal.signal(signal.SIGINT, self._on_signal)
        with db.transaction(self.data) as con:
            slots = self._slot_count(con)
            _beat(con, self.identity, utcnow(), self.tick_seconds, slots, started=True)
        print(
            f"scheduler {self.identity}: {slots} worker slot(s), tick {self.tick_seconds:g} s, "
            f"warehouse {db.warehouse_path(self.data)}",
            flush=True,
        )
        ctx = multiprocessing.get_context("spawn")
        stop = ctx.Event()
        workers: list = []

        def start_worker():
            proc = ctx.Process(
                target=worker_main,
                args=(
                    str(self.data),
                    self.slots,
                    self.poll_seconds,
                    os.getpid(),
                    stop,
                    once,
                    logging.getLogger().getEffectiveLevel(),
                ),
                daemon=False,
                name="ledgerline-worker",
            )
            proc.start()
            return proc

        try:
            self._safe_tick()
            next_tick = time.monotonic() + self.tick_seconds
            workers = [start_worker() for _ in range(slots)]
            while not self._stop.is_set():
                if once:
                    if not any(w.is_alive() for w in workers):
                        break
                    self._stop.wait(0.1)
                    continue
                if time.monotonic() >= next_tick:
                    self._safe_tick()
                    next_tick = time.monotonic() + self.tick_seconds
                for i, w in enumerate(workers):
                    if not w.is_alive():
                        log.warning("worker %s exited (%s); starting another", w.pid, w.exitcode)
                        workers[i] = start_worker()
                self._stop.wait(min(1.0, max(0.05, next_tick - time.monotonic())))
        finally:
            stop.set()
            self._wait_for(workers)
            try:
                with db.transaction(self.data, lock_wait=10) as con:
                    con.execute(
                        "UPDATE scheduler_heartbeats SET stopped_at = ? WHERE scheduler = ?",
                        [utcnow(), self.identity],
                    )
            except LedgerlineError:
                log.warning("could not record the scheduler's stop")
        return 0

    def _safe_tick(self) -> None:
        try:
            report = self.tick()
        except Exception:  # a busy warehouse or a bad setting must not stop the sidecar
            log.exception("scheduler tick failed; trying again at the next tick")
            return
        if report.queued or report.retries or report.interrupted:
            log.info(
                "tick: %d queued, %d retries, %d interrupted",
                len(report.queued),
                len(report.retries),
                len(report.interrupted),
            )

    def _wait_for(self, workers: list) -> None:
        # Running imports finish (they cannot be stopped halfway); a second signal kills them and
        # their runs are marked interrupted by the next process that looks.
        while any(w.is_alive() for w in workers):
            if self._signals >= 2:
                for w in workers:
                    if w.is_alive():
                        w.kill()
            for w in workers:
                w.join(timeout=0.2)
