"""An AFAS sandbox over real HTTP on 127.0.0.1, with a clock that only moves when told to."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from connectors.afas import AfasConnector
from connectors.afas.sandbox import AfasSandbox
from connectors.base import ExtractRequest
from connectors.http import ManualClock

TOKEN = "0123456789ABCDEF0123456789ABCDEF"
AS_OF = "2024-02-29"


@pytest.fixture
def clock() -> ManualClock:
    """The evening of AS_OF in Amsterdam: the sandbox's 'today' and AFAS's clock agree."""
    return ManualClock(datetime(2024, 2, 29, 20, tzinfo=ZoneInfo("Europe/Amsterdam")).timestamp())


@pytest.fixture
def sandbox(clock):
    with AfasSandbox(token=TOKEN, as_of=AS_OF, clock=clock) as sb:
        yield sb


def request(sandbox: AfasSandbox, admin: str | None = "1", **kwargs) -> ExtractRequest:
    """An extract request for one administration of the sandbox."""
    config = {"base_url": sandbox.url, **kwargs.pop("config", {})}
    return ExtractRequest(
        entity_name=f"admin {admin}",
        entity_external_id=admin,
        config=config,
        credentials=kwargs.pop("credentials", {"token": TOKEN}),
        **kwargs,
    )


@pytest.fixture
def connector(clock) -> AfasConnector:
    return AfasConnector(clock=clock)
