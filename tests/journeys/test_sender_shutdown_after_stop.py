"""A sender that shuts down hands back the deliveries it had claimed but not sent. An admin's Pause or Cancel
pressed meanwhile must survive that hand-back: the mail stays paused or cancelled, and the next sender to start
does not send it (seen on a loaded machine, where the sender had not yet dropped those rows when it stopped)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from club.accounts.suppression import suppress_address
from club.db import create_sessionmaker
from club.mail.models import Delivery
from club.mail.sender import DatabaseStore
from tests.factories import make_person
from tests.helpers import create_newsletter


@pytest.mark.parametrize(("action", "kept"), [("cancel", "cancelled"), ("pause", "paused")])
async def test_deliveries_claimed_when_an_admin_stops_a_send_stay_stopped_after_the_sender_shuts_down(
    post, db, engine, action, kept
):
    for i in range(3):
        await make_person(db, email=f"lid{i}@example.be", language="nl", newsletter=True)
    newsletter_id = await create_newsletter(post)
    assert (await post(f"/admin/newsletters/{newsletter_id}/send")).status_code == 303

    store = DatabaseStore(create_sessionmaker(engine), suppress=suppress_address)
    await store.register()
    try:
        claimed = await store.claim(100)
        assert len(claimed) == 3
        stopped = await post(
            f"/admin/newsletters/{newsletter_id}/{action}", page=f"/admin/newsletters/{newsletter_id}/report"
        )
        assert stopped.status_code == 303
        await store.release(claimed)  # what the sender does with unsent rows when it stops
    finally:
        await store.unregister()

    db.expire_all()
    statuses = (await db.execute(select(Delivery.status))).scalars().all()
    assert sorted(statuses) == [kept] * 3
