"""Sage Business Cloud Accounting: ledger entries and ledger accounts over API v3.1.

The user signs in at Sage; each business the user can open is an entity, addressed with the
X-Business header. Ledger entries are Sage's postings (one account, a debit or a credit each),
so they are the complete ledger. An incremental run asks for the entries updated or created
since the last run (minus a few minutes: the merge is idempotent, so entries read twice are
harmless) and for those deleted since (`deleted_since`). Access tokens live five minutes and
every refresh token works once: both go through the shared token manager, which refreshes ahead
of expiry and stores the new refresh token before using the new access token.
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
from connectors.http import EntityUnavailable
from connectors.oauth import TokenManager
from connectors.oauth_connector import OAuthConnector, cursor_moment, stream_frame
from connectors.sage import parse
from connectors.sage.client import PAGE, VENDOR, SageClient, SageRefused, hosts
from pipeline.errors import LedgerlineError

SCOPE = "full_access"
REFRESH_TOKEN_DAYS = 31
OVERLAP = timedelta(minutes=5)  # covers clock differences between Sage's servers


class SageConnector(OAuthConnector):
    """Sage Business Cloud Accounting over its v3.1 API."""

    name = "sage"
    label = "Sage Business Cloud Accounting"
    capabilities = Capabilities(
        transactions=True,
        accounts=True,
        dimensions=False,
        opening_balances=False,
        incremental=True,
        deletions=True,
        multi_entity=True,
        notes=(
            "One entity per business the signed-in user can open.",
            "The ledger comes from Sage's ledger entries; opening balances are entries too.",
            "Incremental by updated_or_created_since; deleted entries come from deleted_since.",
            "Sage's analysis types sit on documents, not on ledger entries, so no cost centres or projects.",
            "Paced under 100 calls a minute and 2500 a day per business.",
        ),
    )
    streams = (Stream("accounts"), Stream("transactions", cursor="updated_at"))
    refresh_token_lifetime: ClassVar[float] = REFRESH_TOKEN_DAYS * 86400
    refresh_warning_days: ClassVar[int] = 7
    vendor = VENDOR
    app_name = "Sage Accounting"
    registration_guidance = (
        "Register an app in the Sage Developer Self Service portal and enter its client id and secret."
    )
    app_options: ClassVar[dict[str, Any]] = {"scope": SCOPE}
    linked_to = "a Sage business"
    hosts = staticmethod(hosts)
    client_class = SageClient

    def list_entities(self, request: ExtractRequest) -> list[EntityInfo]:
        """The businesses the signed-in user can open, with their currency and year end."""
        with self.session(request) as (client, _):
            return [
                parse.business(b, client.get("/financial_settings", business=str(b["id"])))
                for b in client.businesses()
            ]

    def read(
        self, client: SageClient, tokens: TokenManager, request: ExtractRequest, entity: str
    ) -> Extraction:
        """One business's ledger entries: all of them, or those changed or deleted since the cursor."""
        return _Run(client, tokens, request, entity).extract()


class _Run:
    def __init__(self, client: SageClient, tokens: TokenManager, request: ExtractRequest, business: str):
        self.client, self.tokens, self.request, self.business = client, tokens, request, business

    def extract(self) -> Extraction:
        request = self.request
        cursor = {} if request.full else dict(request.cursor or {})
        since = cursor_moment(cursor.get("since"))
        full = since is None
        page = int(request.options.get("page_size") or PAGE)
        try:
            settings = self.client.get("/financial_settings", business=self.business)
            run_start = self.client.api.server_time or self.tokens.clock.time()
            accounts = self.client.items("/ledger_accounts", self.business, {"attributes": "all"}, page=page)
            account_rows, codes = parse.account_rows(accounts)
            info = parse.business({"id": self.business, "name": request.entity_name}, settings)
            batch = parse.EntryBatch(
                business_id=self.business,
                currency=info.currency,
                year_end_month=int(info.extra["sage_year_end_month"]),
                codes=codes,
            )
            params: dict[str, Any] = {"attributes": "all"}
            if since is not None:
                params["updated_or_created_since"] = _param(since - OVERLAP)
            for items in self.client.pages("/ledger_entries", self.business, params, page=page):
                batch.add(items)
            if since is not None:
                gone = {"deleted_since": _param(since - OVERLAP)}
                batch.delete(self.client.items("/ledger_entries", self.business, gone, page=page))
        except SageRefused as exc:
            raise self._refused(exc) from exc
        problems = []
        if batch.unknown_accounts:
            problems.append(
                Problem(
                    "unknown_account",
                    f"{len(batch.unknown_accounts)} ledger account(s) used by entries are not in the chart; "
                    "their lines carry Sage's account id as the code.",
                    f"business {self.business}",
                )
            )
        streams = [
            StreamData("accounts", stream_frame("accounts", account_rows)),
            StreamData(
                "transactions",
                stream_frame("transactions", list(batch.rows.values())),
                replace="all" if full else "none",
                deleted_keys=[] if full else sorted(batch.deleted),
            ),
        ]
        stats: dict[str, Any] = {
            "mode": "full" if full else "incremental",
            "lines": len(batch.rows),
            "deleted_lines": len(batch.deleted),
            **self.client.api.stats.as_dict(),
            **self.tokens.stats(),
        }
        return Extraction(
            streams=streams,
            cursor={"since": datetime.fromtimestamp(run_start, UTC).isoformat()},
            entity=info,
            problems=problems,
            format="sage",
            stats=stats,
        )

    def _refused(self, exc: SageRefused) -> LedgerlineError:
        if any(str(b.get("id")) == self.business for b in self.client.businesses()):
            return exc
        return EntityUnavailable(
            f"The Sage business of entity {self.request.entity_name!r} is no longer available to the signed-in "
            "user: access was removed or the business was closed.",
            guidance="Reconnect the source as a user of that business, or stop importing this entity; the data "
            "imported so far stays.",
        )


def _param(moment: datetime) -> str:
    """A timestamp as Sage's filters take it (ISO 8601 with the zone)."""
    return moment.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")
