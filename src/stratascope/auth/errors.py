"""Access-control errors raised into request handlers; api/errors.py maps them to HTTP statuses."""


class AuthError(Exception):
    """Root of access-control failures."""


class BadLoginRequest(AuthError):
    """A login request is malformed: too large, not JSON, no user name or password (400)."""
