"""The connectors Ledgerline ships, as an explicit registry."""

from __future__ import annotations

from connectors.afas import AfasConnector
from connectors.base import Connector
from connectors.demo import DemoConnector
from connectors.exact import ExactConnector
from connectors.files.saft import SaftConnector
from connectors.files.tabular import CsvConnector, XlsxConnector
from connectors.files.xaf import XafConnector
from connectors.files.xas import XasConnector
from connectors.nmbrs import NmbrsConnector
from connectors.quickbooks import QuickBooksConnector
from connectors.sage import SageConnector
from connectors.twinfield import TwinfieldConnector
from connectors.xero import XeroConnector

REGISTRY: tuple[type[Connector], ...] = (
    XafConnector,
    XasConnector,
    SaftConnector,
    CsvConnector,
    XlsxConnector,
    DemoConnector,
    AfasConnector,
    ExactConnector,
    XeroConnector,
    QuickBooksConnector,
    SageConnector,
    TwinfieldConnector,
    NmbrsConnector,
)


def get(name: str | None) -> type[Connector]:
    """The connector class registered under `name`."""
    for connector in REGISTRY:
        if connector.name == name:
            return connector
    from pipeline.errors import ConfigError

    known = ", ".join(c.name for c in REGISTRY)
    raise ConfigError(f"No connector named {name!r}. Known connectors: {known}.")
