"""A member's event answers are in their data export; erasing them withdraws coming answers (the seat goes to the
waiting list) and leaves only anonymous counts of past events."""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import select

from club.events.models import Rsvp
from tests.events.helpers import event_row, mails_to, post, published_event, yes_link
from tests.factories import log_in, make_person
from tests.helpers import log_in_admin


async def test_export_lists_answers_and_erasure_removes_them(client, db):
    admin = await log_in_admin(client, db)
    member = await make_person(db, email="an@example.org", name="An Peeters", newsletter=True)
    waiting = await make_person(db, email="wait@example.org", newsletter=True)
    coming = await published_event(client, capacity="1", max_guests="0")
    past = await published_event(client, title_en="Last year's reception")
    for event_id in (coming, past):
        await post(client, f"/admin/events/{event_id}/invite", page="/admin/events")
    member_links = [yes_link(mail) for mail in await mails_to(db, member.email, "event-invitation")]
    for link in member_links:
        assert (await post(client, link, {"answer": "yes", "note": "no nuts"}, page=link)).status_code == 303
    wait_link = yes_link((await mails_to(db, waiting.email, "event-invitation"))[0])
    await post(client, wait_link, {"answer": "yes"}, page=wait_link)
    event = await event_row(db, past)
    event.starts_at -= dt.timedelta(days=400)
    event.ends_at -= dt.timedelta(days=400)
    event.rsvp_deadline = None
    await db.commit()
    await log_in(client, db, member)
    export = await client.get("/me/export")
    data = json.loads(export.text)
    answers = {row["event"]: row for row in data["event_answers"]}
    assert answers["Last year's reception"]["note"] == "no nuts" and len(answers) == 2
    token = await _csrf(client)
    response = await client.post("/me/erase", data={"csrf_token": token, "confirm": "yes"})
    assert response.status_code in (200, 303), response.text[-500:]
    await db.commit()
    rows = (await db.execute(select(Rsvp).execution_options(populate_existing=True))).scalars().all()
    by_event = {row.event_id: row for row in rows}
    assert by_event[past].person_id is None and by_event[past].name == "" and by_event[past].answer == ""
    assert by_event[coming].person_id == waiting.id and by_event[coming].status == "yes"  # promoted
    assert len(await mails_to(db, waiting.email, "event-promoted")) == 1
    assert admin.id


async def _csrf(client):  # type: ignore[no-untyped-def]
    from tests.factories import csrf_token

    return await csrf_token(client, "/me/erase")
