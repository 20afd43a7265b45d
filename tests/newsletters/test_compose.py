"""Compose: variants per language, previews, images, and the bad input the issue lists."""

from __future__ import annotations

import io

import pytest
from PIL import Image
from sqlalchemy import func, select

from club.newsletters import render
from club.newsletters.models import Newsletter, NewsletterVariant
from tests.factories import log_in, make_person
from tests.helpers import compose_data, create_newsletter


async def count(db, model) -> int:
    return int(await db.scalar(select(func.count()).select_from(model)))


async def test_compose_in_dutch_and_japanese_then_preview_both(admin_client, post, db, admin):
    newsletter_id = await create_newsletter(post)
    variants = (await db.execute(select(NewsletterVariant).order_by(NewsletterVariant.language))).scalars().all()
    assert [v.language for v in variants] == ["ja", "nl"]

    page = await admin_client.get(f"/admin/newsletters/{newsletter_id}")
    assert page.status_code == 200
    assert f'src="/admin/newsletters/{newsletter_id}/preview/nl"' in page.text
    assert "Beste Admin Gent" in page.text  # the plain-text preview, personalised for the admin
    assert "ヘント祭り" in page.text

    html = await admin_client.get(f"/admin/newsletters/{newsletter_id}/preview/ja")
    assert html.status_code == 200
    assert "sandbox" in html.headers["content-security-policy"]
    assert "<table" in html.text and 'style="' in html.text  # table layout, CSS inlined
    assert "Admin Gent 様" in html.text
    assert "prefers-color-scheme: dark" in html.text
    assert (await admin_client.get(f"/admin/newsletters/{newsletter_id}/preview/en")).status_code == 404


async def test_live_preview_renders_unsaved_text(admin_client, post):
    data = {"language": "nl", "subject": "Hallo", "preheader": "", "body": "Dag *%%name%%*"}
    html = await post("/admin/newsletters/preview", data)
    assert html.status_code == 200
    assert "<em>Admin Gent</em>" in html.text
    assert "frame-ancestors 'self'" in html.headers["content-security-policy"]
    text = await post("/admin/newsletters/preview.json", data)
    assert "Dag Admin Gent" in text.json()["text"]
    assert text.json()["problem"] is None
    bad = await post("/admin/newsletters/preview.json", {**data, "body": "<img src=x onerror=alert(1)>"})
    assert bad.json()["problem"]


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"subject_nl": ""}, "subject_nl", "This field is required."),
        ({"subject_nl": "Nieuws\r\nBcc: everyone@example.org"}, "subject_nl", "Use a single line"),
        ({"body_nl": "Hallo <script>alert(1)</script>"}, "body_nl", "Remove the script"),
        ({"body_ja": '<img src="x.png" onerror="alert(1)">'}, "body_ja", "Remove the script"),
        ({"body_nl": "[klik](javascript:alert(1))"}, "body_nl", "Remove the script"),
        ({"subject_nl": "", "body_nl": "", "subject_ja": "", "body_ja": ""}, "subject_nl", "at least one language"),
        ({"fallback_language": "en"}, "fallback_language", "Choose a language that has a subject"),
        ({"joined_from": "2026-05-01", "joined_until": "2026-04-01"}, "joined_until", "end date"),
    ],
)
async def test_bad_input_is_refused_and_nothing_is_stored(admin_client, post, db, overrides, field, message):
    response = await post("/admin/newsletters/new", compose_data(**overrides))
    assert response.status_code == 400
    assert message in response.text
    assert f'id="{field}-error"' in response.text
    assert await count(db, Newsletter) == 0


async def test_sanitizer_removes_what_the_allow_list_lacks():
    html = render.body_html(
        '<iframe src="https://evil.example"></iframe><p style="x">Hi</p><a href="https://a.example">a</a>'
    )
    assert "<iframe" not in html and "style=" not in html
    assert 'rel="noopener noreferrer"' in html


async def test_editing_keeps_what_was_typed_after_an_error(admin_client, post):
    newsletter_id = await create_newsletter(post)
    response = await post(f"/admin/newsletters/{newsletter_id}", compose_data(subject_ja="", body_ja="本文だけ"))
    assert response.status_code == 400
    assert "本文だけ" in response.text


async def test_images_are_uploaded_and_served_from_the_app(admin_client, post, db):
    newsletter_id = await create_newsletter(post)
    buffer = io.BytesIO()
    Image.new("RGB", (40, 20), "red").save(buffer, "PNG")
    response = await post(
        f"/admin/newsletters/{newsletter_id}/images", files={"images": ("lantern.png", buffer.getvalue(), "image/png")}
    )
    assert response.status_code == 303
    page = await admin_client.get(f"/admin/newsletters/{newsletter_id}")
    url = page.text.split('class="image-item" data-url="')[1].split('"')[0]
    assert url.startswith("http://testserver/newsletters/images/") and url.endswith(".jpg")
    image = await admin_client.get(url.removeprefix("http://testserver"))
    # Re-encoded (without metadata) by the activity photos' code: same picture, JPEG bytes.
    assert image.status_code == 200 and image.headers["content-type"] == "image/jpeg"
    with Image.open(io.BytesIO(image.content)) as served:
        assert served.format == "JPEG" and served.size == (40, 20)

    refused = await post(
        f"/admin/newsletters/{newsletter_id}/images",
        files={"images": ("evil.png", b"<script>alert(1)</script>", "image/png")},
    )
    assert refused.status_code == 400
    assert "Upload PNG, JPEG or WebP images." in refused.text


async def test_only_admins_open_newsletter_pages(client, db):
    visitor = await client.get("/admin/newsletters/new")
    assert visitor.status_code == 303 and visitor.headers["location"].startswith("/admin/login")
    member = await make_person(db, newsletter=True)
    await log_in(client, db, member)
    assert (await client.get("/admin/newsletters")).status_code == 403


@pytest.mark.parametrize(("language", "expected"), [("nl", "Nieuwsbrief"), ("ja", "ニュースレター")])
async def test_admin_pages_speak_the_admins_language(admin_client, post, db, admin, language, expected):
    newsletter_id = await create_newsletter(post)
    admin.language = language
    db.add(admin)
    await db.commit()
    for path in (
        "/admin/newsletters",
        "/admin/newsletters/new",
        f"/admin/newsletters/{newsletter_id}",
        f"/admin/newsletters/{newsletter_id}/confirm",
    ):
        response = await admin_client.get(path)
        assert response.status_code == 200
        assert expected.lower() in response.text.lower(), path
        assert "Save and preview" not in response.text and "Review and send" not in response.text
