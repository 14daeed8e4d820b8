"""The REST API's OAuth2 flow against the sandbox's identity service: sign-in, refresh, rotation."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from connectors.nmbrs import NmbrsConnector, oauth_app
from connectors.nmbrs.client import NmbrsRest
from connectors.oauth import (
    RECONNECT_KEY,
    MemoryStore,
    TokenManager,
    authorization_url,
    new_state,
    parse_callback,
)
from pipeline.errors import AuthError, ConfigError
from tests.connectors.nmbrs.conftest import request, signed_in

REDIRECT = "http://127.0.0.1:8501/sources"


def config(sandbox) -> dict:
    return {"base_url": sandbox.url, "client_id": sandbox.client_id, "redirect_uri": REDIRECT}


def tokens_for(sandbox, clock, store) -> TokenManager:
    """The token manager the connector uses for a source (Nmbrs refresh tokens last 30 days)."""
    return NmbrsConnector(clock=clock).tokens(
        request(sandbox, store, None, config={"redirect_uri": REDIRECT})
    )


def test_signing_in_with_the_authorization_code_then_reading_the_user_and_companies(sandbox, clock):
    store = MemoryStore(
        {"client_secret": sandbox.client_secret, "subscription_key": sandbox.subscription_key}
    )
    app = oauth_app(config(sandbox), store.load())
    assert app.authorize_url == f"{sandbox.url}/connect/authorize"
    assert app.token_url == f"{sandbox.url}/connect/token"
    state = new_state()
    url = authorization_url(app, state)
    assert parse_qs(urlsplit(url).query)["scope"] == ["openid email offline_access"]
    answer = httpx.get(url, follow_redirects=False)
    assert answer.status_code == 302
    code, returned_state, error = parse_callback(answer.headers["location"])
    assert (returned_state, error) == (state, None)
    tokens = tokens_for(sandbox, clock, store)
    tokens.exchange_code(code)
    saved = store.load()
    assert saved["access_token"] and saved["refresh_token"]
    assert saved["expires_at"] == pytest.approx(clock.time() + 3600)
    rest = NmbrsRest(config(sandbox), saved["subscription_key"], tokens, clock=clock)
    assert rest.email() == "payroll@demo-retail.example"
    assert [c["name"] for c in rest.companies()] == [
        "Demo Retail BV",
        "Demo Services BV",
        "Demo Logistics BV",
    ]
    assert sandbox.auth.code_grants == 1
    # The code was single use.
    with pytest.raises(AuthError, match="Reconnect required"):
        tokens.exchange_code(code)


def test_an_expired_access_token_is_refreshed_once_and_the_rotated_pair_saved(sandbox, clock):
    store = signed_in(sandbox, clock)
    old_refresh = store.load()["refresh_token"]
    tokens = tokens_for(sandbox, clock, store)
    rest = NmbrsRest(config(sandbox), sandbox.subscription_key, tokens, clock=clock)
    clock.advance(3600)
    assert rest.email() == sandbox.email
    assert rest.companies()
    assert (tokens.refreshes, sandbox.auth.refresh_grants) == (1, 1)
    saved = store.load()
    assert saved["refresh_token"] != old_refresh
    assert saved["refresh_token_expires_at"] == pytest.approx(clock.time() + 30 * 86400)
    # The used refresh token no longer works: rotation happened at Nmbrs too.
    clock.advance(1)
    stale = TokenManager(
        oauth_app(config(sandbox), saved),
        MemoryStore({**saved, "refresh_token": old_refresh, "access_token": None}),
        vendor="Nmbrs",
        clock=clock,
    )
    with pytest.raises(AuthError, match="Reconnect required"):
        stale.access_token()


def test_a_token_ended_early_by_nmbrs_is_refreshed_after_the_401(sandbox, clock):
    store = signed_in(sandbox, clock)
    tokens = tokens_for(sandbox, clock, store)
    rest = NmbrsRest(config(sandbox), sandbox.subscription_key, tokens, clock=clock)
    assert rest.email()
    sandbox.auth.expire_access_tokens()
    assert rest.companies()
    assert tokens.refreshes == 1 and sandbox.auth.unauthorized == 1


def test_a_revoked_sign_in_is_stored_as_reconnect_required(sandbox, clock):
    store = signed_in(sandbox, clock)
    tokens = tokens_for(sandbox, clock, store)
    rest = NmbrsRest(config(sandbox), sandbox.subscription_key, tokens, clock=clock)
    sandbox.auth.revoke()
    with pytest.raises(AuthError):
        rest.email()
    assert store.load()[RECONNECT_KEY].startswith("Reconnect required: Nmbrs no longer accepts")
    grants = sandbox.auth.refresh_grants + sandbox.auth.rejected_refreshes
    with pytest.raises(AuthError):
        rest.companies()  # the next call fails at once, without asking Nmbrs again
    assert sandbox.auth.refresh_grants + sandbox.auth.rejected_refreshes == grants


def test_a_wrong_subscription_key_is_a_setup_problem_not_a_sign_in_problem(sandbox, clock):
    store = signed_in(sandbox, clock)
    rest = NmbrsRest(config(sandbox), "wrong-key", tokens_for(sandbox, clock, store), clock=clock)
    with pytest.raises(ConfigError, match="refused the REST API subscription key"):
        rest.companies()
