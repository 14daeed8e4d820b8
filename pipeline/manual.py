"""Manual imports (Sync now, Start import, a reset) and the rules that keep sources from overload.

- Cooldown: a manual import waits until the entity's last successful import ended at least the
  cooldown ago (default one hour). A failed or interrupted import does not start a cooldown, so
  after fixing the cause the user can try again at once.
- Daily cap: each organisation has a number of manual imports per local day (default 10),
  counted in its own time zone; scheduled runs and automatic retries do not count.
- A request for an entity that already has a waiting run joins that run: nothing new is queued
  and nothing counts.
- A reset (full re-sync) counts towards the cap but has no cooldown: it is how a user repairs data.

A refusal is an `ImportRefused` saying why and when it becomes possible again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pipeline import db, entities, imports
from pipeline.errors import RefusedError
from pipeline.schedules import format_local, local_day_start, next_local_midnight


class ImportRefused(RefusedError):
    """A manual import refused by a rule; `possible_at` (UTC) says when it may be asked again."""

    def __init__(self, message: str, *, reason: str, possible_at: datetime | None = None):
        super().__init__(message)
        self.reason = reason
        self.possible_at = possible_at


@dataclass(frozen=True)
class ManualCheck:
    """Whether a manual import of an entity is possible now, and if not why and from when."""

    allowed: bool
    reason: str | None  # None, 'paused', 'inactive', 'not_syncable', 'cooldown', 'daily_cap'
    message: str
    possible_at: datetime | None
    used_today: int
    daily_cap: int
    joins_run: int | None = None  # the waiting run the request would join

    def as_json(self) -> dict:
        return {
            "allowed": self.allowed,
            "reason": self.reason,
            "message": self.message,
            "possible_at": self.possible_at.isoformat() if self.possible_at else None,
            "used_today": self.used_today,
            "daily_cap": self.daily_cap,
            "joins_run": self.joins_run,
        }


def _minutes_text(minutes: int) -> str:
    if minutes % 60 == 0:
        hours = minutes // 60
        return "one hour" if hours == 1 else f"{hours} hours"
    return f"{minutes} minutes"


def manual_imports_today(con, organisation_id: int, now: datetime, tz) -> int:
    """Manual imports the organisation queued since its local midnight (retries and joins excluded)."""
    return con.execute(
        """SELECT count(*) FROM scheduler_runs s JOIN import_runs r ON r.id = s.run_id
           WHERE s.organisation_id = ? AND s.manual AND s.retry_of IS NULL
             AND r.queued_at >= ? AND r.queued_at <= ?""",
        [organisation_id, local_day_start(tz, now), now],
    ).fetchone()[0]


def check_manual_import(
    con, entity_id: int, *, reset: bool = False, now: datetime | None = None
) -> ManualCheck:
    """Apply the manual-import rules to one entity at `now` (UTC); nothing is written."""
    from pipeline.scheduler import organisation_schedule, syncable

    now = (now or datetime.now(UTC)).astimezone(UTC)
    ent = entities.entity(con, entity_id)
    org = organisation_schedule(con, ent["organisation_id"])
    tz = org.schedule.zone
    used = manual_imports_today(con, org.organisation_id, now, tz)

    def refuse(reason: str, message: str, possible_at: datetime | None = None) -> ManualCheck:
        return ManualCheck(False, reason, message, possible_at, used, org.daily_manual_cap)

    if not org.active:
        return refuse(
            "paused", f"{org.organisation} is paused, so it imports nothing. Resume it in Settings first."
        )
    if not ent["active"]:
        return refuse(
            "inactive", f"{ent['name']} is switched off for imports. Switch it on in Entities first."
        )
    connector = None
    if ent["source_id"]:
        connector = entities.source(con, ent["source_id"])["connector"]
    if not syncable(connector):
        return refuse(
            "not_syncable",
            f"{ent['name']} gets its data from uploaded files; upload a new file to update it.",
        )
    waiting = con.execute(
        """SELECT r.id FROM import_runs r JOIN scheduler_runs s ON s.run_id = r.id
           WHERE r.entity_id = ? AND r.status = 'waiting' ORDER BY r.id LIMIT 1""",
        [entity_id],
    ).fetchone()
    if waiting:
        return ManualCheck(
            True,
            None,
            f"{ent['name']} already has an import waiting (run {waiting[0]}); the request joins it.",
            None,
            used,
            org.daily_manual_cap,
            joins_run=waiting[0],
        )
    refusals = []
    if not reset and org.cooldown_minutes:
        last = con.execute(
            "SELECT max(finished_at) FROM import_runs WHERE entity_id = ? AND status = 'succeeded'",
            [entity_id],
        ).fetchone()[0]
        if last is not None:
            possible = last + timedelta(minutes=org.cooldown_minutes)
            if now < possible:
                refusals.append(
                    (
                        possible,
                        "cooldown",
                        f"The last import of {ent['name']} ended at {format_local(last, tz, now)}; manual "
                        f"imports wait {_minutes_text(org.cooldown_minutes)} after an import, so the next one is "
                        f"possible again at {format_local(possible, tz, now)}.",
                    )
                )
    if used >= org.daily_manual_cap:
        possible = next_local_midnight(tz, now)
        refusals.append(
            (
                possible,
                "daily_cap",
                f"{org.organisation} has used its {org.daily_manual_cap} manual imports for today; the next one "
                f"is possible again at {format_local(possible, tz, now)}. Scheduled imports go on as usual.",
            )
        )
    if refusals:
        possible, reason, message = max(refusals)
        return refuse(reason, message, possible)
    left = org.daily_manual_cap - used
    return ManualCheck(
        True,
        None,
        f"A manual import is possible ({left} of {org.daily_manual_cap} left today).",
        None,
        used,
        org.daily_manual_cap,
    )


def _request(data, entity_id: int, *, actor: str, full: bool, reset: bool, now: datetime | None):
    from pipeline.scheduler import QueuedRun, enqueue

    now = (now or datetime.now(UTC)).astimezone(UTC)
    with db.transaction(data) as con:
        check = check_manual_import(con, entity_id, reset=reset, now=now)
        if not check.allowed:
            raise ImportRefused(
                check.message, reason=check.reason or "refused", possible_at=check.possible_at
            )
        queued: QueuedRun = enqueue(
            con,
            entity_id,
            trigger="reset" if reset else "manual",
            full=full or reset,
            manual=True,
            requested_by=actor,
            now=now,
        )
        con.execute(
            """INSERT INTO audit_log (actor, action, object_type, object_id, after)
               VALUES (?, ?, 'entity', ?, ?)""",
            [
                actor,
                "reset" if reset else "manual_import",
                str(entity_id),
                json.dumps({"run_id": queued.run_id, "joined": queued.joined, "full": full or reset}),
            ],
        )
    return queued


def request_manual_import(
    data, entity_id: int, *, actor: str, full: bool = False, now: datetime | None = None
):
    """Sync now: queue a manual import of the entity (or join its waiting run) -> QueuedRun.

    Raises ImportRefused (a RefusedError) saying why and when it is possible again.
    """
    return _request(data, entity_id, actor=actor, full=full, reset=False, now=now)


def request_reset(data, entity_id: int, *, actor: str, now: datetime | None = None):
    """Reset: queue a full re-sync of the entity (a running import is never stopped for it) -> QueuedRun."""
    return _request(data, entity_id, actor=actor, full=True, reset=True, now=now)


def structures_locked(con, organisation_id: int) -> str | None:
    """Why the organisation's structures and mappings cannot be edited now, or None when they can.

    A source's first import holds them read-only until it ends: a mapping edited while the chart of
    accounts arrives would be checked against half of it.
    """
    rows = con.execute(
        """SELECT r.id, r.status, r.worker, r.heartbeat_at, e.name, s.name
           FROM import_runs r JOIN entities e ON e.id = r.entity_id
           LEFT JOIN sources s ON s.id = coalesce(r.source_id, e.source_id)
           WHERE e.organisation_id = ?
             AND (r.status = 'running'
                  OR (r.status = 'waiting' AND EXISTS (SELECT 1 FROM scheduler_runs q WHERE q.run_id = r.id)))
             AND NOT EXISTS (
                 SELECT 1 FROM import_runs p JOIN entities pe ON pe.id = p.entity_id
                 WHERE p.status = 'succeeded'
                   AND coalesce(p.source_id, pe.source_id) = coalesce(r.source_id, e.source_id))
           ORDER BY r.id""",
        [organisation_id],
    ).fetchall()
    for _run_id, status, worker, heartbeat_at, entity_name, source_name in rows:
        if status == "running" and not imports.worker_alive(worker, heartbeat_at):
            continue  # left behind by a dead process; it is marked interrupted at the next look
        state = "running" if status == "running" else "waiting to run"
        return (
            f"Structures and mappings are read-only while the first import of source "
            f"{source_name or 'unknown'!r} (entity {entity_name}) is {state}; they can be edited again "
            f"when it ends."
        )
    return None
