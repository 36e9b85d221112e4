"""Stateless, signed session cookies for the web viewer.

The cookie holds the user id and a fingerprint of the password hash, signed with a server
secret and time-stamped (itsdangerous). Nothing is stored on the server, so any replica can
check any cookie, provided all replicas share the secret: set `STRATASCOPE_SESSION_SECRET`
(or `[auth] session_secret` in stratascope.toml) when running more than one process.
Without it, a random secret is created once in `$STRATASCOPE_HOME/session-secret`.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from itsdangerous import BadSignature, URLSafeTimedSerializer

from .. import state
from ..config import get_settings

log = logging.getLogger(__name__)

COOKIE_NAME = "stratascope_session"
DEFAULT_MAX_AGE = 12 * 3600
MIN_SECRET_LENGTH = 32
_lock = threading.Lock()


@dataclass(frozen=True)
class AuthSettings:
    secret: str
    max_age: int
    secure_cookie: bool


def _auth_section() -> dict:
    config_file = get_settings().config_file
    if not config_file:
        return {}
    with open(config_file, "rb") as fh:
        return tomllib.load(fh).get("auth", {})


def _stored_secret(home: Path) -> str:
    """The secret kept in STRATASCOPE_HOME, created on first use (single-machine setups)."""
    path = home / "session-secret"
    with _lock:
        if path.is_file():
            return path.read_text().strip()
        secret = secrets.token_urlsafe(48)
        if get_settings().read_only:  # read-only mode writes nothing: sessions end with the process
            log.warning("no session secret configured and read-only mode: using a per-process secret")
            return secret
        home.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secret)
        return secret


@lru_cache(maxsize=1)
def auth_settings() -> AuthSettings:
    section = _auth_section()
    secret = os.environ.get("STRATASCOPE_SESSION_SECRET") or section.get("session_secret")
    if secret is not None and len(secret) < MIN_SECRET_LENGTH:
        raise ValueError(f"the session secret must be at least {MIN_SECRET_LENGTH} characters long")
    max_age = int(os.environ.get("STRATASCOPE_SESSION_MAX_AGE") or section.get("session_max_age", DEFAULT_MAX_AGE))
    secure = os.environ.get("STRATASCOPE_SECURE_COOKIE", str(section.get("secure_cookie", False)))
    return AuthSettings(secret or _stored_secret(get_settings().home), max_age,
                        secure.strip().lower() in {"1", "true", "yes", "on"})


state.on_reset(auth_settings.cache_clear)


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(auth_settings().secret, salt="stratascope-session")


def make_cookie(user_id: int, fingerprint: str) -> str:
    return _serializer().dumps([user_id, fingerprint])


def read_cookie(value: str) -> tuple[int, str] | None:
    """(user id, password fingerprint) of a valid, unexpired cookie; None otherwise."""
    if not value or len(value) > 4096:
        return None
    try:
        data = _serializer().loads(value, max_age=auth_settings().max_age)
    except (BadSignature, ValueError, TypeError):
        return None
    if not (isinstance(data, list) and len(data) == 2 and type(data[0]) is int and isinstance(data[1], str)):
        return None
    return data[0], data[1]
