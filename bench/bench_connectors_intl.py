"""API request counts of the Xero, QuickBooks Online, Sage and Twinfield connectors (issue 9), as ratios.

1. Full import of one entity with N ledger lines (default 100,000): the requests that read lines
   vs the minimum the vendor's paging allows, target <= 1.05x:
   - Xero: Journals pages of 100 journals -> ceil(journals / 100) (+1 when it divides exactly);
   - QuickBooks: query pages of 1000 entities per transaction type -> sum of ceil(n / 1000);
   - Sage: ledger_entries pages of 200 -> ceil(entries / 200);
   - Twinfield: browse has no paging; the finest unit is the period -> one request per period
     that holds lines (the connector adds one 040_1 totals request to find those periods).
   The small fixed calls (organisation, accounts, axes, token validation ...) are shown apart.
2. Incremental import after changing 0.1%, 1% and 5% of the lines (corrections and deletions of
   the most recent entries), then the same changes on a quarter of the history: the requests and
   rows read follow the change, not the history.

All four run against their sandboxes over real HTTP/SOAP on 127.0.0.1 with a fake clock, so the
vendors' rate limits are honoured (Xero's 60 a minute is the slowest) without waiting for real.

Run: .venv/bin/python -m bench.bench_connectors_intl [--lines 100000] [--only xero,sage]
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bench.bench_connectors import ledger
from connectors.base import ExtractRequest
from connectors.http import ManualClock
from connectors.oauth import MemoryStore
from connectors.quickbooks import QuickBooksConnector
from connectors.quickbooks.parse import TRANSACTION_TYPES
from connectors.quickbooks.sandbox import QuickBooksSandbox
from connectors.sage import SageConnector
from connectors.sage.sandbox import SageSandbox
from connectors.twinfield import TwinfieldConnector
from connectors.twinfield.sandbox import TwinfieldSandbox
from connectors.xero import XeroConnector
from connectors.xero.sandbox import XeroSandbox

CHANGE_SHARES = (0.001, 0.01, 0.05)
START = datetime(2026, 12, 31, 19, tzinfo=UTC)


@dataclass
class Vendor:
    """How to stand up one vendor's sandbox with a ledger and count its line requests."""

    name: str
    connector: type
    make: Callable[[ManualClock], Any]  # -> started sandbox
    entity: Callable[[Any], str]
    load: Callable[[Any, str, dict], int]  # -> lines now in the sandbox
    line_calls: Callable[[Any], int]  # requests so far that read ledger lines
    minimum: Callable[[Any, str], int]  # the paging minimum for the lines loaded
    extra_creds: Callable[[str], dict] = lambda entity: {}


def _qbo_minimum(sb: QuickBooksSandbox, realm: str) -> int:
    counts = sb.entity_counts(realm)
    return sum(counts[k] // 1000 + 1 for k in TRANSACTION_TYPES if k in counts) + sum(
        1 for k in TRANSACTION_TYPES if k not in counts
    )


def _twinfield_minimum(sb: TwinfieldSandbox, office: str) -> int:
    return len({(t["year"], t["period"]) for t in sb.offices[office].transactions.values()})


VENDORS = {
    "xero": Vendor(
        "xero",
        XeroConnector,
        lambda clock: XeroSandbox(
            as_of="2024-01-31", clock=clock, tenants={"bench": "demo-retail"}, day_limit=100_000
        ).start(),
        lambda sb: sb.tenant("bench"),
        lambda sb, entity, frames: (sb.replace_ledger(entity, frames), sb.line_count(entity))[1],
        lambda sb: sb.calls("Journals"),
        lambda sb, entity: sb.journal_count(entity) // 100 + 1,
    ),
    "quickbooks": Vendor(
        "quickbooks",
        QuickBooksConnector,
        lambda clock: QuickBooksSandbox(
            as_of="2024-01-31", clock=clock, realms={"4620816365": "demo-retail"}
        ).start(),
        lambda sb: "4620816365",
        lambda sb, entity, frames: (sb.replace_ledger(entity, frames), sb.line_count(entity))[1],
        lambda sb: sum(
            1
            for r in sb.requests
            if r.path.endswith("/query")
            and any(f"from {k} " in (r.arg("query") or "") for k in TRANSACTION_TYPES)
        ),
        _qbo_minimum,
        lambda entity: {"realm_id": entity},
    ),
    "sage": Vendor(
        "sage",
        SageConnector,
        lambda clock: SageSandbox(
            as_of="2024-01-31", clock=clock, businesses=("demo-retail",), day_limit=100_000
        ).start(),
        lambda sb: sb.business("demo-retail"),
        lambda sb, entity, frames: sb.replace_ledger(entity, frames),
        lambda sb: sb.calls("/ledger_entries"),
        lambda sb, entity: math.ceil(sb.entry_count(entity) / 200),
    ),
    "twinfield": Vendor(
        "twinfield",
        TwinfieldConnector,
        lambda clock: TwinfieldSandbox(
            as_of="2024-01-31", clock=clock, offices={"NL001": "demo-retail"}
        ).start(),
        lambda sb: "NL001",
        lambda sb, entity, frames: sb.replace_ledger(entity, frames),
        lambda sb: sb.calls("browse 030_2"),
        _twinfield_minimum,
    ),
}


def _run(vendor: Vendor, lines: int, change_base: int | None = None) -> dict[str, Any]:
    clock = ManualClock(START.timestamp())
    sb = vendor.make(clock)
    try:
        entity = vendor.entity(sb)
        rows = vendor.load(sb, entity, ledger(lines))
        tokens = sb.issue_tokens()
        store = MemoryStore(
            {
                "client_secret": sb.client_secret,
                "access_token": tokens["access_token"],
                "refresh_token": tokens["refresh_token"],
                "expires_at": clock.time() + int(tokens["expires_in"]),
                **vendor.extra_creds(entity),
            }
        )
        connector = vendor.connector(clock=clock)
        config = {"base_url": sb.url, "client_id": sb.client_id, "redirect_uri": "http://127.0.0.1/cb"}

        def request(**kw) -> ExtractRequest:
            return ExtractRequest(
                entity_name="bench", entity_external_id=entity, config=config, credential_store=store, **kw
            )

        started, waited = time.perf_counter(), clock.slept
        full = connector.extract(request())
        line_calls, minimum = vendor.line_calls(sb), vendor.minimum(sb, entity)
        out: dict[str, Any] = {
            "lines": rows,
            "full": {
                "line_requests": line_calls,
                "minimum": minimum,
                "ratio": round(line_calls / minimum, 3),
                "all_requests": full.stats["api_calls"],
                "throttled": full.stats["api_throttled"],
                "fake_clock_minutes": round((clock.slept - waited) / 60, 1),
                "seconds": round(time.perf_counter() - started, 1),
            },
            "incremental": [],
        }
        cursor = full.cursor
        for share in CHANGE_SHARES:
            entries = max(1, int((change_base or rows) * share / 2.6))  # about 2.6 lines per entry
            clock.advance(3600)
            changed = sb.edit(entity, correct=entries - entries // 4, delete=entries // 4)
            clock.advance(3600)
            inc = connector.extract(request(full=False, cursor=cursor))
            cursor = inc.cursor
            read = sum(s.rows.height for s in inc.streams if s.stream in ("transactions", "opening_balances"))
            out["incremental"].append(
                {
                    "share": share,
                    "changed_lines": changed["updated"] + changed["deleted"],
                    "requests": inc.stats["api_calls"],
                    "rows_read": read,
                    "mode": inc.stats.get("mode"),
                }
            )
        return out
    finally:
        sb.stop()


def run(lines: int = 100_000, only: list[str] | None = None) -> dict[str, Any]:
    results: dict[str, Any] = {}
    small = max(1000, lines // 4)
    for name, vendor in VENDORS.items():
        if only and name not in only:
            continue
        results[name] = _run(vendor, lines)
        results[f"{name}_small_history"] = {
            "lines": small,
            "incremental": _run(vendor, small, lines)["incremental"],
        }
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument(
        "--only", default="", help="comma-separated vendors (xero, quickbooks, sage, twinfield)"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    results = run(args.lines, [v for v in args.only.split(",") if v] or None)
    if args.json:
        print(json.dumps(results, indent=2))
        return
    for name in VENDORS:
        if name not in results:
            continue
        r, f = results[name], results[name]["full"]
        print(
            f"{name}: full import of {r['lines']} lines: {f['line_requests']} line requests vs paging minimum "
            f"{f['minimum']} = {f['ratio']}x (target <= 1.05x); all requests {f['all_requests']}, "
            f"429s {f['throttled']}, {f['fake_clock_minutes']} min of vendor pacing on the fake clock, {f['seconds']} s"
        )
        small = results[f"{name}_small_history"]
        for big, little in zip(r["incremental"], small["incremental"], strict=True):
            print(
                f"  incremental, {big['share']:.1%} changed: {big['requests']} requests, {big['rows_read']} rows read "
                f"({big['changed_lines']} lines changed, {big['mode']}) at {r['lines']} lines of history; "
                f"{little['requests']} requests, {little['rows_read']} rows read ({little['mode']}) at {small['lines']}"
            )


if __name__ == "__main__":
    main()
