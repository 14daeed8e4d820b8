"""A fake ERP at the vendor boundary: a connector whose behaviour a test scripts per entity.

It stands in for a remote source, never for our own pipeline code. Its settings live in the
source's config in the warehouse, so the scheduler's worker processes see them too:

    {"events": "/tmp/.../events.log",       # one line per extraction start and end
     "seconds": 0.0,                          # how long an "ok" extraction takes
     "plans": {"Entity 1": ["retriable", "ok"]}}  # what attempt 1, 2, ... of an entity does

Actions: "ok", "unchanged" (no new lines), "slow" (ok after `slow_seconds`), "retriable" (provider unreachable), "auth"
(token revoked), "gone" (administration deleted at the source). The last action of a plan
repeats. Attempts are counted from the events file, so they survive process restarts.
"""

from __future__ import annotations

import os
import time
from datetime import date
from decimal import Decimal
from pathlib import Path

from connectors import registry
from connectors.base import (
    Capabilities,
    Connector,
    EntityInfo,
    Extraction,
    ExtractRequest,
    Stream,
    StreamData,
    frame_from_rows,
)
from pipeline.errors import AuthError, FatalSourceError, RetriableSourceError

NAME = "fake-erp"


def _log(path: str | None, event: str, entity: str) -> None:
    if not path:
        return
    line = f"{event}\t{entity}\t{os.getpid()}\t{time.time():.6f}\n".encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)  # one small O_APPEND write: lines from many processes never interleave
    finally:
        os.close(fd)


def read_events(path: Path) -> list[tuple[str, str, int, float]]:
    """(event, entity, pid, time) of every line the fake source wrote."""
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        event, entity, pid, at = line.split("\t")
        out.append((event, entity, int(pid), float(at)))
    return out


def _attempt(path: str | None, entity: str) -> int:
    if not path or not Path(path).exists():
        return 1
    return sum(1 for e in read_events(Path(path)) if e[0] == "start" and e[1] == entity)


class FakeErp(Connector):
    """A scripted ERP: two accounts and two balanced entries per entity."""

    name = NAME
    label = "Fake ERP (tests)"
    kind = "api"
    capabilities = Capabilities(incremental=True)
    streams = (Stream("accounts"), Stream("transactions", cursor="n"))

    def extract(self, request: ExtractRequest) -> Extraction:
        config = request.config
        events = config.get("events")
        entity = request.entity_name
        _log(events, "start", entity)
        plan = (config.get("plans") or {}).get(entity) or [config.get("default", "ok")]
        action = plan[min(_attempt(events, entity), len(plan)) - 1]
        if action == "retriable":
            _log(events, "end", entity)
            raise RetriableSourceError("The ERP did not answer (connection refused).")
        if action == "auth":
            _log(events, "end", entity)
            raise AuthError("The ERP rejected the access token: it was revoked.")
        if action == "gone":
            _log(events, "end", entity)
            raise FatalSourceError(
                f"The administration of {entity} no longer exists in the ERP.",
                guidance="Remove the entity in Ledgerline or restore the administration in the ERP.",
            )
        time.sleep(float(config.get("slow_seconds" if action == "slow" else "seconds", 0)))
        if action == "unchanged":  # nothing new at the source since the last import
            _log(events, "end", entity)
            return Extraction(
                streams=[StreamData("transactions", frame_from_rows("transactions", []))],
                cursor={"n": 2},
                format=NAME,
            )
        accounts = frame_from_rows(
            "accounts",
            [
                {"code": "1000", "name": "Bank", "account_type": "balance"},
                {"code": "8000", "name": "Revenue", "account_type": "pnl"},
            ],
        )
        lines = []
        for entry, amount in ((1, "100.00"), (2, "250.50")):
            for line, (account, sign) in enumerate((("1000", 1), ("8000", -1)), start=1):
                lines.append(
                    {
                        "line_key": f"{entry}|{line}",
                        "entry": str(entry),
                        "line": str(line),
                        "tx_date": date(2026, 1, entry),
                        "account_code": account,
                        "amount": Decimal(amount) * sign,
                        "description": f"entry {entry}",
                    }
                )
        _log(events, "end", entity)
        return Extraction(
            streams=[
                StreamData("accounts", accounts, replace="all"),
                StreamData("transactions", frame_from_rows("transactions", lines), replace="all"),
            ],
            cursor={"n": 2},
            entity=EntityInfo(name=entity, currency="EUR"),
            format=NAME,
        )


def register() -> None:
    """Add the fake ERP to the connector registry of this process (idempotent)."""
    if all(c.name != NAME for c in registry.REGISTRY):
        registry.REGISTRY = (*registry.REGISTRY, FakeErp)
