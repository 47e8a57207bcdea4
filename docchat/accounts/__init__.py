"""Accounts (issue 15): local users with Argon2 passwords, browser logins, API tokens.

``Accounts`` (``store.py``) is the one entry point; a user's id is the ``owner`` every other
table scopes by (``docchat.owners``).
"""

from docchat.accounts.store import Accounts
from docchat.accounts.types import Login, NewToken, Principal, TokenInfo, Usage, User

__all__ = ["Accounts", "Login", "NewToken", "Principal", "TokenInfo", "Usage", "User"]
