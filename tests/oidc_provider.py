"""A real OpenID Connect provider for the single sign-on tests: panva's ``oidc-provider`` on
node (``tests/oidc/provider.mjs``; ``make test`` runs ``npm ci`` there from the committed
lockfile), started on a free port with signing keys the test holds too, so a test can also
sign tokens the provider never issued (wrong audience, expired ...) with the provider's own key.

``sign_in`` walks the provider's development login and consent forms with httpx, as a browser
would, and returns the URL the provider sends the browser back to (docchat's callback).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from html import unescape
from pathlib import Path
from urllib.parse import urljoin

import httpx
from joserfc.jwk import KeySet, RSAKey

PROVIDER_DIR = Path(__file__).parent / "oidc"
CLIENT_ID = "docchat-test"
CLIENT_SECRET = "docchat-test-secret"  # the test provider's, nothing else's


@dataclass
class OidcProvider:
    """A running provider: its issuer URL and the key set it signs with (private keys)."""

    issuer: str
    keys: KeySet
    process: subprocess.Popen[str]


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def signing_keys(kid: str = "test-1") -> KeySet:
    """An RSA key pair with a key id, as a provider publishes it."""
    return KeySet([RSAKey.generate_key(2048, parameters={"kid": kid, "use": "sig"})])


@contextmanager
def oidc_provider(
    port: int, redirect_uris: Sequence[str], *, kid: str = "test-1"
) -> Iterator[OidcProvider]:
    """Run the provider on ``port`` with docchat's client allowed to return to ``redirect_uris``,
    signing with a new key named ``kid``."""
    node = shutil.which("node")
    if node is None or not (PROVIDER_DIR / "node_modules" / "oidc-provider").is_dir():
        raise RuntimeError(
            "the test OpenID provider needs node and `npm ci` in tests/oidc (make test does it)"
        )
    keys = signing_keys(kid)
    env = {
        **os.environ,
        "PORT": str(port),
        "REDIRECT_URIS": json.dumps(list(redirect_uris)),
        "JWKS": json.dumps(keys.as_dict(private=True)),
        "NODE_ENV": "test",
    }
    process = subprocess.Popen(
        [node, "provider.mjs"],
        cwd=PROVIDER_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    drain: threading.Thread | None = None
    try:
        assert process.stdout is not None
        said: list[str] = []
        # It warns first (an in-memory store, development forms): fine for a test, not a deploy.
        for line in process.stdout:
            said.append(line)
            if line.startswith("ready"):
                break
        else:
            raise RuntimeError("the OpenID provider did not start:\n" + "".join(said))
        # Nobody reads its output from here on: let it go nowhere rather than fill a pipe.
        drain = threading.Thread(target=process.stdout.read, daemon=True)
        drain.start()
        yield OidcProvider(issuer=f"http://127.0.0.1:{port}", keys=keys, process=process)
    finally:
        process.terminate()
        process.wait(timeout=10)
        if drain is not None:
            drain.join(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


_FORM = re.compile(r'<form[^>]*action="([^"]+)"[^>]*>(.*?)</form>', re.S)
_HIDDEN = re.compile(r'<input[^>]*type="hidden"[^>]*name="([^"]+)"[^>]*value="([^"]*)"')


def _submit(client: httpx.Client, page: httpx.Response, fields: dict[str, str]) -> httpx.Response:
    match = _FORM.search(page.text)
    assert match is not None, page.text[:500]
    data = {name: unescape(value) for name, value in _HIDDEN.findall(match.group(2))}
    return client.post(urljoin(str(page.url), unescape(match.group(1))), data={**data, **fields})


def sign_in(client: httpx.Client, authorization_url: str, user: str) -> str:
    """Sign in as ``user`` at the provider (login form, then consent) starting from
    ``authorization_url``; returns the redirect back to the client, code and state included."""
    response = client.get(authorization_url, follow_redirects=True)
    for _ in range(4):
        if 'name="login"' in response.text:
            response = _submit(client, response, {"login": user, "password": "any"})
        else:
            response = _submit(client, response, {})
        while response.is_redirect:
            target = httpx.URL(urljoin(str(response.url), response.headers["location"]))
            if target.port != response.url.port:  # leaving the provider: back to the client
                return str(target)
            response = client.get(target)
    raise AssertionError(f"the provider never sent the browser back: {response.text[:300]}")
