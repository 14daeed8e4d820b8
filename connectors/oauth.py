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
Authlib builds the authorization URL and the token requests (RFC 6749 parameters, RFC 7636 PKCE
for vendors such as Xero); the calls go through `connectors.http.ApiClient` like every other call.
Vendors differ in how the app proves who it is at the token endpoint: in the form body
(Exact, Sage) or as HTTP Basic (Xero, QuickBooks, Twinfield): `OAuthApp.token_auth` says which.

`SandboxAuthority` at the end is the vendor's side of the same flow, for the local sandboxes.
"""

from __future__ import annotations

import base64
import os
import secrets
import signal
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
from authlib.common.security import generate_token
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri, prepare_token_request
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from connectors.base import CredentialStore
from connectors.http import (
    ApiClient,
    Clock,
    HttpPolicy,
    SandboxRequest,
    SandboxResponse,
    SystemClock,
    loads_decimal,
)
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
    pkce: bool = False  # send an S256 code challenge (RFC 7636) and prove it with the verifier
    token_auth: Literal["client_secret_post", "client_secret_basic"] = "client_secret_post"


def new_state() -> str:
    """An unguessable `state` value that ties the vendor's redirect back to one connect attempt."""
    return generate_token(40)


def new_code_verifier() -> str:
    """A PKCE code verifier (RFC 7636: 43 to 128 unreserved characters)."""
    return generate_token(64)


def authorization_url(app: OAuthApp, state: str, code_verifier: str | None = None) -> str:
    """The vendor URL the user is sent to, to log in and grant access."""
    extra = {}
    if app.pkce:
        if not code_verifier:
            raise ConfigError(f"Signing in at {app.authorize_url} needs a PKCE code verifier.")
        extra = {"code_challenge": create_s256_code_challenge(code_verifier), "code_challenge_method": "S256"}
    return prepare_grant_uri(
        app.authorize_url,
        app.client_id,
        "code",
        redirect_uri=app.redirect_uri,
        scope=app.scope,
        state=state,
        **extra,
    )


def callback_params(url: str) -> dict[str, str]:
    """Every query parameter of the redirect (vendors add their own, e.g. QuickBooks' realmId)."""
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items() if v}


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

    def exchange_code(self, code: str, code_verifier: str | None = None) -> dict[str, Any]:
        """Trade the authorization code for the first token pair and store it."""
        with self.store.lock():
            current = self.store.load()
            extra = {"code_verifier": code_verifier} if code_verifier else {}
            body = prepare_token_request(
                "authorization_code",
                code=code,
                redirect_uri=self.app.redirect_uri,
                **self._client_fields(),
                **extra,
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
                    "refresh_token", refresh_token=creds["refresh_token"], **self._client_fields()
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

    def _client_fields(self) -> dict[str, str]:
        if self.app.token_auth == "client_secret_basic":
            return {}
        return {"client_id": self.app.client_id, "client_secret": self.app.client_secret}

    def _post(self, body: str) -> dict[str, Any]:
        headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
        if self.app.token_auth == "client_secret_basic":
            pair = f"{self.app.client_id}:{self.app.client_secret}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
        response = self._http.request("POST", self.app.token_url, headers=headers, content=body)
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


# ---------------------------------------------------------------- the vendor's side, for sandboxes


class SandboxAuthority:
    """The vendor's side of the OAuth2 authorization-code flow, for the local sandboxes.

    Issues authorization codes (single use, short-lived, bound to the redirect URI and, when the
    vendor wants PKCE, to an S256 challenge), access tokens with the vendor's lifetime, and
    refresh tokens that either rotate (the used one stops working at once, or after `grace`
    seconds where the vendor allows a retry, as Xero does for 30 minutes) or stay valid
    (`rotate=False`), optionally expiring when unused for `refresh_lifetime`.
    Tests steer it with `revoke`, `expire_access_tokens` and `expire_after`.
    """

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        clock: Clock | None = None,
        access_lifetime: int = 1800,
        refresh_lifetime: float | None = None,
        rotate: bool = True,
        grace: float = 0.0,
        pkce: bool = False,
        token_auth: Literal["client_secret_post", "client_secret_basic"] = "client_secret_post",
        code_lifetime: int = 300,
        refresh_expiry_field: str | None = None,
        expires_in_text: bool = False,
        latency: float = 0.0,
        redirect_extra: Mapping[str, str] | None = None,
        token_type: str = "Bearer",
    ):
        self.client_id, self.client_secret = client_id, client_secret
        self.clock = clock or SystemClock()
        self.access_lifetime = access_lifetime
        self.refresh_lifetime = refresh_lifetime
        self.rotate, self.grace, self.pkce, self.token_auth = rotate, grace, pkce, token_auth
        self.used_refresh: dict[str, float] = {}  # rotated-out refresh token -> when it was used
        self.code_lifetime = code_lifetime
        self.refresh_expiry_field = refresh_expiry_field
        self.expires_in_text = expires_in_text
        self.latency = latency  # real seconds a token call takes (overlapping refreshes in tests)
        self.redirect_extra = dict(redirect_extra or {})
        self.token_type = token_type  # as the vendor spells it (Exact: "bearer")
        self.access_tokens: dict[str, float] = {}
        self.refresh_tokens: dict[str, float | None] = {}
        self.codes: dict[str, tuple[float, str, str | None]] = {}
        self.code_grants = self.refresh_grants = self.rejected_refreshes = self.unauthorized = 0
        self._expire_in: int | None = None
        self._lock = threading.RLock()

    # -- controls

    def issue(self) -> dict[str, Any]:
        """A token answer as if the user had just signed in (skips the browser step)."""
        with self._lock:
            access, refresh = secrets.token_urlsafe(24), secrets.token_urlsafe(32)
            now = self.clock.time()
            self.access_tokens[access] = now + self.access_lifetime
            self.refresh_tokens[refresh] = now + self.refresh_lifetime if self.refresh_lifetime else None
            return self._answer(access, refresh)

    def revoke(self) -> None:
        """The user revoked the app: every token stops working."""
        with self._lock:
            self.access_tokens.clear()
            self.refresh_tokens.clear()
            self.used_refresh.clear()

    def expire_access_tokens(self) -> None:
        """End every access token now, as vendors do when they end a session early."""
        with self._lock:
            self.access_tokens.clear()

    def expire_after(self, calls: int) -> None:
        """End every access token after `calls` more API calls (an expiry in the middle of a run)."""
        with self._lock:
            self._expire_in = calls

    # -- checks for the API side

    def valid(self, token: str | None) -> bool:
        """Whether an access token is good for one more API call (counts the refusals)."""
        with self._lock:
            if self._expire_in is not None:
                self._expire_in -= 1
                if self._expire_in < 0:
                    self.access_tokens.clear()
                    self._expire_in = None
            expires = self.access_tokens.get(token or "")
            if expires is None or expires <= self.clock.time():
                self.unauthorized += 1
                return False
            return True

    def bearer(self, request: SandboxRequest) -> bool:
        """`valid` for the request's `Authorization: Bearer` header."""
        auth = request.headers.get("authorization", "")
        return self.valid(auth[7:] if auth.lower().startswith("bearer ") else None)

    # -- endpoints

    def authorize(self, request: SandboxRequest) -> SandboxResponse:
        """The sign-in page: redirects to the app with a code (the user always agrees here)."""
        if request.arg("client_id") != self.client_id or request.arg("response_type") != "code":
            return SandboxResponse(400, b"unknown client or response type", {"Content-Type": "text/plain"})
        challenge = request.arg("code_challenge")
        if self.pkce and (not challenge or request.arg("code_challenge_method") != "S256"):
            return SandboxResponse(400, b"code_challenge (S256) is required", {"Content-Type": "text/plain"})
        redirect = request.arg("redirect_uri") or ""
        code = secrets.token_urlsafe(16)
        with self._lock:
            self.codes[code] = (self.clock.time() + self.code_lifetime, redirect, challenge)
        query = {"code": code, **self.redirect_extra}
        if request.arg("state") is not None:
            query["state"] = request.arg("state") or ""
        sep = "&" if urlsplit(redirect).query else "?"
        return SandboxResponse(302, b"", {"Location": f"{redirect}{sep}{urlencode(query)}"})

    def token(self, request: SandboxRequest) -> SandboxResponse:
        """The token endpoint: authorization_code and refresh_token grants."""
        if self.latency:
            time.sleep(self.latency)
        form = request.form()
        if not self._client_ok(request, form):
            return SandboxResponse.json({"error": "invalid_client"}, 401)
        grant = form.get("grant_type")
        with self._lock:
            if grant == "authorization_code":
                issued = self.codes.pop(form.get("code", ""), None)
                if (
                    issued is None
                    or issued[0] < self.clock.time()
                    or issued[1] != form.get("redirect_uri", "")
                ):
                    return _invalid_grant("The authorization code is invalid, used or expired.")
                if (
                    issued[2] is not None
                    and create_s256_code_challenge(form.get("code_verifier", "")) != issued[2]
                ):
                    return _invalid_grant("The code verifier does not match the code challenge.")
                self.code_grants += 1
                return SandboxResponse.json(self.issue())
            if grant == "refresh_token":
                token = form.get("refresh_token", "")
                now = self.clock.time()
                expires = self.refresh_tokens.get(token, 0.0)
                known = token in self.refresh_tokens and (expires is None or expires > now)
                in_grace = token in self.used_refresh and now - self.used_refresh[token] <= self.grace
                if not known and not in_grace:
                    self.rejected_refreshes += 1
                    return _invalid_grant("The refresh token is invalid, expired or already used.")
                self.refresh_grants += 1
                if not self.rotate:
                    access = secrets.token_urlsafe(24)
                    self.access_tokens[access] = now + self.access_lifetime
                    return SandboxResponse.json(self._answer(access, None))
                if known:
                    del self.refresh_tokens[token]
                    self.used_refresh[token] = now
                return SandboxResponse.json(self.issue())
        return SandboxResponse.json({"error": "unsupported_grant_type"}, 400)

    # -- internals

    def _client_ok(self, request: SandboxRequest, form: Mapping[str, str]) -> bool:
        if self.token_auth == "client_secret_basic":
            auth = request.headers.get("authorization", "")
            expected = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode("ascii")
            return auth == f"Basic {expected}"
        return form.get("client_id") == self.client_id and form.get("client_secret") == self.client_secret

    def _answer(self, access: str, refresh: str | None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "access_token": access,
            "token_type": self.token_type,
            "expires_in": str(self.access_lifetime) if self.expires_in_text else self.access_lifetime,
        }
        if refresh is not None:
            out["refresh_token"] = refresh
            if self.refresh_expiry_field and self.refresh_lifetime:
                out[self.refresh_expiry_field] = int(self.refresh_lifetime)
        return out


def _invalid_grant(description: str) -> SandboxResponse:
    return SandboxResponse.json({"error": "invalid_grant", "error_description": description}, 400)
