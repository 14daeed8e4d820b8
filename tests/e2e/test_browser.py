"""End to end in a real browser: the app started the way `make run` starts it, driven in headless
Chromium (Debian's, through Playwright). One meaningful journey and one bad-input journey.

Journey: upload an XAF auditfile, see its run succeed on the entity card, accept the mapping
suggestions, open the P&L and find the net result `ledgerline report pnl` prints for the same
entity, lower the cooldown in Settings and trigger Sync now (the scheduler sidecar runs it).
Screenshots of every page go to tests/artifacts/.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from decimal import Decimal
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT.parent / "shared" / "samples"
XAF = SAMPLES / "xaf" / "ExactOnline_V32_2016.xaf"
ARTIFACTS = ROOT / "tests" / "artifacts"
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
ENTITY = "Toro Rosso BV"

pytestmark = pytest.mark.slow


def cli(data: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "--data", str(data), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    """`make run`: init, the demo when empty, then `serve` (scheduler sidecar + app) on a free port."""
    data = tmp_path_factory.mktemp("e2e") / "data"
    for step in (("init",), ("demo", "--if-empty")):
        done = cli(data, *step)
        assert done.returncode == 0, done.stderr
    port = free_port()
    log = open(tmp_path_factory.mktemp("logs") / "serve.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipeline.cli", "--data", str(data), "serve", "--port", str(port)],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "LEDGERLINE_DATA": str(data)},
    )
    url = f"http://localhost:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as answer:
                if answer.status == 200:
                    break
        except OSError:
            pass
        assert proc.poll() is None and time.monotonic() < deadline, "the app did not start"
        time.sleep(0.3)
    yield {"url": url, "data": data}
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1440, "height": 1100})
    tab = context.new_page()
    tab.set_default_timeout(30_000)
    yield tab
    context.close()


def idle(page) -> None:
    """Wait until the app has finished its current run (Streamlit shows a status widget meanwhile)."""
    page.wait_for_selector('[data-testid="stApp"]')
    page.wait_for_timeout(300)  # a rerun shows its status widget only after a moment
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=30_000
    )


def shot(page, name: str) -> None:
    idle(page)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def choose(page, label: str, option: str) -> None:
    """Pick an option of a Streamlit selectbox by its label."""
    box = page.locator('[data-testid="stSelectbox"]').filter(has_text=label).first
    box.click()
    page.get_by_role("option", name=option, exact=True).click()
    idle(page)


def metric(page, label: str) -> str:
    found = page.locator('[data-testid="stMetric"]').filter(has_text=label).first
    return found.locator('[data-testid="stMetricValue"]').inner_text()


def entity_ids(data: Path) -> dict[str, int]:
    from pipeline import db

    with db.connect(data, read_only=True) as con:
        return dict(con.execute("SELECT name, id FROM entities").fetchall())


def latest_run(data: Path, name: str) -> dict:
    from pipeline import db

    with db.connect(data, read_only=True) as con:
        return db.rows_as_dicts(
            con.execute(
                """SELECT r.id, r.status, r.trigger, r.inserted, r.updated, r.deleted
                   FROM import_runs r JOIN entities e ON e.id = r.entity_id
                   WHERE e.name = ? ORDER BY r.id DESC LIMIT 1""",
                [name],
            )
        )[0]


def run_count(data: Path) -> int:
    from pipeline import db

    with db.connect(data, read_only=True) as con:
        return con.execute("SELECT count(*) FROM import_runs").fetchone()[0]


def test_upload_map_report_and_sync_now_in_a_browser(app, page):
    from playwright.sync_api import expect

    url, data = app["url"], app["data"]

    page.goto(f"{url}/upload")
    idle(page)
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(XAF))
    expect(page.locator('[data-testid="stMetric"]').filter(has_text="Ledger lines")).to_contain_text("167")
    assert metric(page, "Debit total") == "999,954.06"
    shot(page, "1_upload_checked")
    page.get_by_role("button", name="Import").click()
    expect(page.get_by_text(f"Imported into {ENTITY}: 167 lines")).to_be_visible(timeout=60_000)
    shot(page, "2_upload_imported")
    run = latest_run(data, ENTITY)
    assert (run["status"], run["trigger"]) == ("succeeded", "upload")

    page.goto(f"{url}/")  # Entities is the default page, at /
    idle(page)
    ids = entity_ids(data)
    card = page.locator(f".st-key-entity_card_{ids[ENTITY]}")
    expect(card).to_contain_text(ENTITY)
    expect(card).to_contain_text("Succeeded")
    expect(card).to_contain_text("Latest current figures: just now")
    shot(page, "3_entities")

    page.goto(f"{url}/mapping")
    idle(page)
    choose(page, "Entity", ENTITY)
    accept = page.get_by_role("button", name="Accept all")
    expect(accept).to_be_visible()
    accept.click()
    idle(page)
    page.get_by_role("button", name="Preview totals").click()
    expect(page.get_by_text("Statement totals over all periods")).to_be_visible()
    shot(page, "4_mapping_preview")
    page.get_by_role("button", name="Save ").click()
    expect(page.get_by_text("No unsaved changes.")).to_be_visible(timeout=60_000)
    shot(page, "5_mapping_saved")

    page.goto(f"{url}/reports")
    idle(page)
    choose(page, "Entity", ENTITY)
    expect(page.get_by_text(f"Profit & Loss · {ENTITY} · structure")).to_be_visible()
    idle(page)
    result = page.locator('[data-testid="stMetric"]').filter(has_text="Net result for the period")
    expect(result).to_have_count(1)  # the previous selection's figure is gone
    shown = Decimal(metric(page, "Net result for the period").replace(",", ""))
    printed = cli(data, "report", "pnl", "--entity", ENTITY, "--json")
    assert printed.returncode == 0, printed.stderr
    expected = json.loads(printed.stdout)
    assert expected["periods"][0] == "2016-01" and expected["periods"][-1] == "2016-12"
    assert shown == Decimal(expected["result"])
    assert shown != 0
    shot(page, "6_reports_pnl")

    page.goto(f"{url}/settings")
    idle(page)
    cooldown = page.get_by_label("Cooldown after an import before Sync now (minutes)")
    cooldown.fill("0")
    cooldown.press("Tab")
    page.get_by_role("button", name="Save", exact=True).click()
    idle(page)
    shot(page, "7_settings")

    page.goto(f"{url}/")  # Entities is the default page, at /
    idle(page)
    name = "Demo Retail BV"
    retail = page.locator(f".st-key-entity_card_{ids[name]}")
    before = latest_run(data, name)["id"]
    retail.get_by_role("button", name="Sync now").click()
    # Queued: the card offers no second Sync now while the import waits or runs.
    expect(retail.get_by_role("button", name="Sync now")).to_have_count(0)
    deadline = time.monotonic() + 90
    while (after := latest_run(data, name))["id"] == before or after["status"] in ("waiting", "running"):
        assert time.monotonic() < deadline, f"the scheduler did not finish the import: {after}"
        time.sleep(0.5)
    assert (after["status"], after["trigger"]) == ("succeeded", "manual")
    # The card refreshed by itself (no reload) to the new run's counts.
    counts = f"{after['inserted']:,} new, {after['updated']:,} changed, {after['deleted']:,} deleted rows"
    expect(retail).to_contain_text(f"Manual import just now: {counts}", timeout=15_000)
    expect(retail).to_contain_text("Succeeded")
    shot(page, "8_entities_after_sync")

    for name, title in (
        ("sources", "Sources"),
        ("structure", "Reporting structure"),
        ("upload", "Upload a ledger file"),
    ):
        page.goto(f"{url}/{name}")
        page.get_by_role("heading", name=title).wait_for()
        shot(page, f"9_{name}")


def test_a_broken_file_shows_a_clear_error_and_imports_nothing(app, page, tmp_path):
    from playwright.sync_api import expect

    url, data = app["url"], app["data"]
    before = run_count(data)
    broken = tmp_path / "broken.xaf"
    content = XAF.read_bytes()
    broken.write_bytes(content[: len(content) // 3])
    page.goto(f"{url}/upload")
    idle(page)
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(broken))
    error = page.locator('[data-testid="stAlertContentError"]').first
    expect(error).to_contain_text("broken.xaf")
    expect(page.get_by_text("Nothing was imported.")).to_be_visible()
    assert page.get_by_role("button", name="Import").count() == 0
    shot(page, "10_upload_broken_file")
    assert run_count(data) == before
