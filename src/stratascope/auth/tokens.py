"""API tokens: 256 random bits shown once; only their SHA-256 is stored.

A fast hash is enough (unlike passwords) because the token has full entropy: nobody can
guess it from the hash, and checking it costs no CPU per request.
"""

from __future__ import annotations

import hashlib
import secrets

PREFIX = "ssp_"


def new_token() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def looks_like_token(text: str) -> bool:
    return text.startswith(PREFIX) and 20 <= len(text) <= 200 and text.isascii()
