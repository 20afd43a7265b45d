"""Reminders after 30 quiet days (once per quiet stretch), and the end-of-term certificate."""

from __future__ import annotations

import datetime as dt
import io
import re

import pytest

from club.ambassadors import certificate, service
from club.ambassadors.models import Appointment
from club.db import utcnow
from tests.factories import fresh, log_in, make_activity, make_ambassador, queued_mails


async def test_one_friendly_reminder_after_30_quiet_days(db, settings):
    quiet, quiet_term = await make_ambassador(db, language="ja", email="quiet@example.jp")
    busy, busy_term = await make_ambassador(db, email="busy@example.org")
    await make_activity(db, busy, busy_term, created_at=utcnow() - dt.timedelta(days=3))
    await make_activity(db, quiet, quiet_term, created_at=utcnow() - dt.timedelta(days=45))
    new, _new_term = await make_ambassador(db, starts_on=service.club_today() - dt.timedelta(days=5))
    assert await service.send_reminders(db, settings) == 1
    await db.commit()
    [(mail, delivery)] = await queued_mails(db, "ambassador-reminder")
    assert delivery.to_email == "quiet@example.jp" and mail.language == "ja"
    assert "/activities/new" in mail.text
    # The next run sends nothing more: one reminder per quiet stretch.
    assert await service.send_reminders(db, settings) == 0
    await db.commit()
    # After the ambassador logs something and goes quiet again, a month later there is a new reminder.
    await make_activity(db, quiet, quiet_term, created_at=utcnow() + dt.timedelta(days=1))
    later = utcnow() + dt.timedelta(days=32)
    assert await service.send_reminders(db, settings, now=later) == 3  # quiet again; busy and new too by then


async def test_no_reminder_once_the_term_has_ended(db, settings):
    today = service.club_today()
    await make_ambassador(db, starts_on=today - dt.timedelta(days=300), ends_on=today - dt.timedelta(days=2))
    assert await service.send_reminders(db, settings) == 0


async def test_certificate_at_the_end_of_the_term(client, db):
    today = service.club_today()
    person, term = await make_ambassador(
        db,
        name="Sofie Claeys",
        language="ja",
        starts_on=today - dt.timedelta(days=300),
        ends_on=today + dt.timedelta(days=10),
    )
    await make_activity(db, person, term, people_reached=120, quarter_hours=10)
    await log_in(client, db, person)
    terms = await client.get("/me/ambassador")
    assert terms.status_code == 200
    response = await client.get(f"/me/ambassador/certificate/{term.id}.pdf")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    assert response.content.startswith(b"%PDF-")
    assert b"NotoSansCJK" in response.content  # the embedded Japanese-capable font


async def test_certificate_not_yet_and_not_someone_elses(client, db):
    person, term = await make_ambassador(db)
    other, other_term = await make_ambassador(db, name="Kenji Tanaka")
    await log_in(client, db, person)
    assert (await client.get(f"/me/ambassador/certificate/{term.id}.pdf")).status_code == 403  # months to go
    assert (await client.get(f"/me/ambassador/certificate/{other_term.id}.pdf")).status_code == 404
    ended = await fresh(db, Appointment, other_term.id)
    ended.ended_on = service.club_today()
    await db.commit()
    assert (await client.get(f"/me/ambassador/certificate/{other_term.id}.pdf")).status_code == 404


async def test_without_the_japanese_font_a_clear_message(client, db, monkeypatch, tmp_path):
    monkeypatch.setattr(certificate, "FONT_CANDIDATES", [(tmp_path / "missing.ttc", None)])
    today = service.club_today()
    person, term = await make_ambassador(
        db, starts_on=today - dt.timedelta(days=300), ends_on=today - dt.timedelta(days=1)
    )
    await log_in(client, db, person)
    response = await client.get(f"/me/ambassador/certificate/{term.id}.pdf")
    assert response.status_code == 503
    assert "lacks the font needed to print Japanese text" in response.text


async def test_the_periodic_pass_changes_roles_and_reminds(db, settings, engine):
    from club.accounts.models import Person
    from club.ambassadors import tasks as jobs
    from club.db import create_sessionmaker

    today = service.club_today()
    ended, _term = await make_ambassador(
        db, starts_on=today - dt.timedelta(days=300), ends_on=today - dt.timedelta(days=1)
    )
    await make_ambassador(db, email="quiet@example.org")
    changed, reminded = await jobs.run_once(create_sessionmaker(engine), settings)
    assert (changed, reminded) == (1, 1)
    assert (await fresh(db, Person, ended.id)).role == "member"
    assert await jobs.run_once(create_sessionmaker(engine), settings) == (0, 0)


def pdf_text(pdf: bytes) -> str:
    from pypdf import PdfReader

    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    return text.replace("\x00", "")  # pypdf reads fpdf2's two-byte glyph codes with a NUL before each character


NATIVE = {
    "en": [
        "Certificate of Ambassadorship",
        "This is to certify that",
        "served as an ambassador of the Ghent–Kanazawa Supporters Club from 1 September 2025 to 30 June 2026, "
        "based in Kanazawa as a student of Ghent University hosted by Kanazawa University.",
        "1 approved activity",
        "2.5 hours",
        "1 person reached",
        "0 new members",
        "Crafts and creative cities",
    ],
    "nl": [
        "Getuigschrift",
        "De Gent–Kanazawa Supporters Club verklaart hierbij dat",
        "van 1 september 2025 tot en met 30 juni 2026 ambassadeur van de club was, met standplaats Kanazawa, "
        "als student van de Universiteit Gent te gast aan de Universiteit van Kanazawa.",
        "1 goedgekeurde activiteit",
        "2,5 uur",
        "1 persoon bereikt",
        "0 nieuwe leden",
    ],
    "ja": [
        "アンバサダー活動証明書",
        "山田 花子\u3000殿",
        "あなたは、2025年9月1日から2026年6月30日まで、ゲント大学の学生として金沢大学で学びながら金沢を拠点に、"
        "ゲント・金沢サポーターズクラブのアンバサダーを務めたことを証明します。",
        "承認された活動：1件",
        "活動時間：2.5時間",
        "届いた人数：1人",
        "新しい会員：0人",
    ],
}


@pytest.mark.parametrize("language", ["en", "nl", "ja"])
async def test_each_language_has_its_own_native_certificate(client, db, language):
    person, term = await make_ambassador(
        db,
        name="山田 花子" if language == "ja" else "Sofie Claeys",
        language=language,
        starts_on=dt.date(2025, 9, 1),
        ends_on=dt.date(2026, 6, 30),
    )
    term.ended_on = dt.date(2026, 6, 30)
    await db.commit()
    await make_activity(db, person, term, people_reached=1, quarter_hours=10, happened_on=dt.date(2025, 10, 1))
    await log_in(client, db, person)
    response = await client.get(f"/me/ambassador/certificate/{term.id}.pdf")
    assert response.status_code == 200
    text = ("" if language == "ja" else " ").join(pdf_text(response.content).split("\n"))
    for line in NATIVE[language]:
        assert line in text, (line, text)
    if language == "ja":
        assert "ここに証明します" not in text and "が、" not in text
        assert not re.search(r" [0-9]|[0-9] [^\x00-\x7f]", text)  # no half-width spaces around the values


async def test_the_certificate_is_made_once_and_again_when_its_data_changes(client, db):
    today = service.club_today()
    person, term = await make_ambassador(
        db, name="Pieter Claes", starts_on=today - dt.timedelta(days=300), ends_on=today + dt.timedelta(days=5)
    )
    await make_activity(db, person, term, people_reached=7)
    await log_in(client, db, person)
    terms = await client.get("/me/ambassador")  # shows the button and starts making the certificate
    assert 'data-busy-text="Preparing your certificate…"' in terms.text
    assert "js/certificate.js" in terms.text
    first = await client.get(f"/me/ambassador/certificate/{term.id}.pdf")
    again = await client.get(f"/me/ambassador/certificate/{term.id}.pdf")
    assert first.content == again.content  # the same file, not made a second time (its creation time would differ)
    assert "7 people reached" in pdf_text(first.content)
    await make_activity(db, person, term, people_reached=5, title="Second talk")
    changed = await client.get(f"/me/ambassador/certificate/{term.id}.pdf")
    assert changed.content != first.content
    assert "12 people reached" in pdf_text(changed.content)
