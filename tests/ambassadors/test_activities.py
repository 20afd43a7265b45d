"""Logging activities at /activities/new: every field checked, photos checked by content, nothing stored on
bad input; an ambassador edits or withdraws only their own activity, and only until it is approved."""

from __future__ import annotations

import datetime as dt
import io
import re

import pytest
from PIL import Image
from sqlalchemy import select

from club.ambassadors import photos, service
from club.ambassadors.models import Activity, ActivityPhoto
from tests.factories import count, csrf_token, fresh, image_bytes, log_in, make_activity, make_ambassador


def activity_form(token: str, **changes: str) -> dict[str, str]:
    form = {
        "csrf_token": token,
        "happened_on": (service.club_today() - dt.timedelta(days=1)).isoformat(),
        "title": "Gold leaf workshop at the Blandijn",
        "category": "crafts",
        "city": "ghent",
        "venue": "Ranshō Garden",
        "description": "We made **gold leaf** chopsticks with [the university](https://www.ugent.be).",
        "people_reached": "35",
        "hours": "2.75",
        "link": "https://www.ugent.be/japan",
        "public": "1",
        "action": "submit",
    }
    form.update(changes)
    return form


@pytest.fixture
async def ambassador(client, db):  # type: ignore[no-untyped-def]
    person, appointment = await make_ambassador(db)
    await log_in(client, db, person)
    return person, appointment


async def test_ambassador_logs_an_activity_with_photos_stripped_of_location_data(client, db, ambassador, settings):
    token = await csrf_token(client, "/activities/new")
    files = [
        ("photos", ("kenroku.jpg", image_bytes("JPEG", (2400, 1600), gps=True), "image/jpeg")),
        ("photos", ("lantern.png", image_bytes("PNG"), "image/png")),
        ("photos", ("", b"", "application/octet-stream")),
    ]  # an empty file input, as browsers send it
    response = await client.post("/activities/new", data=activity_form(token), files=files)
    assert response.status_code == 303, response.text
    activity = (await db.execute(select(Activity))).scalar_one()
    assert activity.status == "submitted" and activity.quarter_hours == 11 and activity.people_reached == 35
    assert "<strong>gold leaf</strong>" in activity.description_html
    assert 'href="https://www.ugent.be"' in activity.description_html
    stored = (await db.execute(select(ActivityPhoto).order_by(ActivityPhoto.position))).scalars().all()
    assert len(stored) == 2
    large = photos.photo_path(settings.var_dir, stored[0].key, "large")
    with Image.open(large) as image:
        assert image.format == "JPEG"
        assert max(image.size) == photos.SIZES["large"]
        assert not image.getexif()  # no EXIF, so no GPS
    assert b"CameraMaker" not in large.read_bytes()
    page = await client.get(response.headers["location"])
    assert "Waiting for review" in page.text
    assert (await client.get(f"/ambassadors/photos/{stored[0].key}-thumb.jpg")).status_code == 200  # the author


async def test_a_draft_is_saved_without_review(client, db, ambassador):
    token = await csrf_token(client, "/activities/new")
    response = await client.post("/activities/new", data=activity_form(token, action="draft"))
    assert response.status_code == 303
    activity = (await db.execute(select(Activity))).scalar_one()
    assert activity.status == "draft" and activity.submitted_at is None


BAD_FIELDS = [
    ({"happened_on": "2999-01-01"}, "happened_on", "cannot be in the future"),
    ({"happened_on": "2001-01-01"}, "happened_on", "before your term started"),
    ({"happened_on": "yesterday"}, "happened_on", "Enter a date like"),
    ({"people_reached": "-1"}, "people_reached", "Enter a number from 0 to 100000"),
    ({"people_reached": "100001"}, "people_reached", "Enter a number from 0 to 100000"),
    ({"people_reached": "many"}, "people_reached", "Enter a whole number"),
    ({"hours": "501"}, "hours", "Enter a number from 0 to 500"),
    ({"hours": "-0.25"}, "hours", "Enter a number from 0 to 500"),
    ({"hours": "1.3"}, "hours", "quarter of an hour"),
    ({"hours": "abc"}, "hours", "such as 1.5"),
    ({"link": "javascript:alert(1)"}, "link", "starts with http:// or https://"),
    ({"link": "JavaScript:alert(document.cookie)"}, "link", "starts with http:// or https://"),
    ({"link": "ftp://example.org/file"}, "link", "starts with http:// or https://"),
    ({"link": "https://"}, "link", "starts with http:// or https://"),
    ({"description": "<script>alert('x')</script>"}, "description", "HTML tags (such as a script tag)"),
    ({"description": "Nice <img src=x onerror=alert(1)>"}, "description", "HTML tags"),
    ({"description": ""}, "description", "This field is required"),
    ({"title": ""}, "title", "This field is required"),
    ({"title": "x" * 201}, "title", "at most 200 characters"),
    ({"title": "two\nlines"}, "title", "single line"),
    ({"category": "politics"}, "category", "Choose one of the options"),
    ({"city": "Paris"}, "city", "Choose one of the options"),
]


@pytest.mark.parametrize(("changes", "field", "message"), BAD_FIELDS, ids=[f"{c}" for c, *_ in BAD_FIELDS])
async def test_bad_input_is_refused_with_a_message_beside_the_field_and_nothing_stored(
    client, db, ambassador, changes, field, message
):
    token = await csrf_token(client, "/activities/new")
    form = activity_form(token, **changes)
    response = await client.post("/activities/new", data=form)
    assert response.status_code == 400
    assert re.search(rf'id="{field}-error">[^<]*{re.escape(message)}', response.text), response.text[-2000:]
    assert f'value="{form["title"]}"' in response.text or field == "title"  # what was typed is kept
    assert await count(db, Activity) == 0


async def test_a_pdf_renamed_jpg_is_refused_by_its_content(client, db, ambassador, settings):
    token = await csrf_token(client, "/activities/new")
    pdf = b"%PDF-1.7\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
    response = await client.post(
        "/activities/new", data=activity_form(token), files=[("photos", ("holiday.jpg", pdf, "image/jpeg"))]
    )
    assert response.status_code == 400
    assert "not a JPEG, PNG or WebP photo" in response.text
    assert await count(db, Activity) == 0 and await count(db, ActivityPhoto) == 0
    assert not photos.uploads_dir(settings.var_dir).exists()


async def test_a_gif_and_a_truncated_jpeg_are_refused(client, db, ambassador):
    token = await csrf_token(client, "/activities/new")
    for name, data in (("anim.gif", image_bytes("GIF")), ("cut.jpg", image_bytes("JPEG", (300, 300))[:200])):
        response = await client.post(
            "/activities/new", data=activity_form(token), files=[("photos", (name, data, "image/jpeg"))]
        )
        assert response.status_code == 400, name
        assert "not a JPEG, PNG or WebP photo" in response.text
    assert await count(db, Activity) == 0


async def test_a_photo_over_8_mb_is_refused_with_413(client, db, ambassador):
    token = await csrf_token(client, "/activities/new")
    big = image_bytes("JPEG") + b"\0" * (photos.MAX_PHOTO_BYTES + 1)
    response = await client.post(
        "/activities/new", data=activity_form(token), files=[("photos", ("big.jpg", big, "image/jpeg"))]
    )
    assert response.status_code == 413
    assert "at most 8 MB" in response.text
    assert await count(db, Activity) == 0


async def test_a_50_mb_upload_is_refused_with_413(client, db, ambassador):
    token = await csrf_token(client, "/activities/new")
    huge = b"\xff\xd8\xff" + b"\0" * (50 * 1024 * 1024)
    response = await client.post(
        "/activities/new", data=activity_form(token), files=[("photos", ("huge.jpg", huge, "image/jpeg"))]
    )
    assert response.status_code == 413
    assert await count(db, Activity) == 0


async def test_more_than_six_photos_are_refused(client, db, ambassador):
    token = await csrf_token(client, "/activities/new")
    files = [("photos", (f"p{i}.jpg", image_bytes(), "image/jpeg")) for i in range(7)]
    response = await client.post("/activities/new", data=activity_form(token), files=files)
    assert response.status_code == 400
    assert "at most 6 photos" in response.text
    assert await count(db, Activity) == 0 and await count(db, ActivityPhoto) == 0


async def test_without_csrf_token_nothing_is_stored(client, db, ambassador):
    await csrf_token(client, "/activities/new")
    form = activity_form("forged-token-" + "x" * 40)
    assert (await client.post("/activities/new", data=form)).status_code == 403
    assert await count(db, Activity) == 0


async def test_someone_elses_activity_by_id_is_not_found(client, db, ambassador):
    other, other_appointment = await make_ambassador(db, name="Kenji Tanaka")
    theirs = await make_activity(db, other, other_appointment, status="submitted", title="Theirs")
    token = await csrf_token(client, "/activities/new")
    assert (await client.get(f"/activities/{theirs.id}")).status_code == 404
    assert (await client.get(f"/activities/{theirs.id}/edit")).status_code == 404
    response = await client.post(f"/activities/{theirs.id}/edit", data=activity_form(token, title="Mine now"))
    assert response.status_code == 404
    assert (await client.post(f"/activities/{theirs.id}/withdraw", data={"csrf_token": token})).status_code == 404
    kept = await fresh(db, Activity, theirs.id)
    assert kept is not None and kept.title == "Theirs"


async def test_own_activity_is_edited_until_approved_then_not(client, db, ambassador, settings):
    person, appointment = ambassador
    token = await csrf_token(client, "/activities/new")
    files = [
        ("photos", ("a.jpg", image_bytes(), "image/jpeg")),
        ("photos", ("b.webp", image_bytes("WEBP"), "image/webp")),
    ]
    await client.post("/activities/new", data=activity_form(token, action="draft"), files=files)
    activity = (await db.execute(select(Activity))).scalar_one()
    keys = [p.key for p in (await db.execute(select(ActivityPhoto).order_by(ActivityPhoto.position))).scalars()]
    edit = await client.get(f"/activities/{activity.id}/edit")
    assert edit.status_code == 200 and "Gold leaf workshop" in edit.text
    response = await client.post(
        f"/activities/{activity.id}/edit",
        data={**activity_form(token, title="Gold leaf, second try", hours="3"), "remove_photo": keys[0]},
    )
    assert response.status_code == 303
    changed = await fresh(db, Activity, activity.id)
    assert changed.title == "Gold leaf, second try" and changed.quarter_hours == 12 and changed.status == "submitted"
    left = (await db.execute(select(ActivityPhoto.key))).scalars().all()
    assert left == [keys[1]]
    assert not photos.photo_path(settings.var_dir, keys[0], "large").exists()
    changed.status = "approved"
    await db.commit()
    assert (await client.get(f"/activities/{activity.id}/edit")).status_code == 403
    assert (
        await client.post(f"/activities/{activity.id}/edit", data=activity_form(token, title="Later"))
    ).status_code == 403
    assert (await client.post(f"/activities/{activity.id}/withdraw", data={"csrf_token": token})).status_code == 403
    assert (await fresh(db, Activity, activity.id)).title == "Gold leaf, second try"


async def test_withdrawing_removes_the_activity_and_its_photos(client, db, ambassador, settings):
    token = await csrf_token(client, "/activities/new")
    await client.post(
        "/activities/new", data=activity_form(token), files=[("photos", ("a.jpg", image_bytes(), "image/jpeg"))]
    )
    activity = (await db.execute(select(Activity))).scalar_one()
    key = (await db.execute(select(ActivityPhoto.key))).scalar_one()
    response = await client.post(f"/activities/{activity.id}/withdraw", data={"csrf_token": token})
    assert response.status_code == 303
    assert await count(db, Activity) == 0 and await count(db, ActivityPhoto) == 0
    assert not photos.photo_path(settings.var_dir, key, "thumb").exists()


async def test_markdown_links_with_javascript_never_reach_the_page(client, db, ambassador):
    token = await csrf_token(client, "/activities/new")
    description = "[click me](javascript:alert(1)) and [data](data:text/html;base64,PHNjcmlwdD4=)"
    response = await client.post("/activities/new", data=activity_form(token, description=description))
    assert response.status_code == 303
    activity = (await db.execute(select(Activity))).scalar_one()
    assert "href" not in activity.description_html  # markdown-it refuses those links; they stay plain text
    page = await client.get(f"/activities/{activity.id}")
    assert 'href="javascript:' not in page.text


async def test_dashboard_shows_own_totals_and_join_link(client, db, ambassador):
    person, appointment = ambassador
    await make_activity(db, person, appointment, people_reached=40, quarter_hours=6)
    await make_activity(db, person, appointment, people_reached=60, quarter_hours=4)
    await make_activity(db, person, appointment, status="submitted", people_reached=1000)
    page = await client.get("/activities")
    assert page.status_code == 200
    numbers = re.findall(r'class="big-number">([^<]+)<', page.text)
    assert numbers[:3] == ["2", "2.5", "100"]
    assert "/join?ref=code" in page.text
    png = await client.get("/activities/qr.png")
    assert png.headers["content-type"] == "image/png"
    with Image.open(io.BytesIO(png.content)) as image:
        assert image.format == "PNG"
    svg = await client.get("/activities/qr.svg")
    assert svg.headers["content-type"].startswith("image/svg+xml") and svg.text.startswith("<svg")


@pytest.mark.parametrize(
    ("language", "heading", "error"),
    [
        ("nl", "Een activiteit invoeren", "De datum kan niet in de toekomst liggen."),
        ("ja", "活動を記録する", "未来の日付は入力できません。"),
    ],
)
async def test_the_form_and_its_messages_in_the_ambassadors_language(client, db, language, heading, error):
    person, _appointment = await make_ambassador(db, language=language)
    await log_in(client, db, person)
    page = await client.get("/activities/new")
    assert f'<html lang="{language}">' in page.text and heading in page.text
    token = await csrf_token(client, "/activities/new")
    response = await client.post("/activities/new", data=activity_form(token, happened_on="2999-01-01"))
    assert response.status_code == 400 and error in response.text
    wall = await client.get("/ambassadors", headers={"Accept-Language": language})
    assert wall.status_code == 200


async def test_editing_an_approved_activity_says_it_is_locked_and_what_to_do(client, db, ambassador):
    person, appointment = ambassador
    activity = await make_activity(db, person, appointment, title="Kimono day at STAM", status="approved")
    token = await csrf_token(client, "/activities/new")
    for response in (
        await client.get(f"/activities/{activity.id}/edit"),
        await client.post(f"/activities/{activity.id}/edit", data=activity_form(token, title="Later")),
        await client.post(f"/activities/{activity.id}/withdraw", data={"csrf_token": token}),
    ):
        assert response.status_code == 403
        assert "This activity is approved and locked." in response.text
        assert "Kimono day at STAM" in response.text
        assert "Write to the club at club@localhost" in response.text
        assert f'href="/activities/{activity.id}"' in response.text
    person.language = "ja"
    db.add(person)
    await db.commit()
    locked = await client.get(f"/activities/{activity.id}/edit")
    assert "この活動は承認済みのため、ロックされています。" in locked.text
    assert (await fresh(db, Activity, activity.id)).title == "Kimono day at STAM"


async def test_markdown_autolinks_and_plain_angle_brackets_are_accepted_real_tags_are_not(client, db, ambassador):
    token = await csrf_token(client, "/activities/new")
    description = "Slides: <https://www.ugent.be/japan>, questions to <jan@example.org>.\n\nScore: a < b > c, 1<2."
    response = await client.post("/activities/new", data=activity_form(token, description=description))
    assert response.status_code == 303, response.text
    activity = (await db.execute(select(Activity))).scalar_one()
    assert 'href="https://www.ugent.be/japan"' in activity.description_html
    assert 'href="mailto:jan@example.org"' in activity.description_html
    assert "a &lt; b &gt; c" in activity.description_html
    for tag in ("<b>bold</b>", "Hi <a\nhref=x>x</a>", "<!-- note -->", "<br/>", "<svg/onload=alert(1)>"):
        refused = await client.post("/activities/new", data=activity_form(token, description=tag))
        assert refused.status_code == 400 and "HTML tags" in refused.text, tag
    assert await count(db, Activity) == 1


def bomb_png() -> bytes:
    """58-70 KB of PNG that decodes to 7,745 × 7,745 pixels (60 megapixels)."""
    buffer = io.BytesIO()
    Image.new("L", (7745, 7745), 255).save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


async def test_a_decompression_bomb_is_refused_from_its_header_with_a_translated_message(client, db, ambassador):
    person, _appointment = ambassador
    token = await csrf_token(client, "/activities/new")
    bomb = bomb_png()
    assert len(bomb) < 100 * 1024
    files = [("photos", ("flyer.png", bomb, "image/png"))]
    response = await client.post("/activities/new", data=activity_form(token), files=files)
    assert response.status_code == 400
    assert "This picture is 7745 × 7745 pixels, more than a phone photo needs." in response.text
    assert "at most 16 megapixels" in response.text
    person.language = "ja"
    db.add(person)
    await db.commit()
    response = await client.post("/activities/new", data=activity_form(token), files=files)
    assert "7745 × 7745ピクセル" in response.text
    assert await count(db, Activity) == 0


async def test_a_phone_sized_jpeg_is_accepted_and_shrunk(client, db, ambassador, settings):
    token = await csrf_token(client, "/activities/new")
    phone = image_bytes("JPEG", (8000, 6000))  # 48 megapixels, as a phone's full-resolution mode takes
    files = [("photos", ("pier.jpg", phone, "image/jpeg"))]
    response = await client.post("/activities/new", data=activity_form(token), files=files)
    assert response.status_code == 303
    photo = (await db.execute(select(ActivityPhoto))).scalar_one()
    assert (photo.width, photo.height) == (1600, 1200)
    with Image.open(photos.photo_path(settings.var_dir, photo.key, "thumb")) as thumb:
        assert thumb.size == (480, 360)
    too_big = image_bytes("JPEG", (9000, 6000))  # 54 megapixels
    files = [("photos", ("big.jpg", too_big, "image/jpeg"))]
    refused = await client.post("/activities/new", data=activity_form(token), files=files)
    assert refused.status_code == 400 and "at most 50 megapixels" in refused.text
