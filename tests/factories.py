"""Small factories for test data (people, admins, ambassadors, activities, photos), logins and CSRF tokens."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import io
import re
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
from PIL import Image
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from club.accounts.models import AuthSession, Person
from club.accounts.passwords import hash_password
from club.accounts.suppression import suppress_address
from club.ambassadors.models import Activity, Ambassador, Appointment
from club.ambassadors.service import club_today
from club.db import create_sessionmaker, utcnow
from club.mail.message import Address
from club.mail.models import Delivery, Mail
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
    db.add(
        AuthSession(
            id=hashlib.sha256(raw.encode()).hexdigest(),
            person_id=person.id,
            expires_at=utcnow() + dt.timedelta(hours=1),
        )
    )
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
    sender = MailSender(
        store,
        transport,
        mail_from=MAIL_FROM,
        connections=connections,
        poll_interval=0.05,
        retry_base=0.05,
        retry_cap=0.2,
    )
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


# ---- ambassadors and activities ---------------------------------------------------------------------------------

_codes = 0


async def make_ambassador(
    db: AsyncSession,
    *,
    name: str = "Sofie Claeys",
    language: str = "en",
    starts_on: dt.date | None = None,
    ends_on: dt.date | None = None,
    stationed_in: str = "kanazawa",
    role: str = "ambassador",
    email: str | None = None,
) -> tuple[Person, Appointment]:
    global _codes
    _codes += 1
    today = club_today()
    person = await make_person(db, name=name, language=language, role=role, email=email)
    db.add(Ambassador(person_id=person.id, ref=f"code{_codes:04d}"))
    await db.flush()
    appointment = Appointment(
        person_id=person.id,
        starts_on=starts_on or today - dt.timedelta(days=60),
        ends_on=ends_on or today + dt.timedelta(days=200),
        home_institution="ugent",
        host_institution="kanazawa-university",
        stationed_in=stationed_in,
    )
    appointment.created_at = dt.datetime.combine(appointment.starts_on, dt.time(9), tzinfo=dt.UTC)
    db.add(appointment)
    await db.commit()
    return person, appointment


async def make_activity(
    db: AsyncSession,
    person: Person,
    appointment: Appointment,
    *,
    title: str = "Talk about Kanazawa gold leaf",
    status: str = "approved",
    public: bool = True,
    happened_on: dt.date | None = None,
    category: str = "crafts",
    city: str = "ghent",
    people_reached: int = 40,
    quarter_hours: int = 8,
    created_at: dt.datetime | None = None,
) -> Activity:
    activity = Activity(
        person_id=person.id,
        appointment_id=appointment.id,
        happened_on=happened_on or club_today() - dt.timedelta(days=3),
        title=title,
        category=category,
        city=city,
        venue="Het Pand",
        description="We talked about **gold leaf**.",
        description_html="<p>We talked about <strong>gold leaf</strong>.</p>",
        people_reached=people_reached,
        quarter_hours=quarter_hours,
        public=public,
        status=status,
        submitted_at=utcnow() if status != "draft" else None,
        reviewed_at=utcnow() if status == "approved" else None,
        created_at=created_at or utcnow(),
    )
    db.add(activity)
    await db.commit()
    return activity


def image_bytes(fmt: str = "JPEG", size: tuple[int, int] = (64, 48), *, gps: bool = False) -> bytes:
    image = Image.new("RGB", size, (22, 89, 90))
    buffer = io.BytesIO()
    if gps:
        exif = Image.Exif()
        exif[0x010F] = "CameraMaker"
        gps_ifd = {1: "N", 2: (36.0, 33.0, 40.0), 3: "E", 4: (136.0, 39.0, 21.0)}
        exif[0x8825] = gps_ifd
        image.save(buffer, format=fmt, exif=exif)
    else:
        image.save(buffer, format=fmt)
    return buffer.getvalue()


async def queued_mails(db: AsyncSession, kind: str) -> list[tuple[object, object]]:
    """(mail, delivery) pairs queued for the outbox with this kind."""
    rows = await db.execute(select(Mail, Delivery).join(Delivery, Delivery.mail_id == Mail.id).where(Mail.kind == kind))
    return [(mail, delivery) for mail, delivery in rows]


async def count(db: AsyncSession, model: type) -> int:
    return int((await db.execute(select(func.count()).select_from(model))).scalar_one())


async def fresh(db: AsyncSession, model: type, ident: int) -> Any:
    """The row as the app left it (not the test session's cached copy)."""
    return await db.get(model, ident, populate_existing=True)


async def add_members(db: AsyncSession, rows: list[dict]) -> None:
    now = utcnow()
    values = []
    for index, row in enumerate(rows):
        values.append(
            {
                "name": "Member",
                "role": "member",
                "language": "en",
                "city": "ghent",
                "confirmed_at": now,
                "newsletter": False,
                "created_at": now - dt.timedelta(seconds=index),
                "updated_at": now,
                **row,
            }
        )
    await db.execute(insert(Person), values)
    await db.commit()


async def outbox_settled(engine: AsyncEngine) -> bool:
    """No delivery is waiting or on the wire: whatever the sender was going to send has been sent and recorded
    (the observable to wait for before asserting that something did *not* leave)."""
    async with create_sessionmaker(engine)() as session:
        waiting = await session.scalar(
            select(func.count()).select_from(Delivery).where(Delivery.status.in_(("queued", "sending")))
        )
    return not waiting
