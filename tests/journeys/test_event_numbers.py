"""The year's numbers and its printable report show each event's attendance beside the ambassadors' activities."""

from __future__ import annotations

import re

from sqlalchemy import select

from club.events.models import Rsvp
from tests.events.helpers import event_row, mails_to, post, published_event, yes_link
from tests.factories import make_person
from tests.helpers import log_in_admin


async def test_attendance_in_the_years_numbers_and_report(client, db):
    await log_in_admin(client, db)
    people = [await make_person(db, email=f"n{i}@example.org", newsletter=True) for i in range(3)]
    event_id = await published_event(client, max_guests="1")
    await post(client, f"/admin/events/{event_id}/invite", page="/admin/events")
    for person in people:
        link = yes_link((await mails_to(db, person.email, "event-invitation"))[0])
        await post(client, link, {"answer": "yes", "guests": "1"}, page=link)
    await db.commit()
    first = (await db.execute(select(Rsvp).order_by(Rsvp.id).limit(1))).scalar_one()
    door = f"/events/{event_id}/door"
    assert (await post(client, door + "/check-in", {"code": first.ticket}, page=door)).status_code == 200
    year = (await event_row(db, event_id)).starts_at.year
    for path in (f"/admin/ambassadors/numbers?year={year}", f"/admin/ambassadors/report?year={year}"):
        page = (await client.get(path)).text
        section = page[page.index('id="event-attendance"') :]
        row = re.search(r"network reception</td><td>[^<]+</td><td>(\d+)</td><td>(\d+)</td>", section)
        assert row and row.groups() == ("6", "2"), path
