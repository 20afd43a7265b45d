import datetime as dt

from club import ratelimit
from club.accounts.models import RateCounter
from club.db import utcnow


async def test_counts_within_the_window_and_starts_again_after_it(db):
    window = dt.timedelta(minutes=1)
    assert [await ratelimit.hit(db, "k", window) for _ in range(3)] == [1, 2, 3]
    await db.commit()
    assert await ratelimit.count(db, "k", window) == 3
    row = await db.get(RateCounter, "k")
    row.window_start = utcnow() - dt.timedelta(minutes=2)
    await db.commit()
    assert await ratelimit.count(db, "k", window) == 0
    assert await ratelimit.hit(db, "k", window) == 1
    assert await ratelimit.hit(db, "other", window) == 1
