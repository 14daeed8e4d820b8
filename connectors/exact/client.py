"""Network access to Exact Online's REST API: OAuth2 bearer tokens, __next paging, rate limits.

The contract, from Exact's documentation as quoted by its official samples
(github.com/exactonline/exactonline-api-dotnet-sync-demo) and its reference pages:

- host per region (start.exactonline.nl, .be, .de, .co.uk, .com ...); OAuth2 authorization code
  flow at /api/oauth2/auth and /api/oauth2/token; access tokens live 10 minutes, refresh tokens
  rotate on use; `expires_in` comes as a string;
- /api/v1/current/Me gives the user's current division; /api/v1/{division}/system/Divisions the
  divisions the user can open;
- collections answer {"d": {"results": [...], "__next": "<absolute url>"}}; follow __next as given;
- sync endpoints (sync/Financial/TransactionLines, sync/Financial/GLAccounts, sync/Deleted) take
  `$filter=Timestamp gt <n>L` and return up to 1000 rows per call, `$select` is required; the bulk
  endpoints (bulk/Financial/TransactionLines) return 1000 rows per call;
  read/sync/Sync/SyncTimestamp?modified=datetime'..'&endPoint='TransactionLines' turns a date into
  a timestamp to start syncing from;
- rate limits per company: 60 calls a minute and 5000 a day, reported on every answer in
  X-RateLimit-Minutely-Limit/-Remaining/-Reset and X-RateLimit-Limit/-Remaining/-Reset (reset as
  epoch milliseconds); over the limit answers 429;
- errors carry {"error": {"code", "message": {"lang", "value"}}}.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import httpx

from connectors.http import Clock, HttpPolicy, RateWindow, epoch_seconds, loads_decimal
from connectors.oauth import TokenManager
from connectors.oauth_connector import Hosts, json_api
from pipeline.errors import AuthError, ConfigError, FatalSourceError, LedgerlineError, RetriableSourceError

REGIONS = {
    "nl": "https://start.exactonline.nl",
    "be": "https://start.exactonline.be",
    "de": "https://start.exactonline.de",
    "uk": "https://start.exactonline.co.uk",
    "us": "https://start.exactonline.com",
    "fr": "https://start.exactonline.fr",
    "es": "https://start.exactonline.es",
}
VENDOR = "Exact Online"


def host_for(config: Mapping[str, Any]) -> str:
    """The API host of the source: `base_url` (sandbox) or the region's host."""
    if config.get("base_url"):
        return str(config["base_url"]).rstrip("/")
    region = str(config.get("region") or "nl").lower()
    if region not in REGIONS:
        raise ConfigError(f"Unknown Exact Online region {region!r}; use one of {', '.join(REGIONS)}.")
    return REGIONS[region]


def oauth_urls(host: str) -> tuple[str, str]:
    """(authorize URL, token URL) on a host."""
    return f"{host}/api/oauth2/auth", f"{host}/api/oauth2/token"


def hosts(config: Mapping[str, Any]) -> Hosts:
    """Exact's sign-in, token and API endpoints for a source, all on its host."""
    host = host_for(config)
    authorize, token = oauth_urls(host)
    return Hosts(authorize, token, host)


def rate_windows(headers: httpx.Headers, now: float) -> list[RateWindow]:
    """The minutely and daily windows Exact reports on every answer."""
    out = []
    for name, prefix in (("minutely", "x-ratelimit-minutely-"), ("daily", "x-ratelimit-")):
        remaining = headers.get(prefix + "remaining")
        reset = epoch_seconds(headers.get(prefix + "reset"), now)
        if remaining is None or reset is None:
            continue
        limit = headers.get(prefix + "limit")
        try:
            out.append(RateWindow(name, int(limit) if limit else None, int(remaining), reset))
        except ValueError:
            continue
    return out


def _message(response: httpx.Response) -> str | None:
    try:
        body = loads_decimal(response.content)
    except ValueError:
        return None
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        message = error.get("message")
        if isinstance(message, dict):
            return message.get("value")
        return str(message) if message else None
    return None


def map_error(response: httpx.Response) -> LedgerlineError:
    status = response.status_code
    detail = _message(response)
    suffix = f": {detail}" if detail else ""
    if status == 401:
        return AuthError(
            f"Exact Online rejected the access token (HTTP 401){suffix}.",
            guidance="Reconnect the source to sign in at Exact Online again.",
        )
    if status == 403:
        return FatalSourceError(
            f"Exact Online refused {response.request.url.path} (HTTP 403){suffix}.",
            guidance="The Exact user needs the rights for this division and data; check them, then import again.",
        )
    if status == 404:
        return FatalSourceError(
            f"Exact Online does not know {response.request.url.path} (HTTP 404){suffix}.",
            guidance="The division may have been removed or archived; check the division in Exact Online.",
        )
    if status == 429 or status >= 500:
        return RetriableSourceError(f"Exact Online answered HTTP {status}{suffix}.")
    return FatalSourceError(f"Exact Online answered HTTP {status}{suffix}.")


class ExactClient:
    """Reads from one Exact Online host with a token manager, under the shared HTTP policy."""

    def __init__(
        self,
        host: str,
        tokens: TokenManager,
        *,
        clock: Clock | None = None,
        policy: HttpPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
    ):
        self.host = host.rstrip("/")
        self.tokens = tokens
        self.api = json_api(
            self.host,
            tokens,
            vendor=VENDOR,
            policy=policy or HttpPolicy(max_parallel=1, max_wait=120.0),
            clock=clock,
            error=map_error,
            rate_windows=rate_windows,
            transport=transport,
        )

    def close(self) -> None:
        self.api.close()

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        body = self.api.get_json(path, params=params)
        return body.get("d") if isinstance(body, dict) else None

    def pages(self, path: str, params: Mapping[str, Any] | None = None) -> Iterator[list[dict[str, Any]]]:
        """Every page of a collection, following `__next` exactly as Exact gives it."""
        url: str | None = path
        query: Mapping[str, Any] | None = params
        while url:
            d = self.get(url, query)
            if isinstance(d, list):  # some endpoints answer {"d": [...]} without paging
                yield d
                return
            if not isinstance(d, dict):
                raise FatalSourceError(f"Exact Online answered {path} without data.")
            yield list(d.get("results") or [])
            url, query = d.get("__next"), None
            if url and not str(url).startswith(self.host + "/"):
                raise FatalSourceError(f"Exact Online pointed the next page to another host ({url}).")

    def results(self, path: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for page in self.pages(path, params):
            out.extend(page)
        return out

    def quota(self) -> dict[str, Any]:
        """The rate-limit windows as Exact last reported them (for the run history)."""
        out = {}
        for name, w in self.api.windows.items():
            out[f"{name}_limit"] = w.limit
            out[f"{name}_remaining"] = w.remaining
        return out
