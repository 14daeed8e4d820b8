"""Network access to Xero: OAuth2 (PKCE) bearer tokens, the tenant header, Journals paging, limits.

The contract (Xero's OpenAPI descriptions in ../shared/contracts/xero and its developer guides):

- sign-in at login.xero.com/identity/connect/authorize (authorization code with PKCE, S256),
  tokens at identity.xero.com/connect/token with the app's id and secret as HTTP Basic; access
  tokens live 30 minutes; refresh tokens rotate on use and expire after 60 days unused;
- GET api.xero.com/connections lists the organisations (tenants) the user connected; every
  accounting call names one with the `xero-tenant-id` header;
- GET /api.xro/2.0/Journals?offset=N answers the journals numbered above N, at most 100 a call,
  oldest first; If-Modified-Since narrows to journals created since; Accounts, TrackingCategories
  and Organisation are single calls;
- limits per organisation: 60 calls a minute, 5000 a day, 5 at once; 10,000 a minute per app.
  Answers carry X-MinLimit-Remaining, X-DayLimit-Remaining and X-AppMinLimit-Remaining; a 429
  carries Retry-After and X-Rate-Limit-Problem (minute, day, concurrent, appminute);
- errors are {"Title", "Status", "Detail"}: a 403 "AuthenticationUnsuccessful" for an organisation
  that was disconnected, "AuthorizationUnsuccessful" when the app lacks the scope.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import httpx

from connectors.http import Clock, HttpPolicy, Limit, RateWindow, loads_decimal
from connectors.oauth import TokenManager
from connectors.oauth_connector import Hosts, json_api
from pipeline.errors import AuthError, FatalSourceError, LedgerlineError, RetriableSourceError

VENDOR = "Xero"
PAGE = 100  # journals per call, fixed by Xero
LIMITS = (
    Limit(60, 60.0, "60 calls a minute per organisation"),
    Limit(5000, 86400.0, "5000 calls a day per organisation"),
)
MAX_PARALLEL = 5


def hosts(config: Mapping[str, Any]) -> Hosts:
    """Xero's hosts, or the sandbox's when the source's config holds `base_url`. The API root
    holds /connections and /api.xro/2.0."""
    base = str(config.get("base_url") or "").rstrip("/")
    if base:
        return Hosts(f"{base}/identity/connect/authorize", f"{base}/connect/token", base)
    return Hosts(
        "https://login.xero.com/identity/connect/authorize",
        "https://identity.xero.com/connect/token",
        "https://api.xero.com",
    )


class XeroForbidden(FatalSourceError):
    """A 403 from Xero; `detail` says why (a disconnected organisation, a missing scope)."""

    def __init__(self, message: str, *, detail: str, guidance: str | None = None):
        super().__init__(message, guidance=guidance)
        self.detail = detail


def _detail(response: httpx.Response) -> str:
    try:
        body = loads_decimal(response.content)
    except ValueError:
        return ""
    if isinstance(body, dict):
        return str(body.get("Detail") or body.get("Message") or body.get("Title") or "")
    return ""


def map_error(response: httpx.Response) -> LedgerlineError:
    status = response.status_code
    detail = _detail(response)
    suffix = f" ({detail})" if detail else ""
    if status == 401:
        return AuthError(
            f"Xero rejected the access token (HTTP 401){suffix}.",
            guidance="Reconnect the source to sign in at Xero again.",
        )
    if status == 403:
        return XeroForbidden(f"Xero refused {response.request.url.path} (HTTP 403){suffix}.", detail=detail)
    if status == 404:
        return FatalSourceError(f"Xero does not know {response.request.url.path} (HTTP 404){suffix}.")
    if status == 429 or status >= 500:
        problem = response.headers.get("x-rate-limit-problem")
        extra = f" ({problem} limit)" if problem else suffix
        return RetriableSourceError(f"Xero answered HTTP {status}{extra}.")
    return FatalSourceError(f"Xero answered HTTP {status}{suffix}.")


def rate_windows(headers: httpx.Headers, now: float) -> list[RateWindow]:
    """The minute windows Xero reports as "remaining" only; the reset is at most a minute away.
    The day limit is left to Xero's 429 and its Retry-After (the day window is rolling)."""
    out = []
    for name, header, limit in (
        ("minute", "x-minlimit-remaining", 60),
        ("app minute", "x-appminlimit-remaining", 10_000),
    ):
        value = headers.get(header)
        if value is not None and value.strip().lstrip("-").isdigit():
            out.append(RateWindow(name, limit, int(value), now + 60.0))
    return out


class XeroClient:
    """Reads one Xero app's data under the shared HTTP policy and Xero's limits."""

    def __init__(
        self,
        api_root: str,
        tokens: TokenManager,
        *,
        clock: Clock | None = None,
        policy: HttpPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
    ):
        self.tokens = tokens
        policy = policy or HttpPolicy(max_parallel=1, max_wait=900.0, limits=LIMITS)
        policy.max_parallel = min(policy.max_parallel, MAX_PARALLEL)
        self.api = json_api(
            api_root.rstrip("/"),
            tokens,
            vendor=VENDOR,
            policy=policy,
            clock=clock,
            error=map_error,
            rate_windows=rate_windows,
            transport=transport,
        )

    def close(self) -> None:
        self.api.close()

    def connections(self) -> list[dict[str, Any]]:
        """GET /connections: the tenants this sign-in may read."""
        body = self.api.get_json("/connections")
        return list(body) if isinstance(body, list) else []

    def get(
        self, tenant: str, resource: str, params: Mapping[str, Any] | None = None, since: str | None = None
    ) -> dict[str, Any]:
        headers = {"xero-tenant-id": tenant}
        if since:
            headers["If-Modified-Since"] = since
        response = self.api.request("GET", f"/api.xro/2.0/{resource}", params=params, headers=headers)
        if response.status_code == 304:  # nothing modified since
            return {}
        try:
            body = loads_decimal(response.content)
        except ValueError as exc:
            raise FatalSourceError(f"Xero answered {resource} with something that is not JSON.") from exc
        return body if isinstance(body, dict) else {}

    def journals(
        self, tenant: str, *, offset: int, since: str | None, page: int = PAGE
    ) -> Iterator[list[dict[str, Any]]]:
        """Every journal numbered above `offset`, a page at a time (the offset of the next page is
        the last journal number read, so nothing is read twice or skipped)."""
        while True:
            body = self.get(tenant, "Journals", {"offset": offset}, since=since)
            rows = list(body.get("Journals") or [])
            if rows:
                yield rows
                offset = max(int(r["JournalNumber"]) for r in rows)
            if len(rows) < page:
                return
