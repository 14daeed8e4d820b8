"""A Xero sandbox over real HTTP on 127.0.0.1, with a clock that only moves when told to."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from connectors.http import ManualClock
from connectors.oauth import MemoryStore
from connectors.xero import XeroConnector
from connectors.xero.sandbox import XeroSandbox
from tests.connectors.intl_suite import signed_in

AS_OF = "2024-02-29"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2024, 2, 29, 19, tzinfo=UTC).timestamp())


@pytest.fixture
def sandbox(clock):
    with XeroSandbox(as_of=AS_OF, clock=clock) as sb:
        yield sb


@pytest.fixture
def store(sandbox, clock) -> MemoryStore:
    return signed_in(sandbox, clock)


@pytest.fixture
def connector(clock) -> XeroConnector:
    return XeroConnector(clock=clock)
