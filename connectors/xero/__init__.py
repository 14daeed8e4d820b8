"""Xero: the general ledger from the Journals endpoint, accounts and tracking categories.

The user signs in at Xero (authorization code with PKCE) and ticks the organisations to share;
each organisation (tenant) is an entity. Journals are Xero's own double entry of everything
posted: read by journal number, 100 a call, they are the complete ledger in the base currency.
Journals never change, so an incremental run reads only the journals numbered above the last one
read (and created since, If-Modified-Since), and an edited or voided transaction arrives as a
reversing journal plus, for an edit, a new one: nothing stored is ever deleted or rewritten.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, ClassVar

from connectors.base import (
    Capabilities,
    EntityInfo,
    Extraction,
    ExtractRequest,
    Problem,
    Stream,
    StreamData,
)
from connectors.http import EntityUnavailable
from connectors.oauth import TokenManager
from connectors.oauth_connector import APP_FIELDS, OAuthConnector, cursor_moment, stream_frame
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


class XeroConnector(OAuthConnector):
    """Xero over its Accounting API."""

    name = "xero"
    label = "Xero"
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
    refresh_token_lifetime: ClassVar[float] = REFRESH_TOKEN_DAYS * 86400
    refresh_warning_days: ClassVar[int] = 14
    setup_fields: ClassVar[tuple[dict[str, Any], ...]] = (
        *APP_FIELDS,
        {
            "key": "tracking_axes",
            "label": "Tracking categories for cost centre; project (optional, e.g. Region;Job)",
            "default": "",
        },
    )
    vendor = VENDOR
    app_name = "Xero"
    registration_guidance = (
        "Create a web app at developer.xero.com/app/manage and enter its client id and secret."
    )
    app_options: ClassVar[dict[str, Any]] = {
        "scope": SCOPE,
        "pkce": True,
        "token_auth": "client_secret_basic",
    }
    linked_to = "a Xero organisation"
    hosts = staticmethod(hosts)
    client_class = XeroClient

    def list_entities(self, request: ExtractRequest) -> list[EntityInfo]:
        """The organisations connected to the app, after checking the journals permission."""
        with self.session(request) as (client, _):
            found = parse.connections(client.connections())
            out = [
                parse.organisation(client.get(t["tenant_id"], "Organisation"), t["tenant_id"]) for t in found
            ]
            if found:
                _check_journals(client, found[0]["tenant_id"])
        return out

    def read(
        self, client: XeroClient, tokens: TokenManager, request: ExtractRequest, entity: str
    ) -> Extraction:
        """One organisation's journals: all of them, or those numbered above the cursor."""
        return _Run(client, tokens, request, entity).extract()


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
        last_created = cursor_moment(cursor.get("created"), zone=None)  # Xero's moments are naive UTC
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
            StreamData("accounts", stream_frame("accounts", parse.account_rows(accounts))),
            StreamData("dimensions", stream_frame("dimensions", parse.dimension_rows(categories, axes))),
            StreamData(
                "transactions",
                stream_frame("transactions", list(batch.rows.values())),
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
