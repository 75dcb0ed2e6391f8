"""`next` (login) and `url` (admin forms) send people back only to this site."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from flask import g

from tests.admin_support import PENDING, csrf_token
from tests.factories import PASSWORD

OFF_SITE = [
    "https://evil.example/",
    "//evil.example/",
    "/\\evil.example/",
    "\\\\evil.example/",
    "/\\/evil.example/",
    "/\t/evil.example/",  # browsers drop tabs and newlines: "//evil.example/"
    "/\n/evil.example/",
    "/\r/evil.example/",
    "/\x00/evil.example/",
    "javascript:alert(1)",
    "evil.example",
    "",
]


def fresh() -> None:
    g.pop("_login_user", None)
    g.pop("csrf_token", None)


def login_with_next(client, user, target: str):
    fresh()
    token = csrf_token(client, "/login")
    return client.post(
        "/login", query_string={"next": target}, data={"email": user.email, "password": PASSWORD, "csrf_token": token}
    )


@pytest.mark.parametrize("target", OFF_SITE)
def test_login_never_redirects_off_site(app, client, world, target):
    response = login_with_next(client, world.a.users["viewer"], target)

    assert response.status_code == 302
    assert urlsplit(response.location).path == PENDING + "/"
    assert "evil" not in response.location


def test_login_follows_a_path_on_this_site(app, client, world):
    response = login_with_next(client, world.a.users["viewer"], "/admin/audit/?sort=1")

    assert response.location == "/admin/audit/?sort=1"


@pytest.mark.parametrize("target", OFF_SITE)
def test_admin_forms_never_return_off_site(app, client, world, target):
    login_with_next(client, world.a.users["viewer"], "/")
    fresh()
    token = csrf_token(client, PENDING + "/")

    response = client.post(PENDING + "/columns", data={"columns": "label", "url": target, "csrf_token": token})

    assert response.status_code == 302
    assert urlsplit(response.location).path == PENDING + "/"
    assert "evil" not in response.location


def test_admin_forms_return_to_a_path_on_this_site(app, client, world):
    login_with_next(client, world.a.users["viewer"], "/")
    fresh()
    token = csrf_token(client, PENDING + "/")

    response = client.post(
        PENDING + "/columns", data={"columns": "label", "url": PENDING + "/?page=2", "csrf_token": token}
    )

    assert response.location == PENDING + "/?page=2"
