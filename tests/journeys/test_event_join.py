"""A visitor joins the club from an event's page and says yes at once: nothing is counted until they confirm their
address (double opt-in); the confirmation records the answer and queues the ticket."""

from __future__ import annotations

import re

from sqlalchemy import select

from club.events.models import Rsvp
from tests.events.helpers import mails_to, post, published_event
from tests.factories import csrf_token
from tests.helpers import log_in_admin


async def test_a_visitors_yes_waits_for_the_confirmation(client, db):
    await log_in_admin(client, db)
    event_id = await published_event(client, max_guests="1")
    client.cookies.delete("club_session", domain="testserver.local")
    page = f"/events/{event_id}"
    response = await post(
        client,
        f"/events/{event_id}/join",
        {
            "answer": "yes",
            "email": "mai@example.jp",
            "name": "中村 舞",
            "city": "kanazawa",
            "language": "ja",
            "guests": "7",
        },
        page=page,
    )
    assert response.status_code == 400  # more guests than allowed: nothing stored
    assert await mails_to(db, "mai@example.jp") == []
    response = await post(
        client,
        f"/events/{event_id}/join",
        {
            "answer": "yes",
            "email": "mai@example.jp",
            "name": "中村 舞",
            "city": "kanazawa",
            "language": "ja",
            "guests": "1",
        },
        page=page,
    )
    assert response.status_code == 200 and 'id="joined"' in response.text
    rsvp = (await db.execute(select(Rsvp).execution_options(populate_existing=True))).scalar_one()
    assert (rsvp.status, rsvp.guests) == ("pending", 1)
    [confirmation] = await mails_to(db, "mai@example.jp")
    path = re.search(r"(/join/confirm/[A-Za-z0-9_-]+)", confirmation.text).group(1)  # type: ignore[union-attr]
    token = await csrf_token(client, path)
    response = await client.post(path, data={"csrf_token": token})
    assert response.status_code in (200, 303)
    await db.commit()
    rsvp = (await db.execute(select(Rsvp).execution_options(populate_existing=True))).scalar_one()
    assert (rsvp.status, rsvp.guests) == ("yes", 1)
    [ticket] = await mails_to(db, "mai@example.jp", "event-confirmed")
    assert "チケット" in ticket.subject and f"/events/{event_id}/ticket/{rsvp.ticket}" in ticket.html
