"""kill -9 a real worker process in the middle of a send, start it again: everything arrives, and the only
duplicates are mail that was in flight (at most one per connection), each with the Message-ID of its original."""

from __future__ import annotations

import asyncio
import email
import email.policy
import os
import signal
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from club.config import ROOT, Settings
from club.db import create_sessionmaker
from club.mail.models import Delivery
from club.mail.outbox import Recipient, queue_newsletter
from tests.mail.smtp_server import SmtpServer

pytestmark = pytest.mark.slow

CONNECTIONS = 4
RECIPIENTS = 1500
WORKER = (
    "import asyncio; from club.config import Settings; from club.mail.sender import run_worker; "
    "asyncio.run(run_worker(Settings.from_env()))"
)


def start_worker(settings: Settings, port: int, var_dir: Path) -> subprocess.Popen[bytes]:
    environment = {
        **os.environ,
        "CLUB_ENV": "development",
        "CLUB_DATABASE_URL": settings.database_url,
        "CLUB_SECRET_KEY": settings.secret_key.get_secret_value(),
        "CLUB_VAR_DIR": str(var_dir),
        "CLUB_SMTP_HOST": "127.0.0.1",
        "CLUB_SMTP_PORT": str(port),
        "CLUB_SMTP_CONNECTIONS": str(CONNECTIONS),
        "CLUB_MAIL_FROM": "Club <club@ghent-kanazawa.example>",
    }
    return subprocess.Popen([sys.executable, "-c", WORKER], cwd=ROOT, env=environment)


async def sent_count(engine: AsyncEngine) -> int:
    async with create_sessionmaker(engine)() as db:
        return int(await db.scalar(select(func.count()).where(Delivery.status == "sent")) or 0)


async def test_kill_9_mid_send_then_restart_delivers_everything_once_or_in_flight_twice(
    db: AsyncSession, engine: AsyncEngine, settings: Settings, tmp_path: Path
) -> None:
    recipients = [
        Recipient(f"m{i}@example.org", f"Lid {i}", unsubscribe_url=f"https://club.example/u/{i}")
        for i in range(RECIPIENTS)
    ]
    await queue_newsletter(
        db,
        subject="Nieuws",
        text="Hoi %%name%%",
        html="<p>Hoi %%name%%</p>",
        language="nl",
        recipients=recipients,
    )
    await db.commit()
    server = await SmtpServer().start()
    loop = asyncio.get_running_loop()
    worker = start_worker(settings, server.port, tmp_path)
    try:
        deadline = loop.time() + 60
        while len(server.received) < RECIPIENTS // 3:
            assert worker.poll() is None, "the worker died on its own"
            assert loop.time() < deadline, "the worker sent too little"
            await asyncio.sleep(0.01)
        worker.send_signal(signal.SIGKILL)
        await loop.run_in_executor(None, worker.wait)
        at_kill = len(server.received)
        assert at_kill < RECIPIENTS, "the kill came too late to test anything"

        worker = start_worker(settings, server.port, tmp_path)
        deadline = loop.time() + 90
        while await sent_count(engine) < RECIPIENTS:
            assert worker.poll() is None, "the restarted worker died"
            assert loop.time() < deadline, "not everything was delivered after the restart"
            await asyncio.sleep(0.1)
    finally:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
            await loop.run_in_executor(None, worker.wait)
        await server.stop()

    message_ids: dict[str, set[str]] = defaultdict(set)
    for received in server.received:
        message = email.message_from_bytes(received.data, policy=email.policy.default)
        message_ids[received.rcpt_tos[0]].add(message["Message-ID"])
    assert len(message_ids) == RECIPIENTS
    duplicates = len(server.received) - RECIPIENTS
    assert 0 <= duplicates <= CONNECTIONS
    assert all(len(ids) == 1 for ids in message_ids.values())
