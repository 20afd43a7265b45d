"""Ambassadors' test factories: ambassadors with a term, activities, photos."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

from PIL import Image
from sqlalchemy.ext.asyncio import AsyncSession

from club.accounts.models import Person
from club.ambassadors.models import Activity, Ambassador, Appointment
from club.ambassadors.service import club_today
from club.db import utcnow
from tests.factories import make_person

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
    from sqlalchemy import select

    from club.mail.models import Delivery, Mail

    rows = await db.execute(select(Mail, Delivery).join(Delivery, Delivery.mail_id == Mail.id).where(Mail.kind == kind))
    return [(mail, delivery) for mail, delivery in rows]


async def count(db: AsyncSession, model: type) -> int:
    from sqlalchemy import func, select

    return int((await db.execute(select(func.count()).select_from(model))).scalar_one())


async def fresh(db: AsyncSession, model: type, ident: int) -> Any:
    """The row as the app left it (not the test session's cached copy)."""
    return await db.get(model, ident, populate_existing=True)
