"""A success notice shows on the page after the action, once: the URL carries nothing, so a reload (or the
report's poller) does not say it again. Newsletters, ambassadors, the mail queue and members' pages alike."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from club.accounts.models import Person
from club.ambassadors.models import Ambassador, Appointment
from club.db import utcnow
from club.mail import holds
from club.newsletters.models import Newsletter
from tests.factories import log_in, make_person
from tests.helpers import log_in_admin, post_form


async def shown_once(client: httpx.AsyncClient, response: httpx.Response, notice: str) -> None:
    assert response.status_code == 303
    target = response.headers["location"]
    assert "?" not in target  # nothing in the address that a reload would repeat
    assert notice in (await client.get(target)).text
    assert notice not in (await client.get(target)).text


async def test_a_newsletter_notice_shows_once(client, db):
    await log_in_admin(client, db)
    draft = Newsletter()
    db.add(draft)
    await db.commit()
    deleted = await post_form(client, f"/admin/newsletters/{draft.id}/delete", page="/admin/newsletters")
    await shown_once(client, deleted, "The draft is deleted.")


async def test_an_ambassador_notice_shows_once(client, db):
    await log_in_admin(client, db)
    student = await make_person(db, email="yuki@example.jp", name="Yuki", role="ambassador")
    today = utcnow().date()
    appointment = Appointment(
        person_id=student.id,
        home_institution="kanazawa-university",
        host_institution="ugent",
        stationed_in="ghent",
        starts_on=today,
        ends_on=today.replace(year=today.year + 1),
    )
    db.add(Ambassador(person_id=student.id, ref="yuki"))
    await db.flush()
    db.add(appointment)
    await db.commit()
    ended = await post_form(client, f"/admin/ambassadors/terms/{appointment.id}/end", page="/admin/ambassadors")
    await shown_once(client, ended, "The term has ended.")


async def test_a_mail_queue_notice_counts_and_shows_once(client, db):
    await log_in_admin(client, db)
    for number in range(holds.SYSTEMIC_RECIPIENTS):
        await make_person(db, email=f"lid{number}@example.be", name=f"Lid {number}")
    people = (await db.execute(select(Person).where(Person.email.like("lid%")))).scalars().all()
    for person in people:
        person.suppressed_at = utcnow()
        person.suppressed_reason = f"550 5.7.1 <{person.email}>: Relay access denied"
    await db.commit()
    released = await post_form(
        client,
        "/admin/mail/suppressions/release",
        {"pattern": "550 5.7.1 <>: Relay access denied"},
        page="/admin/mail/queue",
    )
    await shown_once(client, released, f"{holds.SYSTEMIC_RECIPIENTS} members are no longer suppressed.")


async def test_a_members_notice_shows_once_in_the_members_language(client, db):
    member = await make_person(db, language="ja")
    await log_in(client, db, member)
    saved = await post_form(client, "/me", {"name": "山田 花子", "city": "kanazawa", "language": "ja"}, page="/me")
    await shown_once(client, saved, "変更を保存しました。")
