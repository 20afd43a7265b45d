"""A sender is alive while its heartbeat is fresh; its PID is only a hint. kill -9 a worker that runs as PID 1 of
its own PID namespace (as in every container), start it again (PID 1 again): it sends, and a confirmation mail
arrives at a real SMTP server on loopback. A refused second sender says why, without a traceback; a web process
that sends no mail says so on /readyz and on the admin dashboard."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from club.accounts.suppression import suppress_address
from club.app import create_app
from club.config import ROOT, Settings
from club.db import create_sessionmaker
from club.mail.models import Sender
from club.mail.outbox import queue_mail
from club.mail.sender import DatabaseStore
from tests.factories import eventually, log_in, make_admin
from tests.helpers import ON_POSTGRES
from tests.mail.smtp_server import SmtpServer

pytestmark = pytest.mark.slow

WORKER = (
    "import asyncio; from club.config import Settings; from club.mail.sender import run_worker; "
    "asyncio.run(run_worker(Settings.from_env()))"
)


def environment(settings: Settings, port: int, var_dir: Path) -> dict[str, str]:
    return {
        **os.environ,
        "CLUB_ENV": "development",
        "CLUB_DATABASE_URL": settings.database_url,
        "CLUB_SECRET_KEY": settings.secret_key.get_secret_value(),
        "CLUB_VAR_DIR": str(var_dir),
        "CLUB_SMTP_HOST": "127.0.0.1",
        "CLUB_SMTP_PORT": str(port),
        "CLUB_MAIL_FROM": "Club <club@ghent-kanazawa.example>",
    }


def start_in_pid_namespace(settings: Settings, port: int, var_dir: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        ["unshare", "--pid", "--fork", "--mount-proc", sys.executable, "-c", WORKER],
        cwd=ROOT,
        env=environment(settings, port, var_dir),
    )


def namespace_init(unshare: subprocess.Popen[bytes]) -> int:
    """The host PID of the process that is PID 1 inside the namespace (unshare's only child)."""
    children = Path(f"/proc/{unshare.pid}/task/{unshare.pid}/children").read_text().split()
    assert len(children) == 1, children
    return int(children[0])


async def senders(engine: AsyncEngine) -> list[tuple[str, int]]:
    async with create_sessionmaker(engine)() as db:
        return [(row.id, row.pid) for row in (await db.execute(select(Sender))).scalars()]


async def test_kill_9_of_pid_1_and_a_restart_as_pid_1_sends_again(
    db: AsyncSession, engine: AsyncEngine, settings: Settings, tmp_path: Path
) -> None:
    server = await SmtpServer().start()
    first = start_in_pid_namespace(settings, server.port, tmp_path)
    second = None
    try:

        async def registered() -> bool:
            return bool(await senders(engine))

        await eventually(registered, timeout=30)
        [(dead_id, pid)] = await senders(engine)
        assert pid == 1
        os.kill(namespace_init(first), signal.SIGKILL)
        first.wait(10)

        await queue_mail(
            db,
            to_email="nieuw@example.be",
            to_name="Nieuw Lid",
            subject="Bevestig je inschrijving",
            text="Klik op de link.",
            html="<p>Klik op de link.</p>",
            language="nl",
        )
        await db.commit()
        second = start_in_pid_namespace(settings, server.port, tmp_path)

        async def arrived() -> bool:
            return any("nieuw@example.be" in r.rcpt_tos for r in server.received)

        await eventually(arrived, timeout=40)
        assert second.poll() is None  # it runs, it was not refused
        alive = await senders(engine)
        assert [pid for _, pid in alive] == [1] and alive[0][0] != dead_id
        os.kill(namespace_init(second), signal.SIGTERM)
        assert second.wait(20) == 0
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait()
        await server.stop()


async def test_a_refused_second_sender_says_why_without_a_traceback(
    engine: AsyncEngine, settings: Settings, tmp_path: Path
) -> None:
    running = DatabaseStore(create_sessionmaker(engine), suppress=suppress_address)
    await running.register()
    server = await SmtpServer().start()
    worker = subprocess.Popen(
        [sys.executable, "-c", WORKER],
        cwd=ROOT,
        env=environment(settings, server.port, tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        if ON_POSTGRES:  # several senders share a PostgreSQL outbox: this one starts
            await asyncio.sleep(3)  # bounded wait: a sender that refuses to start exits within this time
            assert worker.poll() is None
            worker.terminate()
            _, err = worker.communicate(timeout=20)
            assert worker.returncode == 0
        else:
            _, err = await asyncio.to_thread(worker.communicate, timeout=60)
            assert worker.returncode == 1
            assert "Another mail sender is already running" in err.decode()
        assert "Traceback" not in err.decode()
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
        await running.unregister()
        await server.stop()


async def test_a_web_process_that_sends_no_mail_says_so(
    db: AsyncSession, engine: AsyncEngine, settings: Settings
) -> None:
    other = DatabaseStore(create_sessionmaker(engine), suppress=suppress_address)
    await other.register()  # a sender already runs, e.g. `server.py worker`
    server = await SmtpServer().start()
    web = settings.with_(run_sender=True, smtp_port=server.port)
    application = create_app(web, engine=engine)
    admin = await make_admin(db)
    try:
        async with application.router.lifespan_context(application):
            transport = httpx.ASGITransport(app=application)  # type: ignore[arg-type]
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
                status = application.state.mail_status
                await eventually(lambda: _settled(status))
                ready = await client.get("/readyz")
                await log_in(client, db, admin)
                dashboard = await client.get("/admin")
    finally:
        await other.unregister()
        await server.stop()
    assert ready.status_code == 200
    if ON_POSTGRES:
        assert "mail: sent by this process" in ready.text
        assert 'id="mail-sender-status"' not in dashboard.text
    else:
        assert "mail: not sent by this process: Another mail sender is already running" in ready.text
        assert 'id="mail-sender-status"' in dashboard.text and "This web process sends no mail." in dashboard.text


async def test_readyz_and_the_dashboard_say_when_sending_is_left_to_a_worker(client, db) -> None:
    ready = await client.get("/readyz")
    assert ready.status_code == 200 and "not sent by this process (CLUB_RUN_SENDER=0)" in ready.text
    await log_in(client, db, await make_admin(db))
    dashboard = await client.get("/admin")
    assert "This web process sends no mail." in dashboard.text and "CLUB_RUN_SENDER=0" in dashboard.text


async def _settled(status) -> bool:  # type: ignore[no-untyped-def]
    return status.sender is not None and status.sender.state in ("running", "refused")
