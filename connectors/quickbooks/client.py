"""Network access to QuickBooks Online's Accounting API v3: tokens, query paging, CDC, reports.

The contract (Intuit's v3 schemas in ../shared/contracts/quickbooks-online and its developer
documentation):

- sign-in at appcenter.intuit.com/connect/oauth2 (scope com.intuit.quickbooks.accounting); the
  redirect carries the company id as `realmId`; tokens at
  oauth.platform.intuit.com/oauth2/v1/tokens/bearer with the app's id and secret as HTTP Basic;
  access tokens live 1 hour, refresh tokens 100 days (x_refresh_token_expires_in) and the answer
  to every refresh may carry a new one, which must replace the old;
- quickbooks.api.intuit.com/v3/company/{realmId}/...: `query?query=select * from X STARTPOSITION
  n MAXRESULTS m` (m at most 1000) answers {"QueryResponse": {"X": [...], "startPosition",
  "maxResults"}}; `cdc?entities=A,B&changedSince=...` answers the entities changed since then
  (at most 30 days back, at most 1000 objects per answer; a deleted one is {"Id", "status":
  "Deleted"}); `reports/TrialBalance`; `companyinfo/{realmId}`, `preferences`;
  every call carries `minorversion`;
- errors: {"Fault": {"Error": [{"Message", "Detail", "code"}], "type"}}; 429 when over 500
  calls a minute or 10 a second per company (the client keeps under both itself).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import httpx

from connectors.http import Clock, HttpPolicy, Limit, loads_decimal
from connectors.oauth import TokenManager
from connectors.oauth_connector import Hosts, json_api
from pipeline.errors import AuthError, FatalSourceError, LedgerlineError, RetriableSourceError

VENDOR = "QuickBooks Online"
MINOR_VERSION = "75"  # Intuit's floor since 2025-08-01
PAGE = 1000  # the most rows a query returns
CDC_CAP = 1000  # the most objects one change-data-capture answer holds
CDC_DAYS = 30
LIMITS = (
    Limit(500, 60.0, "500 calls a minute per company"),
    Limit(10, 1.0, "10 calls a second per company"),
)
MAX_PARALLEL = 10


def hosts(config: Mapping[str, Any]) -> Hosts:
    """Intuit's hosts (the API root holds /v3/company/{realmId}), or the sandbox's when the
    source's config holds `base_url`."""
    base = str(config.get("base_url") or "").rstrip("/")
    if base:
        return Hosts(f"{base}/connect/oauth2", f"{base}/oauth2/v1/tokens/bearer", base)
    api = (
        "https://sandbox-quickbooks.api.intuit.com"
        if config.get("environment") == "sandbox"
        else "https://quickbooks.api.intuit.com"
    )
    return Hosts(
        "https://appcenter.intuit.com/connect/oauth2",
        "https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer",
        api,
    )


class QboFault(FatalSourceError):
    """A refusal from QuickBooks with its fault type (AuthorizationFault, ValidationFault ...)."""

    def __init__(self, message: str, *, fault: str, code: str):
        super().__init__(message)
        self.fault, self.code = fault, code


def _fault(response: httpx.Response) -> tuple[str, str, str]:
    try:
        body = loads_decimal(response.content)
    except ValueError:
        return "", "", ""
    fault = body.get("Fault") if isinstance(body, dict) else None
    if not isinstance(fault, dict):
        return "", "", ""
    errors = fault.get("Error") or [{}]
    first = errors[0] if isinstance(errors[0], dict) else {}
    detail = str(first.get("Detail") or first.get("Message") or "")
    return str(fault.get("type") or ""), str(first.get("code") or ""), detail


def map_error(response: httpx.Response) -> LedgerlineError:
    status = response.status_code
    kind, code, detail = _fault(response)
    suffix = f": {detail}" if detail else ""
    if status == 401:
        return AuthError(
            f"QuickBooks rejected the access token (HTTP 401){suffix}.",
            guidance="Reconnect the source to sign in at QuickBooks again.",
        )
    if status == 429 or status >= 500:
        return RetriableSourceError(f"QuickBooks answered HTTP {status}{suffix}.")
    return QboFault(
        f"QuickBooks refused {response.request.url.path} (HTTP {status}){suffix}.", fault=kind, code=code
    )


class QboClient:
    """Reads one QuickBooks company (realm) under the shared HTTP policy and Intuit's limits."""

    def __init__(
        self,
        api_root: str,
        realm: str,
        tokens: TokenManager,
        *,
        clock: Clock | None = None,
        policy: HttpPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
    ):
        self.realm = realm
        policy = policy or HttpPolicy(max_parallel=4, max_wait=900.0, limits=LIMITS)
        policy.max_parallel = min(policy.max_parallel, MAX_PARALLEL)
        self.api = json_api(
            f"{api_root.rstrip('/')}/v3/company/{realm}",
            tokens,
            vendor=VENDOR,
            policy=policy,
            clock=clock,
            error=map_error,
            transport=transport,
        )

    def close(self) -> None:
        self.api.close()

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        body = self.api.get_json(path, {**(params or {}), "minorversion": MINOR_VERSION})
        return body if isinstance(body, dict) else {}

    def query(self, entity: str, *, page: int = PAGE, where: str = "") -> Iterator[list[dict[str, Any]]]:
        """Every row of an entity, a page at a time, in Id order; a short page is the last.
        `where` is a condition in QuickBooks' query language (e.g. Active IN (true, false))."""
        start = 1
        while True:
            # QuickBooks' own query language, sent as a parameter; entity and filter are ours.
            condition = f" where {where}" if where else ""
            sql = f"select * from {entity}{condition} orderby Id startposition {start} maxresults {page}"  # noqa: S608
            body = self.get("/query", {"query": sql})
            rows = list((body.get("QueryResponse") or {}).get(entity) or [])
            if rows:
                yield rows
            if len(rows) < page:
                return
            start += page

    def all(self, entity: str, *, page: int = PAGE, where: str = "") -> list[dict[str, Any]]:
        return [row for rows in self.query(entity, page=page, where=where) for row in rows]

    def cdc(self, entities: Sequence[str], since: str) -> tuple[dict[str, list[dict[str, Any]]], str | None]:
        """The entities changed since `since` (deleted ones carry status Deleted), and the
        server's time of the answer."""
        body = self.get("/cdc", {"entities": ",".join(entities), "changedSince": since})
        out: dict[str, list[dict[str, Any]]] = {e: [] for e in entities}
        for block in body.get("CDCResponse") or []:
            for response in block.get("QueryResponse") or []:
                for entity in entities:
                    out[entity].extend(response.get(entity) or [])
        return out, body.get("time")
