"""`sync`, `scheduler` and `schedule`: queueing imports, the sidecar loop, and schedules."""

from __future__ import annotations

import sys
import time

from pipeline import db, entities, manual, scheduler
from pipeline.commands import print_json, print_table
from pipeline.errors import ConfigError
from pipeline.schedules import format_local, next_slots, parse_interval


def register(sub) -> None:
    p = sub.add_parser("sync", help="queue imports of connected entities and wait for the result")
    p.add_argument("--entity", help="one entity (default: every entity the schedule would import)")
    p.add_argument("--org", help="only this organisation's entities")
    p.add_argument("--full", action="store_true", help="a full re-sync instead of an incremental import")
    p.add_argument(
        "--manual",
        action="store_true",
        help="count as a manual import, like Sync now (with --full: Reset) in the app: the daily cap "
        "and, except for a reset, the cooldown apply; without it the import runs like a scheduled one",
    )
    p.add_argument("--timeout", type=float, help="give up waiting after this many seconds (exit 1)")
    p.add_argument("--json", action="store_true", help="print the runs as JSON")
    p.set_defaults(handler=cmd_sync)

    p = sub.add_parser("scheduler", help="run the scheduler sidecar (imports on schedule, the queue)")
    p.add_argument("--once", action="store_true", help="one tick, then run what is waiting and exit")
    p.add_argument(
        "--status", action="store_true", help="show whether a scheduler runs, the queue and alerts"
    )
    p.add_argument("--slots", type=int, help="imports at once (default: the stored setting, else 2)")
    p.add_argument("--set-slots", type=int, metavar="N", help="store the number of worker slots and exit")
    p.add_argument("--tick", type=float, default=scheduler.DEFAULT_TICK_SECONDS, help="seconds between ticks")
    p.add_argument("--poll", type=float, default=scheduler.DEFAULT_POLL_SECONDS, help="worker poll seconds")
    p.add_argument("--retry-base", type=float, default=60.0, help="first retry backoff in seconds")
    p.add_argument("--max-attempts", type=int, default=3, help="attempts of a retriable failure")
    p.add_argument("--json", action="store_true", help="with --status: JSON")
    p.set_defaults(handler=cmd_scheduler)

    p = sub.add_parser("schedule", help="show or change an organisation's import schedule and manual rules")
    p.add_argument("--org", help="organisation (default: the only one)")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--times", help="fixed local times, e.g. 00:00,05:00")
    group.add_argument("--every", help="an interval aligned to the clock, e.g. 3h or 30m")
    p.add_argument("--cooldown", type=int, metavar="MINUTES", help="wait after an import before a manual one")
    p.add_argument("--cap", type=int, metavar="N", help="manual imports per day")
    p.add_argument(
        "--alert-after", type=int, metavar="N", help="consecutive failures before an entity is flagged"
    )
    pause = p.add_mutually_exclusive_group()
    pause.add_argument("--pause", action="store_true", help="pause the organisation: it imports nothing")
    pause.add_argument("--resume", action="store_true", help="resume a paused organisation")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_schedule)


# ---------------------------------------------------------------- sync


def _targets(con, args) -> list[dict]:
    if args.entity:
        ent = entities.entity_by_name(con, args.entity)
        src = entities.source(con, ent["source_id"]) if ent["source_id"] else None
        if not scheduler.syncable(src["connector"] if src else None):
            raise ConfigError(
                f"{ent['name']} gets its data from uploaded files.",
                guidance="Use `ledgerline import FILE --entity NAME` to update it.",
            )
        return [ent]
    org_ids = (
        [scheduler.organisation_by_name(con, args.org)]
        if args.org
        else [r[0] for r in con.execute("SELECT id FROM organisations WHERE active ORDER BY id").fetchall()]
    )
    found = [e for org in org_ids for e in scheduler.schedulable_entities(con, org)]
    if not found:
        raise ConfigError(
            "There is no connected entity to sync.", guidance="Connect a source or load the demo."
        )
    return found


def cmd_sync(args) -> int:
    queued = []
    refused = False
    if args.manual:
        with db.connect(args.data) as con:
            targets = _targets(con, args)
        for ent in targets:
            try:
                if args.full:  # the app's Reset: a full re-sync, no cooldown, counts towards the cap
                    queued.append(manual.request_reset(args.data, ent["id"], actor="cli"))
                else:
                    queued.append(manual.request_manual_import(args.data, ent["id"], actor="cli"))
            except manual.ImportRefused as exc:
                if len(targets) == 1:
                    raise
                print(f"error: {ent['name']}: {exc.user_message()}", file=sys.stderr)
                refused = True
    else:
        with db.transaction(args.data) as con:
            for ent in _targets(con, args):
                queued.append(
                    scheduler.enqueue(
                        con,
                        ent["id"],
                        trigger="reset" if args.full else "scheduled",
                        full=args.full,
                        requested_by="cli",
                    )
                )
    if not args.json:
        for q in queued:
            how = "joined waiting run" if q.joined else "queued as run"
            place = f" (place {q.position} in the queue)" if q.position else ""
            print(f"{q.entity}: {how} {q.run_id}{place}", flush=True)
    runs = (
        wait_for_runs(args.data, sorted({q.run_id for q in queued}), timeout=args.timeout) if queued else []
    )
    if args.json:
        print_json(runs)
    else:
        for r in runs:
            if r["status"] == "succeeded":
                print(
                    f"run {r['id']} succeeded: {r['entity']}, {r['rows_read'] or 0} lines; "
                    f"inserted {r['inserted']}, updated {r['updated']}, deleted {r['deleted']}"
                )
            elif r["status"] == "failed":
                print(f"error: run {r['id']} failed: {r['entity']}: {r['error_message']}", file=sys.stderr)
            else:
                print(f"error: run {r['id']} is still {r['status']} after the timeout", file=sys.stderr)
    return 0 if not refused and all(r["status"] == "succeeded" for r in runs) else 1


def wait_for_runs(data, run_ids: list[int], *, timeout: float | None = None, poll: float = 0.5) -> list[dict]:
    """Wait until the runs end. While no scheduler is alive, this process runs them itself."""
    deadline = None if timeout is None else time.monotonic() + timeout
    pending = set(run_ids)
    while pending:
        with db.connect(data) as con:
            done = {
                r[0]
                for r in con.execute(
                    "SELECT id FROM import_runs WHERE list_contains(?, id) AND status IN ('succeeded', 'failed')",
                    [sorted(pending)],
                ).fetchall()
            }
            alive = scheduler.scheduler_status(con).alive
        pending -= done
        if not pending or (deadline is not None and time.monotonic() >= deadline):
            break
        if not alive:
            run_id = scheduler.claim_next(data, only=sorted(pending), recover_first=True)
            if run_id is not None:
                scheduler.run_claimed(data, run_id)
                continue
        time.sleep(poll)
    with db.connect(data) as con:
        return db.rows_as_dicts(
            con.execute(
                """SELECT r.id, e.name AS entity, r.trigger, r.status, r.full_sync, r.rows_read, r.inserted,
                           r.updated, r.deleted, r.error_kind, r.error_message
                    FROM import_runs r JOIN entities e ON e.id = r.entity_id
                    WHERE list_contains(?, r.id) ORDER BY r.id""",
                [run_ids],
            )
        )


# ---------------------------------------------------------------- scheduler


def cmd_scheduler(args) -> int:
    if args.set_slots is not None:
        with db.transaction(args.data) as con:
            scheduler.set_worker_slots(con, args.set_slots, actor="cli")
        print(f"worker slots: {args.set_slots}")
        return 0
    if args.status:
        return _print_status(args)
    for name in ("slots", "max_attempts"):
        value = getattr(args, name)
        if value is not None and value < 1:
            print(f"error: --{name.replace('_', '-')} must be at least 1", file=sys.stderr)
            return 2
    if args.tick <= 0 or args.poll <= 0:
        print("error: --tick and --poll must be positive", file=sys.stderr)
        return 2
    runner = scheduler.Scheduler(
        args.data,
        slots=args.slots,
        tick_seconds=args.tick,
        poll_seconds=args.poll,
        retry=scheduler.RetryPolicy(max_attempts=args.max_attempts, base_seconds=args.retry_base),
    )
    return runner.run(once=args.once)


def _print_status(args) -> int:
    with db.transaction(args.data) as con:
        scheduler.recover(con)
        status = scheduler.scheduler_status(con)
        queue = scheduler.queue_overview(con)
        alerts = scheduler.entity_alerts(con)
        slots = scheduler.worker_slots(con)
    if args.json:
        print_json({"scheduler": status.as_json(), "worker_slots": slots, "queue": queue, "alerts": alerts})
        return 0
    print(status.message)
    print(f"worker slots: {slots}")
    if queue:
        print_table(
            ["run", "entity", "trigger", "status", "place", "queued", "started"],
            [
                [
                    q["run_id"],
                    q["entity"],
                    q["trigger"],
                    q["status"],
                    q["position"] or "",
                    q["queued_at"].strftime("%Y-%m-%d %H:%M:%S"),
                    q["started_at"].strftime("%H:%M:%S") if q["started_at"] else "",
                ]
                for q in queue
            ],
        )
    else:
        print("queue: empty")
    for a in alerts:
        print(f"attention: {a['entity']} failed {a['failures']} times in a row; last: {a['last_error']}")
    return 0


# ---------------------------------------------------------------- schedule


def cmd_schedule(args) -> int:
    with db.transaction(args.data) as con:
        org_id = scheduler.organisation_by_name(con, args.org)
        if args.pause or args.resume:
            scheduler.set_paused(con, org_id, args.pause, actor="cli")
        changes = {
            "times": args.times,
            "interval_minutes": parse_interval(args.every) if args.every else None,
            "cooldown_minutes": args.cooldown,
            "daily_manual_cap": args.cap,
            "alert_after": args.alert_after,
        }
        if any(v is not None for v in changes.values()):
            scheduler.set_schedule(con, org_id, actor="cli", **changes)
        org = scheduler.organisation_schedule(con, org_id)
    now = scheduler.utcnow()
    if args.json:
        print_json(org.as_json(now))
        return 0
    tz = org.schedule.zone
    print(f"{org.organisation}: {'active' if org.active else 'paused'}, imports {org.schedule.describe()}")
    print(f"next: {', '.join(format_local(s, tz, now) for s in next_slots(org.schedule, now, 3))}")
    print(
        f"manual imports: {org.daily_manual_cap} per day, cooldown {org.cooldown_minutes} min; "
        f"flagged after {org.alert_after} failures in a row"
    )
    return 0
