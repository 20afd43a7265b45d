"""Two people answer yes for the last seat at the same moment: one gets it, the other is waitlisted (real
concurrent requests, each with its own database transaction; SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio

import httpx
from sqlalchemy import select

from club.events.models import Rsvp
from tests.events.helpers import mails_to, post, published_event, yes_link
from tests.factories import csrf_token, make_person
from tests.helpers import log_in_admin


async def test_two_answers_for_the_last_seat_at_once_give_one_seat_and_one_waiting(app, client, db):
    await log_in_admin(client, db)
    people = [await make_person(db, email=f"seat{i}@example.org", newsletter=True) for i in range(6)]
    event_id = await published_event(client, capacity="3", max_guests="0")
    await post(client, f"/admin/events/{event_id}/invite", page="/admin/events")
    links = [yes_link((await mails_to(db, person.email, "event-invitation"))[0]) for person in people]

    async def answer(link: str) -> int:
        transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as browser:
            token = await csrf_token(browser, link)
            response = await browser.post(link, data={"csrf_token": token, "answer": "yes", "guests": "0"})
            return response.status_code

    for round_ in range(2):  # six people for three seats, all at once, twice (the second round changes nothing)
        statuses = await asyncio.gather(*(answer(link) for link in links))
        assert statuses == [303] * len(links), (round_, statuses)
        await db.commit()
        rows = (await db.execute(select(Rsvp.status, Rsvp.waitlisted_at))).all()
        assert sorted(status for status, _ in rows) == ["waiting"] * 3 + ["yes"] * 3
        assert all(when is not None for status, when in rows if status == "waiting")
