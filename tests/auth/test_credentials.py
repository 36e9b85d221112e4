"""Passwords (Argon2id), API tokens (stored hashed), signed session cookies, /auth/ login."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from stratascope.auth import sessions
from stratascope.auth.passwords import hash_password, verify_password
from stratascope.auth.tokens import token_hash
from stratascope.catalogue import accounts as store
from stratascope.catalogue.models import ApiToken, User
from stratascope.config import load_settings


def test_password_hashing():
    hashed = hash_password("correct horse")
    assert hashed.startswith("$argon2id$") and "correct horse" not in hashed
    assert hash_password("correct horse") != hashed  # salted
    assert verify_password(hashed, "correct horse")
    assert not verify_password(hashed, "correct horsE")
    assert not verify_password(hashed, "")
    assert not verify_password(None, "correct horse")
    assert not verify_password("not a hash", "correct horse")
    with pytest.raises(ValueError):
        hash_password("")
    with pytest.raises(ValueError):
        hash_password("x" * 5000)


def test_users_groups_and_tokens_in_the_catalogue(services):
    db = services.catalogue
    store.add_user(db, "alice", password="alice-password")
    with pytest.raises(store.AccountError, match="already exists"):
        store.add_user(db, "alice", password="other")
    with pytest.raises(store.AccountError, match="bad user name"):
        store.add_user(db, "no spaces please")
    store.add_group(db, "lab")
    assert store.add_member(db, "lab", "alice") and not store.add_member(db, "lab", "alice")
    with pytest.raises(store.AccountError, match="no group"):
        store.add_member(db, "nolab", "alice")
    token = store.create_token(db, "alice", label="script")
    with db.session() as session:
        stored = session.scalars(select(ApiToken.token_hash)).all()
        password_hash = session.scalar(select(User.password_hash))
    assert stored == [token_hash(token)] and token not in stored  # only the hash is kept
    assert password_hash.startswith("$argon2id$")
    principal = store.principal_for_token(db, token)
    assert principal.name == "alice" and principal.role == "member" and principal.group_ids == {store.group_id(db, "lab")}
    assert store.principal_for_token(db, token[:-1] + ("A" if token[-1] != "A" else "B")) is None
    assert store.principal_for_token(db, "not-a-token") is None
    assert store.revoke_tokens(db, "alice") == 1 and store.principal_for_token(db, token) is None
    assert store.authenticate(db, "alice", "alice-password")[0].name == "alice"
    assert store.authenticate(db, "alice", "wrong") is None and store.authenticate(db, "nobody", "x") is None


def test_session_cookies_are_signed_and_expire(monkeypatch, services, make_services):
    auth = services.auth
    cookie = sessions.make_cookie(auth, 7, "abc")
    assert sessions.read_cookie(auth, cookie) == (7, "abc")
    assert sessions.read_cookie(auth, cookie[:-2] + ("xx" if not cookie.endswith("xx") else "yy")) is None
    assert sessions.read_cookie(auth, "garbage") is None and sessions.read_cookie(auth, "") is None
    # another server secret (another deployment) does not accept it
    monkeypatch.setenv("STRATASCOPE_SESSION_SECRET", "s" * 40)
    auth = make_services().auth
    assert sessions.read_cookie(auth, cookie) is None
    cookie = sessions.make_cookie(auth, 7, "abc")
    monkeypatch.setenv("STRATASCOPE_SESSION_MAX_AGE", "1")
    auth = make_services().auth
    assert sessions.read_cookie(auth, cookie) == (7, "abc")
    time.sleep(2.1)
    assert sessions.read_cookie(auth, cookie) is None
    monkeypatch.setenv("STRATASCOPE_SESSION_SECRET", "short")
    with pytest.raises(ValueError, match="at least"):
        sessions.auth_settings(load_settings())


def test_secret_is_created_once_in_home(stratascope_home, services, make_services):
    first = services.auth.secret
    assert (stratascope_home / "session-secret").read_text() == first
    assert oct((stratascope_home / "session-secret").stat().st_mode & 0o777) == "0o600"
    assert make_services().auth.secret == first  # survives a restart: sessions stay valid


def test_login_me_logout(client, world):
    assert client.get("/auth/me").json() == {"id": None, "name": None, "role": "public", "groups": []}
    private = f"/webgateway/render_thumbnail/{world.private_image}/"
    assert client.get(private).status_code == 404
    wrong = client.post("/auth/login", json={"username": "alice", "password": "nope"})
    assert wrong.status_code == 401 and sessions.COOKIE_NAME not in wrong.cookies
    assert client.post("/auth/login", json={"username": "nobody", "password": "nope"}).status_code == 401
    assert client.post("/auth/login", json={"username": "alice"}).status_code == 400
    assert client.post("/auth/login", content=b"{not json", headers={"content-type": "application/json"}).status_code == 400
    # an HTML form works too
    ok = client.post("/auth/login", data={"username": "alice", "password": "alice-password"})
    assert ok.status_code == 200 and ok.json()["name"] == "alice" and ok.json()["groups"] == ["lab-a"]
    set_cookie = ok.headers["set-cookie"].lower()
    assert "httponly" in set_cookie and "samesite=lax" in set_cookie
    assert client.get("/auth/me").json()["role"] == "member"
    response = client.get(private)
    assert response.status_code == 200 and response.headers["cache-control"].startswith("private")
    assert client.post("/auth/logout").status_code == 200
    assert client.get(private).status_code == 404
    assert client.get("/auth/me").json()["role"] == "public"


def test_password_change_ends_sessions_and_redirects_stay_local(services, client, world):
    login = client.post("/auth/login?next=/view/1", data={"username": "bob", "password": "bob-password"},
                        follow_redirects=False)
    assert login.status_code == 303 and login.headers["location"] == "/view/1"
    assert client.get("/auth/me").json()["name"] == "bob"
    store.set_password(services.catalogue, "bob", "a-new-password")
    services.forget_memory()  # forget the principal cache (5 s) as another replica would
    assert client.get("/auth/me").json()["role"] == "public"
    away = client.post("/auth/login?next=//evil.example/", data={"username": "bob", "password": "a-new-password"},
                       follow_redirects=False)
    assert away.status_code == 200  # no open redirect
    admin = client.get("/auth/me", headers={"Authorization": f"Bearer {world.tokens['admin']}"}).json()
    assert admin["role"] == "admin"
