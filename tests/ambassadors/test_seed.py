"""The seed command's data: Dutch and Japanese names, ambassadors with terms, activities in every category."""

from __future__ import annotations

from sqlalchemy import func, select

from club.accounts.models import Person
from club.ambassadors.models import CATEGORIES, Activity, Ambassador, Appointment
from club.seed import seed


async def test_seed_fills_a_realistic_database(settings, db):
    await seed(settings, members=1000, activities=400)
    assert (await db.execute(select(func.count()).select_from(Person))).scalar_one() == 1000
    names = (await db.execute(select(Person.name))).scalars().all()
    assert any(" " in name and name.isascii() for name in names)  # Dutch (and romaji) names
    assert any(not name.isascii() for name in names)  # Japanese names in kanji
    assert (await db.execute(select(func.count()).select_from(Ambassador))).scalar_one() == 4
    assert (await db.execute(select(func.count()).select_from(Appointment))).scalar_one() >= 4
    categories = set((await db.execute(select(Activity.category).distinct())).scalars())
    assert categories == set(CATEGORIES)
    emails = (await db.execute(select(Person.email))).scalars().all()
    assert all(email.endswith(("@example.org", "@example.jp")) for email in emails)
    # Activities stay within their ambassador's term, and the numbers add up to something to show.
    outside = await db.execute(
        select(func.count())
        .select_from(Activity)
        .join(Appointment, Appointment.id == Activity.appointment_id)
        .where((Activity.happened_on < Appointment.starts_on) | (Activity.happened_on > Appointment.ends_on))
    )
    assert outside.scalar_one() == 0
    # A second run adds to what is there (ids and e-mail addresses do not collide).
    await seed(settings, members=10, activities=5)
    assert (await db.execute(select(func.count()).select_from(Person))).scalar_one() == 1010
