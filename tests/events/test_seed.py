"""`server.py seed` creates past and upcoming events with answers and check-ins."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from club.events.models import Event, Rsvp
from club.seed import seed


async def test_seed_makes_past_and_coming_events_with_answers(settings, db, client):
    await seed(settings, members=400, activities=10)
    now = dt.datetime.now(dt.UTC)
    events = (await db.execute(select(Event))).scalars().all()
    assert sum(event.starts_at < now for event in events) == 2 and sum(event.starts_at > now for event in events) == 2
    statuses = dict((await db.execute(select(Rsvp.status, func.count()).group_by(Rsvp.status))).all())
    assert statuses["yes"] > 100 and statuses["no"] > 0
    arrived = (await db.execute(select(func.count()).where(Rsvp.checked_in_at.is_not(None)))).scalar_one()
    assert arrived > 0
    page = await client.get("/events")
    assert "Concert of the sister big bands" in page.text or "Welcome evening for students" in page.text
