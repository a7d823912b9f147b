"""Shared fixtures for the browser tests: Playwright (Python) driving Debian's /usr/bin/chromium
against pytest-django's ``live_server``.

- ``browser``: one headless Chromium for the whole ``tests/browser`` package (see below why the
  package and not the session), launched through ``executable_path``; Playwright never
  downloads a browser here.
- ``page``: a fresh browser context per test (own cookies and storage) whose relative URLs go
  to the live server. It records console errors (CSP violations are console errors), uncaught
  page errors, failed requests and 4xx/5xx responses, and fails the test at teardown if any
  was seen that the test did not ``problems.allow(...)`` with a reason.
- ``screenshot(name)``: saves ``var/screenshots/<test>/<name>.png`` for people to look at.
- ``log_in(user)``: signs in through the real login form.

Browser tests need a transactional database (the live server's threads must see what the
test wrote): mark them ``pytest.mark.django_db(transaction=True)``.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.db import connections

from tests.backends import require_chromium

SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
# The factories' password (tests.factories.UserFactory).
PASSWORD = "password"
TIMEOUT_MS = 15_000

# How Chromium runs on these machines, as root with no network (see the team's machine notes):
# without the background-networking flags it keeps trying, and failing, to reach Google.
# Playwright adds --headless and gives every launch a new, empty --user-data-dir itself (it
# refuses that flag in ``args``); --no-sandbox is needed because tests run as root.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="package")
def browser() -> Iterator:
    """One Chromium for every test in this package.

    Playwright's sync API keeps an asyncio event loop registered as running in the main
    thread for as long as it is started. While it is, Django refuses ORM calls from that
    thread (hence DJANGO_ALLOW_ASYNC_UNSAFE), asgiref's ``async_to_sync`` refuses to run there,
    and Django's connection handler keeps a *second*, context-local set of connections. So
    the loop must not outlive this package: a session-scoped browser would break the async
    tests that run after it (tests/portal/test_events.py), and the extra connections must be
    closed before Playwright stops, or PostgreSQL refuses to drop the test database at the
    end of the run ("database … is being accessed by other users").
    """
    chromium = require_chromium()
    from playwright.sync_api import sync_playwright

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as playwright:
            instance = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
            try:
                yield instance
            finally:
                instance.close()
                # Still inside Playwright's loop, so these are the context-local connections
                # the tests used; the thread's own ones are pytest-django's to close.
                connections.close_all()


@dataclass
class Problems:
    """What went wrong in the page, and what a test declared it expects to go wrong."""

    seen: list[str] = field(default_factory=list)
    allowed: list[tuple[re.Pattern[str], str]] = field(default_factory=list)

    def allow(self, pattern: str, reason: str) -> None:
        """Accept problems matching ``pattern`` (a regular expression); say why in ``reason``."""
        assert reason.strip(), "an allowed browser problem needs a reason"
        self.allowed.append((re.compile(pattern), reason))

    def add(self, text: str) -> None:
        self.seen.append(text)

    def unexpected(self) -> list[str]:
        return [p for p in self.seen if not any(rx.search(p) for rx, _ in self.allowed)]


def _watch(page, problems: Problems) -> None:
    def on_console(message) -> None:
        if message.type == "error":
            where = message.location.get("url")
            problems.add(f"console error: {message.text}" + (f" ({where})" if where else ""))

    def on_response(response) -> None:
        if response.status >= 400:
            problems.add(f"HTTP {response.status}: {response.request.method} {response.url}")

    def on_request_failed(request) -> None:
        problems.add(f"request failed: {request.method} {request.url} ({request.failure})")

    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.add(f"page error: {error}"))
    page.on("response", on_response)
    page.on("requestfailed", on_request_failed)


@pytest.fixture
def problems() -> Problems:
    return Problems()


@pytest.fixture
def page(browser, live_server, problems: Problems) -> Iterator:
    """A new page in a new browser context, watched for problems (asserted at teardown)."""
    context = browser.new_context(
        base_url=live_server.url, viewport={"width": 1280, "height": 900}, locale="en-GB"
    )
    context.set_default_timeout(TIMEOUT_MS)
    # live_server is a WSGI server and cannot upgrade the portal's live-events WebSocket
    # (tests/portal/test_events.py covers the consumer through ASGI). Routing the socket
    # without connecting it to the server gives the page an open, quiet socket, as in
    # production when nothing happens, instead of a handshake error in the console.
    context.route_web_socket(re.compile(r"/ws/events/$"), lambda socket: None)
    new_page = context.new_page()
    _watch(new_page, problems)
    try:
        yield new_page
    finally:
        context.close()
    unexpected = problems.unexpected()
    assert not unexpected, "The browser saw problems:\n" + "\n".join(unexpected)


def _folder_name(nodename: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", nodename).strip("-")


@pytest.fixture
def screenshot(page, request) -> Callable[..., Path]:
    """``screenshot("name")`` saves the full page as var/screenshots/<test>/<name>.png.

    The test's folder is emptied first, so what is there is always from the last run.
    """
    folder = SCREENSHOTS / _folder_name(request.node.name)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)

    def take(name: str, *, full_page: bool = True) -> Path:
        path = folder / f"{_folder_name(name)}.png"
        page.screenshot(path=str(path), full_page=full_page)
        return path

    return take


@pytest.fixture
def log_in(page) -> Callable[..., None]:
    """``log_in(user)`` signs in through the login form and waits to land past it."""

    def sign_in(user, password: str = PASSWORD) -> None:
        page.goto("/accounts/login/")
        form = page.locator("form[action='/accounts/login/']")
        form.locator("input[name=username]").fill(user.email)
        form.locator("input[name=password]").fill(password)
        form.locator("button[type=submit]").click()
        page.wait_for_url(lambda url: "/accounts/login/" not in url)
        # Signed in: the user menu names the user.
        assert user.display_name in page.locator("#user-menu").inner_text()

    return sign_in
