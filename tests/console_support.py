"""Staff members with console passwords, and signing them in (through the form, or straight
into a session for tests that are about another page)."""
from __future__ import annotations

import re
import secrets

import pytest

from ledger.people import passwords
from ledger.people.access import Principal
from ledger.people.tables import User
from ledger.store.tables import utcnow
from tests import factories as f

PASSWORD = "correct-horse-battery"


def staff(ctx, role: str, unit_id: int | None = None, desk_id: int | None = None,
          password: str = PASSWORD) -> tuple[Principal, str]:
    """A staff user with a console password; returns (principal, bearer token)."""
    principal, token = f.user(ctx, role, unit_id, desk_id=desk_id)
    give_password(ctx, principal.username, password)
    return principal, token


def give_password(ctx, username: str, password: str = PASSWORD) -> None:
    """Set a user's console password."""
    with ctx.uow() as uow:
        user = uow.session.query(User).filter_by(username=username).one()
        passwords.set_password(uow.session, user, password, utcnow(), actor="test")
        uow.commit()


def sign_in(page, live_url: str, username: str, password: str = PASSWORD, next_path: str = "/") -> None:
    """Sign in through the console's form in a real browser, then land on `next_path`."""
    page.goto(f"{live_url}/?next={next_path}")
    page.fill("#f-username", username)
    page.fill("#f-password", password)
    page.click("#signin")
    page.wait_for_url(f"{live_url}{next_path}*")


def form_csrf(html: str) -> str:
    """The CSRF token of the first form (or the page's meta tag) in a page."""
    found = re.search(r'name="csrf_token" value="([^"]+)"', html) or re.search(
        r'name="csrf-token" content="([^"]+)"', html)
    assert found, "no CSRF token in the page"
    return found[1]


def client_sign_in(client, username: str, password: str = PASSWORD):
    """Sign a TestClient in through the form; returns the answer of POST /signin."""
    token = form_csrf(client.get("/").text)
    return client.post("/signin", data={"username": username, "password": password, "csrf_token": token,
                                        "next": "/"}, follow_redirects=False)


@pytest.fixture
def console_client(ctx):
    """A TestClient from an address of its own (wrong passwords of other tests do not count against it)."""
    from fastapi.testclient import TestClient

    from api.app import create_app

    address = f"10.{secrets.randbelow(250)}.{secrets.randbelow(250)}.{secrets.randbelow(250) + 1}"
    with TestClient(create_app(ctx), client=(address, 50000)) as test_client:
        yield test_client
