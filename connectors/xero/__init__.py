"""Xero: the general ledger from the Journals endpoint, accounts and tracking categories.

The user signs in at Xero (authorization code with PKCE) and ticks the organisations to share;
each organisation (tenant) is an entity. Journals are Xero's own double entry of everything
posted: read by journal number, 100 a call, they are the complete ledger in the base currency.
Journals never change, so an incremental run reads only the journals numbered above the last one
read (and created since, If-Modified-Since), and an edited or voided transaction arrives as a
reversing journal plus, for an edit, a new one: nothing stored is ever deleted or rewritten.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, ClassVar

import httpx

from connectors.base import (
    Capabilities,
    Connector,
    EntityInfo,
    Extraction,
    ExtractRequest,
    Problem,
    Stream,
    StreamData,
    conform,
    frame_from_rows,
)
from connectors.http import Clock, EntityUnavailable, HttpPolicy
from connectors.oauth import DEFAULT_MARGIN, MemoryStore, OAuthApp, TokenManager
from connectors.xero import parse
from connectors.xero.client import PAGE, VENDOR, XeroClient, XeroForbidden, hosts
from pipeline.errors import ConfigError, LedgerlineError

SCOPE = "offline_access accounting.settings.read accounting.transactions.read accounting.journals.read"
REFRESH_TOKEN_DAYS = 60  # an unused Xero refresh token expires after 60 days
CREATED_OVERLAP = timedelta(hours=1)  # If-Modified-Since reaches back this far; the offset decides
NO_JOURNALS_GUIDANCE = (
    "Reconnect the source and allow Ledgerline to read journals. If Xero does not offer that "
    "permission to this app or plan, export the General Ledger Detail report in Xero "
    "(Accounting > Reports) as Excel or CSV and upload it with the Xero preset instead; the "
    "accounts and tracking categories still come from the API."
)


def oauth_app(config: Any, credentials: Any) -> OAuthApp:
    """The installation's Xero app registration for a source."""
    client_id, secret = config.get("client_id"), credentials.get("client_secret")
    if not client_id or not secret:
        raise ConfigError(
            "The Xero source has no app registration (client id and secret).",
            guidance="Create a web app at developer.xero.com/app/manage and enter its client id and secret.",
        )
    where = hosts(config)
    return OAuthApp(
        client_id=str(client_id),
        client_secret=str(secret),
        authorize_url=where.authorize,
        token_url=where.token,
        redirect_uri=str(config.get("redirect_uri") or ""),
        scope=SCOPE,
        pkce=True,
        token_auth="client_secret_basic",
    )


class XeroConnector(Connector):
    """Xero over its Accounting API."""

    name = "xero"
    label = "Xero"
    kind = "api"
    capabilities = Capabilities(
        transactions=True,
        accounts=True,
        dimensions=True,
        opening_balances=False,
        incremental=True,
        deletions=True,
        multi_entity=True,
        notes=(
            "One entity per organisation ticked when signing in at Xero.",
            "The ledger comes from Xero's journals; edits and voids arrive as reversing journals, so "
            "nothing imported is ever rewritten. Conversion balances are journals too.",
            "Tracking categories are the analysis axes: the first fills the cost centre, the second the "
            "project (or name them in the source settings).",
            "Needs the journals permission (accounting.journals.read).",
            "Paced under 60 calls a minute and 5000 a day per organisation, at most 5 at once.",
            "An unused Xero authorisation expires after 60 days; the Sources page warns two weeks ahead.",
        ),
    )
    streams = (Stream("accounts"), Stream("dimensions"), Stream("transactions", cursor="JournalNumber"))
    oauth: ClassVar[bool] = True
    refresh_token_lifetime: ClassVar[float] = REFRESH_TOKEN_DAYS * 86400
    refresh_warning_days: ClassVar[int] = 14
    setup_fields: ClassVar[tuple[dict[str, Any], ...]] = (
        {"key": "client_id", "label": "App client id"},
        {"key": "client_secret", "label": "App client secret", "secret": True},
        {"key": "redirect_uri", "label": "Redirect URL (this app's OAuth callback)"},
        {
            "key": "tracking_axes",
            "label": "Tracking categories for cost centre; project (optional, e.g. Region;Job)",
            "default": "",
        },
    )

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
    def oauth_app(config: Any, credentials: Any) -> OAuthApp:
        """The app registration and endpoints the sign-in and the token calls use."""
        return oauth_app(config, credentials)

    def tokens(self, request: ExtractRequest) -> TokenManager:
        store = request.credential_store or MemoryStore(request.credentials)
        return TokenManager(
            oauth_app(request.config, store.load()),
            store,
            vendor=VENDOR,
            clock=self.clock,
            margin=self.token_margin,
            refresh_token_lifetime=self.refresh_token_lifetime,
            transport=self.transport,
        )

    def client(self, request: ExtractRequest, tokens: TokenManager) -> XeroClient:
        return XeroClient(
            hosts(request.config).api, tokens, clock=self.clock, policy=self.policy, transport=self.transport
        )

    def list_entities(self, request: ExtractRequest) -> list[EntityInfo]:
        """The organisations connected to the app, after checking the journals permission."""
        tokens = self.tokens(request)
        client = self.client(request, tokens)
        try:
            found = parse.connections(client.connections())
            out = [
                parse.organisation(client.get(t["tenant_id"], "Organisation"), t["tenant_id"]) for t in found
            ]
            if found:
                _check_journals(client, found[0]["tenant_id"])
        finally:
            client.close()
            tokens.close()
        return out

    def extract(self, request: ExtractRequest) -> Extraction:
        """One organisation's journals: all of them, or those numbered above the cursor."""
        tenant = request.entity_external_id
        if not tenant:
            raise ConfigError(f"Entity {request.entity_name!r} is not linked to a Xero organisation.")
        tokens = self.tokens(request)
        client = self.client(request, tokens)
        try:
            return _Run(client, tokens, request, str(tenant)).extract()
        finally:
            client.close()
            tokens.close()


def _check_journals(client: XeroClient, tenant: str) -> None:
    try:
        client.get(tenant, "Journals", {"offset": 2**31 - 1})
    except XeroForbidden as exc:
        if "authori" in exc.detail.lower():
            raise _no_journals() from exc
        raise


def _no_journals() -> ConfigError:
    return ConfigError(
        "Xero does not let this app read journals (the accounting.journals.read permission is missing), "
        "and journals are how Ledgerline reads the Xero ledger.",
        guidance=NO_JOURNALS_GUIDANCE,
    )


class _Run:
    def __init__(self, client: XeroClient, tokens: TokenManager, request: ExtractRequest, tenant: str):
        self.client, self.tokens, self.request, self.tenant = client, tokens, request, tenant
        self.problems: list[Problem] = []

    def extract(self) -> Extraction:
        request = self.request
        cursor = {} if request.full else dict(request.cursor or {})
        full = not cursor
        try:
            info = parse.organisation(self.client.get(self.tenant, "Organisation"), self.tenant)
            accounts = self.client.get(self.tenant, "Accounts").get("Accounts") or []
            categories = (
                self.client.get(self.tenant, "TrackingCategories", {"includeArchived": "true"}).get(
                    "TrackingCategories"
                )
                or []
            )
        except XeroForbidden as exc:
            raise self._refused(exc) from exc
        axes = parse.tracking_axes(categories, _wanted_axes(request.config.get("tracking_axes")))
        batch = parse.JournalBatch(
            tenant_id=self.tenant,
            currency=info.currency,
            year_end_month=int(info.extra.get("xero_year_end_month") or 12),
            axes=axes,
        )
        offset = int(cursor.get("journal_number") or 0)
        last_created = _moment(cursor.get("created"))
        since = parse.since_header(last_created, CREATED_OVERLAP) if last_created and not full else None
        page = int(request.options.get("page_size") or PAGE)
        try:
            for journals in self.client.journals(self.tenant, offset=offset, since=since, page=page):
                batch.add(journals)
        except XeroForbidden as exc:
            if "authori" in exc.detail.lower() and self._connected():
                raise _no_journals() from exc
            raise self._refused(exc) from exc
        created = batch.last_created or last_created
        new_cursor = {
            "journal_number": batch.last_number if batch.last_number is not None else offset,
            "created": created.isoformat() if created else None,
        }
        streams = [
            StreamData("accounts", _frame("accounts", parse.account_rows(accounts))),
            StreamData("dimensions", _frame("dimensions", parse.dimension_rows(categories, axes))),
            StreamData(
                "transactions",
                _frame("transactions", list(batch.rows.values())),
                replace="all" if full else "none",
            ),
        ]
        stats: dict[str, Any] = {
            "mode": "full" if full else "incremental",
            "journals": batch.journals,
            "lines": len(batch.rows),
            "from_journal": offset,
            **self.client.api.stats.as_dict(),
            "quota": {f"{w.name}_remaining": w.remaining for w in self.client.api.windows.values()},
            **self.tokens.stats(),
        }
        return Extraction(
            streams=streams,
            cursor=new_cursor,
            entity=info,
            problems=[*self.problems, *batch.problems()],
            format="xero",
            stats=stats,
        )

    def _connected(self) -> bool:
        return any(t["tenant_id"] == self.tenant for t in parse.connections(self.client.connections()))

    def _refused(self, exc: XeroForbidden) -> LedgerlineError:
        """A 403 for the organisation: gone from the connections, or refused for another reason."""
        if self._connected():
            return exc
        return EntityUnavailable(
            f"The Xero organisation of entity {self.request.entity_name!r} is no longer connected to "
            "Ledgerline: it was disconnected in Xero or removed.",
            guidance="Reconnect the source and tick the organisation again, or stop importing this entity; "
            "the data imported so far stays.",
        )


def _wanted_axes(value: Any) -> dict[str, str] | None:
    """The setting "Region;Job": the first category named fills the cost centre, the second the project."""
    if not value:
        return None
    names = [n.strip() for n in str(value).split(";")]
    return {name: axis for name, axis in zip(names, ("cost_centre", "project"), strict=False) if name}


def _moment(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None


def _frame(stream: str, rows: list[dict[str, Any]]) -> Any:
    """A stream frame in the contract's columns, materialised (the rows are in memory already)."""
    return conform(stream, frame_from_rows(stream, rows)).collect()
