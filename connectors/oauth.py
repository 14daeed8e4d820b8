"""OAuth2 authorization-code flow for API connectors, with rotating refresh tokens kept safe.

Vendors such as Exact Online issue short-lived access tokens (10 minutes) and rotate the refresh
token on every use: the old one stops working once the new pair is issued. So a refresh must
happen once, by one process, and its result must be stored before anything else happens:

1. take the source's cross-process lock (`CredentialStore.lock()`), so the app and the scheduler
   never refresh the same token at once;
2. re-read the stored credentials: another process may have refreshed while we waited;
3. refresh ahead of expiry (within `margin` seconds), save the new pair, and only then use it.

A rejected refresh token (revoked, expired, already used) is stored as "reconnect required"
instead of being retried: the next run fails at once with the same message and calls nobody.
Authlib builds the authorization URL and the token requests (RFC 6749 parameters); the calls go
through `connectors.http.ApiClient` like every other call.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from authlib.common.security import generate_token
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri, prepare_token_request

from connectors.base import CredentialStore
from connectors.http import ApiClient, Clock, HttpPolicy, SystemClock, loads_decimal
from pipeline.errors import AuthError, ConfigError, LedgerlineError, RetriableSourceError

DEFAULT_MARGIN = 30.0  # refresh when less than this many seconds are left on the access token
RECONNECT_KEY = "reconnect_required"


@dataclass(frozen=True)
class OAuthApp:
    """This installation's app registration at the vendor, plus the vendor's endpoints."""

    client_id: str
    client_secret: str
    authorize_url: str
    token_url: str
    redirect_uri: str
    scope: str | None = None


def new_state() -> str:
    """An unguessable `state` value that ties the vendor's redirect back to one connect attempt."""
    return generate_token(40)


def authorization_url(app: OAuthApp, state: str) -> str:
    """The vendor URL the user is sent to, to log in and grant access."""
    return prepare_grant_uri(
        app.authorize_url, app.client_id, "code", redirect_uri=app.redirect_uri, scope=app.scope, state=state
    )


def parse_callback(url: str) -> tuple[str | None, str | None, str | None]:
    """(code, state, error) from the URL the vendor redirected the browser to."""
    query = parse_qs(urlsplit(url).query)

    def first(name: str) -> str | None:
        values = query.get(name)
        return values[0] if values else None

    error = first("error")
    if error:
        detail = first("error_description")
        error = f"{error}: {detail}" if detail else error
    return first("code"), first("state"), error


def reconnect_message(vendor: str, detail: str = "") -> str:
    extra = f" ({detail})" if detail else ""
    return f"Reconnect required: {vendor} no longer accepts the stored authorisation{extra}."


def _fault(name: str) -> None:
    """Crash-test hook (same convention as the import run): SIGKILL at a named point."""
    if os.environ.get("LEDGERLINE_FAULT_POINT") == name:
        os.kill(os.getpid(), signal.SIGKILL)


class TokenManager:
    """Hands out a valid access token, refreshing it safely through a `CredentialStore`."""

    def __init__(
        self,
        app: OAuthApp,
        store: CredentialStore,
        *,
        vendor: str,
        clock: Clock | None = None,
        margin: float = DEFAULT_MARGIN,
        refresh_token_lifetime: float | None = None,
        transport: httpx.BaseTransport | None = None,
        policy: HttpPolicy | None = None,
    ):
        self.app = app
        self.store = store
        self.vendor = vendor
        self.clock = clock or SystemClock()
        self.margin = margin
        self.refresh_token_lifetime = refresh_token_lifetime
        self.refreshes = 0
        self._cached: dict[str, Any] | None = None
        self._local = threading.Lock()
        self._http = ApiClient(
            "",
            vendor=vendor,
            policy=policy or HttpPolicy(max_attempts=4, max_parallel=1, max_wait=120.0),
            clock=self.clock,
            error=self._token_error,
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    @property
    def token_calls(self) -> int:
        return self._http.stats.calls

    # -- the flow

    def exchange_code(self, code: str) -> dict[str, Any]:
        """Trade the authorization code for the first token pair and store it."""
        with self.store.lock():
            current = self.store.load()
            body = prepare_token_request(
                "authorization_code",
                code=code,
                redirect_uri=self.app.redirect_uri,
                client_id=self.app.client_id,
                client_secret=self.app.client_secret,
            )
            issued = self._post(body)
            creds = self._merge(current, issued)
            creds.pop(RECONNECT_KEY, None)
            self.store.save(creds)
        with self._local:
            self._cached = creds
        return creds

    def access_token(self) -> str:
        """A token valid for at least `margin` seconds, refreshed (once, by one process) if needed."""
        with self._local:
            creds = self._cached
        if creds is None or not self._fresh(creds):
            creds = self._refresh_locked(stale=None)
        return creds["access_token"]

    def reauth(self) -> None:
        """Called after a 401: the vendor ended the token early; get another unless a peer did."""
        with self._local:
            stale = (self._cached or {}).get("access_token")
        self._refresh_locked(stale=stale or "")

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token()}"}

    def refresh_token_expires_at(self) -> float | None:
        with self._local:
            creds = self._cached
        if creds is None:
            creds = self.store.load()
        value = creds.get("refresh_token_expires_at")
        return float(value) if value is not None else None

    def stats(self) -> dict[str, Any]:
        """For the run history: refreshes done and time left on the refresh token."""
        out: dict[str, Any] = {"token_refreshes": self.refreshes}
        expires = self.refresh_token_expires_at()
        if expires is not None:
            out["refresh_token_expires_at"] = datetime.fromtimestamp(expires, UTC).isoformat()
            out["refresh_token_days_left"] = round((expires - self.clock.time()) / 86400, 2)
        return out

    # -- internals

    def _fresh(self, creds: Mapping[str, Any]) -> bool:
        expires = creds.get("expires_at")
        return (
            bool(creds.get("access_token"))
            and expires is not None
            and (float(expires) - self.clock.time() > self.margin)
        )

    def _refresh_locked(self, *, stale: str | None) -> dict[str, Any]:
        with self.store.lock():
            creds = self.store.load()
            if creds.get(RECONNECT_KEY):
                raise AuthError(str(creds[RECONNECT_KEY]))
            usable = self._fresh(creds) and (stale is None or creds.get("access_token") != stale)
            if not usable:
                if not creds.get("refresh_token"):
                    raise AuthError(
                        reconnect_message(self.vendor, "no refresh token is stored"),
                        guidance="Connect the source again to sign in at the vendor.",
                    )
                body = prepare_token_request(
                    "refresh_token",
                    refresh_token=creds["refresh_token"],
                    client_id=self.app.client_id,
                    client_secret=self.app.client_secret,
                )
                try:
                    issued = self._post(body)
                except AuthError as exc:
                    # The refresh token is dead for good: remember that, so no process keeps trying.
                    self.store.save(
                        {**creds, "access_token": None, "refresh_token": None, RECONNECT_KEY: exc.message}
                    )
                    raise
                _fault("oauth_after_refresh")
                creds = self._merge(creds, issued)
                self.store.save(creds)
                self.refreshes += 1
                _fault("oauth_after_save")
        with self._local:
            self._cached = creds
        return creds

    def _post(self, body: str) -> dict[str, Any]:
        response = self._http.request(
            "POST",
            self.app.token_url,
            headers={"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"},
            content=body,
        )
        try:
            token = loads_decimal(response.content)
        except ValueError as exc:
            raise RetriableSourceError(f"{self.vendor} sent an unreadable token response.") from exc
        if not isinstance(token, dict) or not token.get("access_token"):
            raise AuthError(reconnect_message(self.vendor, "the token response holds no access token"))
        return token

    def _merge(self, current: Mapping[str, Any], issued: Mapping[str, Any]) -> dict[str, Any]:
        now = self.clock.time()
        creds = dict(current)
        creds["access_token"] = issued["access_token"]
        creds["token_type"] = issued.get("token_type", "bearer")
        # Some vendors (Exact) send expires_in as a string.
        creds["expires_at"] = now + float(str(issued.get("expires_in", 600)))
        creds["obtained_at"] = now
        if issued.get("refresh_token"):
            creds["refresh_token"] = issued["refresh_token"]
            lifetime = issued.get("refresh_token_expires_in") or issued.get("x_refresh_token_expires_in")
            if lifetime is not None:
                creds["refresh_token_expires_at"] = now + float(str(lifetime))
            elif self.refresh_token_lifetime is not None:
                creds["refresh_token_expires_at"] = now + self.refresh_token_lifetime
        return creds

    def _token_error(self, response: httpx.Response) -> LedgerlineError:
        try:
            body = loads_decimal(response.content)
        except ValueError:
            body = {}
        error = body.get("error") if isinstance(body, dict) else None
        detail = body.get("error_description") if isinstance(body, dict) else None
        if error in ("invalid_grant", "invalid_token", "unauthorized_client") or response.status_code == 401:
            return AuthError(reconnect_message(self.vendor, str(detail or error or "HTTP 401")))
        if error == "invalid_client":
            return ConfigError(
                f"{self.vendor} does not recognise this installation's app (client id/secret).",
                guidance="Check the app registration in Settings, then connect again.",
            )
        if response.status_code >= 500:
            return RetriableSourceError(f"{self.vendor} token service answered HTTP {response.status_code}.")
        return AuthError(
            reconnect_message(self.vendor, str(detail or error or f"HTTP {response.status_code}"))
        )


class MemoryStore:
    """A `CredentialStore` in memory, for one process (tests, a connection check before saving)."""

    def __init__(self, credentials: Mapping[str, Any] | None = None):
        self._credentials = dict(credentials or {})
        self._lock = threading.RLock()
        self.saves = 0

    def load(self) -> dict[str, Any]:
        with self._lock:
            return dict(self._credentials)

    def save(self, credentials: dict[str, Any]) -> None:
        with self._lock:
            self._credentials = dict(credentials)
            self.saves += 1

    def lock(self) -> threading.RLock:
        return self._lock
