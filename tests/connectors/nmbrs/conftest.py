"""An Nmbrs sandbox over real HTTP on 127.0.0.1, with a clock that only moves when told to."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from connectors.base import ExtractRequest
from connectors.http import ManualClock
from connectors.nmbrs import NmbrsConnector
from connectors.nmbrs.sandbox import NmbrsSandbox
from connectors.oauth import MemoryStore

AS_OF = "2024-03-31"
SOAP_TOKEN = "sandbox-soap-token"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2024, 4, 2, 9, tzinfo=UTC).timestamp())


@pytest.fixture
def sandbox(clock):
    with NmbrsSandbox(as_of=AS_OF, first_year=2023, clock=clock) as sb:
        yield sb


def signed_in(sandbox: NmbrsSandbox, clock: ManualClock, *, soap: bool = True, **extra) -> MemoryStore:
    """Credentials as they are after the REST sign-in and (unless told) the SOAP token step."""
    tokens = sandbox.issue_tokens()
    creds = {
        "client_secret": sandbox.client_secret,
        "subscription_key": sandbox.subscription_key,
        "access_token": tokens["access_token"],
        "refresh_token": tokens["refresh_token"],
        "expires_at": clock.time() + int(tokens["expires_in"]),
    }
    if soap:
        creds.update(soap_username=sandbox.email, soap_token=SOAP_TOKEN)
    return MemoryStore({**creds, **extra})


@pytest.fixture
def store(sandbox, clock) -> MemoryStore:
    return signed_in(sandbox, clock)


def request(sandbox: NmbrsSandbox, store, company: str | None = "201", **kwargs) -> ExtractRequest:
    config = {
        "base_url": sandbox.url,
        "client_id": sandbox.client_id,
        "redirect_uri": "http://127.0.0.1/callback",
    }
    return ExtractRequest(
        entity_name=f"company {company}",
        entity_external_id=company,
        config={**config, **kwargs.pop("config", {})},
        credential_store=store,
        **kwargs,
    )


@pytest.fixture
def connector(clock) -> NmbrsConnector:
    return NmbrsConnector(clock=clock)
