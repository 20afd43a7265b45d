"""Events from the admin form to the answer: validation, invitations with .ics through the outbox, answers from
the mail's link (the page shows, only its button records), capacity and the waiting list, tickets and the door."""

from __future__ import annotations

import datetime as dt

import icalendar
from sqlalchemy import func, select

from club.events.models import Rsvp
from tests.events.helpers import (
    attachments_of,
    create_event,
    event_form,
    event_row,
    local,
    mails_to,
    post,
    published_event,
    yes_link,
)
from tests.factories import log_in, make_person
from tests.helpers import log_in_admin


async def rsvp_count(db) -> int:  # type: ignore[no-untyped-def]
    await db.commit()
    return int((await db.execute(select(func.count()).select_from(Rsvp))).scalar_one())


async def test_bad_event_input_is_refused_in_the_admins_language_and_nothing_is_saved(client, db):
    admin = await log_in_admin(client, db)
    admin.console_language = "nl"
    await db.commit()
    cases = {
        "ends_at": event_form(starts_at=local(10, hour=20), ends_at=local(10, hour=18)),
        "rsvp_deadline": event_form(rsvp_deadline=local(11)),
        "capacity": event_form(capacity="0"),
        "max_guests": event_form(max_guests="5000"),
    }
    for field, form in cases.items():
        response = await post(client, "/admin/events/new", form, page="/admin/events/new")
        assert response.status_code == 400, field
        assert f'id="{field}-error"' in response.text, field
    response = await post(client, "/admin/events/new", event_form(capacity="-3"), page="/admin/events/new")
    assert "Geef een getal van" in response.text or "getal" in response.text
    response = await post(client, "/admin/events/new", event_form(ends_at=local(9)), page="/admin/events/new")
    assert "Het einde moet na het begin komen." in response.text
    assert (await client.get("/admin/events")).text.count("/admin/events/") <= 1


async def test_times_show_in_both_cities_and_texts_fall_back(client, db):
    await log_in_admin(client, db)
    event_id = await published_event(
        client,
        zone="Asia/Tokyo",
        starts_at="2031-04-05T18:00",
        ends_at="2031-04-05T21:00",
        rsvp_deadline="",
        title_ja="",
        description_ja="",
        fallback="en",
    )
    page = (await client.get(f"/events/{event_id}", headers={"Accept-Language": "ja"})).text
    client.cookies.delete("club_session", domain="testserver.local")
    page = (await client.get(f"/events/{event_id}", headers={"Accept-Language": "ja"})).text
    assert "Ghent–Kanazawa network reception" in page  # no Japanese title: the fallback
    assert "18:00" in page and "11:00" in page  # Kanazawa 18:00 is Ghent 11:00 (summer time)
    assert "金沢時間" in page


async def test_invitation_goes_through_the_outbox_in_each_language_with_a_valid_ics(client, db):
    await log_in_admin(client, db)
    nl = await make_person(db, email="an@example.org", language="nl", newsletter=True, city="ghent")
    ja = await make_person(db, email="hana@example.org", language="ja", newsletter=True, city="kanazawa")
    other_nl = await make_person(db, email="jan@example.org", language="nl", newsletter=True, city="ghent")
    await make_person(db, email="quiet@example.org", language="en", newsletter=False)
    event_id = await published_event(client)
    response = await post(client, f"/admin/events/{event_id}/invite", page="/admin/events")
    assert response.status_code == 303
    assert (await event_row(db, event_id)).invited == 3
    assert await mails_to(db, "quiet@example.org") == []
    nl_mail = (await mails_to(db, nl.email, "event-invitation"))[0]
    ja_mail = (await mails_to(db, ja.email, "event-invitation"))[0]
    # One stored mail per language; each delivery carries its member's own answer link.
    other_mail = (await mails_to(db, other_nl.email, "event-invitation"))[0]
    assert other_mail.id == nl_mail.id != ja_mail.id and yes_link(other_mail) != yes_link(nl_mail)
    assert nl_mail.subject == "Uitnodiging: Netwerkreceptie Gent–Kanazawa"
    assert "ゲント・金沢" in ja_mail.subject and "はい、参加します" in ja_mail.html
    assert yes_link(nl_mail) != yes_link(ja_mail)
    [attachment] = await attachments_of(db, nl_mail.id)
    calendar = icalendar.Calendar.from_ical(attachment.content)
    assert calendar["METHOD"] == "REQUEST"
    [vevent] = calendar.walk("VEVENT")
    assert vevent["SUMMARY"] == "Netwerkreceptie Gent–Kanazawa"
    assert vevent["DTSTART"].params["TZID"] == "Europe/Brussels"
    assert vevent["DTSTART"].dt.tzinfo is not None and vevent["SEQUENCE"] == 0
    uid = str(vevent["UID"])
    # A change of time: those who said yes are told, with the same UID and a higher SEQUENCE.
    await answer_yes(client, yes_link(nl_mail))
    moved = event_form(starts_at=local(11), ends_at=local(11, hour=22))
    response = await post(client, f"/admin/events/{event_id}", moved, page="/admin/events")
    assert response.status_code == 303
    [update] = await mails_to(db, nl.email, "event-update")
    [attachment] = await attachments_of(db, update.id)
    [vevent] = icalendar.Calendar.from_ical(attachment.content).walk("VEVENT")
    assert str(vevent["UID"]) == uid and vevent["SEQUENCE"] == 1
    assert await mails_to(db, ja.email, "event-update") == []


async def answer_yes(client, link: str, guests: str = "0", expect: int = 303):  # type: ignore[no-untyped-def]
    page = await client.get(link + "?answer=yes")
    assert page.status_code == 200
    response = await post(client, link, {"answer": "yes", "guests": guests, "note": "vegetarian"}, page=link)
    assert response.status_code == expect, response.text[-1500:]
    return response


async def test_the_mail_link_shows_a_page_and_only_its_button_records(client, db):
    await log_in_admin(client, db)
    member = await make_person(db, email="an@example.org", language="nl", newsletter=True)
    event_id = await published_event(client)
    await post(client, f"/admin/events/{event_id}/invite", page="/admin/events")
    client.cookies.delete("club_session", domain="testserver.local")
    link = yes_link((await mails_to(db, member.email, "event-invitation"))[0])
    page = await client.get(link + "?answer=yes")
    assert page.status_code == 200 and 'value="yes" checked' in page.text
    assert await rsvp_count(db) == 0  # opening the link records nothing
    forged = link[:-4] + ("0000" if not link.endswith("0000") else "1111")
    assert (await client.get(forged)).status_code == 404
    assert (await client.post(forged, data={"answer": "yes"})).status_code in (403, 404)
    await answer_yes(client, link, guests="1")
    await answer_yes(client, link, guests="1")  # a double click: still one answer
    assert await rsvp_count(db) == 1
    rsvp = (await db.execute(select(Rsvp).execution_options(populate_existing=True))).scalar_one()
    assert (rsvp.status, rsvp.guests, rsvp.answer) == ("yes", 1, "vegetarian")
    assert len(await mails_to(db, member.email, "event-confirmed")) == 1
    response = await post(client, link, {"answer": "yes", "guests": "9"}, page=link)
    assert response.status_code == 400 and "Geef een getal van 0 tot 1." in response.text
    await db.commit()
    assert (await db.execute(select(Rsvp.guests))).scalar_one() == 1
    # The ticket: its page shows the QR; the confirmation mail links it.
    confirmed = (await mails_to(db, member.email, "event-confirmed"))[0]
    assert f"/events/{event_id}/ticket/{rsvp.ticket}" in confirmed.html
    ticket = await client.get(f"/events/{event_id}/ticket/{rsvp.ticket}")
    assert ticket.status_code == 200 and "<svg" in ticket.text
    assert (await client.get(f"/events/{event_id}/ticket/{rsvp.ticket}/qr.png")).content[:4] == b"\x89PNG"
    # The member's own page lists the ticket too.
    await log_in(client, db, member)
    profile = await client.get("/me")
    assert f"/events/{event_id}/ticket/{rsvp.ticket}" in profile.text and "Mijn evenementen" in profile.text


async def test_answers_after_the_deadline_or_to_a_cancelled_event_change_nothing(client, db):
    admin = await log_in_admin(client, db)
    member = await make_person(db, email="an@example.org", language="en", newsletter=True)
    yes_sayer = await make_person(db, email="yes@example.org", language="ja", newsletter=True)
    event_id = await published_event(client)
    await post(client, f"/admin/events/{event_id}/invite", page="/admin/events")
    await answer_yes(client, yes_link((await mails_to(db, yes_sayer.email, "event-invitation"))[0]))
    event = await event_row(db, event_id)
    event.rsvp_deadline = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    await db.commit()
    link = yes_link((await mails_to(db, member.email, "event-invitation"))[0])
    before = await rsvp_count(db)
    response = await answer_yes(client, link, expect=409)
    assert "The deadline for answers has passed." in response.text
    assert await rsvp_count(db) == before
    await log_in(client, db, admin)
    response = await post(client, f"/admin/events/{event_id}/cancel", page="/admin/events")
    assert response.status_code == 303
    [cancelled] = await mails_to(db, yes_sayer.email, "event-cancelled")
    assert "中止" in cancelled.subject
    [attachment] = await attachments_of(db, cancelled.id)
    assert icalendar.Calendar.from_ical(attachment.content)["METHOD"] == "CANCEL"
    assert await mails_to(db, member.email, "event-cancelled") == []
    event = await event_row(db, event_id)
    event.rsvp_deadline = None
    await db.commit()
    response = await answer_yes(client, link, expect=409)
    assert "This event has been cancelled." in response.text
    assert await rsvp_count(db) == before


async def test_a_full_event_waitlists_in_order_and_a_cancellation_promotes_the_first(client, db):
    admin = await log_in_admin(client, db)
    people = [await make_person(db, email=f"p{i}@example.org", language="en", newsletter=True) for i in range(4)]
    event_id = await published_event(client, capacity="2", max_guests="1")
    await post(client, f"/admin/events/{event_id}/invite", page="/admin/events")
    links = [yes_link((await mails_to(db, p.email, "event-invitation"))[0]) for p in people]
    await answer_yes(client, links[0], guests="1")  # two seats: full
    await answer_yes(client, links[1])
    await answer_yes(client, links[2])
    await db.commit()
    statuses = dict((await db.execute(select(Rsvp.person_id, Rsvp.status))).all())
    assert statuses == {people[0].id: "yes", people[1].id: "waiting", people[2].id: "waiting"}
    assert len(await mails_to(db, people[1].email, "event-waiting")) == 1
    # The first one cancels: the first in line gets the seats, the second waits on.
    response = await post(client, links[0], {"answer": "no"}, page=links[0])
    assert response.status_code == 303
    await db.commit()
    statuses = dict((await db.execute(select(Rsvp.person_id, Rsvp.status))).all())
    assert statuses[people[1].id] == "yes" and statuses[people[2].id] == "yes"
    assert len(await mails_to(db, people[1].email, "event-promoted")) == 1
    # The reminder: only to those who said yes.
    from club.events import service

    async with app_session(db) as session:
        told = await service.send_reminders(
            session, _settings(client), now=dt.datetime.now(dt.UTC) + dt.timedelta(days=9)
        )
        await session.commit()
    assert told == 2
    assert len(await mails_to(db, people[1].email, "event-reminder")) == 1
    assert await mails_to(db, people[0].email, "event-reminder") == []
    assert await mails_to(db, people[3].email, "event-reminder") == []
    await log_in(client, db, admin)


def _settings(client):  # type: ignore[no-untyped-def]
    return client._transport.app.state.settings  # type: ignore[attr-defined]


def app_session(db):  # type: ignore[no-untyped-def]
    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def opened():  # type: ignore[no-untyped-def]
        yield db

    return opened()


async def test_check_in_by_code_and_by_name_warns_on_a_second_scan(client, db):
    admin = await log_in_admin(client, db)
    member = await make_person(db, email="an@example.org", name="An Peeters", language="nl", newsletter=True)
    ambassador = await make_person(db, email="amb@example.org", name="Yuki Tanaka", role="ambassador")
    plain = await make_person(db, email="plain@example.org", name="Plain Member")
    event_id = await published_event(client)
    other_id = await published_event(client)
    await post(client, f"/admin/events/{event_id}/invite", page="/admin/events")
    await answer_yes(client, yes_link((await mails_to(db, member.email, "event-invitation"))[0]), guests="1")
    rsvp = (await db.execute(select(Rsvp).execution_options(populate_existing=True))).scalar_one()
    await log_in(client, db, plain)
    assert (await client.get(f"/events/{event_id}/door")).status_code == 403
    await log_in(client, db, ambassador)
    door = f"/events/{event_id}/door"
    page = await client.get(door + "?q=peeters")
    assert page.status_code == 200 and "An Peeters" in page.text
    # This event's ticket scanned at another event's door.
    response = await post(client, f"/events/{other_id}/door/check-in", {"code": rsvp.ticket}, page=door)
    assert response.status_code == 409 and "Unknown ticket" in response.text
    response = await client.post(
        door + "/check-in",
        data={
            "csrf_token": await csrf(client, door),
            "code": f"http://testserver/events/{event_id}/ticket/{rsvp.ticket}",
        },
        headers={"Accept": "application/json"},
    )
    assert response.json()["outcome"] == "arrived" and response.json()["name"] == "An Peeters"
    assert response.json()["arrived"] == 2 and response.json()["expected"] == 2
    response = await post(client, door + "/check-in", {"rsvp": str(rsvp.id)}, page=door)
    assert response.status_code == 409 and "Already checked in" in response.text
    response = await post(client, door + "/walk-in", {"name": "Walk In", "guests": "0"}, page=door)
    assert response.status_code == 200
    count = (await client.get(door + "/count")).json()
    assert count == {"arrived": 3, "expected": 3}
    await log_in(client, db, admin)
    csv = await client.get(f"/admin/events/{event_id}/attendees.csv")
    assert "An Peeters" in csv.text and "Walk In" in csv.text


async def csrf(client, path):  # type: ignore[no-untyped-def]
    from tests.factories import csrf_token

    return await csrf_token(client, path)


async def test_public_pages_feeds_and_the_home_page(client, db):
    await log_in_admin(client, db)
    public_id = await published_event(client)
    private_id = await published_event(
        client, public="", title_en="Board dinner", title_nl="Bestuursdiner", title_ja="理事会の夕食会"
    )
    draft_id = await create_event(client, title_en="Draft party")
    client.cookies.delete("club_session", domain="testserver.local")
    listing = (await client.get("/events", headers={"Accept-Language": "nl"})).text
    assert "Netwerkreceptie Gent–Kanazawa" in listing
    assert "Bestuursdiner" not in listing and "Draft party" not in listing
    assert (await client.get(f"/events/{private_id}")).status_code == 404
    assert (await client.get(f"/events/{draft_id}")).status_code == 404
    ics_response = await client.get(f"/events/{public_id}/event.ics")
    [vevent] = icalendar.Calendar.from_ical(ics_response.text).walk("VEVENT")
    assert "network reception" in str(vevent["SUMMARY"])
    feed = icalendar.Calendar.from_ical((await client.get("/events/feed.ics")).text)
    assert len(feed.walk("VEVENT")) == 1
    atom = await client.get("/events/feed.xml")
    assert atom.headers["content-type"].startswith("application/atom+xml") and "<entry>" in atom.text
    home = await client.get("/", headers={"Accept-Language": "ja"})
    assert "ゲント・金沢ネットワーキング・レセプション" in home.text


async def test_the_home_page_shows_an_event_published_after_it_was_kept_for_visitors(client, db):
    visitor = {"Accept-Language": "nl"}
    await client.get("/", headers=visitor)  # the home page of visitors, kept for a minute, without an event
    await log_in_admin(client, db)
    await published_event(client)
    client.cookies.delete("club_session", domain="testserver.local")
    home = await client.get("/", headers=visitor)
    assert "Netwerkreceptie Gent–Kanazawa" in home.text
