"""The CSV feed Excel refreshes from: per-user tokens, the user's access rules, the report's numbers."""

from __future__ import annotations

import csv
import io
import threading
from collections.abc import Iterator
from decimal import Decimal
from urllib.error import HTTPError
from urllib.parse import urlencode
from urllib.request import Request, urlopen

import pytest

from pipeline import access, db, reports
from pipeline.access import LOCAL_USER
from pipeline.feed import create_token, list_tokens, make_server, revoke_token
from tests.excel.conftest import INC, RETAIL, SERVICES

OWNER, LIMITED, VIEWER = "owner@example.com", "anna@example.com", "victor@example.com"


@pytest.fixture
def feed(demo) -> Iterator[tuple[str, dict[str, str]]]:
    """The feed served over real HTTP on a free port, with one token per kind of user."""
    with db.transaction(demo) as con:
        owner = access.sign_in(con, OWNER)  # the first user: admin
        org = con.execute("SELECT id FROM organisations").fetchone()[0]
        retail = con.execute("SELECT id FROM entities WHERE name = ?", [RETAIL]).fetchone()[0]
        access.set_role(con, owner, LIMITED, org, "reporting", entity_ids=[retail])
        access.set_role(con, owner, VIEWER, org, "viewer")
        tokens = {who: create_token(con, who, label="test")[1] for who in (OWNER, LIMITED, VIEWER)}
        tokens["local"] = create_token(con, "local")[1]
    server = make_server(demo, 0, "127.0.0.1", local=False)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", tokens
    finally:
        server.shutdown()
        server.server_close()


def get(url: str, bearer: str | None = None, **params) -> tuple[int, str]:
    headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
    query = urlencode(params, doseq=True)
    try:
        with urlopen(
            Request(f"{url}/feed.csv{'?' + query if query else ''}", headers=headers), timeout=60
        ) as r:
            return r.status, r.read().decode("utf-8-sig")
    except HTTPError as exc:
        return exc.code, exc.read().decode()


def rows_of(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


def test_missing_or_wrong_token_is_refused(feed):
    url, tokens = feed
    status, body = get(url)
    assert status == 401 and "feed token is required" in body
    assert get(url, "llf_not-a-real-token")[0] == 401
    assert get(url, tokens[OWNER][:-2] + "xx")[0] == 401
    # a token of the laptop mode does not open the feed once a login is configured
    status, body = get(url, tokens["local"])
    assert status == 401 and "unknown or was revoked" in body


def test_revoked_token_stops_working(feed, demo):
    url, tokens = feed
    assert get(url, tokens[OWNER], entity=RETAIL)[0] == 200
    with db.transaction(demo) as con:
        token_id = next(t["id"] for t in list_tokens(con, OWNER))
        revoke_token(con, token_id)
    assert get(url, tokens[OWNER], entity=RETAIL)[0] == 401


def test_feed_matches_the_report(feed, demo):
    url, tokens = feed
    status, body = get(url, tokens[OWNER], entity=RETAIL, **{"from": "2025-01", "to": "2025-06"})
    assert status == 200
    rows = rows_of(body)
    assert list(rows[0]) == ["entity", "statement", "code", "line", "month", "amount"]
    with db.connect(demo) as con:
        for statement in ("pnl", "bs", "cf"):
            report = reports.statement(
                con, statement, entity=RETAIL, from_month="2025-01", to_month="2025-06"
            )
            for line in report.lines:
                if line.kind in ("group", "formula"):
                    continue
                for month, amount in line.amounts.items():
                    fed = [
                        Decimal(r["amount"])
                        for r in rows
                        if r["statement"] == statement
                        and r["code"] == line.code
                        and r["month"] == f"{month}-01"
                    ]
                    assert fed == ([amount] if amount else []), (statement, line.code, month)
    assert all(r["entity"] == RETAIL for r in rows)
    assert all(len(r["amount"].split(".")[1]) == 2 for r in rows)


def test_token_acts_with_its_users_access(feed):
    url, tokens = feed
    # Anna may see Demo Retail BV only: by default the feed holds just that entity
    status, body = get(url, tokens[LIMITED])
    assert status == 200 and {r["entity"] for r in rows_of(body)} == {RETAIL}
    status, body = get(url, tokens[LIMITED], entity=SERVICES)
    assert status == 403 and "may not see this entity" in body
    status, body = get(url, tokens[LIMITED], all="1")
    assert status == 403
    # a Viewer may read reports but not export them
    status, body = get(url, tokens[VIEWER], entity=RETAIL)
    assert status == 403 and "Viewer may not download reports" in body
    # the admin gets the group (Demo Inc, in USD, is left out as in the report)
    status, body = get(url, tokens[OWNER], all="1", **{"from": "2025-06", "to": "2025-06"})
    assert status == 200 and {r["entity"] for r in rows_of(body)} == {RETAIL, SERVICES}
    assert INC not in body


def test_bad_requests_say_what_is_wrong(feed):
    url, tokens = feed
    status, body = get(url, tokens[OWNER], entity="Nobody BV")
    assert status == 404 and "No entity named 'Nobody BV'" in body
    status, body = get(url, tokens[OWNER], entity=RETAIL, **{"from": "2025-13"})
    assert status == 400 and "is not a month" in body
    with urlopen(f"{url}/health", timeout=10) as r:
        assert r.read() == b"ok\n"


def test_token_in_the_query_works_for_tools_without_headers(feed):
    url, tokens = feed
    status, body = get(
        url, None, **{"token": tokens[OWNER], "entity": RETAIL, "from": "2025-06", "to": "2025-06"}
    )
    assert status == 200 and len(rows_of(body)) > 20


def test_formula_like_names_get_the_text_apostrophe(demo):
    from pipeline.feed import feed_csv

    with db.transaction(demo) as con:
        con.execute("UPDATE entities SET name = '=cmd|calc' WHERE name = ?", [RETAIL])
    with db.connect(demo) as con:
        text = feed_csv(con, LOCAL_USER, {"entity": ["=cmd|calc"], "from": ["2025-06"], "to": ["2025-06"]})
    rows = rows_of(text.lstrip("\ufeff"))
    assert {r["entity"] for r in rows} == {"'=cmd|calc"}


def test_tokens_are_stored_as_hashes_and_shown_once(demo):
    with db.transaction(demo) as con:
        access.sign_in(con, OWNER)
        token_id, token = create_token(con, OWNER, label="laptop")
        stored = con.execute("SELECT token_hash, hint FROM feed_tokens WHERE id = ?", [token_id]).fetchone()
        listed = list_tokens(con, OWNER)
    assert token not in stored and stored[1] == token[:8]
    assert listed[0]["label"] == "laptop" and "token_hash" not in listed[0]
    with db.transaction(demo) as con, pytest.raises(Exception, match="No active user"):
        create_token(con, "nobody@example.com")
