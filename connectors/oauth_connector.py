"""What the connectors that sign in with OAuth2 and read a vendor's API share.

`OAuthConnector` holds the plumbing of Exact Online, Xero, QuickBooks Online, Sage and Twinfield:
the app registration from a source's config, a token manager over the run's credential store,
the vendor's client under the shared HTTP policy, and the open-read-close round a run makes.
A subclass declares the vendor (class attributes) and reads one entity (`read`).

It also holds `Hosts` (where a vendor's endpoints live), `json_api` (the HTTP client of a JSON API
with bearer tokens), the small readers of values the vendors' answers share (`money`, `text`,
`cursor_moment`) and `stream_frame` for rows already in memory.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar, Literal

import httpx
import polars as pl

from connectors.base import Connector, Extraction, ExtractRequest, conform, frame_from_rows
from connectors.http import ApiClient, Clock, ErrorMapper, HttpPolicy, RateReader
from connectors.oauth import DEFAULT_MARGIN, MemoryStore, OAuthApp, TokenManager
from pipeline.errors import ConfigError, ParseError

CENT = Decimal("0.01")

# The setup fields of an app registration, as most vendors name them.
APP_FIELDS: tuple[dict[str, Any], ...] = (
    {"key": "client_id", "label": "App client id"},
    {"key": "client_secret", "label": "App client secret", "secret": True},
    {"key": "redirect_uri", "label": "Redirect URL (this app's OAuth callback)"},
)


@dataclass(frozen=True)
class Hosts:
    """Where a vendor's sign-in, token and API endpoints live (all on one host in a sandbox)."""

    authorize: str
    token: str
    api: str


class OAuthConnector(Connector):
    """Base of the API connectors that sign in with OAuth2 (authorization code) at the vendor.

    Subclasses set `vendor`, `app_name`, `registration_guidance`, `linked_to`, `hosts` and
    `client_class` (and `app_options`, `refresh_token_lifetime` where the vendor needs them), and
    implement `read` for one entity. `client_class` is called as
    `client_class(api_root(config), tokens, clock=, policy=, transport=)` and must have `close()`.
    """

    kind: ClassVar[Literal["file", "api", "generator"]] = "api"
    oauth: ClassVar[bool] = True
    setup_fields: ClassVar[tuple[dict[str, Any], ...]] = APP_FIELDS
    vendor: ClassVar[str]  # how the token manager and the HTTP client name the vendor
    app_name: ClassVar[str]  # the source, as "The {app_name} source has no app registration" says
    registration_guidance: ClassVar[str]  # where to register an app, for that message
    app_options: ClassVar[Mapping[str, Any]] = {}  # scope, pkce, token_auth of the OAuthApp
    # Seconds an unused refresh token stays valid, where the vendor ends it (kept with the tokens).
    refresh_token_lifetime: ClassVar[float | None] = None
    linked_to: ClassVar[str]  # "a Xero organisation", for an entity without an external id
    client_class: ClassVar[Callable[..., Any]]

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        policy: HttpPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
        token_margin: float = DEFAULT_MARGIN,
    ):
        self.clock, self.policy, self.transport, self.token_margin = clock, policy, transport, token_margin

    @staticmethod
    def hosts(config: Mapping[str, Any]) -> Any:
        """The vendor's endpoints for a source's config (a sandbox's when it holds `base_url`):
        an object with at least `authorize` and `token` URLs, such as `Hosts`."""
        raise NotImplementedError

    @classmethod
    def api_root(cls, config: Mapping[str, Any]) -> Any:
        """What the client is built on: the `api` root of `hosts`."""
        return cls.hosts(config).api

    @classmethod
    def oauth_app(cls, config: Any, credentials: Any) -> OAuthApp:
        """The installation's app registration at the vendor, with the endpoints the sign-in and
        the token calls use."""
        client_id, secret = config.get("client_id"), credentials.get("client_secret")
        if not client_id or not secret:
            raise ConfigError(
                f"The {cls.app_name} source has no app registration (client id and secret).",
                guidance=cls.registration_guidance,
            )
        where = cls.hosts(config)
        return OAuthApp(
            client_id=str(client_id),
            client_secret=str(secret),
            authorize_url=where.authorize,
            token_url=where.token,
            redirect_uri=str(config.get("redirect_uri") or ""),
            **cls.app_options,
        )

    def tokens(self, request: ExtractRequest) -> TokenManager:
        """The token manager for a source; tokens rotate through the request's credential store."""
        store = request.credential_store or MemoryStore(request.credentials)
        return TokenManager(
            self.oauth_app(request.config, store.load()),
            store,
            vendor=self.vendor,
            clock=self.clock,
            margin=self.token_margin,
            refresh_token_lifetime=self.refresh_token_lifetime,
            transport=self.transport,
        )

    def client(self, request: ExtractRequest, tokens: TokenManager, entity: str | None = None) -> Any:
        """The vendor's client under this connector's clock, policy and transport. `entity` is
        for vendors whose client is bound to one entity (QuickBooks' company)."""
        return self.client_class(
            self.api_root(request.config),
            tokens,
            clock=self.clock,
            policy=self.policy,
            transport=self.transport,
        )

    @contextmanager
    def session(
        self, request: ExtractRequest, entity: str | None = None, *, tokens: TokenManager | None = None
    ) -> Iterator[tuple[Any, TokenManager]]:
        """(client, tokens) for one round of calls; both are closed when it ends."""
        if tokens is None:
            tokens = self.tokens(request)
        client = self.client(request, tokens, entity)
        try:
            yield client, tokens
        finally:
            client.close()
            tokens.close()

    @staticmethod
    def is_entity_id(value: str) -> bool:
        """Whether an entity's external id can be one of this vendor's."""
        return True

    def entity_id(self, request: ExtractRequest) -> str:
        """The vendor's id of the entity to read; ConfigError when the entity is not linked."""
        value = request.entity_external_id
        if not value or not self.is_entity_id(str(value)):
            raise ConfigError(f"Entity {request.entity_name!r} is not linked to {self.linked_to}.")
        return str(value)

    def extract(self, request: ExtractRequest) -> Extraction:
        """One entity's data, read through `read` with a fresh client and token manager."""
        entity = self.entity_id(request)
        with self.session(request, entity) as (client, tokens):
            return self.read(client, tokens, request, entity)

    def read(self, client: Any, tokens: TokenManager, request: ExtractRequest, entity: str) -> Extraction:
        """Read one entity with an open client."""
        raise NotImplementedError


def json_api(
    root: str,
    tokens: TokenManager,
    *,
    vendor: str,
    policy: HttpPolicy,
    clock: Clock | None,
    error: ErrorMapper,
    transport: httpx.BaseTransport | None,
    rate_windows: RateReader | None = None,
) -> ApiClient:
    """The HTTP client of a vendor's JSON API: it sends the token manager's bearer token, and asks
    it for a new one when the vendor rejects it."""
    return ApiClient(
        root,
        vendor=vendor,
        policy=policy,
        clock=clock,
        headers={"Accept": "application/json"},
        auth=tokens.headers,
        reauth=tokens.reauth,
        error=error,
        rate_windows=rate_windows,
        transport=transport,
    )


# --- values in the vendors' answers -------------------------------------------------------------


def money(value: Any, *, file: str, field: str, where: str) -> Decimal:
    """An amount (a JSON number read as Decimal, or text) in cents; missing or blank is zero."""
    if value is None or value == "":
        return Decimal("0.00")
    try:
        return Decimal(str(value)).quantize(CENT)
    except InvalidOperation:
        raise ParseError(f"{value!r} is not an amount", file=file, where=where, field=field) from None


def text(value: Any) -> str | None:
    """A value as stripped text; None when missing or blank."""
    if value is None:
        return None
    out = str(value).strip()
    return out or None


def cursor_moment(value: Any, *, zone: tzinfo | None = UTC) -> datetime | None:
    """A moment kept in a cursor (ISO 8601); None when missing or unreadable. One without a zone
    is taken to be in `zone`, or left without one when `zone` is None."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return parsed if parsed.tzinfo or zone is None else parsed.replace(tzinfo=zone)


def stream_frame(stream: str, rows: list[dict[str, Any]]) -> pl.DataFrame:
    """A stream frame in the contract's columns, materialised (the rows are in memory already)."""
    return conform(stream, frame_from_rows(stream, rows)).collect()
