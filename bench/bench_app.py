"""The web app under load: first paint of the Reports and Entities pages, and redraw times.

Builds a warehouse of N ledger lines over E entities and 36 months (balanced two-line entries,
a structure of about 60 lines mapped by range rules, report-ready rows regenerated), serves the
app the way `ledgerline serve` does (without the scheduler, which would only add noise), and
drives it in headless Chromium:

1. Entities page, first paint: from navigation until the entity cards are shown;
2. Reports page, first paint: from navigation until the P&L table of the default selection
   (first entity, last twelve months, by month) is shown;
3. redraw after a change of entity (each to an entity not shown before, so nothing is cached)
   and after a change of period (a new From month), until the new P&L is shown;
4. once, the group P&L of all entities.

The first visit of a page after the server starts computes everything ("cold"); later visits of
the same selection are served from the app's result cache ("warm"). Medians of `--repeats`.
Target: under 1 s median each. Usage:
    python -m bench.bench_app --lines 5000000 --entities 100      (the issue's size)
    python -m bench.bench_app --quick                              (500k lines, 20 entities)
"""

from __future__ import annotations

import argparse
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import date
from pathlib import Path

from bench.bench_reports import build_structure
from bench.synthetic import ledger
from pipeline import db, entities
from pipeline import mapping as mapping_mod
from pipeline.regenerate import rebuild_trial_balance, rebuild_unbalanced
from pipeline.structure import create_structure, structure_from_dict

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
MONTHS = 36


def generate(data: Path, lines: int, n_entities: int, n_accounts: int) -> None:
    """N ledger lines over `n_entities` entities and 2023-01..2025-12, mapped and regenerated."""
    with db.transaction(data) as con:
        org = entities.ensure_organisation(con, "Bench org")
        ids = [
            entities.ensure_entity(con, f"E{i:03d}", organisation_id=org, currency="EUR")
            for i in range(n_entities)
        ]
        con.execute(
            """INSERT INTO import_runs (entity_id, trigger, status, started_at, finished_at, inserted)
               SELECT id, 'scheduled', 'succeeded', now() - INTERVAL 2 HOUR, now() - INTERVAL 2 HOUR, 0
               FROM entities"""
        )
        ledger(
            con,
            ids,
            lines=lines,
            accounts=n_accounts,
            first_day=date(2023, 1, 1),
            days=365 * 3,
            cost_centres=False,
        )
    with db.transaction(data) as con:
        rebuild_trial_balance(con, ids)
        doc, rules = build_structure(n_accounts)
        doc["default"] = True
        struct = create_structure(
            con, structure_from_dict(doc), organisation_id=org, actor="bench", regenerate=False
        )
        mapping_mod.replace_rules(
            con, struct, [mapping_mod.rule_from_dict(r) for r in rules], actor="bench", regenerate=False
        )
        mapping_mod.regenerate_statements(con, structure_ids=[struct.id])
        rebuild_unbalanced(con, ids)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(data: Path, port: int) -> subprocess.Popen:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pipeline.cli",
            "--data",
            str(data),
            "serve",
            "--port",
            str(port),
            "--no-scheduler",
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"http://localhost:{port}/_stcore/health", timeout=2):
                return proc
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the app did not start") from None
            time.sleep(0.3)


def idle(page) -> None:
    page.wait_for_timeout(100)
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=120_000
    )


def pnl_shown(page, entity_label: str) -> None:
    page.get_by_text(f"Profit & Loss · {entity_label} · structure").wait_for(timeout=120_000)
    page.locator(".ll-table").first.wait_for(timeout=120_000)


def choose(page, label: str, option: str) -> float:
    """Open a selectbox, filter it to `option`, click it; returns the moment of the click."""
    box = page.locator('[data-testid="stSelectbox"]').filter(has_text=label).first
    box.click()
    page.keyboard.type(option)
    target = page.get_by_role("option", name=option, exact=True)
    target.wait_for()
    clicked = time.perf_counter()
    target.click()
    return clicked


REFERENCE_APP = """
import streamlit as st
st.title("Reference")
st.metric("Entities", 3)
"""


def reference(browser, repeats: int) -> list[float]:
    """First paint of a two-element Streamlit app: the floor any Streamlit page stands on."""
    folder = Path(tempfile.mkdtemp(prefix="bench_app_ref_"))
    (folder / "app.py").write_text(REFERENCE_APP)
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            str(folder / "app.py"),
            "--server.port",
            str(port),
            "--server.headless",
            "true",
            "--browser.gatherUsageStats",
            "false",
        ],
        cwd=folder,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://localhost:{port}/_stcore/health", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("the reference app did not start") from None
                time.sleep(0.3)
        context = browser.new_context(viewport={"width": 1440, "height": 1000})
        page = context.new_page()
        times = []
        for _ in range(repeats + 1):
            start = time.perf_counter()
            page.goto(f"http://localhost:{port}/")
            page.locator('[data-testid="stMetric"]').first.wait_for()
            times.append(time.perf_counter() - start)
        context.close()
        return times[1:]
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        shutil.rmtree(folder, ignore_errors=True)


def measure(url: str, repeats: int, n_entities: int) -> dict[str, list[float]]:
    """One browser context throughout (a returning user: the app's JavaScript is in the browser
    cache); every page visit is a new app session. Visit 0 after the server starts is cold."""
    from playwright.sync_api import sync_playwright

    out: dict[str, list[float]] = {
        k: [] for k in ("entities", "reports", "entity_change", "period_change", "reference")
    }
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        out["reference"] = reference(browser, repeats)
        context = browser.new_context(viewport={"width": 1440, "height": 1000})
        page = context.new_page()
        page.set_default_timeout(300_000)
        for i in range(repeats + 1):
            start = time.perf_counter()
            page.goto(f"{url}/")
            page.get_by_text("Latest current figures").first.wait_for()
            out["entities"].append(time.perf_counter() - start)
            idle(page)

            start = time.perf_counter()
            page.goto(f"{url}/reports")
            pnl_shown(page, "E000")
            out["reports"].append(time.perf_counter() - start)
            idle(page)

            name = f"E{(i + 1) % n_entities:03d}"
            start = choose(page, "Entity", name)
            pnl_shown(page, name)
            out["entity_change"].append(time.perf_counter() - start)
            idle(page)

            month = f"2024-{(i % 12) + 1:02d}"
            start = choose(page, "From", time.strftime("%b %Y", time.strptime(month, "%Y-%m")))
            page.locator(".ll-table th", has_text=month).first.wait_for()
            out["period_change"].append(time.perf_counter() - start)
            idle(page)
        page.goto(f"{url}/reports")
        pnl_shown(page, "E000")
        idle(page)
        start = choose(page, "Entity", "All entities (group)")
        page.get_by_text("Profit & Loss · All entities").wait_for()
        page.locator(".ll-table").first.wait_for()
        out["group_change"] = [time.perf_counter() - start]
        browser.close()
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=5_000_000)
    parser.add_argument("--entities", type=int, default=100)
    parser.add_argument("--accounts", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--keep", help="build (or reuse) the warehouse in this folder and keep it")
    parser.add_argument("--quick", action="store_true", help="a smoke-sized run: 500k lines, 20 entities")
    args = parser.parse_args(argv)
    if args.quick:
        args.lines, args.entities, args.repeats = 500_000, 20, 3
    data = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench_app_")) / "data"
    try:
        if not (data / "warehouse.duckdb").exists():
            data.mkdir(parents=True, exist_ok=True)
            start = time.perf_counter()
            generate(data, args.lines, args.entities, args.accounts)
            print(
                f"generated {args.lines:,} lines, {args.entities} entities x {MONTHS} months, "
                f"{args.accounts} accounts: {time.perf_counter() - start:.1f} s"
            )
        port = free_port()
        proc = serve(data, port)
        try:
            times = measure(f"http://localhost:{port}", args.repeats, args.entities)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
        print(f"app over {args.lines:,} lines, {args.entities} entities (seconds; target: median < 1 s)")
        for key, label in (
            ("entities", "Entities page, first paint"),
            ("reports", "Reports page, first paint (P&L)"),
            ("entity_change", "redraw after an entity change"),
            ("period_change", "redraw after a period change"),
        ):
            values = times[key]
            cold, warm = values[0], values[1:]
            print(
                f"{label:38s} cold {cold:6.2f}   median {statistics.median(values):6.2f}"
                + (f"   warm median {statistics.median(warm):6.2f}" if warm else "")
            )
        print(f"{'redraw to the group of all entities':38s} once {times['group_change'][0]:6.2f}")
        ref = statistics.median(times["reference"])
        print(f"{'reference: a two-element Streamlit app':38s} median {ref:6.2f}")
        for key in ("entities", "reports", "entity_change", "period_change"):
            print(f"  {key:20s} warm median / reference: {statistics.median(times[key][1:]) / ref:5.2f}x")
    finally:
        if not args.keep:
            shutil.rmtree(data.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
