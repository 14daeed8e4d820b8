"""A Sage Accounting sandbox over real HTTP on 127.0.0.1, with a clock that only moves when told to."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from connectors.base import ExtractRequest
from connectors.http import ManualClock
from connectors.oauth import MemoryStore
from connectors.sage import SageConnector
from connectors.sage.sandbox import SageSandbox

AS_OF = "2024-02-29"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2024, 2, 29, 19, tzinfo=UTC).timestamp())


@pytest.fixture
def sandbox(clock):
    with SageSandbox(as_of=AS_OF, clock=clock) as sb:
        yield sb


def signed_in(sandbox: SageSandbox, clock: ManualClock) -> MemoryStore:
    tokens = sandbox.issue_tokens()
    return MemoryStore(
        {
            "client_secret": sandbox.client_secret,
            "access_token": tokens["access_token"],
            "refresh_token": tokens["refresh_token"],
            "expires_at": clock.time() + int(tokens["expires_in"]),
        }
    )


@pytest.fixture
def store(sandbox, clock) -> MemoryStore:
    return signed_in(sandbox, clock)


def config(sandbox: SageSandbox) -> dict:
    return {
        "base_url": sandbox.url,
        "client_id": sandbox.client_id,
        "redirect_uri": "http://127.0.0.1/callback",
    }


def request(sandbox: SageSandbox, store, business: str | None, **kwargs) -> ExtractRequest:
    return ExtractRequest(
        entity_name="Demo Retail BV",
        entity_external_id=business,
        config={**config(sandbox), **kwargs.pop("config", {})},
        credential_store=store,
        **kwargs,
    )


@pytest.fixture
def connector(clock) -> SageConnector:
    return SageConnector(clock=clock)
