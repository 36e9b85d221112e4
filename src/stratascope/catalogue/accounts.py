"""Users, groups, memberships and API tokens in the catalogue database."""

from __future__ import annotations

import hashlib
import re
from functools import cache

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from ..auth.passwords import hash_password, verify_password
from ..auth.tokens import looks_like_token, new_token, token_hash
from .db import Catalogue
from .models import ApiToken, Group, Membership, User
from .principal import Principal

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,254}$")


@cache
def _dummy_hash() -> str:
    """Verified against when the user does not exist, so that timing does not reveal user names."""
    return hash_password("not a real password")


class AccountError(Exception):
    """A user or group that does not exist, already exists, or a bad name."""


def _check_name(kind: str, name: str) -> str:
    if not NAME.match(name):
        raise AccountError(f"bad {kind} name {name!r}: use letters, digits and . _ @ + - (at most 255)")
    return name


def _user(session, name: str) -> User:
    row = session.scalar(select(User).where(User.name == name))
    if row is None:
        raise AccountError(f"no user {name!r}")
    return row


def _group(session, name: str) -> Group:
    row = session.scalar(select(Group).where(Group.name == name))
    if row is None:
        raise AccountError(f"no group {name!r}")
    return row


def add_user(db: Catalogue, name: str, *, password: str | None = None, admin: bool = False) -> int:
    _check_name("user", name)
    hashed = hash_password(password) if password is not None else None
    try:
        with db.session(write=True) as session:
            row = User(name=name, password_hash=hashed, is_admin=admin)
            session.add(row)
            session.flush()
            return row.id
    except IntegrityError:
        raise AccountError(f"user {name!r} already exists") from None


def set_password(db: Catalogue, name: str, password: str) -> None:
    hashed = hash_password(password)
    with db.session(write=True) as session:
        _user(session, name).password_hash = hashed


def add_group(db: Catalogue, name: str) -> int:
    _check_name("group", name)
    try:
        with db.session(write=True) as session:
            row = Group(name=name)
            session.add(row)
            session.flush()
            return row.id
    except IntegrityError:
        raise AccountError(f"group {name!r} already exists") from None


def group_id(db: Catalogue, name: str) -> int:
    with db.session() as session:
        return _group(session, name).id


def add_member(db: Catalogue, group: str, user: str) -> bool:
    """Returns False when the user already was a member."""
    with db.session(write=True) as session:
        g, u = _group(session, group), _user(session, user)
        if session.get(Membership, (u.id, g.id)) is not None:
            return False
        session.add(Membership(user_id=u.id, group_id=g.id))
        return True


def remove_member(db: Catalogue, group: str, user: str) -> bool:
    with db.session(write=True) as session:
        g, u = _group(session, group), _user(session, user)
        result = session.execute(delete(Membership).where(Membership.user_id == u.id, Membership.group_id == g.id))
        return result.rowcount > 0


def create_token(db: Catalogue, user: str, *, label: str | None = None) -> str:
    """A new API token for `user`; the only time it is ever seen in clear."""
    token = new_token()
    with db.session(write=True) as session:
        session.add(ApiToken(user_id=_user(session, user).id, token_hash=token_hash(token), label=label))
    return token


def revoke_tokens(db: Catalogue, user: str) -> int:
    with db.session(write=True) as session:
        return session.execute(delete(ApiToken).where(ApiToken.user_id == _user(session, user).id)).rowcount


def group_names(db: Catalogue, ids) -> list[str]:
    if not ids:
        return []
    with db.session() as session:
        return sorted(session.scalars(select(Group.name).where(Group.id.in_(sorted(ids)))))


def list_users(db: Catalogue) -> list[dict]:
    with db.session() as session:
        groups = {g.id: g.name for g in session.scalars(select(Group))}
        members: dict[int, list[str]] = {}
        for m in session.scalars(select(Membership)):
            members.setdefault(m.user_id, []).append(groups[m.group_id])
        tokens: dict[int, int] = {}
        for t in session.scalars(select(ApiToken)):
            tokens[t.user_id] = tokens.get(t.user_id, 0) + 1
        return [{"id": u.id, "name": u.name, "role": "admin" if u.is_admin else "member",
                 "groups": sorted(members.get(u.id, [])), "tokens": tokens.get(u.id, 0),
                 "password": u.password_hash is not None}
                for u in session.scalars(select(User).order_by(User.id))]


def list_groups(db: Catalogue) -> list[dict]:
    with db.session() as session:
        users = {u.id: u.name for u in session.scalars(select(User))}
        members: dict[int, list[str]] = {}
        for m in session.scalars(select(Membership)):
            members.setdefault(m.group_id, []).append(users[m.user_id])
        return [{"id": g.id, "name": g.name, "members": sorted(members.get(g.id, []))}
                for g in session.scalars(select(Group).order_by(Group.id))]


# -- resolving credentials into principals -------------------------------------------------

def password_fingerprint(stored_hash: str | None) -> str:
    """Part of a session cookie: changing the password invalidates every session."""
    return hashlib.sha256((stored_hash or "").encode()).hexdigest()[:16]


def _principal(session, user: User) -> Principal:
    group_ids = session.scalars(select(Membership.group_id).where(Membership.user_id == user.id))
    return Principal(user_id=user.id, name=user.name, is_admin=user.is_admin, group_ids=frozenset(group_ids))


def authenticate(db: Catalogue, name: str, password: str) -> tuple[Principal, str] | None:
    """(principal, password fingerprint) for the right user name and password, else None."""
    with db.session() as session:
        user = session.scalar(select(User).where(User.name == name)) if NAME.match(name or "") else None
        if user is None or user.password_hash is None:
            verify_password(_dummy_hash(), password)
            return None
        if not verify_password(user.password_hash, password):
            return None
        return _principal(session, user), password_fingerprint(user.password_hash)


def principal_for_token(db: Catalogue, token: str) -> Principal | None:
    if not looks_like_token(token):
        return None
    with db.session() as session:
        row = session.scalar(select(ApiToken).where(ApiToken.token_hash == token_hash(token)))
        if row is None:
            return None
        return _principal(session, session.get(User, row.user_id))


def principal_for_session(db: Catalogue, user_id: int, fingerprint: str) -> Principal | None:
    """The user of a session cookie, unless deleted or their password changed since login."""
    with db.session() as session:
        user = session.get(User, user_id)
        if user is None or password_fingerprint(user.password_hash) != fingerprint:
            return None
        return _principal(session, user)
