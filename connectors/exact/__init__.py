"""Exact Online: general ledger, G/L accounts and cost centres/units over REST with OAuth2.

The user signs in at Exact (authorization-code flow, redirect handled by the app); tokens rotate
and are kept through the pipeline's `CredentialStore`. A full import reads the bulk endpoint; after
that, the sync endpoints hand over only what changed since the last Timestamp, and sync/Deleted
lists the lines deleted since. Calls are paced under Exact's 60-a-minute / 5000-a-day limits, and
the quota each run used is kept in its stats.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
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
from connectors.exact import parse
from connectors.exact.client import VENDOR, ExactClient, host_for, oauth_urls
from connectors.exact.parse import (
    DELETED_TRANSACTION_LINE,
    GL_SELECT,
    TRANSACTION_SELECT,
    LineBatch,
    odata_literal,
)
from connectors.http import Clock, HttpPolicy
from connectors.oauth import DEFAULT_MARGIN, MemoryStore, OAuthApp, TokenManager
from pipeline.errors import ConfigError

REFRESH_TOKEN_DAYS = 30  # an unused Exact refresh token stays valid for at least 30 days
# Only used to find the first sync timestamp after a full import. Exact does not say in which
# zone it reads datetime'..' literals; three hours cover UTC against Amsterdam summer time.
DEFAULT_OVERLAP_MINUTES = 180


def oauth_app(config: dict[str, Any] | Any, credentials: dict[str, Any] | Any) -> OAuthApp:
    """The installation's Exact app registration for a source."""
    client_id = config.get("client_id")
    secret = credentials.get("client_secret")
    if not client_id or not secret:
        raise ConfigError(
            "The Exact Online source has no app registration (client id and secret).",
            guidance="Register an app at apps.exactonline.com and enter its client id and secret.",
        )
    authorize, token = oauth_urls(host_for(config))
    return OAuthApp(
        client_id=str(client_id),
        client_secret=str(secret),
        authorize_url=authorize,
        token_url=token,
        redirect_uri=str(config.get("redirect_uri") or ""),
    )


class ExactConnector(Connector):
    """Exact Online over its REST API."""

    name = "exact"
    label = "Exact Online"
    kind = "api"
    capabilities = Capabilities(
        transactions=True,
        accounts=True,
        dimensions=True,
        opening_balances=True,
        incremental=True,
        deletions=True,
        multi_entity=True,
        notes=(
            "One entity per division (administration) the signed-in user can open.",
            "Cost centres fill the cost centre, cost units the project.",
            "Incremental by Exact's sync Timestamp; deletions come from sync/Deleted.",
            "Paced under 60 calls a minute and 5000 a day per division; each run records the quota used.",
        ),
    )
    streams = (
        Stream("accounts", cursor="Timestamp"),
        Stream("dimensions"),
        Stream("transactions", cursor="Timestamp"),
        Stream("opening_balances", cursor="Timestamp"),
    )
    oauth: ClassVar[bool] = True
    refresh_token_lifetime: ClassVar[float] = REFRESH_TOKEN_DAYS * 86400
    setup_fields: ClassVar[tuple[dict[str, Any], ...]] = (
        {
            "key": "region",
            "label": "Exact Online country",
            "choices": ("nl", "be", "de", "uk", "us", "fr", "es"),
        },
        {"key": "client_id", "label": "App client id"},
        {"key": "client_secret", "label": "App client secret", "secret": True},
        {"key": "redirect_uri", "label": "Redirect URL (this app's OAuth callback)"},
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
        """The token manager for a source; tokens rotate through the request's credential store."""
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

    def client(self, request: ExtractRequest, tokens: TokenManager) -> ExactClient:
        return ExactClient(
            host_for(request.config), tokens, clock=self.clock, policy=self.policy, transport=self.transport
        )

    def list_entities(self, request: ExtractRequest) -> list[EntityInfo]:
        """The divisions of the signed-in user (current user, then the system divisions)."""
        tokens = self.tokens(request)
        client = self.client(request, tokens)
        try:
            me = client.results("api/v1/current/Me", {"$select": "CurrentDivision,FullName"})
            if not me or me[0].get("CurrentDivision") is None:
                raise ConfigError("Exact Online did not say which division the user works in.")
            current = int(me[0]["CurrentDivision"])
            rows = client.results(
                f"api/v1/{current}/system/Divisions", {"$select": "Code,Description,Currency,HID"}
            )
        finally:
            client.close()
            tokens.close()
        return parse.divisions(rows)

    def extract(self, request: ExtractRequest) -> Extraction:
        """One division's ledger: bulk on a full import, sync endpoints after that."""
        division = request.entity_external_id
        if not division or not str(division).isdigit():
            raise ConfigError(f"Entity {request.entity_name!r} is not linked to an Exact Online division.")
        tokens = self.tokens(request)
        client = self.client(request, tokens)
        try:
            return _Run(client, tokens, request, str(division)).extract()
        finally:
            client.close()
            tokens.close()


class _Run:
    def __init__(self, client: ExactClient, tokens: TokenManager, request: ExtractRequest, division: str):
        self.client, self.tokens, self.request, self.division = client, tokens, request, division
        self.base = f"api/v1/{division}"
        self.problems: list[Problem] = []

    def extract(self) -> Extraction:
        request = self.request
        cursor = dict(request.cursor or {}) if not request.full else {}
        full = not cursor
        infos = parse.divisions(
            self.client.results(
                f"{self.base}/system/Divisions",
                {"$filter": f"Code eq {self.division}", "$select": "Code,Description,Currency,HID"},
            )
        )
        if not infos:
            raise ConfigError(
                f"Exact Online division {self.division} is not available to the signed-in user.",
                guidance="Check the user's access to the division in Exact Online, or reconnect as another user.",
            )
        info = infos[0]
        run_start = datetime.fromtimestamp(self.client.api.server_time or self.tokens.clock.time(), UTC)
        overlap = timedelta(minutes=int(request.config.get("overlap_minutes") or DEFAULT_OVERLAP_MINUTES))

        gl_rows = self.client.results(
            f"{self.base}/sync/Financial/GLAccounts",
            {"$select": GL_SELECT, "$filter": f"Timestamp gt {int(cursor.get('gl') or 0)}L"},
        )
        centres = self.client.results(f"{self.base}/hrm/Costcenters", {"$select": "Code,Description"})
        units = self.client.results(f"{self.base}/hrm/Costunits", {"$select": "Code,Description"})

        batch = LineBatch(currency=info.currency, division=self.division)
        deleted: list[str] = []
        new_cursor: dict[str, Any] = {"gl": parse.max_timestamp(gl_rows, cursor.get("gl")) or 0}
        if full:
            batch.add(
                self.client.results(
                    f"{self.base}/bulk/Financial/TransactionLines", {"$select": TRANSACTION_SELECT}
                )
            )
            since = (run_start - overlap).replace(tzinfo=None).isoformat(timespec="seconds")
            new_cursor.update({"tx": None, "tx_since": since, "deleted": None, "deleted_since": since})
        else:
            new_cursor.update(self._sync_lines(cursor, batch))
            keys, deleted_cursor = self._deleted(cursor)
            new_cursor.update(deleted_cursor)
            deleted = sorted(keys)
            batch.drop(deleted)
        replace = "all" if full else "none"
        streams = [
            StreamData(
                "accounts", _frame("accounts", frame_from_rows("accounts", parse.account_rows(gl_rows)))
            ),
            StreamData(
                "dimensions",
                _frame(
                    "dimensions",
                    frame_from_rows(
                        "dimensions",
                        parse.dimension_rows(centres, axis="cost_centre")
                        + parse.dimension_rows(units, axis="project"),
                    ),
                ),
            ),
            StreamData(
                "transactions",
                _frame("transactions", frame_from_rows("transactions", list(batch.transactions.values()))),
                replace=replace,
                deleted_keys=deleted,
            ),
            StreamData(
                "opening_balances",
                _frame("opening_balances", frame_from_rows("opening_balances", list(batch.opening.values()))),
                replace=replace,
                deleted_keys=deleted,
            ),
        ]
        stats: dict[str, Any] = {
            "mode": "full" if full else "incremental",
            "lines": len(batch.transactions),
            "opening_lines": len(batch.opening),
            "deleted_lines": len(deleted),
            **self.client.api.stats.as_dict(),
            "quota": self.client.quota(),
            **self.tokens.stats(),
        }
        return Extraction(
            streams=streams,
            cursor=new_cursor,
            entity=info,
            problems=[*self.problems, *batch.problems()],
            format="exact",
            stats=stats,
        )

    def _sync_lines(self, cursor: dict[str, Any], batch: LineBatch) -> dict[str, Any]:
        start = cursor.get("tx")
        if start is None:
            since = cursor.get("tx_since")
            if not since:
                raise ConfigError("The stored Exact Online cursor is incomplete; start a full import.")
            found = self.client.results(
                f"{self.base}/read/sync/Sync/SyncTimestamp",
                {"modified": odata_literal(datetime.fromisoformat(since)), "endPoint": "'TransactionLines'"},
            )
            if not found or found[0].get("TimeStampAsBigInt") is None:
                return {"tx": None, "tx_since": since}  # nothing changed since the full import
            start = int(found[0]["TimeStampAsBigInt"]) - 1
        rows = self.client.results(
            f"{self.base}/sync/Financial/TransactionLines",
            {"$select": TRANSACTION_SELECT + ",Timestamp", "$filter": f"Timestamp gt {int(start)}L"},
        )
        batch.add(rows)
        return {"tx": parse.max_timestamp(rows, int(start)), "tx_since": None}

    def _deleted(self, cursor: dict[str, Any]) -> tuple[set[str], dict[str, Any]]:
        start = cursor.get("deleted")
        condition = f"Timestamp gt {int(start or 0)}L and EntityType eq {DELETED_TRANSACTION_LINE}"
        if start is None:
            since = cursor.get("deleted_since")
            if since:
                condition += f" and DeletedDate ge {odata_literal(datetime.fromisoformat(since))}"
        rows = self.client.results(
            f"{self.base}/sync/Deleted", {"$select": "EntityKey,EntityType,Timestamp", "$filter": condition}
        )
        keys = {str(r["EntityKey"]).lower() for r in rows if r.get("EntityKey")}
        newest = parse.max_timestamp(rows, start)
        if newest is None:
            return keys, {"deleted": None, "deleted_since": cursor.get("deleted_since")}
        return keys, {"deleted": newest, "deleted_since": None}


def _frame(stream: str, frame) -> Any:
    """A stream frame in the contract's columns, materialised (the rows are in memory already)."""
    return conform(stream, frame).collect()
