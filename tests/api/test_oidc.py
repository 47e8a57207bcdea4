"""Single sign-on against a real OpenID Connect provider (panva's oidc-provider on node).

The sign-in runs as a browser would run it, with httpx following the provider's own login and
consent forms (tests/oidc_provider.py); Chromium walks it once more in tests/browser.  The ID
token checks are also tried with tokens the provider never issued, signed with its own key (the
test holds it) or another, each of which must be refused.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from corpora import Corpora
from joserfc import jwt
from joserfc.jwk import RSAKey
from oidc_provider import CLIENT_ID, CLIENT_SECRET, OidcProvider, free_port, oidc_provider, sign_in

from docchat.accounts import oidc as oidc_module
from docchat.accounts.oidc import OidcClient
from docchat.config import AuthSettings, OidcSettings, Settings
from docchat.db import Database
from docchat.errors import NotAuthenticated

pytestmark = pytest.mark.one_backend  # the flow, not the storage, is under test

StartServer = Callable[..., httpx.Client]
StartSite = Callable[..., "SsoSite"]


@dataclass
class SsoSite:
    """docchat with single sign-on, the provider it trusts, and a browser-like client."""

    app: httpx.Client
    provider: OidcProvider
    settings: Settings


def sso_settings(settings: Settings, issuer: str, **oidc: object) -> Settings:
    auth = AuthSettings(
        mode="oidc",
        oidc=OidcSettings(
            issuer=issuer,
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            name="Test IdP",
            **oidc,
        ),
    )
    return settings.model_copy(update={"auth": auth})


@pytest.fixture
def start_site(
    settings: Settings, start_server: StartServer, corpora: Corpora
) -> Iterator[StartSite]:
    """Factory: docchat (oidc mode, with ``oidc`` settings) and a provider that knows it."""
    with ExitStack() as stack:

        def start(**oidc: object) -> SsoSite:
            port = free_port()
            site_settings = sso_settings(settings, f"http://127.0.0.1:{port}", **oidc)
            corpora.copy_into(site_settings, [])
            app = start_server(site_settings)
            callback = str(app.base_url.join("/auth/oidc/callback"))
            provider = stack.enter_context(oidc_provider(port, [callback]))
            return SsoSite(app=app, provider=provider, settings=site_settings)

        yield start


def sign_in_via_sso(site: SsoSite, user: str) -> tuple[httpx.Response, str]:
    """The whole round trip as ``user``: docchat → provider forms → docchat's callback.
    Returns the callback's response and the callback URL (to replay)."""
    start = site.app.get("/auth/oidc/start")
    assert start.status_code == 303, start.text
    with httpx.Client(timeout=30) as browser:
        back = sign_in(browser, start.headers["location"], user)
    assert back.startswith(str(site.app.base_url)), back
    return site.app.get(back), back


def test_sign_in_creates_the_user_once_and_opens_a_login(start_site: StartSite) -> None:
    site = start_site()
    options = site.app.get("/auth/options").json()
    assert options["sso_name"] == "Test IdP" and options["sso_url"] == "/auth/oidc/start"
    assert site.app.get("/api/sessions").status_code == 401

    done, _ = sign_in_via_sso(site, "alice")
    assert done.status_code == 303 and done.headers["location"] == "/"
    set_cookie = done.headers["set-cookie"].lower()
    assert "docchat_login=" in set_cookie and "httponly" in set_cookie
    me = site.app.get("/api/me").json()
    assert me["user"]["username"] == "alice"
    assert me["user"]["issuer"] == site.provider.issuer
    assert me["user"]["has_password"] is False
    assert me["user"]["display_name"] == "Test alice"
    first_id = me["user"]["id"]
    assert site.app.get("/api/sessions").status_code == 200

    # Signing in again finds the same user by issuer and subject; no second account.
    site.app.cookies.clear()
    sign_in_via_sso(site, "alice")
    assert site.app.get("/api/me").json()["user"]["id"] == first_id


def test_a_claim_can_make_admins(start_site: StartSite) -> None:
    site = start_site(
        scopes=["openid", "email", "profile", "groups"],
        admin_claim="groups",
        admin_values=["docchat-admins"],
    )
    sign_in_via_sso(site, "admin-bo")
    assert site.app.get("/api/me").json()["user"]["is_admin"] is True
    assert site.app.get("/api/users").status_code == 200
    site.app.cookies.clear()
    sign_in_via_sso(site, "carol")
    assert site.app.get("/api/me").json()["user"]["is_admin"] is False
    assert site.app.get("/api/users").status_code == 403


def _refused(response: httpx.Response) -> str:
    """The sign-in failed: back to the login page with the reason, and no login cookie."""
    assert response.status_code == 303, response.text
    location = urlsplit(response.headers["location"])
    assert location.path == "/login"
    assert "docchat_login" not in response.headers.get("set-cookie", "")
    return parse_qs(location.query)["sso_error"][0]


def test_a_forged_or_replayed_callback_is_refused(start_site: StartSite) -> None:
    site = start_site()
    start = site.app.get("/auth/oidc/start")
    with httpx.Client(timeout=30) as browser:
        back = sign_in(browser, start.headers["location"], "mallory")
    query = parse_qs(urlsplit(back).query)
    code = query["code"][0]

    # A state this server never issued (a login CSRF attempt).
    reason = _refused(site.app.get("/auth/oidc/callback", params={"code": code, "state": "x" * 43}))
    assert "unknown or was used" in reason
    # The genuine callback works once ...
    assert site.app.get(back).headers["location"] == "/"
    site.app.cookies.clear()
    # ... and not twice: the state is used up.
    assert "unknown or was used" in _refused(site.app.get(back))
    # The code replayed with a fresh, genuine state: the provider refuses the used code.
    fresh = parse_qs(urlsplit(site.app.get("/auth/oidc/start").headers["location"]).query)
    replay = site.app.get("/auth/oidc/callback", params={"code": code, "state": fresh["state"][0]})
    assert "refused the sign-in code" in _refused(replay)
    assert site.app.get("/api/me").status_code == 401
    # The provider's own error (the user cancelled) ends the flow without a login.
    cancelled = site.app.get(
        "/auth/oidc/callback", params={"error": "access_denied", "state": fresh["state"][0]}
    )
    assert "access_denied" in _refused(cancelled)


def test_allowed_domains_keep_others_out(start_site: StartSite) -> None:
    site = start_site(allowed_domains=["corp.example"])
    done, _ = sign_in_via_sso(site, "alice")  # alice@example.org
    assert "e-mail domain" in _refused(done)
    assert site.app.get("/api/me").status_code == 401


@pytest.fixture
def relying_party(start_site: StartSite) -> Iterator[tuple[OidcClient, OidcProvider]]:
    site = start_site()
    db = Database.from_settings(site.settings)
    assert site.settings.auth.oidc.issuer is not None
    client = OidcClient(db, site.settings.auth.oidc)
    yield client, site.provider
    client.close()
    db.dispose()


def _token(provider: OidcProvider, key: RSAKey | None = None, **changes: object) -> str:
    now = int(time.time())
    claims = {
        "iss": provider.issuer,
        "aud": CLIENT_ID,
        "sub": "eve",
        "iat": now,
        "exp": now + 300,
        "nonce": "the-nonce",
        **changes,
    }
    signer = key or provider.keys.get_by_kid("test-1")
    return jwt.encode({"alg": "RS256", "kid": signer.kid or "test-1"}, claims, signer)


def test_id_tokens_that_fail_a_check_are_refused(
    relying_party: tuple[OidcClient, OidcProvider],
) -> None:
    client, provider = relying_party
    # The control: the provider's key and the right claims pass, so each refusal below is the
    # one claim or signature that was changed.
    assert client.verify_id_token(_token(provider), nonce="the-nonce")["sub"] == "eve"

    now = int(time.time())
    refused = {
        "wrong nonce": (_token(provider), "another-nonce"),
        "expired": (_token(provider, exp=now - 3600, iat=now - 7200), "the-nonce"),
        "wrong audience": (_token(provider, aud="someone-else"), "the-nonce"),
        "wrong issuer": (_token(provider, iss="http://127.0.0.1:1/evil"), "the-nonce"),
        "another key, same kid": (
            _token(provider, key=RSAKey.generate_key(2048, parameters={"kid": "test-1"})),
            "the-nonce",
        ),
        "another key, unknown kid": (
            _token(provider, key=RSAKey.generate_key(2048, parameters={"kid": "rogue"})),
            "the-nonce",
        ),
        "unsigned (alg none)": (_unsigned(provider), "the-nonce"),
        "not a JWT": ("not.a.jwt", "the-nonce"),
    }
    for case, (token, nonce) in refused.items():
        with pytest.raises(NotAuthenticated) as caught:
            client.verify_id_token(token, nonce=nonce)
        assert "single sign-on failed" in caught.value.message, case


def _unsigned(provider: OidcProvider) -> str:
    import base64
    import json

    def part(value: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    now = int(time.time())
    claims = {"iss": provider.issuer, "aud": CLIENT_ID, "sub": "eve", "exp": now + 300}
    return part({"alg": "none"}) + "." + part({**claims, "nonce": "the-nonce"}) + "."


def test_a_rotated_signing_key_is_fetched_again(
    settings: Settings,
    start_server: StartServer,
    corpora: Corpora,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The provider restarts with a new key (a new ``kid``): docchat, holding the old key set,
    fetches the keys again and the next sign-in works."""
    # The refetch is limited to once per JWKS_REFETCH_S against forged key ids; here both
    # sign-ins come within seconds.
    monkeypatch.setattr(oidc_module, "JWKS_REFETCH_S", 0.0)
    port = free_port()
    site_settings = sso_settings(settings, f"http://127.0.0.1:{port}")
    corpora.copy_into(site_settings, [])
    app = start_server(site_settings)
    callback = str(app.base_url.join("/auth/oidc/callback"))
    with oidc_provider(port, [callback]) as first:
        site = SsoSite(app=app, provider=first, settings=site_settings)
        assert sign_in_via_sso(site, "alice")[0].headers["location"] == "/"
    app.cookies.clear()
    with oidc_provider(port, [callback], kid="test-2") as second:
        site = SsoSite(app=app, provider=second, settings=site_settings)
        done, _ = sign_in_via_sso(site, "alice")
        assert done.headers["location"] == "/", done.headers["location"]
    assert app.get("/api/me").json()["user"]["username"] == "alice"
