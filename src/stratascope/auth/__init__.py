"""Access control: users, groups and roles (admin, member, public), passwords (Argon2id),
API tokens (stored hashed) and signed session cookies. See docs/access.md."""

from .principal import ANONYMOUS, Principal

__all__ = ["ANONYMOUS", "Principal"]
