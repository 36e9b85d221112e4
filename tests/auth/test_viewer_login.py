"""The viewer's login form: an HTML form post sets the session cookie and returns to the page."""

from __future__ import annotations

import pytest


def test_pages_carry_a_login_form_posting_to_auth_login(client):
    for page in ("/", "/static/viewer.html"):
        html = client.get(page).text
        assert 'id="login"' in html and 'action="/auth/login' in html, page
        assert 'name="username"' in html and 'name="password"' in html
        assert "/static/js/session.js" in html
    assert client.get("/static/js/session.js").status_code == 200


@pytest.mark.parametrize("password, ok", [("alice-password", True), ("wrong", False)])
def test_form_login_opens_private_images_and_logout_closes_them(client, world, password, ok):
    url = f"/webgateway/imgData/{world.private_image}/"
    assert client.get(url).status_code == 404  # anonymous: invisible
    response = client.post(f"/auth/login?next=/view/{world.private_image}",
                           data={"username": "alice", "password": password}, follow_redirects=False)
    if not ok:
        assert response.status_code == 401 and client.get(url).status_code == 404
        return
    assert response.status_code == 303 and response.headers["location"] == f"/view/{world.private_image}"
    assert "stratascope_session" in response.headers["set-cookie"]
    assert client.get("/auth/me").json()["name"] == "alice"
    assert client.get(url).status_code == 200
    client.post("/auth/logout")
    client.cookies.clear()
    assert client.get(url).status_code == 404
