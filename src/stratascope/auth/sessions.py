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
from dataclasses import dataclass
from pathlib import Path

from itsdangerous import BadSignature, URLSafeTimedSerializer

from ..config import Settings

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


def _stored_secret(home: Path, read_only: bool) -> str:
    """The secret kept in STRATASCOPE_HOME, created on first use (single-machine setups)."""
    path = home / "session-secret"
    with _lock:
        if path.is_file():
            return path.read_text().strip()
        secret = secrets.token_urlsafe(48)
        if read_only:  # read-only mode writes nothing: sessions end with the process
            log.warning("no session secret configured and read-only mode: using a per-process secret")
            return secret
        home.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secret)
        return secret


def auth_settings(settings: Settings) -> AuthSettings:
    """From `[auth]` in stratascope.toml and STRATASCOPE_SESSION_* (see config.py)."""
    section = settings.auth
    secret = section.get("session_secret")
    if secret is not None and len(secret) < MIN_SECRET_LENGTH:
        raise ValueError(f"the session secret must be at least {MIN_SECRET_LENGTH} characters long")
    max_age = int(section.get("session_max_age", DEFAULT_MAX_AGE))
    secure = str(section.get("secure_cookie", False))
    return AuthSettings(secret or _stored_secret(settings.home, settings.read_only), max_age,
                        secure.strip().lower() in {"1", "true", "yes", "on"})


def _serializer(auth: AuthSettings) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(auth.secret, salt="stratascope-session")


def make_cookie(auth: AuthSettings, user_id: int, fingerprint: str) -> str:
    return _serializer(auth).dumps([user_id, fingerprint])


def read_cookie(auth: AuthSettings, value: str) -> tuple[int, str] | None:
    """(user id, password fingerprint) of a valid, unexpired cookie; None otherwise."""
    if not value or len(value) > 4096:
        return None
    try:
        data = _serializer(auth).loads(value, max_age=auth.max_age)
    except (BadSignature, ValueError, TypeError):
        return None
    if not (isinstance(data, list) and len(data) == 2 and type(data[0]) is int and isinstance(data[1], str)):
        return None
    return data[0], data[1]
