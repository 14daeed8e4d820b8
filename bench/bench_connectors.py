"""API request counts of the AFAS Profit and Exact Online connectors (issue 6), as ratios.

1. Full import of one administration with N ledger lines (default 100,000): requests made vs the
   minimum the vendor's page size allows (ceil(N / page)). Target <= 1.05x for the ledger lines.
   AFAS's page is the size AFAS advises (150,000 / number of fields), Exact's the 1000 rows of its
   bulk endpoint; the small fixed calls (administration, accounts, cost centres ...) are shown
   separately.
2. Incremental import after changing 0.1%, 1% and 5% of the lines (corrections and deletions of
   the most recent entries, as bookkeeping does): requests and rows read, then the same changes
   on a quarter of the history, to show the cost follows the change and not the history.

Both run against the sandboxes over real HTTP on 127.0.0.1 with a fake clock (Exact's 60 calls a
minute are paced, but the waiting takes no real time).

Run: .venv/bin/python -m bench.bench_connectors [--lines 100000]
"""

from __future__ import annotations

import argparse
import json
import math
import time
from datetime import UTC, datetime
from typing import Any

import polars as pl

from connectors.afas import AfasConnector
from connectors.afas.sandbox import AfasSandbox
from connectors.base import ExtractRequest
from connectors.demo.generate import generate_entity
from connectors.exact import ExactConnector
from connectors.exact.sandbox import ExactSandbox
from connectors.http import ManualClock
from connectors.oauth import MemoryStore

TOKEN = "bench-token"
AS_OF = "2026-12-31"
CHANGE_SHARES = (0.001, 0.01, 0.05)


def ledger(lines: int) -> dict[str, pl.DataFrame]:
    """A demo-shaped ledger of exactly `lines` lines: the demo entities' books one after another,
    entry numbers made unique per part."""
    parts, opening = [], None
    for n, entity in enumerate(("demo-retail", "demo-services", "demo-inc", "demo-retail", "demo-services")):
        frames = generate_entity(entity, AS_OF, 42 + n)
        tx = frames["transactions"].with_columns(
            (pl.lit(str(n + 1)) + pl.col("entry")).alias("entry"),
            (pl.col("journal") + "|" + pl.lit(str(n + 1)) + pl.col("entry") + "|" + pl.col("line")).alias(
                "line_key"
            ),
            pl.lit("EUR").alias("currency"),
            pl.lit(None, dtype=pl.Decimal(18, 2)).alias("amount_fc"),
            pl.lit(None, dtype=pl.Utf8).alias("currency_fc"),
        )
        parts.append(tx)
        opening = opening if opening is not None else frames
        if sum(p.height for p in parts) >= lines:
            break
    transactions = pl.concat(parts).head(lines)
    return {**opening, "transactions": transactions, "opening_balances": opening["opening_balances"].head(0)}


def _afas(lines: int, change_base: int | None = None) -> dict[str, Any]:
    clock = ManualClock(datetime(2026, 12, 31, 20, tzinfo=UTC).timestamp())
    frames = ledger(lines)
    with AfasSandbox(token=TOKEN, as_of="2024-01-31", clock=clock, administrations={1: "demo-retail"}) as sb:
        rows = sb.replace_ledger(1, frames)
        connector = AfasConnector(clock=clock)

        def request(**kw) -> ExtractRequest:
            return ExtractRequest(
                entity_name="bench",
                entity_external_id="1",
                config={"base_url": sb.url},
                credentials={"token": TOKEN},
                **kw,
            )

        started = time.perf_counter()
        full = connector.extract(request())
        seconds = time.perf_counter() - started
        take = full.cursor["setup"]["takes"]["transactions_allocated"]
        line_calls = sb.calls("Profit_Transactions_Allocated")
        minimum = math.ceil(rows / take) if rows % take else rows // take + 1
        out: dict[str, Any] = {
            "lines": rows,
            "page": take,
            "full": {
                "line_requests": line_calls,
                "minimum": minimum,
                "ratio": round(line_calls / minimum, 3),
                "all_requests": full.stats["api_calls"],
                "all_ratio": round(full.stats["api_calls"] / minimum, 3),
                "seconds": round(seconds, 2),
            },
            "incremental": [],
        }
        cursor = full.cursor
        for share in CHANGE_SHARES:
            entries = max(1, int((change_base or rows) * share / 2.6))  # about 2.6 lines per entry
            before = sb.calls()
            changed = sb.edit(1, correct=entries - entries // 4, delete=entries // 4)
            clock.advance(3 * 3600)  # past the overlap window, so each run sees its own changes
            inc = connector.extract(request(full=False, cursor=cursor))
            cursor = inc.cursor
            out["incremental"].append(
                {
                    "share": share,
                    "changed_lines": changed["updated"] + changed["deleted"],
                    "requests": sb.calls() - before,
                    "changed_days": inc.stats.get("changed_days"),
                    "rows_read": inc.stats["modified_lines"] + inc.stats["reread_lines"],
                }
            )
    return out


def _exact(lines: int, change_base: int | None = None) -> dict[str, Any]:
    clock = ManualClock(datetime(2026, 12, 31, 19, tzinfo=UTC).timestamp())
    frames = ledger(lines)
    with ExactSandbox(as_of="2024-01-31", clock=clock, divisions={101: "demo-retail"}) as sb:
        rows = sb.replace_ledger(101, frames)
        tokens = sb.issue_tokens()
        store = MemoryStore(
            {
                "client_secret": sb.client_secret,
                "access_token": tokens["access_token"],
                "refresh_token": tokens["refresh_token"],
                "expires_at": clock.time() + 600,
            }
        )
        connector = ExactConnector(clock=clock)

        def request(**kw) -> ExtractRequest:
            return ExtractRequest(
                entity_name="bench",
                entity_external_id="101",
                config={"base_url": sb.url, "client_id": sb.client_id, "redirect_uri": "http://127.0.0.1/cb"},
                credential_store=store,
                **kw,
            )

        started = time.perf_counter()
        full = connector.extract(request())
        seconds = time.perf_counter() - started
        calls = full.stats["api_calls"]
        minimum = math.ceil(rows / 1000)
        out: dict[str, Any] = {
            "lines": rows,
            "page": 1000,
            "full": {
                "line_requests": calls - 4,  # division, G/L accounts, cost centres, cost units
                "minimum": minimum,
                "ratio": round((calls - 4) / minimum, 3),
                "all_requests": calls,
                "all_ratio": round(calls / minimum, 3),
                "waited_seconds_fake_clock": full.stats["api_waited_seconds"],
                "throttled": sb.throttled,
                "seconds": round(seconds, 2),
            },
            "incremental": [],
        }
        cursor = full.cursor
        for share in CHANGE_SHARES:
            entries = max(1, int((change_base or rows) * share / 2.6))
            changed = sb.edit(101, correct=entries - entries // 4, delete=entries // 4)
            clock.advance(3 * 3600)  # past the overlap window, so each run sees its own changes
            inc = connector.extract(request(full=False, cursor=cursor))
            cursor = inc.cursor
            out["incremental"].append(
                {
                    "share": share,
                    "changed_lines": changed["updated"] + changed["deleted"],
                    "requests": inc.stats["api_calls"],
                    "rows_read": inc.stats["lines"] + inc.stats["deleted_lines"],
                }
            )
    return out


def run(lines: int = 100_000) -> dict[str, Any]:
    """Both connectors at `lines` lines, and the incremental runs again at a quarter of the size."""
    results = {"afas": _afas(lines), "exact": _exact(lines)}
    small = max(1000, lines // 4)
    # The same changes on a quarter of the history: the cost should not move.
    results["afas_small_history"] = {"lines": small, "incremental": _afas(small, lines)["incremental"]}
    results["exact_small_history"] = {"lines": small, "incremental": _exact(small, lines)["incremental"]}
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    results = run(args.lines)
    if args.json:
        print(json.dumps(results, indent=2))
        return
    for vendor in ("afas", "exact"):
        r = results[vendor]
        f = r["full"]
        print(
            f"{vendor}: full import of {r['lines']} lines, page {r['page']}: {f['line_requests']} line requests "
            f"vs minimum {f['minimum']} = {f['ratio']}x (target <= 1.05x); all requests {f['all_requests']} "
            f"= {f['all_ratio']}x; {f['seconds']} s"
        )
        small = results[f"{vendor}_small_history"]
        for big, little in zip(r["incremental"], small["incremental"], strict=True):
            print(
                f"  incremental, {big['share']:.1%} of lines changed: {big['requests']} requests, "
                f"{big['rows_read']} rows read ({big['changed_lines']} lines changed) at {r['lines']} lines "
                f"of history; {little['requests']} requests, {little['rows_read']} rows read "
                f"({little['changed_lines']} changed) at {small['lines']}"
            )


if __name__ == "__main__":
    main()
