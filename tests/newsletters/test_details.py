"""Newsletter details: audience, schedule override and finish time on confirm and report; duplicate and delete;
Japanese-only drafts; the schedule form; Japanese line breaks; images without metadata; the headers and preheader
of the mail; counts."""

from __future__ import annotations

import datetime as dt
import io
import re
from email import message_from_bytes
from email.header import decode_header, make_header
from email.policy import compat32

from PIL import Image
from sqlalchemy import func, select, update

from club.accounts.models import Person
from club.admin.models import AuditEntry
from club.db import utcnow
from club.members.models import Interest, MemberInterest
from club.newsletters import render
from club.newsletters.models import Newsletter, NewsletterImage, NewsletterVariant
from tests.factories import make_person, running_sender
from tests.helpers import compose_data, create_newsletter

# SpamAssassin's __FONT_INVIS (rulesrc/sandbox/jhardin/20_misc_testing.cf): a near-zero font size or a transparent
# colour in front of text. It feeds FONT_INVIS_MSGID (2.5) and its siblings.
FONT_INVIS = re.compile(
    r"<(?!style)[a-z]+\s[^>]{1,80}(?:font(?:-size)?\s*:\s*(?:0*[01](?:\.\d+)?(?:px|pt|Q|vw|vh|vmin)"
    r"|0+(?:\.\d+)?(?:cm|mm|pc|ch|rem|lh|vmax|%)|0+(?:\.0\d*)(?:em|ex|in))(?:\s[a-z]|\s*[;'])"
    r"|['\"\s;]color\s*:\s*transparent\s*[;'])[^>]{0,80}>[a-z0-9]",
    re.IGNORECASE,
)


async def count(db, model) -> int:
    return int(await db.scalar(select(func.count()).select_from(model)))


async def with_jazz_interest(db) -> None:
    db.add(Interest(slug="jazz-club", name_nl="Jazzclub", name_en="Jazz club", name_ja="ジャズクラブ", position=99))
    await db.commit()


async def test_confirm_and_report_show_the_audience_the_override_and_the_finish(admin_client, post, db):
    await with_jazz_interest(db)
    jan = await make_person(db, email="jan@example.be", name="Jan Peeters", language="nl", newsletter=True)
    jazz = await db.scalar(select(Interest.id).where(Interest.slug == "jazz-club"))
    db.add(MemberInterest(person_id=jan.id, interest_id=jazz))
    await db.commit()
    # The last newsletter went to 600 members in a minute: the estimate uses that pace (no rate limit is set).
    db.add(
        Newsletter(
            status="sent",
            recipients=600,
            started_at=dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC),
            finished_at=dt.datetime(2026, 3, 1, 9, 1, tzinfo=dt.UTC),
        )
    )
    await db.commit()
    newsletter_id = await create_newsletter(
        post, cities=["ghent", "kanazawa"], interests="jazz-club", languages=["nl", "ja"]
    )
    moment = (utcnow() + dt.timedelta(days=3)).astimezone(dt.timezone(dt.timedelta(hours=1)))
    assert (
        await post(
            f"/admin/newsletters/{newsletter_id}/schedule",
            {"scheduled_at": moment.strftime("%Y-%m-%dT%H:%M"), "timezone": "Europe/Brussels"},
        )
    ).status_code == 303

    confirm = await admin_client.get(f"/admin/newsletters/{newsletter_id}/confirm")
    audience = confirm.text.split('id="audience-summary"')[1].split("</dl>")[0]
    assert "Ghent, Kanazawa" in audience and "Jazz club" in audience and "Interests (any of)" in audience
    assert "Dutch" in audience or "Nederlands" in audience
    override = confirm.text.split('id="schedule-override"')[1].split("</div>")[0]
    assert "Sending it now replaces that schedule" in override and moment.strftime("%Y") in override
    estimate = confirm.text.split('id="finish-estimate">')[1].split("</p>")[0]
    assert "At the pace of the last newsletter (10 mails per second)" in estimate
    assert "Send now to 1 member<" in confirm.text

    sent = await post(f"/admin/newsletters/{newsletter_id}/send", page=f"/admin/newsletters/{newsletter_id}/confirm")
    assert sent.status_code == 303
    db.expire_all()
    newsletter = await db.get(Newsletter, newsletter_id)
    assert newsletter.status == "sending" and newsletter.scheduled_at is not None
    await db.execute(
        update(Newsletter)
        .where(Newsletter.id == newsletter_id)
        .values(status="sent", finished_at=dt.datetime(2026, 4, 4, 7, 30, tzinfo=dt.UTC))
    )
    await db.commit()
    report = await admin_client.get(f"/admin/newsletters/{newsletter_id}/report")
    assert "Jazz club" in report.text.split('id="audience-summary"')[1].split("</dl>")[0]
    finish = report.text.split('id="finish-time">')[1].split("</p>")[0]
    assert "Finished" in finish and "April 4, 2026" in finish and ":30:00" not in finish
    assert "Sent to 1 member." in report.text


async def test_counts_carry_thousands_separators_and_plurals(admin_client, post, db, admin):
    db.add_all(
        Person(
            email=f"lid{i}@example.be",
            name=f"Lid {i}",
            role="member",
            language="nl",
            city="ghent",
            confirmed_at=utcnow(),
            newsletter=True,
        )
        for i in range(1234)
    )
    await db.commit()
    newsletter_id = await create_newsletter(post)
    english = await admin_client.get(f"/admin/newsletters/{newsletter_id}/confirm")
    assert "Send now to 1,234 members<" in english.text
    admin.language = "nl"
    await db.commit()
    dutch = await admin_client.get(f"/admin/newsletters/{newsletter_id}/confirm")
    assert "Nu versturen naar 1.234 leden<" in dutch.text
    admin.language = "ja"
    await db.commit()
    japanese = await admin_client.get(f"/admin/newsletters/{newsletter_id}/confirm")
    assert "今すぐ1,234人の会員に送信<" in japanese.text


async def test_drafts_can_be_duplicated_and_deleted(admin_client, post, db):
    newsletter_id = await create_newsletter(post)
    buffer = io.BytesIO()
    Image.new("RGB", (40, 20), "red").save(buffer, "PNG")
    await post(
        f"/admin/newsletters/{newsletter_id}/images", files={"images": ("a.png", buffer.getvalue(), "image/png")}
    )
    token = await db.scalar(select(NewsletterImage.token))
    body = f"![Rode lantaarn](http://testserver/newsletters/images/{token}.jpg)\n\nBeste %%name%%"
    await post(f"/admin/newsletters/{newsletter_id}", compose_data(body_nl=body))

    copied = await post(f"/admin/newsletters/{newsletter_id}/duplicate", page=f"/admin/newsletters/{newsletter_id}")
    assert copied.status_code == 303 and "?" not in copied.headers["location"]
    copy_id = int(copied.headers["location"].split("/")[3])
    assert copy_id != newsletter_id
    page = await admin_client.get(copied.headers["location"])
    assert "This is a copy of the newsletter" in page.text and "Nieuws uit Gent" in page.text
    assert await count(db, NewsletterVariant) == 4
    copy_body = await db.scalar(
        select(NewsletterVariant.body).where(
            NewsletterVariant.newsletter_id == copy_id, NewsletterVariant.language == "nl"
        )
    )
    copy_token = await db.scalar(select(NewsletterImage.token).where(NewsletterImage.newsletter_id == copy_id))
    assert copy_token and copy_token != token and f"/newsletters/images/{copy_token}.jpg" in copy_body

    question = await admin_client.get(f"/admin/newsletters/{newsletter_id}/delete")
    assert question.status_code == 200 and "This cannot be undone." in question.text
    deleted = await post(
        f"/admin/newsletters/{newsletter_id}/delete", page=f"/admin/newsletters/{newsletter_id}/delete"
    )
    assert deleted.status_code == 303 and deleted.headers["location"] == "/admin/newsletters"
    assert "The draft is deleted." in (await admin_client.get(deleted.headers["location"])).text
    assert await db.scalar(select(func.count()).select_from(Newsletter)) == 1
    assert (await admin_client.get(f"/admin/newsletters/{newsletter_id}")).status_code == 404
    actions = (await db.execute(select(AuditEntry.action, AuditEntry.target_id).order_by(AuditEntry.id))).all()
    assert ("newsletters.duplicate", str(copy_id)) in actions
    assert ("newsletters.delete_newsletter", str(newsletter_id)) in actions
    # The copy keeps its own image.
    assert (await admin_client.get(f"/newsletters/images/{copy_token}.jpg")).status_code == 200

    moment = (utcnow() + dt.timedelta(days=3)).astimezone(dt.timezone(dt.timedelta(hours=1)))
    await make_person(db, email="jan@example.be", language="nl", newsletter=True)
    await post(
        f"/admin/newsletters/{copy_id}/schedule",
        {"scheduled_at": moment.strftime("%Y-%m-%dT%H:%M"), "timezone": "Europe/Brussels"},
    )
    refused = await post(f"/admin/newsletters/{copy_id}/delete")
    assert refused.status_code == 409 and "Only a draft can be deleted." in refused.text
    assert await db.scalar(select(func.count()).select_from(Newsletter)) == 1


async def test_a_japanese_only_newsletter_saves_without_touching_the_fallback(admin_client, post, db):
    response = await post(
        "/admin/newsletters/new", {"subject_ja": "金沢だより", "body_ja": "こんにちは。", "fallback_language": "en"}
    )
    assert response.status_code == 303, response.text
    assert await db.scalar(select(Newsletter.fallback_language)) == "ja"


async def test_the_live_preview_asks_for_a_real_image_description(admin_client, post):
    data = {"language": "nl", "subject": "Foto's", "preheader": ""}
    for body in ("![IMG_0042.jpg](https://club.example/a.jpg)", "![](https://club.example/a.jpg)"):
        problem = (await post("/admin/newsletters/preview.json", {**data, "body": body})).json()["problem"]
        assert problem and "no description" in problem
    described = {**data, "body": "![Lampionnen op de Graslei](https://club.example/a.jpg)"}
    assert (await post("/admin/newsletters/preview.json", described)).json()["problem"] is None


async def test_a_soft_line_break_between_japanese_lines_adds_no_space():
    source = "金沢の秋は\n紅葉がきれいです。\nGhent is\nlovely too."
    assert "金沢の秋は紅葉がきれいです。" in render.body_html(source)
    assert "Ghent is\nlovely" in render.body_html(source)
    text = render.body_text(source)
    assert "金沢の秋は紅葉がきれいです。" in text and "Ghent is lovely too." in text


async def test_uploaded_images_lose_exif_and_gps(admin_client, post, db):
    newsletter_id = await create_newsletter(post)
    image = Image.new("RGB", (64, 48), "blue")
    exif = Image.Exif()
    exif[0x010F] = "LanternCam"  # Make
    exif[0x0110] = "Model K"  # Model
    gps = exif.get_ifd(0x8825)
    gps.update({1: "N", 2: (36.0, 33.0, 40.0), 3: "E", 4: (136.0, 39.0, 23.0)})
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", exif=exif)
    with Image.open(io.BytesIO(buffer.getvalue())) as original:
        assert original.getexif().get_ifd(0x8825)  # the upload really carries GPS

    response = await post(
        f"/admin/newsletters/{newsletter_id}/images",
        files={"images": ("kenrokuen.jpg", buffer.getvalue(), "image/jpeg")},
    )
    assert response.status_code == 303
    token = await db.scalar(select(NewsletterImage.token))
    served = await admin_client.get(f"/newsletters/images/{token}.jpg")
    assert served.status_code == 200
    assert b"LanternCam" not in served.content and b"Exif" not in served.content
    with Image.open(io.BytesIO(served.content)) as clean:
        assert not clean.getexif() and "exif" not in clean.info and clean.size == (64, 48)

    page = await admin_client.get(f"/admin/newsletters/{newsletter_id}")
    item = page.text.split('class="image-item"')[1].split("</li>")[0]
    assert 'class="image-alt"' in item and "Describe the image" in item
    assert item.count('class="button image-insert-button"') == 3


async def test_mails_carry_list_id_content_language_a_local_sender_and_a_clean_preheader(
    admin_client, post, db, engine, smtp_server
):
    mailbox, port = smtp_server
    await make_person(db, email="jan@example.be", name="Jan Peeters", language="nl", newsletter=True)
    await make_person(db, email="hanako@example.jp", name="山田 花子", language="ja", newsletter=True)
    newsletter_id = await create_newsletter(post)
    await post(f"/admin/newsletters/{newsletter_id}/send", page=f"/admin/newsletters/{newsletter_id}/confirm")
    async with running_sender(engine, port):
        await mailbox.wait_for(2)

    dutch, japanese = mailbox.to("jan@example.be")[0], mailbox.to("hanako@example.jp")[0]
    assert dutch["Content-Language"] == "nl" and japanese["Content-Language"] == "ja"
    raw = {rcpts[0]: message_from_bytes(data, policy=compat32) for _, rcpts, data in mailbox.envelopes}

    def decoded(address: str, name: str) -> str:  # RFC 2047 as mail programs read it
        return str(make_header(decode_header(raw[address][name])))

    assert decoded("jan@example.be", "List-Id").endswith("<newsletter.ghent-kanazawa.example>")
    assert decoded("hanako@example.jp", "From") == "ゲント・金沢サポーターズクラブ <club@ghent-kanazawa.example>"
    assert decoded("hanako@example.jp", "List-Id") == (
        "ゲント・金沢サポーターズクラブ <newsletter.ghent-kanazawa.example>"
    )
    dutch_name = decoded("jan@example.be", "From").rsplit(" <", 1)[0].strip('"')
    assert dutch_name != "Ghent–Kanazawa Supporters Club" and "Gent" in dutch_name

    for mail, preheader in ((dutch, "Jazz in de zomer"), (japanese, "夏のジャズ")):
        html = mail.get_body(("html",)).get_content()
        assert preheader in html
        assert not FONT_INVIS.search(html)
        style = re.search(r'<div[^>]*style="([^"]*)"[^>]*>' + re.escape(preheader), html)
        assert style is not None and "display: none" in style.group(1)
        assert "color" not in style.group(1) and "font-size" not in style.group(1) and "opacity" not in style.group(1)
