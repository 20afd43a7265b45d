"""Newsletter fixtures: an admin's client, and
helpers to compose and send as an admin would."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from club.accounts.models import Person
from club.db import create_sessionmaker
from club.mail.message import Address
from club.mail.sender import DeliveryStore, MailSender
from club.mail.transport import SmtpTransport
from tests.factories import csrf_token, log_in, make_admin

FROM = Address("club@ghent-kanazawa.example", "Ghent–Kanazawa Supporters Club")


@pytest.fixture
async def admin(db: AsyncSession) -> Person:
    return await make_admin(db)


@pytest.fixture
async def admin_client(client: httpx.AsyncClient, db: AsyncSession, admin: Person) -> httpx.AsyncClient:
    await log_in(client, db, admin)
    return client


Post = Callable[..., Awaitable[httpx.Response]]


@pytest.fixture
def post(admin_client: httpx.AsyncClient) -> Post:
    """POST a form as the admin's browser would, with a fresh CSRF token."""

    async def do(path: str, data: dict[str, object] | None = None, *, files: object = None,
                 token_from: str = "/admin/newsletters") -> httpx.Response:
        token = await csrf_token(admin_client, token_from)
        return await admin_client.post(path, data={**(data or {}), "csrf_token": token}, files=files)  # type: ignore[arg-type]

    return do


def compose_data(**overrides: object) -> dict[str, object]:
    data: dict[str, object] = {
        "subject_nl": "Nieuws uit Gent",
        "preheader_nl": "Jazz in de zomer",
        "body_nl": "# Beste %%name%%\n\nDe **Gentse Feesten** komen eraan. [Lees meer](https://club.example/gf)",
        "subject_ja": "ヘントからのお知らせ",
        "preheader_ja": "夏のジャズ",
        "body_ja": "# %%name%% 様\n\n**ヘント祭り**がまもなく始まります。",
        "fallback_language": "nl",
    }
    data.update(overrides)
    return data


async def create_newsletter(post: Post, **overrides: object) -> int:
    response = await post("/admin/newsletters/new", compose_data(**overrides))
    assert response.status_code == 303, response.text
    return int(response.headers["location"].split("/")[3].split("?")[0])


@asynccontextmanager
async def running_sender(engine: AsyncEngine, port: int, connections: int = 2) -> AsyncIterator[MailSender]:
    """The mail feature's real sender, delivering to an SMTP server on loopback."""
    transport = SmtpTransport(host="127.0.0.1", port=port, connections=connections, timeout=5)
    sender = MailSender(DeliveryStore(create_sessionmaker(engine)), transport, mail_from=FROM,
                        connections=connections, poll_interval=0.05, retry_base=0.05, retry_cap=0.2)
    task = asyncio.create_task(sender.run())
    try:
        yield sender
    finally:
        sender.stop()
        await task
        await transport.close()


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 15.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)
