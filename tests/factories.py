"""Small factories for test data, and helpers to act as a browser would (CSRF tokens, logins)."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import re
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from club.accounts.models import AuthSession, Person
from club.accounts.passwords import hash_password
from club.accounts.suppression import suppress_address
from club.db import create_sessionmaker, utcnow
from club.mail.message import Address
from club.mail.sender import DatabaseStore, MailSender
from club.mail.transport import SmtpTransport

ADMIN_PASSWORD = "kotoji-lantern-1971-ghent"
_counter = 0


async def make_person(
    db: AsyncSession,
    *,
    email: str | None = None,
    name: str = "Jan Van den Bossche",
    role: str = "member",
    language: str = "en",
    city: str = "ghent",
    confirmed: bool = True,
    newsletter: bool = False,
    password: str | None = None,
) -> Person:
    global _counter
    _counter += 1
    person = Person(
        email=email or f"person{_counter}-{secrets.token_hex(3)}@example.org",
        name=name,
        role=role,
        language=language,
        city=city,
        confirmed_at=utcnow() if confirmed else None,
        newsletter=newsletter,
        password_hash=await hash_password(password) if password else None,
    )
    db.add(person)
    await db.commit()
    return person


async def make_admin(db: AsyncSession, *, email: str = "admin@example.org", name: str = "Admin Gent") -> Person:
    return await make_person(db, email=email, name=name, role="admin", password=ADMIN_PASSWORD)


async def log_in(client: httpx.AsyncClient, db: AsyncSession, person: Person) -> None:
    """Give the client a valid session cookie for person, as a login would."""
    raw = secrets.token_urlsafe(32)
    db.add(AuthSession(id=hashlib.sha256(raw.encode()).hexdigest(), person_id=person.id,
                       expires_at=utcnow() + dt.timedelta(hours=1)))
    await db.commit()
    client.cookies.set("club_session", raw, domain="testserver.local")


CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


async def csrf_token(client: httpx.AsyncClient, path: str = "/") -> str:
    """Open a page as a browser would and take the form's CSRF token (the cookie comes with it)."""
    response = await client.get(path)
    match = CSRF_RE.search(response.text)
    assert match, f"no CSRF token on {path} ({response.status_code})"
    return match.group(1)


MAIL_FROM = Address("club@ghent-kanazawa.example", "Ghent–Kanazawa Supporters Club")


@asynccontextmanager
async def running_sender(engine: AsyncEngine, port: int, connections: int = 2) -> AsyncIterator[MailSender]:
    """The real mail sender, delivering to an SMTP server on loopback, with short retry delays for tests."""
    transport = SmtpTransport(host="127.0.0.1", port=port, connections=connections, timeout=5)
    store = DatabaseStore(create_sessionmaker(engine), suppress=suppress_address)
    sender = MailSender(store, transport, mail_from=MAIL_FROM,
                        connections=connections, poll_interval=0.05, retry_base=0.05, retry_cap=0.2)
    task = asyncio.create_task(sender.run())
    try:
        yield sender
    finally:
        sender.stop()
        await task
        await transport.close()


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 15.0) -> None:
    """Wait until check() is true (mail sent, a status reached), failing after timeout seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)
