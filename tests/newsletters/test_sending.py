"""Audience, test send, schedule, send, pause/resume/cancel, progress and report, through the real outbox and
sender to an SMTP server on loopback."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io

from sqlalchemy import func, select

from club.accounts.models import Person
from club.db import create_sessionmaker, utcnow
from club.mail.models import Delivery, Mail
from club.members import service as members
from club.members.models import Interest, MemberInterest
from club.newsletters import service
from club.newsletters.models import Newsletter
from tests.factories import eventually, make_person, running_sender
from tests.helpers import create_newsletter


async def deliveries(db) -> list[tuple[str, str, str]]:
    rows = await db.execute(
        select(Delivery.to_email, Mail.language, Delivery.status)
        .join(Mail, Mail.id == Delivery.mail_id)
        .where(Mail.kind == "newsletter")
        .order_by(Delivery.to_email)
    )
    return [tuple(row) for row in rows]


async def status_of(db, newsletter_id: int) -> str:
    db.expire_all()
    return (await db.get(Newsletter, newsletter_id)).status


async def members_in_three_languages(db) -> dict[str, Person]:
    return {
        "nl": await make_person(db, email="jan@example.be", name="Jan Peeters", language="nl", newsletter=True),
        "ja": await make_person(
            db, email="hanako@example.jp", name="山田 花子", language="ja", city="kanazawa", newsletter=True
        ),
        "en": await make_person(
            db, email="sam@example.org", name="Sam Smith", language="en", city="elsewhere", newsletter=True
        ),
    }


async def test_only_confirmed_subscribed_unsuppressed_members_are_counted(admin_client, post, db):
    await members_in_three_languages(db)
    await make_person(db, email="unconfirmed@example.org", confirmed=False, newsletter=True)
    await make_person(db, email="nonews@example.org", newsletter=False)
    bounced = await make_person(db, email="bounced@example.org", newsletter=True)
    bounced.suppressed_at = utcnow()
    await db.commit()
    newsletter_id = await create_newsletter(post)
    page = await admin_client.get(f"/admin/newsletters/{newsletter_id}/confirm")
    assert 'id="plan-total">3<' in page.text
    # English readers have no English version: the page says so before sending.
    assert "1 member reads English, but there is no version in it" in page.text
    assert "Send now to 3 members" in page.text


async def test_audience_narrows_by_city_language_interest_role_and_join_date(admin_client, post, db):
    people = await members_in_three_languages(db)
    ambassador = await make_person(db, email="amb@example.be", role="ambassador", language="nl", newsletter=True)
    jazz = Interest(slug="jazz-club", name_nl="Jazzclub", name_en="Jazz club", name_ja="ジャズクラブ", position=99)
    db.add(jazz)
    await db.commit()
    db.add(MemberInterest(person_id=people["ja"].id, interest_id=jazz.id))
    people["en"].created_at = dt.datetime(2025, 1, 1, 12, tzinfo=dt.UTC)
    await db.commit()

    async def total(**audience: object) -> str:
        newsletter_id = await create_newsletter(post, **audience)
        page = await admin_client.get(f"/admin/newsletters/{newsletter_id}/confirm")
        return page.text.split('id="plan-total">')[1].split("<")[0] if 'id="plan-total"' in page.text else "0"

    assert await total(cities="kanazawa") == "1"
    assert await total(languages=["nl", "en"]) == "3"
    assert await total(interests="jazz-club") == "1"
    assert await total(ambassadors_only="1") == "1"
    assert await total(joined_until="2025-06-30") == "1"
    assert await total(joined_from="2026-01-01") == "3"
    assert ambassador.id


async def test_send_now_delivers_one_personalised_mail_per_member_in_their_language(
    admin_client, post, db, engine, smtp_server
):
    mailbox, port = smtp_server
    await members_in_three_languages(db)
    newsletter_id = await create_newsletter(post)
    response = await post(
        f"/admin/newsletters/{newsletter_id}/send", page=f"/admin/newsletters/{newsletter_id}/confirm"
    )
    assert response.status_code == 303 and response.headers["location"].endswith("/report")
    assert await deliveries(db) == [
        ("hanako@example.jp", "ja", "queued"),
        ("jan@example.be", "nl", "queued"),
        ("sam@example.org", "nl", "queued"),
    ]  # no English version: the fallback

    async with running_sender(engine, port):
        await mailbox.wait_for(3)
    assert sorted(r for _, rcpts, _ in mailbox.envelopes for r in rcpts) == [
        "hanako@example.jp",
        "jan@example.be",
        "sam@example.org",
    ]
    ja = mailbox.to("hanako@example.jp")[0]
    assert ja["Subject"] == "ヘントからのお知らせ"
    assert ja["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    html = ja.get_body(("html",)).get_content()
    text = ja.get_body(("plain",)).get_content()
    assert "山田 花子 様" in html and "山田 花子 様" in text
    assert (
        members.unsubscribe_url(
            admin_client._transport.app.state.settings,
            (
                await db.scalar(  # type: ignore[attr-defined]
                    select(Person.id).where(Person.email == "hanako@example.jp")
                )
            ),
        )
        in text
    )
    jan = mailbox.to("jan@example.be")[0]
    assert "Beste Jan Peeters" in jan.get_body(("plain",)).get_content()

    progress = (await admin_client.get(f"/admin/newsletters/{newsletter_id}/progress.json")).json()
    assert progress["sent"] == 3 and progress["pending"] == 0 and progress["status"] == "sent"
    report = await admin_client.get(f"/admin/newsletters/{newsletter_id}/report")
    assert 'id="count-sent">3<' in report.text


async def test_pressing_send_twice_sends_once(admin_client, post, db):
    await members_in_three_languages(db)
    newsletter_id = await create_newsletter(post)
    first, second = await asyncio.gather(
        post(f"/admin/newsletters/{newsletter_id}/send"), post(f"/admin/newsletters/{newsletter_id}/send")
    )
    assert {first.status_code, second.status_code} == {303}
    assert len(await deliveries(db)) == 3
    again = await post(f"/admin/newsletters/{newsletter_id}/send")
    assert again.headers["location"].endswith("/report")
    assert (
        "This newsletter was already being sent; it is sent only once."
        in (await admin_client.get(again.headers["location"])).text
    )
    assert len(await deliveries(db)) == 3


async def test_send_with_no_recipients_is_refused(admin_client, post, db):
    newsletter_id = await create_newsletter(post)
    response = await post(f"/admin/newsletters/{newsletter_id}/send")
    assert response.status_code == 400
    assert "nobody to send to" in response.text
    assert await status_of(db, newsletter_id) == "draft"
    assert await deliveries(db) == []


async def test_test_send_reaches_the_admin_and_up_to_five_addresses(admin_client, post, db, engine, smtp_server):
    mailbox, port = smtp_server
    newsletter_id = await create_newsletter(post)
    too_many = ", ".join(f"t{i}@example.org" for i in range(6))
    refused = await post(f"/admin/newsletters/{newsletter_id}/test", {"addresses": too_many})
    assert refused.status_code == 400 and "at most 5 addresses" in refused.text
    bad = await post(f"/admin/newsletters/{newsletter_id}/test", {"addresses": "not-an-address"})
    assert bad.status_code == 400
    ok = await post(f"/admin/newsletters/{newsletter_id}/test", {"addresses": "editor@example.be, kanazawa@example.jp"})
    assert ok.status_code == 303
    async with running_sender(engine, port):
        await mailbox.wait_for(6)  # two languages to three addresses
    subjects = sorted(m["Subject"] for m in mailbox.to("admin@example.org"))
    assert subjects == ["[TEST] Nieuws uit Gent", "[TEST] ヘントからのお知らせ"]
    assert len(mailbox.to("editor@example.be")) == 2
    assert await status_of(db, newsletter_id) == "draft"
    assert "/unsubscribe/test-only" in mailbox.to("editor@example.be")[0].get_body(("plain",)).get_content()


async def test_schedule_shows_both_zones_refuses_the_past_and_run_due_sends(admin_client, post, db, engine, settings):
    await members_in_three_languages(db)
    newsletter_id = await create_newsletter(post)
    past = await post(
        f"/admin/newsletters/{newsletter_id}/schedule",
        {"scheduled_at": "2020-01-01T09:00", "timezone": "Europe/Brussels"},
    )
    assert past.status_code == 400 and "Choose a moment in the future." in past.text
    assert await status_of(db, newsletter_id) == "draft"

    moment = (utcnow() + dt.timedelta(days=2)).astimezone(dt.timezone(dt.timedelta(hours=9)))
    local = moment.strftime("%Y-%m-%dT%H:%M")
    ok = await post(f"/admin/newsletters/{newsletter_id}/schedule", {"scheduled_at": local, "timezone": "Asia/Tokyo"})
    assert ok.status_code == 303
    page = await admin_client.get(f"/admin/newsletters/{newsletter_id}")
    assert "Ghent (Europe/Brussels)" in page.text and "Kanazawa (Asia/Tokyo)" in page.text
    assert moment.strftime("%-I:%M") in page.text
    # The form keeps the zone it was scheduled in and shows the time in it, to the minute (no seconds anywhere).
    assert '<option value="Asia/Tokyo" selected>' in page.text
    assert f'value="{local}"' in page.text
    assert moment.strftime("%-I:%M:%S") not in page.text

    sessionmaker = create_sessionmaker(engine)
    assert await service.run_due(sessionmaker, settings) == 0
    await db.execute(Newsletter.__table__.update().values(scheduled_at=utcnow() - dt.timedelta(seconds=1)))
    await db.commit()
    assert await service.run_due(sessionmaker, settings) == 1
    assert await service.run_due(sessionmaker, settings) == 0
    assert len(await deliveries(db)) == 3
    assert await status_of(db, newsletter_id) == "sending"


async def test_pause_resume_cancel_and_the_refusals(admin_client, post, db):
    """Editing while sending, pausing, an unsubscribe during the pause, resuming, cancelling twice."""
    people = await members_in_three_languages(db)
    leaving = people["en"].id
    settings = admin_client._transport.app.state.settings  # type: ignore[attr-defined]
    newsletter_id = await create_newsletter(post)
    await post(f"/admin/newsletters/{newsletter_id}/send")

    editing = await post(f"/admin/newsletters/{newsletter_id}", {"subject_nl": "Gewijzigd", "body_nl": "x"})
    assert editing.status_code == 409 and "can no longer be changed" in editing.text
    db.expire_all()
    assert (await service.get(db, newsletter_id)).variants[1].subject == "Nieuws uit Gent"

    assert (await post(f"/admin/newsletters/{newsletter_id}/pause")).status_code == 303
    assert {status for *_, status in await deliveries(db)} == {"paused"}
    # Someone unsubscribes while the send is paused: resuming leaves them out.
    await members.unsubscribe(db, settings, members.unsubscribe_token(settings, leaving), method="one-click")
    await db.commit()
    assert (await post(f"/admin/newsletters/{newsletter_id}/resume")).status_code == 303
    assert sorted(status for *_, status in await deliveries(db)) == ["failed", "queued", "queued"]

    assert (await post(f"/admin/newsletters/{newsletter_id}/cancel")).status_code == 303
    assert sorted(status for *_, status in await deliveries(db)) == ["cancelled", "cancelled", "failed"]
    assert await status_of(db, newsletter_id) == "cancelled"
    again = await post(f"/admin/newsletters/{newsletter_id}/cancel")
    assert again.status_code == 409 and "already finished" in again.text


async def test_cancelling_a_finished_send_is_refused(admin_client, post, db, engine, smtp_server):
    mailbox, port = smtp_server
    await members_in_three_languages(db)
    newsletter_id = await create_newsletter(post)
    await post(f"/admin/newsletters/{newsletter_id}/send")
    async with running_sender(engine, port):
        await mailbox.wait_for(3)

        async def finished() -> bool:
            data = (await admin_client.get(f"/admin/newsletters/{newsletter_id}/progress.json")).json()
            return data["status"] == "sent"

        await eventually(finished)
    response = await post(f"/admin/newsletters/{newsletter_id}/cancel")
    assert response.status_code == 409
    assert "already finished" in response.text
    assert await status_of(db, newsletter_id) == "sent"


async def test_report_shows_smtp_failures_unsubscribes_and_a_safe_csv(admin_client, post, db, engine, settings):
    from tests.mail.smtp_server import SmtpServer

    people = await members_in_three_languages(db)
    await make_person(db, email="formula@example.org", name='=HYPERLINK("http://evil")', language="nl", newsletter=True)
    server = await SmtpServer().start()
    server.handler.rcpt_replies["sam@example.org"] = "550 5.1.1 <sam@example.org>: no such user here"
    try:
        newsletter_id = await create_newsletter(post)
        await post(f"/admin/newsletters/{newsletter_id}/send")
        async with running_sender(engine, server.port):

            async def done() -> bool:
                data = (await admin_client.get(f"/admin/newsletters/{newsletter_id}/progress.json")).json()
                return data["pending"] == 0

            await eventually(done)
    finally:
        await server.stop()
    await members.unsubscribe(db, settings, members.unsubscribe_token(settings, people["nl"].id), method="one-click")
    await db.commit()

    report = await admin_client.get(f"/admin/newsletters/{newsletter_id}/report")
    assert "550 5.1.1 &lt;sam@example.org&gt;: no such user here" in report.text
    assert 'id="count-failed">1<' in report.text and 'id="count-sent">3<' in report.text
    assert 'id="count-unsubscribes">1<' in report.text

    exported = await admin_client.get(f"/admin/newsletters/{newsletter_id}/deliveries.csv")
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(exported.text.lstrip("\ufeff"))))
    assert rows[0][:4] == ["email", "name", "language", "status"]
    by_email = {row[0]: row for row in rows[1:]}
    assert by_email["formula@example.org"][1] == '\'=HYPERLINK("http://evil")'
    assert by_email["sam@example.org"][3] == "failed" and "no such user" in by_email["sam@example.org"][6]
    assert len(rows) == 5
    total = await db.scalar(select(func.count()).select_from(Delivery))
    assert total == 4
