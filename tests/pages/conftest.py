"""AppTest fixtures: a demo warehouse built once per session, copied for each test.

Every test runs the real app (app.py routes to the page) over its own copy of a real DuckDB
warehouse holding the demo organisation, so pages, services and access rules are exercised
together. Signed-in users are simulated the way Streamlit's own AppTest does it: an [auth]
secrets section plus `at.user`.
"""

from __future__ import annotations

import runpy
import shutil
from pathlib import Path

import pytest
from streamlit.runtime.scriptrunner import script_runner
from streamlit.testing.v1 import AppTest

from pipeline import access, db
from pipeline.demo import load_demo

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT.parent / "shared" / "samples"
APP = str(ROOT / "app.py")
DEMO_AS_OF = "2025-06-30"
AUTH = {
    "auth": {
        "redirect_uri": "http://localhost:8501/oauth2callback",
        "cookie_secret": "test-cookie-secret",
        "client_id": "ledgerline",
        "client_secret": "secret",
        "server_metadata_url": "https://id.example.invalid/.well-known/openid-configuration",
    }
}


@pytest.fixture(autouse=True)
def through_app_py(monkeypatch):
    """Run app.py on every AppTest run, as a served app does after its first visit.

    Streamlit's test runner detects pages/ as a legacy multipage folder again on each run and
    would run a page script without app.py (its sign-in gate, navigation and data version).
    """
    monkeypatch.setattr(script_runner, "_mpa_v1", lambda path: runpy.run_path(path, run_name="__main__"))


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory) -> Path:
    """The demo organisation imported once (three entities, 2024-01 .. 2025-06)."""
    data = tmp_path_factory.mktemp("demo") / "data"
    results = load_demo(data, as_of=DEMO_AS_OF)
    assert [r.status for r in results] == ["succeeded"] * 3
    return data


@pytest.fixture
def warehouse(demo_template, tmp_path, monkeypatch) -> Path:
    """A private copy of the demo warehouse, the one the app works on ($LEDGERLINE_DATA)."""
    data = tmp_path / "data"
    shutil.copytree(demo_template, data)
    monkeypatch.setenv("LEDGERLINE_DATA", str(data))
    return data


def open_page(page: str | None = None, *, user: str | None = None) -> AppTest:
    """The app on a page (None: the default page), as the local owner or as a signed-in user."""
    at = AppTest.from_file(APP, default_timeout=60)
    if user is not None:
        at.secrets = AUTH
        at.user = {"is_logged_in": True, "email": user, "name": user.split("@")[0].title()}
    at.run()
    if page is not None:
        at.switch_page(f"pages/{page}.py")
        at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def grant(data: Path, login: str, role: str, *, entities: list[str] | None = None) -> None:
    """Give `login` a role in the demo organisation (as the local owner would in Settings)."""
    with db.transaction(data) as con:
        org = con.execute("SELECT id FROM organisations ORDER BY id LIMIT 1").fetchone()[0]
        # An admin must exist first, or the user granted here would become admin at sign-in.
        if not con.execute("SELECT count(*) FROM users").fetchone()[0]:
            access.sign_in(con, "owner@example.com", "Owner")
        ids = None
        if entities is not None:
            ids = [
                con.execute("SELECT id FROM entities WHERE name = ?", [name]).fetchone()[0]
                for name in entities
            ]
        access.set_role(con, access.LOCAL_USER, login, org, role, entity_ids=ids)


def texts(at: AppTest) -> str:
    """Every piece of text on the page, for `in` checks."""
    parts = []
    for kind in (
        "markdown",
        "caption",
        "title",
        "header",
        "subheader",
        "info",
        "warning",
        "error",
        "success",
    ):
        parts += [str(e.value) for e in getattr(at, kind)]
    parts += [str(b.label) for b in at.button]
    return "\n".join(parts)


def one(elements, label: str, *, prefix: bool = False):
    """The one widget with this label (or label prefix) among `elements`."""
    found = [e for e in elements if (e.label.startswith(label) if prefix else e.label == label)]
    assert len(found) == 1, f"{len(found)} widgets labelled {label!r}"
    return found[0]
