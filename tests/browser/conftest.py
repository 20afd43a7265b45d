"""A real server started the README's way (python server.py) and Debian's Chromium driven by Playwright."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import re
import secrets
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import ON_POSTGRES, TEST_DATABASE_URL, _pg_execute, free_port

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@dataclass
class LiveServer:
    url: str
    process: subprocess.Popen
    output: list[str] = field(default_factory=list)
    var_dir: Path = Path()
    database_url: str = ""

    def setup_link(self) -> str:
        for line in self.output:
            match = re.search(r"(http://\S+/setup/\S+)", line)
            if match:
                return match.group(1)
        raise AssertionError("the server printed no setup link:\n" + "".join(self.output))


@pytest.fixture
def live_database_url(tmp_path: Path) -> Iterator[str]:
    if not ON_POSTGRES:
        yield f"sqlite+aiosqlite:///{tmp_path / 'live.sqlite3'}"
        return
    name = f"club_live_{secrets.token_hex(4)}"
    pg_in_thread(f'CREATE DATABASE "{name}"')
    try:
        yield TEST_DATABASE_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        pg_in_thread(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def pg_in_thread(statement: str) -> None:
    """Playwright's sync API keeps an event loop running in this thread, so asyncpg runs in another one."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, _pg_execute(TEST_DATABASE_URL, statement)).result()


def _drain(stream, lines: list[str]) -> None:  # type: ignore[no-untyped-def]
    for line in stream:
        lines.append(line)


def start_server(tmp_path: Path, database_url: str, **extra_env: str) -> LiveServer:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLUB_")}
    env.update({"CLUB_VAR_DIR": str(tmp_path / "var"), "CLUB_DATABASE_URL": database_url,
                "PYTHONUNBUFFERED": "1", **extra_env})
    process = subprocess.Popen(
        [sys.executable, "server.py", "--port", str(port)], cwd=ROOT, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    server = LiveServer(url=f"http://127.0.0.1:{port}", process=process, var_dir=tmp_path / "var",
                        database_url=database_url)
    deadline = time.monotonic() + 60
    assert process.stdout is not None
    os.set_blocking(process.stdout.fileno(), False)
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if line:
            server.output.append(line)
            # Ready once the app has started and the socket is bound (uvicorn says these two in either order).
            if all(any(mark in seen for seen in server.output) for mark in ("startup complete", "Uvicorn running on")):
                os.set_blocking(process.stdout.fileno(), True)
                # Keep reading what the server prints: a full pipe would block the server mid-test.
                threading.Thread(target=_drain, args=(process.stdout, server.output), daemon=True).start()
                return server
        elif process.poll() is not None:
            raise AssertionError("the server exited:\n" + "".join(server.output))
        else:
            time.sleep(0.05)
    process.kill()
    raise AssertionError("the server did not start in time:\n" + "".join(server.output))


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
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        )
        yield browser
        browser.close()


@pytest.fixture
def phone(browser):
    context = browser.new_context(viewport={"width": 360, "height": 740}, device_scale_factor=2, is_mobile=True,
                                  has_touch=True)
    context.set_default_timeout(10_000)
    yield context
    context.close()


@pytest.fixture
def desktop(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    context.set_default_timeout(10_000)
    yield context
    context.close()


def screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
