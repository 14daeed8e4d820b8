"""Twinfield: general ledger lines through browse data, accounts and dimensions through the finder.

The user signs in at Twinfield (OpenID Connect); the token validation call names the cluster that
serves the organisation, and each office (administration) the user can open is an entity. A
full import first asks Twinfield's period totals (browse 040_1) which periods hold postings, then
reads the lines of exactly those periods (browse 030_2, one period a call, so no answer grows
with the whole history) and checks them against those totals. Period 0 is the opening balance.
An incremental run reads the lines of the transactions modified since the last run and asks the
deleted-transactions service which transactions were deleted since.

Line keys are office|daybook|number|line. A transaction that was deleted, or that came back with
fewer lines, names its transaction but not its lines: the keys to delete are those from one past
its lines up to the most lines any transaction of the office ever had (kept in the cursor), so
no stored line of it can be left behind.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar
from xml.sax.saxutils import escape

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
from connectors.twinfield import parse
from connectors.twinfield.client import VENDOR, TwinfieldClient, hosts
from connectors.twinfield.parse import GL_BROWSE, LINE_FIELDS, TOTAL_FIELDS, TOTALS_BROWSE, Refused
from pipeline.errors import FatalSourceError, LedgerlineError

SCOPE = "openid twf.user twf.organisation twf.organisationUser offline_access"
OVERLAP = timedelta(minutes=10)
DIMENSION_KINDS = ("BAS", "PNL", "KPL", "PRJ")


class TwinfieldConnector(OAuthConnector):
    """Twinfield over its SOAP web services."""

    name = "twinfield"
    label = "Twinfield"
    capabilities = Capabilities(
        transactions=True,
        accounts=True,
        dimensions=True,
        opening_balances=True,
        incremental=True,
        deletions=True,
        multi_entity=True,
        notes=(
            "One entity per office (administration) the signed-in user can open.",
            "Lines come from browse 030_2 per period, checked against Twinfield's period totals (040_1).",
            "Period 0 is the opening balance; cost centres (KPL) and projects (PRJ) fill the axes.",
            "Deleted transactions come from Twinfield's deleted-transactions service.",
            "Twinfield throttles with a credit bucket: a 429 waits as long as Retry-After says.",
        ),
    )
    streams = (
        Stream("accounts"),
        Stream("dimensions"),
        Stream("transactions", cursor="fin.trs.head.modified"),
        Stream("opening_balances", cursor="fin.trs.head.modified"),
    )
    setup_fields: ClassVar[tuple[dict[str, Any], ...]] = (
        {"key": "client_id", "label": "OpenID Connect client id"},
        {"key": "client_secret", "label": "Client secret", "secret": True},
        {"key": "redirect_uri", "label": "Redirect URL (this app's OAuth callback)"},
    )
    vendor = VENDOR
    app_name = "Twinfield"
    registration_guidance = "Request an OpenID Connect client from Twinfield (developers.twinfield.com) and enter its id and secret."
    app_options: ClassVar[dict[str, Any]] = {"scope": SCOPE, "token_auth": "client_secret_basic"}
    linked_to = "a Twinfield office"
    hosts = staticmethod(hosts)
    api_root = staticmethod(hosts)  # the client finds its cluster through the token validation URL
    client_class = TwinfieldClient

    def list_entities(self, request: ExtractRequest) -> list[EntityInfo]:
        """The offices the signed-in user can open, with their base currency."""
        with self.session(request) as (client, _):
            client.validate()
            found = parse.offices(client.process_xml(None, "<list><type>offices</type></list>"))
            return [_office(client, o["code"], o["name"]) for o in found]

    def read(
        self, client: TwinfieldClient, tokens: TokenManager, request: ExtractRequest, entity: str
    ) -> Extraction:
        """One office's lines: period by period on a full import, the modified transactions after that."""
        return _Run(client, tokens, request, entity).extract()


def _office(client: TwinfieldClient, code: str, name: str | None) -> EntityInfo:
    request = f"<read><type>office</type><code>{escape(code)}</code></read>"
    return parse.office_info(client.process_xml(code, request), name)


class _Run:
    def __init__(self, client: TwinfieldClient, tokens: TokenManager, request: ExtractRequest, office: str):
        self.client, self.tokens, self.request, self.office = client, tokens, request, office
        self.stats: dict[str, Any] = {}

    def extract(self) -> Extraction:
        request = self.request
        cursor = {} if request.full else dict(request.cursor or {})
        since = cursor_moment(cursor.get("since"))
        full = since is None
        try:
            self.client.validate()
            info = _office(self.client, self.office, request.entity_name)
            now = datetime.fromtimestamp(self.client.api.server_time or self.tokens.clock.time(), UTC)
            found = {
                kind: self.client.search(self.office, "DIM", [("dimtype", kind)]) for kind in DIMENSION_KINDS
            }
            batch = parse.LineBatch(office=self.office, currency=info.currency)
            problems: list[Problem] = []
            gone: list[dict[str, Any]] = []
            if full:
                totals = self._totals()
                for year, period in sorted(totals):
                    batch.add(
                        self._lines(
                            {
                                "fin.trs.head.yearperiod": (
                                    "between",
                                    f"{year}/{period:02d}",
                                    f"{year}/{period:02d}",
                                )
                            }
                        )
                    )
                problems += parse.control_problems(batch, totals)
                self.stats["periods_read"] = len(totals)
            else:
                start = (since - OVERLAP).astimezone(UTC)
                batch.add(
                    self._lines({"fin.trs.head.modified": ("between", start.strftime("%Y%m%d%H%M%S"), "")})
                )
                gone = self.client.deleted(self.office, start.date(), now.date())
        except Refused as exc:
            raise self._refused(exc) from exc
        max_lines = max([int(cursor.get("max_lines") or 0), *batch.sizes.values()], default=0)
        deleted: list[str] = []
        if not full:
            removed = {f"{g['daybook']}|{g['number']}" for g in gone}
            for transaction in sorted(removed - set(batch.sizes)):
                deleted += batch.keys(transaction, max_lines)
            for transaction, size in sorted(batch.sizes.items()):
                deleted += batch.keys(transaction, max_lines, start=size + 1)
        replace = "all" if full else "none"
        streams = [
            StreamData("accounts", stream_frame("accounts", parse.account_rows(found))),
            StreamData("dimensions", stream_frame("dimensions", parse.dimension_rows(found))),
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
        self.stats.update(
            {
                "mode": "full" if full else "incremental",
                "lines": len(batch.transactions),
                "opening_lines": len(batch.opening),
                "deleted_transactions": len(gone),
                "max_lines_per_transaction": max_lines,
                "cluster": self.client.cluster,
                **self.client.api.stats.as_dict(),
                **self.tokens.stats(),
            }
        )
        return Extraction(
            streams=streams,
            cursor={"since": now.isoformat(), "max_lines": max_lines},
            entity=info,
            problems=problems,
            format="twinfield",
            stats=self.stats,
        )

    def _totals(self) -> dict[tuple[int, int], dict[str, Any]]:
        request = parse.browse_request(
            TOTALS_BROWSE,
            self.office,
            TOTAL_FIELDS,
            {"fin.trs.head.yearperiod": ("between", "1900/00", "9999/55")},
        )
        rows = parse.browse_rows(
            self.client.process_xml(self.office, request), where=f"browse {TOTALS_BROWSE}"
        )
        return parse.period_totals(rows, where=f"browse {TOTALS_BROWSE}")

    def _lines(self, filters: dict[str, tuple[str, str, str]]) -> list[dict[str, str]]:
        wanted = {**filters, "fin.trs.head.status": ("equal", "normal", "")}
        if "fin.trs.head.yearperiod" not in wanted:
            wanted["fin.trs.head.yearperiod"] = ("between", "1900/00", "9999/55")
        request = parse.browse_request(GL_BROWSE, self.office, LINE_FIELDS, wanted)
        return parse.browse_rows(self.client.process_xml(self.office, request), where=f"browse {GL_BROWSE}")

    def _refused(self, exc: Refused) -> LedgerlineError:
        try:
            known = {
                o["code"]
                for o in parse.offices(self.client.process_xml(None, "<list><type>offices</type></list>"))
            }
        except Refused:
            known = set()
        if self.office in known:
            return FatalSourceError(f"Twinfield refused a request for office {self.office}: {exc.message}")
        return EntityUnavailable(
            f"The Twinfield office {self.office} (entity {self.request.entity_name!r}) is no longer available to the "
            f"signed-in user ({exc.message}).",
            guidance="Check the user's access to the office in Twinfield and reconnect, or stop importing this entity; "
            "the data imported so far stays.",
        )
