"""Password hashing: Argon2id through pwdlib, with its recommended parameters.

One hash takes ~160 ms and 64 MiB on this project's 2-core machine (pwdlib's defaults: t=3,
m=65536 KiB, p=4), which is the point: a stolen database costs an attacker that per guess.
A name that matches no user is checked against a dummy hash, so a wrong name and a wrong
password take the same time and the answer does not say which names exist.
"""

from __future__ import annotations

from functools import cache

from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher


@cache
def _hasher() -> PasswordHash:
    return PasswordHash((Argon2Hasher(),))


@cache
def _dummy_hash() -> str:
    return _hasher().hash("docchat: no such user")


def hash_password(password: str) -> str:
    """The Argon2id hash (PHC string) of ``password``."""
    return _hasher().hash(password)


def check_password(password: str, stored: str | None) -> tuple[bool, str | None]:
    """Whether ``password`` matches ``stored`` (None: no password, always False, same time),
    and a new hash when the stored one uses older parameters."""
    if stored is None:
        _hasher().verify(password, _dummy_hash())
        return False, None
    return _hasher().verify_and_update(password, stored)
