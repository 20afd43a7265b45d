"""Appointing ambassadors, ending terms, and what an ended term closes."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from club.accounts.models import AuthSession, Person
from club.ambassadors import service
from club.ambassadors.models import Activity, Ambassador, Appointment
from tests.factories import count, csrf_token, fresh, log_in, make_admin, make_ambassador, make_person, queued_mails
from tests.helpers import client_from


def appoint_form(token: str, email: str, **changes: str) -> dict[str, str]:
    today = service.club_today()
    form = {
        "csrf_token": token,
        "email": email,
        "starts_on": today.isoformat(),
        "ends_on": (today + dt.timedelta(days=300)).isoformat(),
        "home_institution": "kask",
        "host_institution": "kanazawa-college-of-art",
        "stationed_in": "kanazawa",
    }
    form.update(changes)
    return form


async def sessions_of(db, person_id: int) -> int:  # type: ignore[no-untyped-def]
    return int((await db.execute(select(func.count()).where(AuthSession.person_id == person_id))).scalar_one())


async def test_admin_appoints_a_confirmed_member_who_gets_the_role_and_a_welcome_mail_in_their_language(
    app, client, db
):
    member = await make_person(db, name="山田 花子", language="ja", email="hanako@example.jp")
    member_client = client_from(app, "198.51.100.20")
    await log_in(member_client, db, member)
    assert (await member_client.get("/activities")).status_code == 403
    admin = await make_admin(db)
    await log_in(client, db, admin)
    token = await csrf_token(client, "/admin/ambassadors/appoint")
    response = await client.post("/admin/ambassadors/appoint", data=appoint_form(token, "Hanako@Example.jp"))
    assert response.status_code == 303
    person = await fresh(db, Person, member.id)
    assert person is not None and person.role == "ambassador"
    # Appointing does not log the member out: the same session now opens the ambassador's pages.
    assert await sessions_of(db, member.id) == 1
    appointment = (await db.execute(select(Appointment).where(Appointment.person_id == member.id))).scalar_one()
    assert (appointment.home_institution, appointment.host_institution) == ("kask", "kanazawa-college-of-art")
    ambassador = await db.get(Ambassador, member.id)
    assert ambassador is not None and len(ambassador.ref) == 8
    [(mail, delivery)] = await queued_mails(db, "ambassador-welcome")
    assert delivery.to_email == "hanako@example.jp"
    assert mail.language == "ja"
    assert "アンバサダー" in mail.subject
    assert f"/join?ref={ambassador.ref}" in mail.text
    listing = await client.get("/admin/ambassadors")
    assert "山田 花子" in listing.text
    # The welcome mail's link to the ambassador's page opens the dashboard for the member who is logged in.
    [activities_link] = [line.strip() for line in mail.text.splitlines() if line.strip().endswith("/activities")]
    dashboard = await member_client.get(activities_link.removeprefix("http://testserver"))
    assert dashboard.status_code == 200
    assert f"/join?ref={ambassador.ref}" in dashboard.text
    await member_client.aclose()


async def test_other_institution_by_name(client, db):
    await make_person(db, email="pieter@example.org")
    await log_in(client, db, await make_admin(db))
    token = await csrf_token(client, "/admin/ambassadors/appoint")
    form = appoint_form(token, "pieter@example.org", home_institution="other", home_other="Artevelde University")
    assert (await client.post("/admin/ambassadors/appoint", data=form)).status_code == 303
    appointment = (await db.execute(select(Appointment))).scalar_one()
    assert appointment.home_institution == "Artevelde University"


async def test_appointment_refusals_store_nothing(client, db):
    await make_person(db, email="unconfirmed@example.org", confirmed=False)
    await make_person(db, email="member@example.org")
    await log_in(client, db, await make_admin(db))
    token = await csrf_token(client, "/admin/ambassadors/appoint")
    today = service.club_today()
    cases = [
        (appoint_form(token, "nobody@example.org"), "No member has this email address."),
        (appoint_form(token, "unconfirmed@example.org"), "has not confirmed"),
        (appoint_form(token, "admin@example.org"), "Admins cannot be appointed"),
        (
            appoint_form(
                token,
                "member@example.org",
                starts_on=(today - dt.timedelta(days=400)).isoformat(),
                ends_on=(today - dt.timedelta(days=300)).isoformat(),
            ),
            "cannot be in the past",
        ),
        (
            appoint_form(token, "member@example.org", ends_on=(today - dt.timedelta(days=1)).isoformat()),
            "must come after the start",
        ),
        (appoint_form(token, "member@example.org", ends_on="2099-01-01"), "at most two years"),
        (appoint_form(token, "member@example.org", starts_on="31/12/2025"), "Enter a date like"),
        (appoint_form(token, "member@example.org", stationed_in="paris"), "Choose one of the options."),
        (appoint_form(token, "member@example.org", home_institution="other", home_other=""), "This field is required"),
    ]
    for form, message in cases:
        response = await client.post("/admin/ambassadors/appoint", data=form)
        assert response.status_code == 400, form
        assert message in response.text, message
    assert await count(db, Appointment) == 0
    assert await count(db, Ambassador) == 0
    assert await queued_mails(db, "ambassador-welcome") == []


async def test_overlapping_term_is_refused(client, db):
    person, _appointment = await make_ambassador(db, email="twice@example.org")
    await log_in(client, db, await make_admin(db))
    token = await csrf_token(client, "/admin/ambassadors/appoint")
    response = await client.post("/admin/ambassadors/appoint", data=appoint_form(token, "twice@example.org"))
    assert response.status_code == 400
    assert "already has a term" in response.text
    assert await count(db, Appointment) == 1


async def test_admin_ends_a_term_the_role_goes_the_session_stays_history_stays(client, db):
    person, appointment = await make_ambassador(db)
    await log_in(client, db, person)
    assert await sessions_of(db, person.id) == 1
    admin = await make_admin(db)
    client.cookies.clear()
    await log_in(client, db, admin)
    token = await csrf_token(client, "/admin/ambassadors")
    response = await client.post(f"/admin/ambassadors/terms/{appointment.id}/end", data={"csrf_token": token})
    assert response.status_code == 303
    assert (await fresh(db, Person, person.id)).role == "member"  # type: ignore[union-attr]
    ended = await fresh(db, Appointment, appointment.id)
    assert ended is not None and ended.ended_on == service.club_today() and ended.ended_by_id == admin.id
    assert await sessions_of(db, person.id) == 1
    # The former ambassador is a member now: the ambassador pages are closed, the history is open.
    client.cookies.clear()
    await log_in(client, db, person)
    assert (await client.get("/activities")).status_code == 403
    terms = await client.get("/me/ambassador")
    assert terms.status_code == 200
    assert "Download your certificate" in terms.text


async def test_term_that_ran_out_is_closed_by_the_daily_pass(db):
    today = service.club_today()
    person, appointment = await make_ambassador(
        db, starts_on=today - dt.timedelta(days=300), ends_on=today - dt.timedelta(days=1)
    )
    upcoming, later = await make_ambassador(db, role="member", starts_on=today, ends_on=today + dt.timedelta(days=90))
    changed = await service.sync_roles(db, today)
    await db.commit()
    assert changed == 2
    assert (await fresh(db, Person, person.id)).role == "member"  # type: ignore[union-attr]
    assert (await fresh(db, Appointment, appointment.id)).ended_on == appointment.ends_on  # type: ignore[union-attr]
    assert (await fresh(db, Person, upcoming.id)).role == "ambassador"  # type: ignore[union-attr]
    assert await service.sync_roles(db, today) == 0


async def test_an_ambassador_whose_term_ended_gets_403_and_stores_nothing(client, db):
    today = service.club_today()
    # The role has not been taken yet (the daily pass runs later), but the term is over: the pages are closed.
    person, _appointment = await make_ambassador(
        db, starts_on=today - dt.timedelta(days=300), ends_on=today - dt.timedelta(days=1)
    )
    await log_in(client, db, person)
    assert (await client.get("/activities/new")).status_code == 403
    token = await csrf_token(client, "/")
    response = await client.post(
        "/activities/new",
        data={
            "csrf_token": token,
            "happened_on": (today - dt.timedelta(days=2)).isoformat(),
            "title": "Late",
            "category": "sport",
            "city": "ghent",
            "description": "x",
            "people_reached": "1",
            "hours": "1",
        },
    )
    assert response.status_code == 403
    assert await count(db, Activity) == 0


async def test_members_and_visitors_cannot_open_ambassador_or_admin_pages(client, db):
    assert (await client.get("/activities")).status_code == 303
    assert (await client.get("/admin/ambassadors")).status_code == 303
    member = await make_person(db)
    await log_in(client, db, member)
    for path in (
        "/activities",
        "/activities/new",
        "/activities/qr.png",
        "/admin/ambassadors",
        "/admin/ambassadors/review",
        "/admin/ambassadors/numbers",
        "/admin/ambassadors/activities.csv",
    ):
        assert (await client.get(path)).status_code == 403, path
    assert (await client.get("/me/ambassador")).status_code == 404  # never an ambassador
