"""An ambassador links an activity they log to the event they helped at; an id that is not an event on offer is
refused with a message and nothing is stored."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from club.ambassadors import service as ambassadors
from club.ambassadors.models import Activity
from tests.events.helpers import event_row, published_event
from tests.factories import csrf_token, log_in, make_ambassador
from tests.helpers import log_in_admin


def form(token: str, **changes: str) -> dict[str, str]:
    values = {
        "csrf_token": token,
        "happened_on": (ambassadors.club_today() - dt.timedelta(days=1)).isoformat(),
        "title": "Welcome desk at the reception",
        "category": "culture",
        "city": "ghent",
        "venue": "Stadhuis",
        "description": "We welcomed **80 guests**.",
        "people_reached": "80",
        "hours": "3",
        "link": "",
        "public": "1",
        "action": "submit",
    }
    values.update(changes)
    return values


async def test_an_activity_links_to_the_event(client, db):
    await log_in_admin(client, db)
    event_id = await published_event(client)
    event = await event_row(db, event_id)
    event.starts_at -= dt.timedelta(days=11)
    event.ends_at -= dt.timedelta(days=11)
    event.rsvp_deadline = None
    await db.commit()
    person, _appointment = await make_ambassador(db)
    await log_in(client, db, person)
    page = await client.get("/activities/new")
    assert f'<option value="{event_id}">Ghent–Kanazawa network reception' in page.text
    response = await client.post(
        "/activities/new", data=form(await csrf_token(client, "/activities/new"), event="999999")
    )
    assert response.status_code == 400 and 'id="event-error"' in response.text
    assert (await db.execute(select(func.count()).select_from(Activity))).scalar_one() == 0
    response = await client.post(
        "/activities/new", data=form(await csrf_token(client, "/activities/new"), event=str(event_id))
    )
    assert response.status_code == 303, response.text[-800:]
    activity = (await db.execute(select(Activity).execution_options(populate_existing=True))).scalar_one()
    assert activity.event_id == event_id
