"""Network access to Sage Business Cloud Accounting (API v3.1): tokens, X-Business, paging, limits.

The contract (Sage's developer guides for API v3.1 and its published API reference):

- sign-in at www.sageone.com/oauth2/auth/central?filter=apiv3.1 (authorization code), tokens at
  oauth.accounting.sage.com/token with the client id and secret in the form; access tokens live
  5 minutes, refresh tokens are single-use (each refresh issues a new one) and expire after 31
  days unused (refresh_token_expires_in);
- api.accounting.sage.com/v3.1: GET /businesses lists the businesses the user can open; every
  other call names one with the X-Business header;
- collections page with page/items_per_page (at most 200) and answer $items, $total and $next
  (the path of the next page); `updated_or_created_since` keeps what changed since a moment
  (inclusive), `deleted_since` lists what was deleted since; `attributes=all` returns every field;
- errors are a list of {"$severity", "$dataCode", "$message", "$source"}; 429 when over the
  limit. Sage's limits per business are documented as 100 calls a minute and 2500 a day (as
  third-party summaries quote Sage's portal, which could not be read here): the client keeps under
  them by counting its own calls.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import httpx

from connectors.http import Clock, HttpPolicy, Limit, loads_decimal
from connectors.oauth import TokenManager
from connectors.oauth_connector import Hosts, json_api
from pipeline.errors import AuthError, FatalSourceError, LedgerlineError, RetriableSourceError

VENDOR = "Sage Accounting"
PAGE = 200  # the most items Sage returns per page
LIMITS = (
    Limit(100, 60.0, "100 calls a minute per business"),
    Limit(2500, 86400.0, "2500 calls a day per business"),
)


def hosts(config: Mapping[str, Any]) -> Hosts:
    """Sage's hosts, or the sandbox's when the source's config holds `base_url`."""
    base = str(config.get("base_url") or "").rstrip("/")
    if base:
        return Hosts(f"{base}/oauth2/auth/central?filter=apiv3.1", f"{base}/token", f"{base}/v3.1")
    return Hosts(
        "https://www.sageone.com/oauth2/auth/central?filter=apiv3.1",
        "https://oauth.accounting.sage.com/token",
        "https://api.accounting.sage.com/v3.1",
    )


class SageRefused(FatalSourceError):
    """A 403 or 404 from Sage for a business; `code` is Sage's $dataCode."""

    def __init__(self, message: str, *, code: str):
        super().__init__(message)
        self.code = code


def _errors(response: httpx.Response) -> list[dict[str, Any]]:
    try:
        body = loads_decimal(response.content)
    except ValueError:
        return []
    if isinstance(body, dict):
        body = [body]
    return [e for e in body if isinstance(e, dict)] if isinstance(body, list) else []


def map_error(response: httpx.Response) -> LedgerlineError:
    status = response.status_code
    errors = _errors(response)
    code = str(errors[0].get("$dataCode") or "") if errors else ""
    detail = "; ".join(str(e.get("$message")) for e in errors if e.get("$message"))
    suffix = f": {detail}" if detail else ""
    if status == 401:
        return AuthError(
            f"Sage Accounting rejected the access token (HTTP 401){suffix}.",
            guidance="Reconnect the source to sign in at Sage again.",
        )
    if status in (403, 404):
        return SageRefused(
            f"Sage Accounting refused {response.request.url.path} (HTTP {status}){suffix}.", code=code
        )
    if status == 429 or status >= 500:
        return RetriableSourceError(f"Sage Accounting answered HTTP {status}{suffix}.")
    return FatalSourceError(f"Sage Accounting answered HTTP {status}{suffix}.")


class SageClient:
    """Reads one Sage user's businesses under the shared HTTP policy and Sage's limits."""

    def __init__(
        self,
        api_root: str,
        tokens: TokenManager,
        *,
        clock: Clock | None = None,
        policy: HttpPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
    ):
        self.root = api_root.rstrip("/")
        self.api = json_api(
            self.root,
            tokens,
            vendor=VENDOR,
            policy=policy or HttpPolicy(max_parallel=1, max_wait=900.0, limits=LIMITS),
            clock=clock,
            error=map_error,
            transport=transport,
        )

    def close(self) -> None:
        self.api.close()

    def get(self, path: str, params: Mapping[str, Any] | None = None, business: str | None = None) -> Any:
        headers = {"X-Business": business} if business else None
        response = self.api.request("GET", path, params=params, headers=headers)
        try:
            return loads_decimal(response.content)
        except ValueError as exc:
            raise FatalSourceError(
                f"Sage Accounting answered {path} with something that is not JSON."
            ) from exc

    def businesses(self) -> list[dict[str, Any]]:
        body = self.get("/businesses")
        if isinstance(body, dict):  # some answers wrap lists in $items
            body = body.get("$items") or []
        return list(body) if isinstance(body, list) else []

    def pages(
        self, path: str, business: str, params: Mapping[str, Any], *, page: int = PAGE
    ) -> Iterator[list[dict[str, Any]]]:
        """Every page of a collection, following $next as Sage gives it."""
        url: str | None = path
        query: Mapping[str, Any] | None = {**params, "items_per_page": page}
        while url:
            body = self.get(url, query, business)
            if not isinstance(body, dict):
                raise FatalSourceError(f"Sage Accounting answered {path} without a collection.")
            yield list(body.get("$items") or [])
            url, query = body.get("$next"), None
            if url and url.startswith(self.root):
                url = url[len(self.root) :]
            elif url and url.startswith("http"):
                raise FatalSourceError(f"Sage Accounting pointed the next page to another host ({url}).")

    def items(
        self, path: str, business: str, params: Mapping[str, Any], *, page: int = PAGE
    ) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for rows in self.pages(path, business, params, page=page):
            out.extend(rows)
        return out
