"""What tests share besides fixtures and factories: the test database's kind, free ports, the loopback SMTP
server's mailbox, and helpers that act as a browser would (post a form with its CSRF token, read a mail's link).
Tests import from here (or tests/factories.py), never from a conftest module: pytest loads those itself."""

from __future__ import annotations

import asyncio
import os
import re
import socket
from collections.abc import Awaitable, Callable
from email import message_from_bytes, policy
from email.message import EmailMessage

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from club.accounts.models import Person
from club.admin.models import AuditEntry
from tests.factories import csrf_token, log_in, make_admin

TEST_DATABASE_URL = os.environ.get("CLUB_TEST_DATABASE_URL", "")
ON_POSTGRES = TEST_DATABASE_URL.startswith("postgres")
SECRET = "test-secret-key-" + "x" * 32
# pytest-xdist names its workers gw0, gw1, ...; databases and files a worker creates carry the name.
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")


def pg_url(name: str) -> str:
    """The URL of database `name` on the test PostgreSQL server."""
    return TEST_DATABASE_URL.rsplit("/", 1)[0] + "/" + name


async def pg_execute(url: str, statement: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(re.sub(r"^postgresql\+asyncpg://", "postgresql://", url))
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# ---- mail ------------------------------------------------------------------------------------------------------

LINK_RE = re.compile(r"http://testserver(/[^\s<>\"]+)")


class Mailbox:
    """What a real SMTP server on loopback received."""

    def __init__(self) -> None:
        self.envelopes: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        self.envelopes.append(
            (envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.original_content or envelope.content))  # type: ignore[attr-defined]
        )
        return "250 OK"

    @property
    def messages(self) -> list[EmailMessage]:
        return [message_from_bytes(raw, policy=policy.default) for _, _, raw in self.envelopes]  # type: ignore[misc]

    def to(self, address: str) -> list[EmailMessage]:
        return [m for (_, rcpts, _), m in zip(self.envelopes, self.messages, strict=True) if address in rcpts]

    async def wait_for(self, count: int, timeout: float = 10.0) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while len(self.envelopes) < count:
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"expected {count} mails, got {len(self.envelopes)}")
            await asyncio.sleep(0.02)


def text_of(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())  # type: ignore[attr-defined]


def html_of(message: EmailMessage) -> str:
    part = message.get_body(("html",))
    assert part is not None
    return str(part.get_content())  # type: ignore[attr-defined]


def link_in(message: EmailMessage) -> str:
    """The path of the first link to the club in a mail's text part."""
    match = LINK_RE.search(text_of(message))
    assert match, text_of(message)
    return match.group(1)


# ---- acting as a browser ---------------------------------------------------------------------------------------


def client_from(app: object, ip: str) -> httpx.AsyncClient:
    """Another visitor, from another address."""
    transport = httpx.ASGITransport(app=app, client=(ip, 50000))  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def log_in_admin(client: httpx.AsyncClient, db: AsyncSession, email: str = "admin@example.org") -> Person:
    """Make an admin and give the client their session."""
    admin = await make_admin(db, email=email)
    await log_in(client, db, admin)
    return admin


async def post_form(
    client: httpx.AsyncClient, path: str, data: dict | None = None, *, page: str = "/admin", files: object = None
) -> httpx.Response:
    """POST a form as a browser would: open `page` for its CSRF token first."""
    token = await csrf_token(client, page)
    return await client.post(path, data={**(data or {}), "csrf_token": token}, files=files)  # type: ignore[arg-type]


Post = Callable[..., Awaitable[httpx.Response]]


def signup(token: str, **fields: object) -> dict[str, object]:
    """The join form's fields (None leaves a field out)."""
    data: dict[str, object] = {
        "email": "hanako@example.jp",
        "name": "山田 花子",
        "city": "kanazawa",
        "language": "ja",
        "interests": ["jazz-music", "food"],
        "newsletter": "yes",
        "csrf_token": token,
    }
    data.update(fields)
    return {key: value for key, value in data.items() if value is not None}


def compose_data(**overrides: object) -> dict[str, object]:
    """The newsletter compose form's fields."""
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
    return int(response.headers["location"].split("/")[3].split("?")[0].split("#")[0])


async def upload(
    client: httpx.AsyncClient, content: bytes, filename: str = "members.csv", *, checked: bool = True
) -> httpx.Response:
    """Upload a member list on the import page; unless checked=False, wait until its check has finished (a
    busy machine may take longer than the upload waits for it)."""
    response = await post_form(
        client, "/admin/members/import", files={"file": (filename, content, "text/csv")}, page="/admin/members/import"
    )
    if checked and response.status_code == 303:
        await wait_until_checked(client, response.headers["location"])
    return response


async def wait_until_checked(client: httpx.AsyncClient, job_url: str) -> str:
    for _ in range(2000):
        page = await client.get(job_url)
        if 'id="check-progress"' not in page.text:
            return page.text
        await asyncio.sleep(0.05)
    raise AssertionError("the check did not finish")


async def actions(db: AsyncSession) -> list[str]:
    """The audit log's actions, oldest first."""
    db.expire_all()
    return list((await db.execute(select(AuditEntry.action).order_by(AuditEntry.id))).scalars())
