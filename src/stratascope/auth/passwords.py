"""Password hashing with Argon2id (argon2-cffi's recommended parameters)."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
#: The longest password accepted: hashing is deliberately slow, huge inputs must not cost more.
MAX_PASSWORD_LENGTH = 1024


def hash_password(password: str) -> str:
    if not password:
        raise ValueError("the password must not be empty")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise ValueError(f"the password is longer than {MAX_PASSWORD_LENGTH} characters")
    return _hasher.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    """True only for the right password; False for a wrong one, a token-only account or a bad hash."""
    if not stored_hash or not password or len(password) > MAX_PASSWORD_LENGTH:
        return False
    try:
        return _hasher.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    return _hasher.check_needs_rehash(stored_hash)
