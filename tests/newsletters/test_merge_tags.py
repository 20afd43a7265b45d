"""Merge tags: the composer's hint and the engine agree, unknown placeholders stop the send, and the archive fills
the name with a neutral word in the newsletter's own language."""

from __future__ import annotations

import datetime as dt
import html
import re
import xml.etree.ElementTree as ET

import pytest
from sqlalchemy import func, select, update

from club.db import create_sessionmaker, utcnow
from club.mail.models import Delivery
from club.newsletters import service
from club.newsletters.models import Newsletter
from tests.factories import make_person, running_sender
from tests.helpers import compose_data, create_newsletter

ATOM = "{http://www.w3.org/2005/Atom}"


async def deliveries(db) -> int:
    return int(await db.scalar(select(func.count()).select_from(Delivery)))


async def status_of(db, newsletter_id: int) -> str:
    db.expire_all()
    return (await db.get(Newsletter, newsletter_id)).status


def hint_tag(page: str) -> str:
    """The placeholder for the member's name exactly as the composer's hint shows it."""
    hint = page.split('id="compose-hint">')[1].split("</p>")[0]
    match = re.search(r"<code>([^<]*)</code>", hint)
    assert match, hint
    return html.unescape(match.group(1))


@pytest.mark.parametrize("language", ["nl", "en", "ja"])
async def test_a_newsletter_written_as_the_hint_says_arrives_with_the_members_name(
    admin_client, post, db, admin, engine, smtp_server, language
):
    admin.language = language
    await db.commit()
    mailbox, port = smtp_server
    await make_person(db, email="jan@example.be", name="Jan Peeters", language="nl", newsletter=True)
    tag = hint_tag((await admin_client.get("/admin/newsletters/new")).text)
    newsletter_id = await create_newsletter(
        post, body_nl=f"Beste {tag},\n\nTot op de Gentse Feesten!", body_ja=f"{tag}様\n\nこんにちは。"
    )
    response = await post(
        f"/admin/newsletters/{newsletter_id}/send", page=f"/admin/newsletters/{newsletter_id}/confirm"
    )
    assert response.status_code == 303, response.text

    async with running_sender(engine, port):
        await mailbox.wait_for(1)
    mail = mailbox.to("jan@example.be")[0]
    assert "Beste Jan Peeters," in mail.get_body(("plain",)).get_content()
    assert "Beste Jan Peeters," in mail.get_body(("html",)).get_content()
    assert "%" not in mail.get_body(("plain",)).get_content().split("--")[0]


@pytest.mark.parametrize(
    ("overrides", "shown"),
    [
        ({"body_nl": "Beste %name%,"}, "%name%"),
        ({"body_nl": "Beste %%naam%%,"}, "%%naam%%"),
        ({"body_ja": "{{ name }}様"}, "{{ name }}"),
        ({"preheader_nl": "Voor *|FNAME|*"}, "*|FNAME|*"),
        ({"subject_nl": "Nieuws voor %%name%%"}, "%%name%%"),
    ],
)
async def test_an_unknown_placeholder_refuses_the_send_and_queues_nothing(
    admin_client, post, db, engine, settings, overrides, shown
):
    await make_person(db, email="jan@example.be", name="Jan Peeters", language="nl", newsletter=True)
    newsletter_id = await create_newsletter(post, **overrides)

    editor = await admin_client.get(f"/admin/newsletters/{newsletter_id}")
    warnings = [part.split("</p>")[0] for part in editor.text.split('class="preview-problem')[1:]]
    assert any(html.escape(shown, quote=False) in warning for warning in warnings)

    confirm = await admin_client.get(f"/admin/newsletters/{newsletter_id}/confirm")
    assert 'id="tag-problems"' in confirm.text and 'id="send-now"' not in confirm.text
    assert html.escape(shown, quote=False) in confirm.text

    refused = await post(f"/admin/newsletters/{newsletter_id}/send", page=f"/admin/newsletters/{newsletter_id}/confirm")
    assert refused.status_code == 400
    assert "holds a placeholder that nothing fills in" in refused.text
    assert await deliveries(db) == 0
    assert await status_of(db, newsletter_id) == "draft"

    moment = (utcnow() + dt.timedelta(days=1)).astimezone(dt.timezone(dt.timedelta(hours=1)))
    scheduled = await post(
        f"/admin/newsletters/{newsletter_id}/schedule",
        {"scheduled_at": moment.strftime("%Y-%m-%dT%H:%M"), "timezone": "Europe/Brussels"},
    )
    assert scheduled.status_code == 400 and "holds a placeholder" in scheduled.text
    assert await status_of(db, newsletter_id) == "draft"

    # One scheduled before the check existed goes back to draft when due, and sends nothing.
    await db.execute(
        update(Newsletter)
        .where(Newsletter.id == newsletter_id)
        .values(status="scheduled", scheduled_at=utcnow() - dt.timedelta(seconds=1))
    )
    await db.commit()
    assert await service.run_due(create_sessionmaker(engine), settings) == 0
    assert await status_of(db, newsletter_id) == "draft"
    assert await deliveries(db) == 0


async def test_the_live_preview_warns_about_an_unknown_placeholder(admin_client, post):
    data = {"language": "nl", "subject": "Hallo", "preheader": "", "body": "Beste %name%, en %%name%%"}
    answer = (await post("/admin/newsletters/preview.json", data)).json()
    assert answer["problem"] and "%name%" in answer["problem"] and "Unknown placeholder" in answer["problem"]
    assert "Beste %name%, en Admin Gent" in answer["text"]
    good = (await post("/admin/newsletters/preview.json", {**data, "body": "Beste %%name%%"})).json()
    assert good["problem"] is None
    # A link with percent-encoded Japanese is no placeholder.
    url = (
        await post(
            "/admin/newsletters/preview.json",
            {**data, "body": "[金沢](https://ja.wikipedia.org/wiki/%E9%87%91%E6%B2%A2%E5%B8%82)"},
        )
    ).json()
    assert url["problem"] is None


async def test_the_archive_greets_in_the_newsletters_language_not_the_visitors(client, admin_client, post, db):
    newsletter_id = await create_newsletter(
        post,
        subject_ja="",
        preheader_ja="",
        body_ja="",
        preheader_nl="Voor %%name%% uit Gent",
        body_nl="Beste %%name%%,\n\nHet nieuws.",
    )
    await db.execute(
        update(Newsletter)
        .where(Newsletter.id == newsletter_id)
        .values(status="sent", started_at=utcnow(), finished_at=utcnow())
    )
    await db.commit()
    client.cookies.clear()

    page = await client.get(f"/newsletters/{newsletter_id}", headers={"Accept-Language": "ja"})
    assert page.status_code == 200 and 'lang="ja"' in page.text
    assert "Beste lid," in page.text
    assert "会員" not in page.text.split('class="newsletter-body"')[1]

    listing = await client.get("/newsletters", headers={"Accept-Language": "ja"})
    assert "Voor lid uit Gent" in listing.text and "%%" not in listing.text

    feed = ET.fromstring((await client.get("/newsletters/feed/ja.atom")).content)
    assert feed.find(f"{ATOM}entry/{ATOM}summary").text == "Voor lid uit Gent"
    content = feed.find(f"{ATOM}entry/{ATOM}content").text
    assert "Beste lid," in content and "会員" not in content
    english = ET.fromstring((await client.get("/newsletters/feed/en.atom")).content)
    assert "Beste lid," in english.find(f"{ATOM}entry/{ATOM}content").text


async def test_hint_in_every_language_shows_the_tag_the_engine_fills(admin_client, db, admin):
    for language in ("nl", "en", "ja"):
        admin.language = language
        await db.commit()
        page = await admin_client.get("/admin/newsletters/new")
        assert hint_tag(page.text) == "%%name%%", language


async def test_compose_data_has_no_problems():
    from club.newsletters import render

    data = compose_data()
    assert render.tag_problems(str(data["subject_nl"]), str(data["preheader_nl"]), str(data["body_nl"])) == []
