"""A QuickBooks Online sandbox over real HTTP on 127.0.0.1, with a clock that only moves when told to."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from connectors.base import ExtractRequest
from connectors.http import ManualClock
from connectors.oauth import MemoryStore
from connectors.quickbooks import QuickBooksConnector
from connectors.quickbooks.sandbox import QuickBooksSandbox

AS_OF = "2024-02-29"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2024, 2, 29, 19, tzinfo=UTC).timestamp())


@pytest.fixture
def sandbox(clock):
    with QuickBooksSandbox(as_of=AS_OF, clock=clock) as sb:
        yield sb


def signed_in(sandbox: QuickBooksSandbox, clock: ManualClock, realm: str) -> MemoryStore:
    tokens = sandbox.issue_tokens()
    return MemoryStore(
        {
            "client_secret": sandbox.client_secret,
            "access_token": tokens["access_token"],
            "refresh_token": tokens["refresh_token"],
            "expires_at": clock.time() + int(tokens["expires_in"]),
            "realm_id": realm,
        }
    )


@pytest.fixture
def realm(sandbox) -> str:
    return sandbox.realm("demo-retail")


@pytest.fixture
def store(sandbox, clock, realm) -> MemoryStore:
    return signed_in(sandbox, clock, realm)


def config(sandbox: QuickBooksSandbox) -> dict:
    return {
        "base_url": sandbox.url,
        "client_id": sandbox.client_id,
        "redirect_uri": "http://127.0.0.1/callback",
    }


def request(sandbox: QuickBooksSandbox, store, realm: str | None, **kwargs) -> ExtractRequest:
    return ExtractRequest(
        entity_name="Demo Retail BV",
        entity_external_id=realm,
        config={**config(sandbox), **kwargs.pop("config", {})},
        credential_store=store,
        **kwargs,
    )


@pytest.fixture
def connector(clock) -> QuickBooksConnector:
    return QuickBooksConnector(clock=clock)
