"""Browser fixtures: a real server started the README's way (python server.py) and Debian's Chromium driven by
Playwright."""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser.helpers import CHROMIUM, LiveServer, pg_in_thread, start_server
from tests.helpers import ON_POSTGRES, WORKER, pg_url


@pytest.fixture
def live_database_url(tmp_path: Path) -> Iterator[str]:
    if not ON_POSTGRES:
        yield f"sqlite+aiosqlite:///{tmp_path / 'live.sqlite3'}"
        return
    name = f"club_live_{WORKER}_{secrets.token_hex(4)}"
    pg_in_thread(f'CREATE DATABASE "{name}"')
    try:
        yield pg_url(name)
    finally:
        pg_in_thread(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):  # type: ignore[no-untyped-def]
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"report_{report.when}", report)


@pytest.fixture
def live_server(request, tmp_path: Path, live_database_url: str) -> Iterator[LiveServer]:  # type: ignore[no-untyped-def]
    server = start_server(tmp_path, live_database_url)
    yield server
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:  # what the server said is the first clue when a journey fails
        print("---- the server's last output ----\n" + "".join(server.output[-80:]))
    server.process.terminate()
    try:
        server.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.process.kill()


@pytest.fixture(scope="module")
def browser():
    """Per module: Playwright's sync API holds an event loop while it runs, which async tests must not meet."""
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is missing: tests/run.sh installs it (apt-get install chromium) when run as root")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def phone(browser):
    context = browser.new_context(
        viewport={"width": 360, "height": 740}, device_scale_factor=2, is_mobile=True, has_touch=True
    )
    context.set_default_timeout(10_000)
    yield context
    context.close()


@pytest.fixture
def desktop(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    context.set_default_timeout(10_000)
    yield context
    context.close()
