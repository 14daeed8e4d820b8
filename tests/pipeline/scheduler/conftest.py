"""Fixtures for the scheduler tests: a real warehouse with organisations on the fake ERP."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from connectors import registry
from pipeline import db, entities
from tests.pipeline.scheduler.fake_source import NAME, FakeErp


@pytest.fixture
def fake_erp(monkeypatch):
    """The fake ERP registered in this process for the duration of a test."""
    monkeypatch.setattr(registry, "REGISTRY", (*registry.REGISTRY, FakeErp))


@dataclass
class Org:
    id: int
    source_id: int
    entity_ids: list[int]
    events: Path


def make_org(
    data: Path,
    name: str = "Acme",
    *,
    entities_count: int = 1,
    timezone: str = "Europe/Brussels",
    plans: dict[str, list[str]] | None = None,
    seconds: float = 0.0,
    slow_seconds: float = 0.0,
    times: str | None = None,
    interval_minutes: int | None = None,
    last_slot_at: datetime | None = None,
    cooldown_minutes: int = 60,
    daily_manual_cap: int = 10,
) -> Org:
    """An organisation with one fake-ERP source and `entities_count` entities named '<name> 1' ..."""
    events = data.parent / f"events-{name}.log"
    config = {"events": str(events), "seconds": seconds, "slow_seconds": slow_seconds, "plans": plans or {}}
    with db.transaction(data) as con:
        org_id = entities.ensure_organisation(con, name, timezone=timezone)
        source_id = entities.ensure_source(con, org_id, f"{name} ERP", NAME, config)
        ids = [
            entities.ensure_entity(con, f"{name} {i}", organisation_id=org_id, source_id=source_id)
            for i in range(1, entities_count + 1)
        ]
        con.execute(
            """INSERT INTO org_schedules (organisation_id, times, interval_minutes, cooldown_minutes,
                                          daily_manual_cap, last_slot_at)
               VALUES (?, ?, ?, ?, ?, ?)""",
            [
                org_id,
                times or "00:00,05:00",
                interval_minutes,
                cooldown_minutes,
                daily_manual_cap,
                last_slot_at,
            ],
        )
    return Org(org_id, source_id, ids, events)


def set_plans(data: Path, org: Org, plans: dict[str, list[str]]) -> None:
    """Change what the fake ERP does for the organisation's entities."""
    with db.transaction(data) as con:
        config = json.loads(
            con.execute("SELECT config FROM sources WHERE id = ?", [org.source_id]).fetchone()[0]
        )
        config["plans"] = plans
        con.execute("UPDATE sources SET config = ? WHERE id = ?", [json.dumps(config), org.source_id])


def runs(data: Path, *, entity_id: int | None = None) -> list[dict]:
    """Every run with the scheduler's bookkeeping, oldest first."""
    with db.connect(data) as con:
        return db.rows_as_dicts(
            con.execute(
                """SELECT r.id, r.entity_id, r.trigger, r.status, r.full_sync, r.priority, r.queued_at,
                          r.started_at, r.finished_at, r.error_kind, r.error_message, s.manual, s.attempt,
                          s.retry_of, s.retried_by, s.slot_at, s.claim_seq
                   FROM import_runs r LEFT JOIN scheduler_runs s ON s.run_id = r.id
                   WHERE ?::INTEGER IS NULL OR r.entity_id = ? ORDER BY r.id""",
                [entity_id, entity_id],
            )
        )


def minutes_ago_local(minutes: int, timezone: str = "Europe/Brussels") -> str:
    """The local wall-clock time `minutes` ago as HH:MM: a schedule slot that has just passed."""
    return (datetime.now(ZoneInfo(timezone)) - timedelta(minutes=minutes)).strftime("%H:%M")
