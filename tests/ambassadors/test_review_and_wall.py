"""Review by admins, the public wall with its filters and pages, an activity's public page, the Atom feed and
who may see a photo."""

from __future__ import annotations

import datetime as dt
import re
from xml.etree import ElementTree

from club.ambassadors import photos, service
from club.ambassadors.models import Activity, ActivityPhoto
from tests.factories import csrf_token, fresh, log_in, make_activity, make_admin, make_ambassador, queued_mails

ATOM = "{http://www.w3.org/2005/Atom}"


async def test_admin_approves_and_the_activity_shows_on_the_wall_and_in_the_feed(client, db):
    person, appointment = await make_ambassador(db, name="Lotte Peeters")
    activity = await make_activity(db, person, appointment, status="submitted", title="Jazz-21 meets GYJO")
    assert "Jazz-21 meets GYJO" not in (await client.get("/ambassadors")).text
    admin = await make_admin(db)
    await log_in(client, db, admin)
    queue = await client.get("/admin/ambassadors/review")
    assert "Jazz-21 meets GYJO" in queue.text
    token = await csrf_token(client, f"/admin/ambassadors/review/{activity.id}")
    response = await client.post(
        f"/admin/ambassadors/review/{activity.id}", data={"csrf_token": token, "action": "approve"}
    )
    assert response.status_code == 303
    approved = await fresh(db, Activity, activity.id)
    assert approved.status == "approved" and approved.reviewed_by_id == admin.id
    client.cookies.clear()
    wall = await client.get("/ambassadors")
    assert "Jazz-21 meets GYJO" in wall.text and "Lotte Peeters" in wall.text
    assert '<link rel="alternate" type="application/atom+xml"' in wall.text
    feed = await client.get("/ambassadors/feed.atom")
    assert feed.headers["content-type"].startswith("application/atom+xml")
    root = ElementTree.fromstring(feed.content)
    [entry] = root.findall(f"{ATOM}entry")
    assert entry.findtext(f"{ATOM}title") == "Jazz-21 meets GYJO"
    assert entry.find(f"{ATOM}link").get("href") == f"http://testserver/ambassadors/activities/{activity.id}"
    assert "<strong>gold leaf</strong>" in entry.findtext(f"{ATOM}content")
    public = await client.get(f"/ambassadors/activities/{activity.id}")
    assert public.status_code == 200 and "<strong>gold leaf</strong>" in public.text


async def test_admin_sends_back_with_a_comment_and_the_ambassador_gets_a_mail(client, db):
    person, appointment = await make_ambassador(db, language="nl", email="lotte@example.be")
    activity = await make_activity(db, person, appointment, status="submitted")
    await log_in(client, db, await make_admin(db))
    token = await csrf_token(client, f"/admin/ambassadors/review/{activity.id}")
    empty = await client.post(
        f"/admin/ambassadors/review/{activity.id}", data={"csrf_token": token, "action": "return", "comment": "  "}
    )
    assert empty.status_code == 400 and "This field is required" in empty.text
    assert (await fresh(db, Activity, activity.id)).status == "submitted"
    response = await client.post(
        f"/admin/ambassadors/review/{activity.id}",
        data={"csrf_token": token, "action": "return", "comment": "Please add how many students came."},
    )
    assert response.status_code == 303
    returned = await fresh(db, Activity, activity.id)
    assert returned.status == "returned" and returned.review_comment == "Please add how many students came."
    [(mail, delivery)] = await queued_mails(db, "ambassador-returned")
    assert delivery.to_email == "lotte@example.be" and mail.language == "nl"
    assert "Please add how many students came." in mail.text
    assert f"/activities/{activity.id}/edit" in mail.text
    # The ambassador sees the comment and can fix it.
    client.cookies.clear()
    await log_in(client, db, person)
    page = await client.get(f"/activities/{activity.id}/edit")
    assert page.status_code == 200 and "Please add how many students came." in page.text


async def test_reviewing_twice_changes_nothing(client, db):
    person, appointment = await make_ambassador(db)
    activity = await make_activity(db, person, appointment, status="draft")
    await log_in(client, db, await make_admin(db))
    token = await csrf_token(client, "/admin/ambassadors/review")
    response = await client.post(
        f"/admin/ambassadors/review/{activity.id}", data={"csrf_token": token, "action": "approve"}
    )
    assert response.status_code == 303
    assert (await fresh(db, Activity, activity.id)).status == "draft"  # a draft is not for review
    missing = await client.post("/admin/ambassadors/review/999999", data={"csrf_token": token, "action": "approve"})
    assert missing.status_code == 404


async def test_wall_shows_only_approved_public_activities_with_filters(client, db):
    person, appointment = await make_ambassador(db)
    today = service.club_today()
    await make_activity(db, person, appointment, title="Public crafts in Ghent", category="crafts", city="ghent")
    await make_activity(db, person, appointment, title="Public sport in Kanazawa", category="sport", city="kanazawa")
    await make_activity(db, person, appointment, title="Private meeting", public=False)
    await make_activity(db, person, appointment, title="Still a draft", status="draft")
    await make_activity(db, person, appointment, title="Waiting", status="submitted")
    await make_activity(db, person, appointment, title="Last year", happened_on=dt.date(today.year - 1, 6, 1))
    wall = (await client.get("/ambassadors")).text
    assert "Public crafts in Ghent" in wall and "Public sport in Kanazawa" in wall and "Last year" in wall
    assert "Private meeting" not in wall and "Still a draft" not in wall and "Waiting" not in wall
    sport = (await client.get("/ambassadors?category=sport")).text
    assert "Public sport in Kanazawa" in sport and "Public crafts in Ghent" not in sport
    ghent = (await client.get("/ambassadors?city=ghent")).text
    assert "Public crafts in Ghent" in ghent and "Public sport in Kanazawa" not in ghent
    last_year = (await client.get(f"/ambassadors?year={today.year - 1}")).text
    assert "Last year" in last_year and "Public crafts in Ghent" not in last_year
    odd = await client.get("/ambassadors?category=<script>&year=abc&before=nonsense")
    assert odd.status_code == 200 and "Public crafts in Ghent" in odd.text


async def test_wall_pages_newest_first(client, db):
    person, appointment = await make_ambassador(db)
    start = service.club_today() - dt.timedelta(days=40)
    for number in range(service.WALL_PAGE_SIZE + 3):
        await make_activity(
            db,
            person,
            appointment,
            title=f"Activity number {number:02d}",
            happened_on=start + dt.timedelta(days=number),
        )
    first = (await client.get("/ambassadors")).text
    titles = re.findall(r"Activity number (\d\d)", first)
    assert titles[0] == f"{service.WALL_PAGE_SIZE + 2:02d}" and len(set(titles)) == service.WALL_PAGE_SIZE
    older = re.search(r'href="/ambassadors\?(before=[^"]+)"', first)
    assert older
    second = (await client.get("/ambassadors?" + older.group(1).replace("&amp;", "&"))).text
    assert list(dict.fromkeys(re.findall(r"Activity number (\d\d)", second))) == ["02", "01", "00"]


async def test_photos_are_lazy_on_the_wall_and_private_until_public(client, db, settings):
    person, appointment = await make_ambassador(db)
    shown = await make_activity(db, person, appointment, title="Shown")
    hidden = await make_activity(db, person, appointment, title="Hidden", status="submitted")
    for activity, key in ((shown, "a" * 32), (hidden, "b" * 32)):
        db.add(ActivityPhoto(activity_id=activity.id, key=key, width=480, height=320))
        for size in photos.SIZES:
            path = photos.photo_path(settings.var_dir, key, size)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"\xff\xd8\xff\xd9")
    await db.commit()
    wall = (await client.get("/ambassadors")).text
    assert re.search(r'<img class="wall-photo" src="/ambassadors/photos/a{32}-thumb.jpg"[^>]*loading="lazy"', wall)
    assert (await client.get(f"/ambassadors/photos/{'a' * 32}-large.jpg")).status_code == 200
    assert (await client.get(f"/ambassadors/photos/{'b' * 32}-large.jpg")).status_code == 404
    assert (await client.get("/ambassadors/photos/..%2f..%2fsecret_key")).status_code == 404
    assert (await client.get(f"/ambassadors/activities/{hidden.id}")).status_code == 404
    await log_in(client, db, await make_admin(db))
    assert (await client.get(f"/ambassadors/photos/{'b' * 32}-large.jpg")).status_code == 200


async def test_the_language_switcher_keeps_the_walls_filters(client):
    wall = await client.get("/ambassadors?city=kanazawa&category=crafts")
    assert 'name="next" value="/ambassadors?city=kanazawa&amp;category=crafts"' in wall.text
    token = re.search(r'name="csrf_token" value="([^"]+)"', wall.text).group(1)  # type: ignore[union-attr]
    switched = await client.post(
        "/language", data={"csrf_token": token, "language": "nl", "next": "/ambassadors?city=kanazawa&category=crafts"}
    )
    assert switched.headers["location"] == "/ambassadors?city=kanazawa&category=crafts"
    # Public pages are kept per query: one visitor's query never lands in another's switcher.
    assert 'name="next" value="/?utm=flyer"' in (await client.get("/?utm=flyer")).text
    assert 'name="next" value="/"' in (await client.get("/")).text
    assert 'name="next" value="/"' in (await client.get("/")).text


async def test_review_queue_filters_bulk_approval_position_and_next_after_a_decision(client, db):
    lotte, lotte_term = await make_ambassador(db, name="Lotte Peeters")
    kenji, kenji_term = await make_ambassador(db, name="Kenji Mori")
    first = await make_activity(db, lotte, lotte_term, status="submitted", title="Lotte one", category="crafts")
    second = await make_activity(db, kenji, kenji_term, status="submitted", title="Kenji one", category="food")
    third = await make_activity(db, lotte, lotte_term, status="submitted", title="Lotte two", category="food")
    fourth = await make_activity(db, lotte, lotte_term, status="submitted", title="Lotte three", category="crafts")
    await log_in(client, db, await make_admin(db))

    only_lotte = await client.get("/admin/ambassadors/review", params={"ambassador": lotte.id})
    assert "Lotte one" in only_lotte.text and "Lotte two" in only_lotte.text and "Kenji one" not in only_lotte.text
    food = await client.get("/admin/ambassadors/review", params={"category": "food"})
    assert "Kenji one" in food.text and "Lotte two" in food.text and "Lotte one" not in food.text

    # The review page says where the activity stands in the filtered queue, with previous and next.
    page = await client.get(f"/admin/ambassadors/review/{third.id}", params={"ambassador": lotte.id})
    assert "2 of 3 waiting" in page.text
    assert f'href="/admin/ambassadors/review/{first.id}?ambassador={lotte.id}" rel="prev"' in page.text
    assert f'href="/admin/ambassadors/review/{fourth.id}?ambassador={lotte.id}" rel="next"' in page.text

    # A decision leads to the next activity of the same queue.
    token = await csrf_token(client, "/admin/ambassadors/review")
    decided = await client.post(
        f"/admin/ambassadors/review/{first.id}?ambassador={lotte.id}", data={"csrf_token": token, "action": "approve"}
    )
    assert decided.headers["location"] == f"/admin/ambassadors/review/{third.id}?ambassador={lotte.id}"
    shown = await client.get(decided.headers["location"])
    assert "Approved. Here is the next activity waiting for review." in shown.text and "1 of 2 waiting" in shown.text

    # Bulk approval of what is ticked and still waiting; the rest stays in the queue.
    bulk = await client.post(
        "/admin/ambassadors/review/approve",
        data={"csrf_token": token, "activity": [str(third.id), str(fourth.id), str(first.id)]},
    )
    assert bulk.status_code == 303
    notice = await client.get(bulk.headers["location"])
    assert "2 activities approved." in notice.text
    statuses = [(await fresh(db, Activity, a.id)).status for a in (first, second, third, fourth)]
    assert statuses == ["approved", "submitted", "approved", "approved"]
    assert '"Kenji one"' not in notice.text and "Kenji one" in notice.text

    # The last decision in a queue goes back to the queue.
    last = await client.post(f"/admin/ambassadors/review/{second.id}", data={"csrf_token": token, "action": "approve"})
    assert last.headers["location"] == "/admin/ambassadors/review"
    assert "1 activity approved." in (await client.get(last.headers["location"])).text
