"""Single sign-on with any OpenID Connect provider: the authorization code flow with PKCE.

``start`` records a flow (random ``state``, ``nonce`` and PKCE verifier) in the database and
returns the provider's authorization URL; ``finish`` takes the callback's ``state`` and
``code``, consumes the flow (a second callback with the same ``state`` finds nothing), trades
the code for tokens at the provider's token endpoint with the verifier, and checks the ID token:
its signature against the provider's published keys (JWKS, cached, fetched again when a token
names a key id it does not hold: providers rotate keys), an asymmetric algorithm only (never
``none``, never HMAC with a public key), ``iss`` equal to the configured issuer, ``aud``
holding the client id, ``exp`` in the future, and ``nonce`` equal to the flow's.  Whom it
identifies is ``(iss, sub)``, never the e-mail alone (an e-mail can change hands).

The provider's metadata comes from ``<issuer>/.well-known/openid-configuration``, whose own
``issuer`` must be the configured one (OpenID Connect Discovery §4.3).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import httpx
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet
from sqlalchemy import delete

from docchat.accounts.models import OidcFlowRow
from docchat.config import OidcSettings
from docchat.db import Database, utcnow
from docchat.errors import NotAuthenticated, ProviderError

#: How long a sign-in may stay at the provider before its callback is refused.
FLOW_TTL = dt.timedelta(minutes=10)
#: ID token signatures accepted: asymmetric only, so no one holding the client secret (or the
#: public key) can mint one.
ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"]
#: Keys are fetched again for an unknown key id at most this often (a forged ``kid`` must not
#: make every request hit the provider).
JWKS_REFETCH_S = 30.0
#: Clock skew allowed on ``exp``/``iat``/``nbf`` between the provider and this server.
LEEWAY_S = 60


@dataclass(frozen=True, slots=True)
class Identity:
    """Who the provider says signed in."""

    issuer: str
    subject: str
    #: A user name to start from: ``preferred_username``, else the e-mail, else ``sub``.
    username: str
    display_name: str
    email: str | None
    #: From the admin claim mapping; None when no mapping is configured.
    admin: bool | None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _failed(reason: str) -> NotAuthenticated:
    return NotAuthenticated(f"single sign-on failed: {reason}")


class OidcClient:
    """docchat as a relying party of one provider (``auth.oidc``)."""

    def __init__(
        self, db: Database, settings: OidcSettings, *, http: httpx.Client | None = None
    ) -> None:
        if not settings.issuer or not settings.client_id:
            raise ValueError("single sign-on needs auth.oidc.issuer and auth.oidc.client_id")
        self._db = db
        self.settings = settings
        self.issuer: str = settings.issuer
        self.client_id: str = settings.client_id
        self._http = http or httpx.Client(timeout=settings.timeout_s, follow_redirects=False)
        self._lock = threading.Lock()
        self._metadata: dict[str, Any] | None = None
        self._keys: KeySet | None = None
        self._keys_fetched = 0.0

    def close(self) -> None:
        """Close the HTTP client."""
        self._http.close()

    # -- the provider -----------------------------------------------------------------------------

    def _get_json(self, url: str) -> dict[str, Any]:
        try:
            response = self._http.get(url, headers={"Accept": "application/json"})
            response.raise_for_status()
            body = response.json()
        except httpx.HTTPError as exc:
            raise ProviderError(
                f"the sign-in provider did not answer at {url} ({type(exc).__name__})",
                kind="unavailable",
            ) from None
        except ValueError:
            raise ProviderError(
                f"the sign-in provider answered {url} with something other than JSON",
                kind="bad_response",
            ) from None
        if not isinstance(body, dict):
            raise ProviderError(f"unexpected answer from {url}", kind="bad_response")
        return body

    def metadata(self) -> dict[str, Any]:
        """The provider's discovery document (fetched once)."""
        with self._lock:
            if self._metadata is None:
                url = self.issuer.rstrip("/") + "/.well-known/openid-configuration"
                found = self._get_json(url)
                if found.get("issuer") != self.issuer:
                    raise ProviderError(
                        "the provider's discovery document names another issuer than "
                        "auth.oidc.issuer",
                        kind="bad_response",
                    )
                for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
                    if not isinstance(found.get(key), str):
                        raise ProviderError(
                            f"the provider's discovery document has no {key}", kind="bad_response"
                        )
                self._metadata = found
            return self._metadata

    def _key_set(self, *, refresh: bool) -> KeySet:
        jwks_uri = self.metadata()["jwks_uri"]
        with self._lock:
            stale = refresh and time.monotonic() - self._keys_fetched >= JWKS_REFETCH_S
            if self._keys is None or stale:
                body = self._get_json(jwks_uri)
                try:
                    self._keys = KeySet.import_key_set(body)  # type: ignore[arg-type]
                except (JoseError, ValueError, TypeError, KeyError):
                    raise ProviderError(
                        "the provider's key set (JWKS) could not be read", kind="bad_response"
                    ) from None
                self._keys_fetched = time.monotonic()
            return self._keys

    # -- the flow ---------------------------------------------------------------------------------

    def start(self, redirect_uri: str) -> str:
        """Record a new sign-in and return the provider's URL to send the browser to."""
        metadata = self.metadata()
        state = secrets.token_urlsafe(32)
        nonce = secrets.token_urlsafe(32)
        verifier = secrets.token_urlsafe(64)
        now = utcnow()
        with self._db.write() as session:
            session.execute(delete(OidcFlowRow).where(OidcFlowRow.created_at < now - FLOW_TTL))
            session.add(
                OidcFlowRow(
                    state=state,
                    nonce=nonce,
                    code_verifier=verifier,
                    redirect_uri=redirect_uri,
                    created_at=now,
                )
            )
        scopes = ["openid", *(s for s in self.settings.scopes if s != "openid")]
        query = urlencode(
            {
                "response_type": "code",
                "client_id": self.client_id,
                "redirect_uri": redirect_uri,
                "scope": " ".join(scopes),
                "state": state,
                "nonce": nonce,
                "code_challenge": _b64(hashlib.sha256(verifier.encode()).digest()),
                "code_challenge_method": "S256",
            }
        )
        endpoint: str = metadata["authorization_endpoint"]
        return endpoint + ("&" if "?" in endpoint else "?") + query

    def forget(self, state: str) -> None:
        """Drop a flow the provider ended without a code (the user cancelled, say)."""
        with self._db.write() as session:
            session.execute(delete(OidcFlowRow).where(OidcFlowRow.state == state[:64]))

    def finish(self, *, state: str, code: str) -> Identity:
        """Check the callback of a sign-in and return whom it identifies.

        NotAuthenticated (naming what failed) for an unknown, used or expired ``state``, a code
        the provider refuses, or an ID token that fails any check.
        """
        with self._db.write() as session:
            flow = session.get(OidcFlowRow, state[:64])
            if flow is not None:
                session.delete(flow)  # used once, whatever happens next
        if flow is None:
            raise _failed("this sign-in is unknown or was used already; start again")
        if flow.created_at < utcnow() - FLOW_TTL:
            raise _failed("this sign-in took too long; start again")
        tokens = self._redeem(code, flow)
        id_token = tokens.get("id_token")
        if not isinstance(id_token, str):
            raise _failed("the provider sent no ID token")
        claims = self.verify_id_token(id_token, nonce=flow.nonce)
        return self._identity(claims)

    def _redeem(self, code: str, flow: OidcFlowRow) -> dict[str, Any]:
        metadata = self.metadata()
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": flow.redirect_uri,
            "code_verifier": flow.code_verifier,
            "client_id": self.client_id,
        }
        auth: httpx.Auth | None = None
        secret = self.settings.client_secret
        if secret is not None:
            methods = metadata.get("token_endpoint_auth_methods_supported") or [
                "client_secret_basic"
            ]
            if "client_secret_basic" in methods:
                # RFC 6749 §2.3.1: both are form-encoded before they go into Basic.
                auth = httpx.BasicAuth(
                    quote(self.client_id, safe=""), quote(secret.get_secret_value(), safe="")
                )
            else:
                form["client_secret"] = secret.get_secret_value()
        try:
            response = self._http.post(
                metadata["token_endpoint"],
                data=form,
                auth=auth if auth is not None else httpx.USE_CLIENT_DEFAULT,
                headers={"Accept": "application/json"},
            )
        except httpx.HTTPError as exc:
            raise ProviderError(
                f"the sign-in provider's token endpoint did not answer ({type(exc).__name__})",
                kind="unavailable",
            ) from None
        if response.status_code >= 400:
            # invalid_grant: a replayed, expired or foreign code; its wording is the provider's.
            raise _failed("the provider refused the sign-in code (used already, or expired)")
        try:
            body = response.json()
        except ValueError:
            raise _failed("the provider's token answer is not JSON") from None
        if not isinstance(body, dict):
            raise _failed("the provider's token answer is not an object")
        return body

    def verify_id_token(self, id_token: str, *, nonce: str) -> dict[str, Any]:
        """The claims of ``id_token`` once every check holds; NotAuthenticated otherwise."""
        try:
            try:
                token = jwt.decode(id_token, self._key_set(refresh=False), algorithms=ALGORITHMS)
            except InvalidKeyIdError:
                token = jwt.decode(id_token, self._key_set(refresh=True), algorithms=ALGORITHMS)
        except InvalidKeyIdError:
            raise _failed("the ID token is signed by a key the provider does not publish") from None
        except JoseError as exc:
            raise _failed(f"the ID token's signature does not hold ({exc.error})") from None
        except ValueError:
            raise _failed("the ID token is not a JWT") from None
        registry = jwt.JWTClaimsRegistry(
            leeway=LEEWAY_S,
            iss={"essential": True, "value": self.issuer},
            aud={"essential": True, "value": self.client_id},
            exp={"essential": True},
            sub={"essential": True},
            nonce={"essential": True, "value": nonce},
        )
        try:
            registry.validate(token.claims)
        except JoseError as exc:
            claim = getattr(exc, "claim", None) or exc.error
            raise _failed(f"the ID token's '{claim}' does not hold ({exc.error})") from None
        claims = dict(token.claims)
        audience = claims.get("aud")
        if isinstance(audience, list) and len(audience) > 1 and claims.get("azp") != self.client_id:
            raise _failed("the ID token was issued to another client (azp)")
        return claims

    def _identity(self, claims: dict[str, Any]) -> Identity:
        email = claims.get("email") if isinstance(claims.get("email"), str) else None
        settings = self.settings
        if settings.allowed_domains:
            domain = email.rsplit("@", 1)[-1].lower() if email and "@" in email else None
            verified = claims.get("email_verified", True) is not False
            allowed = {d.lower().lstrip("@") for d in settings.allowed_domains}
            if domain is None or not verified or domain not in allowed:
                raise _failed("your e-mail domain may not sign in here")
        if settings.allowed_groups and not set(_strings(claims.get(settings.groups_claim))) & set(
            settings.allowed_groups
        ):
            raise _failed("your groups may not sign in here")
        admin: bool | None = None
        if settings.admin_claim:
            admin = bool(
                set(_strings(claims.get(settings.admin_claim))) & set(settings.admin_values)
            )
        subject = str(claims["sub"])
        username = next(
            (
                value
                for value in (claims.get("preferred_username"), email, subject)
                if isinstance(value, str) and value.strip()
            ),
            subject,
        )
        name = claims.get("name")
        return Identity(
            issuer=self.issuer,
            subject=subject,
            username=username,
            display_name=name if isinstance(name, str) else "",
            email=email,
            admin=admin,
        )


def _strings(value: object) -> list[str]:
    """A claim as a list of strings: a string alone, or the strings of a list."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [item for item in value if isinstance(item, str)]
    return []
