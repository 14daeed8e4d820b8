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

from connectors.base import (
    Capabilities,
    EntityInfo,
    Extraction,
    ExtractRequest,
    Problem,
    Stream,
    StreamData,
)
from connectors.exact import parse
from connectors.exact.client import VENDOR, ExactClient, hosts
from connectors.exact.parse import (
    DELETED_TRANSACTION_LINE,
    GL_SELECT,
    TRANSACTION_SELECT,
    LineBatch,
    odata_literal,
)
from connectors.oauth import TokenManager
from connectors.oauth_connector import APP_FIELDS, OAuthConnector, stream_frame
from pipeline.errors import ConfigError

REFRESH_TOKEN_DAYS = 30  # an unused Exact refresh token stays valid for at least 30 days
# Only used to find the first sync timestamp after a full import. Exact does not say in which
# zone it reads datetime'..' literals; three hours cover UTC against Amsterdam summer time.
DEFAULT_OVERLAP_MINUTES = 180


class ExactConnector(OAuthConnector):
    """Exact Online over its REST API."""

    name = "exact"
    label = "Exact Online"
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
    refresh_token_lifetime: ClassVar[float] = REFRESH_TOKEN_DAYS * 86400
    setup_fields: ClassVar[tuple[dict[str, Any], ...]] = (
        {
            "key": "region",
            "label": "Exact Online country",
            "choices": ("nl", "be", "de", "uk", "us", "fr", "es"),
        },
        *APP_FIELDS,
    )
    vendor = VENDOR
    app_name = "Exact Online"
    registration_guidance = "Register an app at apps.exactonline.com and enter its client id and secret."
    linked_to = "an Exact Online division"
    hosts = staticmethod(hosts)
    client_class = ExactClient
    is_entity_id = staticmethod(str.isdigit)  # divisions are numbers

    def list_entities(self, request: ExtractRequest) -> list[EntityInfo]:
        """The divisions of the signed-in user (current user, then the system divisions)."""
        with self.session(request) as (client, _):
            me = client.results("api/v1/current/Me", {"$select": "CurrentDivision,FullName"})
            if not me or me[0].get("CurrentDivision") is None:
                raise ConfigError("Exact Online did not say which division the user works in.")
            current = int(me[0]["CurrentDivision"])
            rows = client.results(
                f"api/v1/{current}/system/Divisions", {"$select": "Code,Description,Currency,HID"}
            )
        return parse.divisions(rows)

    def read(
        self, client: ExactClient, tokens: TokenManager, request: ExtractRequest, entity: str
    ) -> Extraction:
        """One division's ledger: bulk on a full import, sync endpoints after that."""
        return _Run(client, tokens, request, entity).extract()


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
            StreamData("accounts", stream_frame("accounts", parse.account_rows(gl_rows))),
            StreamData(
                "dimensions",
                stream_frame(
                    "dimensions",
                    parse.dimension_rows(centres, axis="cost_centre")
                    + parse.dimension_rows(units, axis="project"),
                ),
            ),
            StreamData(
                "transactions",
                stream_frame("transactions", list(batch.transactions.values())),
                replace=replace,
                deleted_keys=deleted,
            ),
            StreamData(
                "opening_balances",
                stream_frame("opening_balances", list(batch.opening.values())),
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
