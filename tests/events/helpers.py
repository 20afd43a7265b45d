"""Helpers for the events tests: an event made through the admin form, answers through the links in mail."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from club.events.models import Event
from club.mail.models import Attachment, Delivery, Mail
from tests.factories import csrf_token


def local(days: float, zone: str = "Europe/Brussels", hour: int = 19) -> str:
    moment = (dt.datetime.now(ZoneInfo(zone)) + dt.timedelta(days=days)).replace(hour=hour, minute=0)
    return moment.strftime("%Y-%m-%dT%H:%M")


def event_form(**changes: str) -> dict[str, str]:
    form = {
        "title_nl": "Netwerkreceptie Gent–Kanazawa",
        "title_en": "Ghent–Kanazawa network reception",
        "title_ja": "ゲント・金沢ネットワーキング・レセプション",
        "description_en": "Drinks and **music**.",
        "description_nl": "Een drankje en **muziek**.",
        "description_ja": "飲み物と**音楽**。",
        "fallback": "en",
        "zone": "Europe/Brussels",
        "starts_at": local(10),
        "ends_at": local(10, hour=22),
        "rsvp_deadline": local(8),
        "venue": "Stadhuis Gent",
        "address": "Botermarkt 1, 9000 Gent",
        "capacity": "120",
        "max_guests": "1",
        "question": "Dietary needs?",
        "public": "1",
        "reminder_days": "2",
    }
    form.update(changes)
    return form


async def post(
    client: httpx.AsyncClient, path: str, data: dict[str, str] | None = None, page: str = "/events"
) -> httpx.Response:
    token = await csrf_token(client, page)
    return await client.post(path, data={"csrf_token": token, **(data or {})})


async def create_event(client: httpx.AsyncClient, **changes: str) -> int:
    response = await post(client, "/admin/events/new", event_form(**changes), page="/admin/events/new")
    assert response.status_code == 303, response.text[-1500:]
    return int(response.headers["location"].rsplit("/", 1)[1])


async def published_event(client: httpx.AsyncClient, **changes: str) -> int:
    event_id = await create_event(client, **changes)
    response = await post(client, f"/admin/events/{event_id}/publish", page="/admin/events")
    assert response.status_code == 303
    return event_id


async def event_row(db: AsyncSession, event_id: int) -> Event:
    statement = select(Event).where(Event.id == event_id).execution_options(populate_existing=True)
    return (await db.execute(statement)).scalar_one()


@dataclass(frozen=True)
class Sent:
    """A mail as its recipient reads it: a mail to many gets their own %%link%% filled in, as the sender does."""

    id: int
    kind: str
    subject: str
    text: str
    html: str


async def mails_to(db: AsyncSession, email: str, kind: str | None = None) -> list[Sent]:
    await db.commit()  # a fresh snapshot of what the app committed
    statement = (
        select(Mail, Delivery.link).join(Delivery, Delivery.mail_id == Mail.id).where(Delivery.to_email == email)
    )
    if kind:
        statement = statement.where(Mail.kind == kind)
    rows = await db.execute(statement.order_by(Mail.id))
    return [
        Sent(m.id, m.kind, m.subject, m.text.replace("%%link%%", link or ""), m.html.replace("%%link%%", link or ""))
        for m, link in rows
    ]


async def attachments_of(db: AsyncSession, mail_id: int) -> list[Attachment]:
    return list((await db.execute(select(Attachment).where(Attachment.mail_id == mail_id))).scalars())


LINK_RE = re.compile(r'href="(http://testserver/events/\d+/rsvp/\d+/[0-9a-f]+)\?answer=yes"')


def yes_link(mail: Sent) -> str:
    match = LINK_RE.search(mail.html)
    assert match, mail.html[:2000]
    return match.group(1).replace("http://testserver", "")
