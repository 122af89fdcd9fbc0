"""Real headless Chromium (Debian's `chromium`) driven by Playwright, against a real server.

`live_server(ctx)` serves the app over a real socket in a thread; `browser_page()` gives a
Playwright page in a phone- or tablet-sized window.  Screenshots go to test-artifacts/.
Use through the fixtures `live_url` and `page` defined in tests/conftest.py.
"""
from __future__ import annotations

import contextlib
import shutil
import socket
import threading
import time
from pathlib import Path

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "screenshots"
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]
PHONE = {"width": 390, "height": 844}
TABLET = {"width": 1024, "height": 768}


def chromium_path() -> str | None:
    """Debian's chromium binary, if installed (scripts/setup-system.sh installs it)."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def live_server(ctx):
    """Serve `create_app(ctx)` with uvicorn on a free loopback port in a thread."""
    import uvicorn

    from api.app import SERVER_OPTIONS, create_app

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(ctx), host="127.0.0.1", port=port, log_level="warning",
                                           **SERVER_OPTIONS))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 15
    while not server.started and time.time() < deadline:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def screenshot(page, name: str) -> Path:
    """Save a full-page screenshot as a test artifact; returns its path."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def wait_until(page, expression: str, arg=None, timeout: float = 15.0) -> None:
    """Wait until a JavaScript expression is true in the page.

    Playwright's `wait_for_function` evaluates its predicate with `eval`, which the pages'
    Content-Security-Policy (script-src 'self') refuses; `page.evaluate` goes through the
    DevTools protocol, which the policy does not govern.
    """
    from playwright.sync_api import Error

    deadline = time.monotonic() + timeout
    while True:
        try:
            if page.evaluate(expression, arg):
                return
        except Error:  # the element is not there yet, or the page is navigating: try again
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"still false after {timeout} s: {expression}")
        time.sleep(0.05)
