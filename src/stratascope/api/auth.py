"""HTTP side of access control: who is asking (a middleware), and login / logout / me.

Every request is resolved to a `Principal` before any handler runs and kept on
`request.state.principal`: a `Bearer` API token wins over the viewer's session cookie;
neither means the anonymous public. A bad token is a 401 (scripts should hear about it);
a bad or expired cookie just means anonymous (the viewer keeps showing public data).

Caching: answers to anonymous requests only ever contain public data and keep their
`Cache-Control: public` (nginx may cache them). Every answer to an authenticated request
is marked `Cache-Control: private`, so no shared cache stores what a user may see.
"""

from __future__ import annotations

import asyncio
import json
import logging
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.datastructures import Headers, MutableHeaders

from ..auth import sessions
from ..auth.errors import BadLoginRequest
from ..auth.throttle import cross_origin
from ..auth.tokens import token_hash
from ..catalogue import accounts as store
from ..catalogue.principal import ANONYMOUS, Principal
from ..services import Services
from .body_limit import BodyTooLarge
from .deps import services_of

log = logging.getLogger(__name__)
MAX_LOGIN_BODY = 64 * 1024

def viewer_of(request: Request) -> Principal:
    """The principal of this request (anonymous when the middleware did not run)."""
    principal = request.scope.get("state", {}).get("principal")
    return principal if isinstance(principal, Principal) else ANONYMOUS


class InvalidToken(Exception):
    pass


def resolve_principal(services: Services, headers: Headers) -> Principal:
    """Blocking (SQL on a cache miss): run in a thread from async code. Answers are reused for
    a few seconds (services.principals), so role and membership changes reach every replica soon."""
    db, cached = services.catalogue, services.principals
    authorization = headers.get("authorization")
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() == "bearer":
            token = token.strip()
            principal = cached.get_or_compute(("token", token_hash(token)), lambda: store.principal_for_token(db, token))
            if principal is None:
                raise InvalidToken()
            return principal
    cookie = _cookie(headers, sessions.COOKIE_NAME)
    session = sessions.read_cookie(services.auth, cookie) if cookie else None
    if session is None:
        return ANONYMOUS
    principal = cached.get_or_compute(("session", *session), lambda: store.principal_for_session(db, *session))
    return principal or ANONYMOUS


def _cookie(headers: Headers, name: str) -> str | None:
    for header in headers.getlist("cookie"):
        for part in header.split(";"):
            key, _, value = part.strip().partition("=")
            if key == name:
                return value.strip('"')
    return None


class AuthMiddleware:
    """Pure ASGI (streams untouched): sets the principal, marks authenticated answers private."""

    def __init__(self, app, services: Services):
        self.app = app
        self.services = services

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        try:
            principal = await asyncio.to_thread(resolve_principal, self.services, Headers(scope=scope))
        except InvalidToken:
            response = JSONResponse({"message": "invalid or revoked API token"}, status_code=401,
                                    headers={"WWW-Authenticate": 'Bearer error="invalid_token"',
                                             "Cache-Control": "no-store"})
            return await response(scope, receive, send)
        scope.setdefault("state", {})["principal"] = principal
        if principal.anonymous:
            return await self.app(scope, receive, send)

        async def send_private(message):
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                control = headers.get("cache-control", "")
                if "no-store" not in control:
                    kept = [d.strip() for d in control.split(",") if d.strip() and d.strip() not in ("public", "private")]
                    headers["cache-control"] = ", ".join(["private", *kept])
            await send(message)

        await self.app(scope, receive, send_private)


# -- /auth/ -----------------------------------------------------------------------------------

router = APIRouter(prefix="/auth", tags=["auth"])


async def _bounded_body(request: Request, limit: int) -> bytes:
    """The body, refused (413) as soon as it is declared or streams in above `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(limit)
    parts, size = [], 0
    async for part in request.stream():
        size += len(part)
        if size > limit:
            raise BodyTooLarge(limit)
        parts.append(part)
    return b"".join(parts)


async def _credentials(request: Request) -> tuple[str, str]:
    body = await _bounded_body(request, MAX_LOGIN_BODY)
    if "application/json" in request.headers.get("content-type", ""):
        try:
            data = json.loads(body or b"{}")
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
            raise BadLoginRequest("the login body is not valid JSON") from None
        data = data if isinstance(data, dict) else {}
    else:  # an HTML form (application/x-www-form-urlencoded)
        data = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
    username, password = data.get("username"), data.get("password")
    if not isinstance(username, str) or not isinstance(password, str) or not username or not password:
        raise BadLoginRequest("username and password are required")
    return username, password


def _me(services: Services, principal: Principal) -> dict:
    return {"id": principal.user_id, "name": None if principal.anonymous else principal.name,
            "role": principal.role, "groups": store.group_names(services.catalogue, principal.group_ids)}


@router.post("/login", summary="Log in with a user name and password (sets the session cookie)")
async def login(request: Request, next: str | None = None):  # noqa: A002
    services = services_of(request)
    own = f"{request.url.scheme}://{request.url.netloc}"
    foreign = cross_origin(request.headers, own, services.settings.allowed_origins)
    if foreign is not None:  # login CSRF: another site's page must not log its visitor in
        log.warning("refused a cross-origin login POST from %s", foreign)
        return JSONResponse({"message": f"login from another site ({foreign}) is refused; allowed origins are "
                             "this server's own and [server] allowed_origins"}, status_code=403,
                            headers={"Cache-Control": "no-store"})
    username, password = await _credentials(request)
    throttle = services.login_throttle
    keys = throttle.keys(username, request.client.host if request.client else None)
    wait = throttle.retry_after(keys)
    if wait is not None:  # refused without checking the password: guessing on learns nothing
        log.warning("login throttled for %r from %s", username, keys[1][5:])
        return JSONResponse({"message": f"too many failed logins; try again in {wait} s"}, status_code=429,
                            headers={"Retry-After": str(wait), "Cache-Control": "no-store"})
    result = await asyncio.to_thread(store.authenticate, services.catalogue, username, password)
    if result is None:
        throttle.failed(keys)
        return JSONResponse({"message": "wrong user name or password"}, status_code=401,
                            headers={"Cache-Control": "no-store"})
    throttle.succeeded(username)
    principal, fingerprint = result
    settings = services.auth
    # only a local path: never an open redirect to another site
    safe_next = next if next and next.startswith("/") and not next.startswith("//") and "\\" not in next else None
    response: Response = (RedirectResponse(safe_next, status_code=303) if safe_next
                          else JSONResponse(await asyncio.to_thread(_me, services, principal)))
    response.set_cookie(sessions.COOKIE_NAME, sessions.make_cookie(settings, principal.user_id, fingerprint),
                        max_age=settings.max_age, httponly=True, samesite="lax", secure=settings.secure_cookie)
    response.headers["Cache-Control"] = "no-store"
    return response


@router.post("/logout", summary="Forget the session cookie")
async def logout():
    response = JSONResponse({"message": "logged out"}, headers={"Cache-Control": "no-store"})
    response.delete_cookie(sessions.COOKIE_NAME, httponly=True, samesite="lax")
    return response


@router.get("/me", summary="Who this request is made as (anonymous, member or admin)")
async def me(request: Request):
    body = await asyncio.to_thread(_me, services_of(request), viewer_of(request))
    return JSONResponse(body, headers={"Cache-Control": "no-store"})
