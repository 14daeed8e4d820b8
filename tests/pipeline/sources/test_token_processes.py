"""Rotating refresh tokens across real processes: a kill after refreshing, and two refreshers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from connectors.exact import ExactConnector
from connectors.exact.sandbox import ExactSandbox
from connectors.oauth import TokenManager
from pipeline import sources
from tests.pipeline.sources.conftest import AS_OF, add_exact

ROOT = Path(__file__).resolve().parents[3]

# One process asking for a token the way an import run does (the app and the scheduler are two).
SCRIPT = """
import json, os, sys, time
from connectors.exact import ExactConnector
from connectors.oauth import TokenManager
from pipeline.sources import SourceCredentialStore

data, source_id, config, go = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3]), sys.argv[4]
store = SourceCredentialStore(data, source_id)
tokens = TokenManager(ExactConnector.oauth_app(config, store.load()), store, vendor="Exact Online")
print("ready", flush=True)
while not os.path.exists(go):
    time.sleep(0.01)
print(tokens.access_token(), flush=True)
"""


def signed_in_source(data, exact: ExactSandbox) -> tuple[int, dict]:
    source = add_exact(data, exact)
    url = sources.connect_url(data, source["id"])
    sources.complete_oauth_url(data, httpx.get(url).headers["location"])
    store = sources.SourceCredentialStore(data, source["id"])
    store.save({**store.load(), "expires_at": 0})  # the access token has run out: the next use refreshes
    return source["id"], sources.get_source(data, source["id"])["config"]


def start(data, source_id: int, config: dict, go: Path, env: dict | None = None) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, str(data), str(source_id), json.dumps(config), str(go)],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout.readline().strip() == "ready", process.stderr.read()
    return process


def test_a_rotated_token_survives_a_kill_between_saving_and_using_it(data, tmp_path):
    with ExactSandbox(as_of=AS_OF) as exact:
        source_id, config = signed_in_source(data, exact)
        before = sources.SourceCredentialStore(data, source_id).load()
        go = tmp_path / "go"
        go.touch()
        process = start(data, source_id, config, go, env={"LEDGERLINE_FAULT_POINT": "oauth_after_save"})
        process.wait(timeout=60)
        assert process.returncode == -signal.SIGKILL
        assert exact.auth.refresh_grants == 1
        after = sources.SourceCredentialStore(data, source_id).load()
        assert after["refresh_token"] != before["refresh_token"]
        assert before["refresh_token"] not in exact.auth.refresh_tokens  # the old one is gone for good
        # The stored access token works, and the stored refresh token still refreshes.
        me = httpx.get(
            f"{exact.url}/api/v1/current/Me", headers={"Authorization": f"Bearer {after['access_token']}"}
        )
        assert me.status_code == 200
        store = sources.SourceCredentialStore(data, source_id)
        store.save({**after, "expires_at": 0})
        tokens = TokenManager(ExactConnector.oauth_app(config, store.load()), store, vendor="Exact Online")
        try:
            assert tokens.access_token() != after["access_token"]
        finally:
            tokens.close()
        assert (exact.auth.refresh_grants, exact.auth.rejected_refreshes) == (2, 0)


def test_two_processes_needing_a_token_at_once_refresh_it_once(data, tmp_path):
    # Each token call takes 0.5 s, so the second process asks while the first refresh is in flight.
    with ExactSandbox(as_of=AS_OF, token_latency=0.5) as exact:
        source_id, config = signed_in_source(data, exact)
        go = tmp_path / "go"
        first = start(data, source_id, config, go)
        second = start(data, source_id, config, go)
        go.touch()
        started = time.monotonic()
        results = [p.communicate(timeout=60) for p in (first, second)]
        assert [p.returncode for p in (first, second)] == [0, 0], [r[1] for r in results]
        tokens = {out.strip() for out, _ in results}
        assert len(tokens) == 1  # both use the one new access token
        assert (exact.auth.refresh_grants, exact.auth.rejected_refreshes) == (1, 0)
        assert time.monotonic() - started < 30
