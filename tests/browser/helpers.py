"""The browser tests' helpers: a server started the README's way (python server.py), screenshots."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.helpers import TEST_DATABASE_URL, free_port, pg_execute

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


FIRST_ADMIN_PASSWORD = "kotoji-lantern-1971-ghent"


def pg_in_thread(statement: str) -> None:
    """Playwright's sync API keeps an event loop running in this thread, so asyncpg runs in another one."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, pg_execute(TEST_DATABASE_URL, statement)).result()


def _drain(stream, lines: list[str]) -> None:  # type: ignore[no-untyped-def]
    for line in stream:
        lines.append(line)


def start_server(tmp_path: Path, database_url: str, **extra_env: str) -> LiveServer:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLUB_")}
    env.update(
        {"CLUB_VAR_DIR": str(tmp_path / "var"), "CLUB_DATABASE_URL": database_url, "PYTHONUNBUFFERED": "1", **extra_env}
    )
    process = subprocess.Popen(
        [sys.executable, "server.py", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    server = LiveServer(
        url=f"http://127.0.0.1:{port}", process=process, var_dir=tmp_path / "var", database_url=database_url
    )
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


def screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def set_up_first_admin(page, server: LiveServer, *, name: str = "Els Van Gent", email: str = "els@example.org") -> None:  # type: ignore[no-untyped-def]
    """Follow the one-time link the server printed and create the first admin, as the README says to."""
    page.goto(server.setup_link())
    page.fill("#name", name)
    page.fill("#email", email)
    page.fill("#password", FIRST_ADMIN_PASSWORD)
    page.fill("#password_again", FIRST_ADMIN_PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url("**/admin")
