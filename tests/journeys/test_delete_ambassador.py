"""An admin deletes a (former) ambassador: the year's numbers, the report and the wall stay as they were, with
the approved activities credited to a former ambassador; the confirmation page says so beforehand."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from club.ambassadors.models import Activity
from club.ambassadors.service import club_today, end_term
from tests.factories import csrf_token, log_in, make_activity, make_admin, make_ambassador

NAME = "Sofie Claeys"
EMAIL = "sofie@example.be"


def main(page: str) -> str:
    return page[page.index("<main") : page.index("</main>")]


@pytest.mark.parametrize("former", [False, True], ids=["ambassador", "former-ambassador"])
async def test_deleting_an_ambassador_leaves_the_year_as_it_was(client, db, former):
    person, term = await make_ambassador(db, name=NAME, email=EMAIL)
    other, other_term = await make_ambassador(db, name="Kenji Tanaka", email="kenji@example.jp")
    person_id = person.id
    today = club_today()
    day = today - dt.timedelta(days=2) if today.month > 1 or today.day > 2 else today
    for title, category, city, reached, quarters in (
        ("Gold leaf talk", "crafts", "ghent", 40, 8),
        ("Jazz night", "culture", "kanazawa", 120, 12),
        ("Online tea class", "culture", "online", 15, 4),
    ):
        await make_activity(
            db,
            person,
            term,
            title=title,
            category=category,
            city=city,
            people_reached=reached,
            quarter_hours=quarters,
            happened_on=day,
        )
    await make_activity(db, person, term, title="Unfinished draft", status="draft", happened_on=day)
    await make_activity(db, person, term, title="Waiting for review", status="submitted", happened_on=day)
    await make_activity(db, other, other_term, title="Kenroku-en walk", category="tourism", happened_on=day)
    if former:
        await end_term(db, term, admin=None, today=today)
        await db.commit()
    admin = await make_admin(db)
    await log_in(client, db, admin)
    year = {"year": str(day.year)}
    pages = {
        "numbers": "/admin/ambassadors/numbers",
        "report": "/admin/ambassadors/report",
        "wall": "/ambassadors",
    }
    before = {}
    for name, path in pages.items():
        response = await client.get(path, params=year if name != "wall" else None)
        assert response.status_code == 200
        before[name] = main(response.text)
    assert NAME in before["report"] and NAME in before["wall"]

    confirm = await client.get(f"/admin/members/{person_id}/delete")
    assert "Their 3 approved activities stay on the wall, in the year's numbers and in the report" in confirm.text
    assert "the year does not change" in confirm.text
    assert "Their 2 activities that are not approved" in confirm.text
    token = await csrf_token(client, f"/admin/members/{person_id}/delete")
    response = await client.post(
        f"/admin/members/{person_id}/delete", data={"csrf_token": token, "confirm_email": EMAIL}
    )
    assert response.status_code == 303
    landed = await client.get(response.headers["location"])  # where the admin lands, with its one-time notice
    assert "The member was deleted." in landed.text

    for name, path in pages.items():
        response = await client.get(path, params=year if name != "wall" else None)
        after = main(response.text)
        # The same page, figure for figure; only the name gives way to "a former ambassador".
        assert after == before[name].replace(NAME, "a former ambassador"), name
        assert NAME not in after
    db.expire_all()
    titles = sorted((await db.execute(select(Activity.title))).scalars())
    assert titles == ["Gold leaf talk", "Jazz night", "Kenroku-en walk", "Online tea class"]
    kept_id = (await db.execute(select(Activity.id).where(Activity.title == "Jazz night"))).scalar_one()
    review = await client.get(f"/admin/ambassadors/review/{kept_id}")
    assert review.status_code == 200 and "by a former ambassador" in review.text
    csv = await client.get("/admin/ambassadors/activities.csv", params=year)
    assert csv.status_code == 200 and "Jazz night" in csv.text and NAME not in csv.text


async def test_two_erased_ambassadors_still_count_as_two(client, db):
    admin = await make_admin(db)
    people = []
    for index in range(2):
        person, term = await make_ambassador(db, name=f"Ambassador {index}", email=f"a{index}@example.be")
        await make_activity(db, person, term, title=f"Talk {index}")
        people.append((person.id, person.email))
    await log_in(client, db, admin)
    year = {"year": str((club_today() - dt.timedelta(days=3)).year)}
    before = main((await client.get("/admin/ambassadors/numbers", params=year)).text)
    for person_id, email in people:
        token = await csrf_token(client, f"/admin/members/{person_id}/delete")
        response = await client.post(
            f"/admin/members/{person_id}/delete", data={"csrf_token": token, "confirm_email": email}
        )
        assert response.status_code == 303
        await client.get(response.headers["location"])  # the members list shows the one-time notice
    after = main((await client.get("/admin/ambassadors/numbers", params=year)).text)
    assert after == before.replace("Ambassador 0", "a former ambassador").replace("Ambassador 1", "a former ambassador")
