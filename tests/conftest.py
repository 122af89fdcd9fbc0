"""Fixtures: every test that takes `ctx` runs on a real SQLite file and on a real PostgreSQL.

The schema is built by Alembic (`ledger.migrate.upgrade`), once per engine per session, in
a database of its own (PostgreSQL: a fresh database created and dropped by the session).
Tests isolate themselves with random references (see `tests/factories.py`).

PostgreSQL: LEDGER_TEST_POSTGRES (default postgresql://postgres@127.0.0.1:5432/test) names a
server and a maintenance database.  When it cannot be reached, the PostgreSQL half is
skipped locally and FAILS under CI (CI=true).
"""
from __future__ import annotations

import os
import secrets
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from ledger.store.db import make_engine
from ledger.store.migrate import upgrade
from ledger.store.uow import Context

PG_ADMIN_URL = os.environ.get("LEDGER_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
ENGINES = ["sqlite", "postgresql"]
SECRET = b"test-secret-key"


def _pg_url(database: str) -> str:
    base, _, _ = PG_ADMIN_URL.rpartition("/")
    return f"{base}/{database}".replace("postgresql://", "postgresql+psycopg://", 1)


def _pg_admin():
    return create_engine(PG_ADMIN_URL.replace("postgresql://", "postgresql+psycopg://", 1),
                         isolation_level="AUTOCOMMIT")


def create_pg_database() -> str:
    """Create an empty PostgreSQL database for tests; returns its URL."""
    name = f"ledger_test_{os.getpid()}_{secrets.token_hex(4)}"
    admin = _pg_admin()
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001 - reported as skip or failure below
        admin.dispose()
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL at {PG_ADMIN_URL} cannot be reached in CI: {exc}")
        pytest.skip(f"PostgreSQL at {PG_ADMIN_URL} not reachable: {exc}")
    admin.dispose()
    return _pg_url(name)


def drop_pg_database(url: str) -> None:
    """Drop a test database made by `create_pg_database`."""
    name = url.rsplit("/", 1)[1]
    admin = _pg_admin()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def fresh_database(kind: str, tmp_dir: Path) -> str:
    """A new, migrated database of one kind; returns its URL."""
    if kind == "sqlite":
        url = f"sqlite:///{tmp_dir / ('ledger-' + secrets.token_hex(4) + '.sqlite3')}"
    else:
        url = create_pg_database()
    upgrade(url)
    return url


@pytest.fixture(scope="session", params=ENGINES)
def db_url(request, tmp_path_factory):
    """A migrated database per engine for the whole session."""
    url = fresh_database(request.param, tmp_path_factory.mktemp(request.param))
    yield url
    if request.param == "postgresql":
        drop_pg_database(url)


@pytest.fixture(scope="session")
def engine(db_url):
    eng = make_engine(db_url, pool_size=20)
    yield eng
    eng.dispose()


@pytest.fixture
def ctx(engine) -> Context:
    """A ledger context over the session's database (SQLite file or PostgreSQL)."""
    return Context(engine=engine, secret_key=SECRET, deployment_id="test-county",
                   options={"transfer_future_limit_days": 30, "sign_in_max_attempts": 5,
                            "sign_in_lockout_minutes": 15, "rate_limit_per_minute": 100000})


@pytest.fixture(params=ENGINES)
def fresh_ctx(request, tmp_path):
    """A context over a database of its own (for tests that look at the whole ledger)."""
    kind = request.param
    url = fresh_database(kind, tmp_path)
    eng = make_engine(url)
    yield Context(engine=eng, secret_key=SECRET, deployment_id="test-county",
                  options={"transfer_future_limit_days": 30, "sign_in_max_attempts": 5,
                           "sign_in_lockout_minutes": 15, "rate_limit_per_minute": 100000})
    eng.dispose()
    if kind == "postgresql":
        drop_pg_database(url)


@pytest.fixture
def client(ctx):
    """An HTTP client against the app over `ctx` (real ASGI app, real database)."""
    from fastapi.testclient import TestClient

    from api.app import create_app

    with TestClient(create_app(ctx)) as test_client:
        yield test_client


@pytest.fixture
def live_url(ctx):
    """The app over `ctx` served on a real loopback socket (for browser tests)."""
    from tests.browser import live_server

    with live_server(ctx) as url:
        yield url


@pytest.fixture(scope="session")
def chromium():
    """A headless Debian Chromium driven by Playwright (fails in CI when it is missing)."""
    from playwright.sync_api import sync_playwright

    from tests.browser import CHROMIUM_ARGS, chromium_path

    path = chromium_path()
    if path is None:
        message = "Debian's chromium is not installed (scripts/setup-system.sh installs it)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def phone_page(chromium):
    """A Playwright page in a phone-sized window (390×844), Chinese locale."""
    from tests.browser import PHONE

    context = chromium.new_context(viewport=PHONE, locale="zh-CN", device_scale_factor=1)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def tablet_page(chromium):
    """A Playwright page in a tablet-sized window (1024×768), Chinese locale."""
    from tests.browser import TABLET

    context = chromium.new_context(viewport=TABLET, locale="zh-CN")
    page = context.new_page()
    yield page
    context.close()
